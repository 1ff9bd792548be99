"""Metrics against the real emulator: what the Prometheus series say is what landed.

A real client appends over several channels while the emulator's fault API answers 429, 401
and a lost response; then the committed rows per channel, the retries by cause, the requests
by endpoint and status and the token exchanges are those the emulator counted.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry

from snowpipe_stream import PrivateKey, PrometheusMetrics
from snowpipe_stream.emulator import Emulator
from snowpipe_stream.testing import FakeClock
from tests.clients import open_client
from tests.integration.conftest import DB, PIPE, SCHEMA, make_config

LABEL = f"{DB}.{SCHEMA}.{PIPE}"
#: The emulator's endpoint names, and the client's.
ENDPOINTS = {
    "hostname": "hostname",
    "token": "scoped_token",
    "pipe_info": "pipe_info",
    "open": "open_channel",
    "append": "append_rows",
    "status": "channel_status",
    "drop": "drop_channel",
}
#: Rows per channel, and the fault armed (through the emulator's HTTP API) before its appends.
PLAN: dict[str, tuple[int, dict[str, Any]]] = {
    "orders": (300, {"path": "/rows$", "method": "POST", "status": 429, "count": 2}),
    "payments": (120, {"path": "/rows$", "method": "POST", "status": 401, "count": 1}),
    "refunds": (75, {"path": "/rows$", "method": "POST", "action": "lost_response", "count": 1}),
}


def arm(emu: Emulator, rule: dict[str, Any]) -> None:
    resp = httpx.post(f"{emu.url}/emulator/v1/faults", json=[rule], timeout=10)
    assert resp.status_code == 200, resp.text


def value(registry: CollectorRegistry, name: str, **labels: str) -> float:
    found = registry.get_sample_value(name, labels)
    return 0.0 if found is None else found


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_the_series_match_what_the_emulator_holds(
    mode: str, emu: Emulator, rsa_key: PrivateKey, clock: FakeClock
) -> None:
    registry = CollectorRegistry()

    async def main() -> None:
        config = make_config(emu, rsa_key)
        metrics = PrometheusMetrics(registry)
        kwargs = {"config": config, "clock": clock, "metrics": metrics}
        async with open_client(mode, "app", DB, SCHEMA, PIPE, **kwargs) as client:
            channels = {name: (await client.open_channel(name))[0] for name in PLAN}
            for name, (count, rule) in PLAN.items():
                arm(emu, rule)
                channel = channels[name]
                for start in range(0, count, 50):  # several batches per channel
                    rows = [{"ch": name, "n": n} for n in range(start, min(start + 50, count))]
                    await channel.append_rows(rows, end_offset_token=str(start + len(rows)))
                    await channel.flush()
            for channel in channels.values():
                await channel.close()

    asyncio.run(main())
    stats = emu.stats()
    assert stats["faults_fired"] == 4  # every fault armed was met

    # Rows: appended once and committed once per channel, as the emulator stored them.
    for name, (count, _) in PLAN.items():
        labels = {"pipe": LABEL, "channel": name}
        landed = emu.rows(DB, SCHEMA, PIPE, name)
        assert [r["n"] for r in landed] == list(range(count))
        assert value(registry, "snowpipe_stream_rows_committed_total", **labels) == len(landed)
        assert value(registry, "snowpipe_stream_rows_appended_total", **labels) == len(landed)
        assert value(registry, "snowpipe_stream_bytes_committed_total", **labels) == value(
            registry, "snowpipe_stream_bytes_appended_total", **labels
        )
        assert value(registry, "snowpipe_stream_inflight_bytes", **labels) == 0
        batches = -(-count // 50)
        assert value(registry, "snowpipe_stream_commit_latency_seconds_count", **labels) == batches
        # The batch whose answer was lost has no append latency: it was never seen accepted.
        accepted = batches - (name == "refunds")
        assert value(registry, "snowpipe_stream_append_latency_seconds_count", **labels) == accepted
    assert (
        sum(
            value(registry, "snowpipe_stream_rows_committed_total", pipe=LABEL, channel=name)
            for name in PLAN
        )
        == stats["rows_committed"]
    )

    # Retries by cause: the faults armed (the lost answer's retry found the channel moved on,
    # so it was reopened).
    retries = {
        cause: value(registry, "snowpipe_stream_retries_total", cause=cause)
        for cause in ("401", "429", "5xx", "connection")
    }
    assert retries == {"401": 1, "429": 2, "5xx": 0, "connection": 1}
    reopens = {
        name: value(registry, "snowpipe_stream_reopens_total", pipe=LABEL, channel=name)
        for name in PLAN
    }
    assert reopens == {"orders": 0, "payments": 0, "refunds": 1}

    # Every answered request, by endpoint and status, on both sides.
    for key, count in stats["requests"].items():
        endpoint, status = key.rsplit(" ", 1)
        # Status 0: no answer (the lost response); the client saw a network error.
        labels = {"endpoint": ENDPOINTS[endpoint], "status": "network" if status == "0" else status}
        assert value(registry, "snowpipe_stream_requests_total", **labels) == count, key
    exchanges = value(registry, "snowpipe_stream_token_exchanges_total")
    assert exchanges == stats["scoped_tokens_issued"] == 2  # the 401 made the second
    assert value(registry, "snowpipe_stream_credential_mints_total", kind="jwt") >= 1
