"""The real client (sync and async) against the real emulator over loopback."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from snowpipe_stream import AuthenticationError, PrivateKey
from snowpipe_stream.emulator import Emulator
from snowpipe_stream.testing import FakeClock
from tests.clients import run_on_emulator
from tests.integration.conftest import DB, PIPE, SCHEMA

pytestmark = pytest.mark.parametrize("mode", ["sync", "async"])


run = run_on_emulator


def admin_rows(emu: Emulator, channel: str | None = None) -> list[dict[str, Any]]:
    params = {"database": DB, "schema": SCHEMA, "pipe": PIPE}
    if channel:
        params["channel"] = channel
    resp = httpx.get(f"{emu.url}/emulator/v1/rows", params=params)
    resp.raise_for_status()
    return [json.loads(line) for line in resp.text.splitlines()]


async def stream(
    client: Any, channel_name: str = "ch", batches: int = 3, per_batch: int = 100
) -> Any:
    channel, status = await client.open_channel(channel_name)
    assert status.last_committed_offset_token is None
    n = 0
    for _ in range(batches):
        rows = [{"n": n + i, "payload": "x" * 50} for i in range(1, per_batch + 1)]
        await channel.append_rows(
            rows, start_offset_token=str(n + 1), end_offset_token=str(n + per_batch)
        )
        n += per_batch
        await channel.flush()
    assert await channel.wait_for_commit(str(n), timeout=30) == str(n)
    await channel.close()
    return client.stats


def expect_all(emu: Emulator, total: int, channel: str = "ch") -> None:
    rows = admin_rows(emu, channel)
    assert [r["n"] for r in rows] == list(range(1, total + 1))


def test_full_flow(mode: str, emu: Emulator, rsa_key: PrivateKey, clock: FakeClock) -> None:
    stats = run(mode, emu, rsa_key, clock, stream)
    expect_all(emu, 300)
    assert emu.rows(DB, SCHEMA, PIPE, "CH") == emu.rows(DB, SCHEMA, PIPE)  # case-insensitive
    assert (stats.jwt_mints, stats.scoped_exchanges, stats.reopens) == (1, 1, 0)
    s = emu.stats()
    assert s["rows_committed"] == 300 and s["jwts_rejected"] == 0
    assert s["requests"]["append 200"] == 3


@pytest.mark.parametrize(
    "path", ["/v2/streaming/hostname", "/oauth/token", "/channels/ch$", "/rows$"]
)
def test_401_recovers_once(
    mode: str, emu: Emulator, rsa_key: PrivateKey, clock: FakeClock, path: str
) -> None:
    emu.faults.add(path=path, status=401, count=1)
    stats = run(mode, emu, rsa_key, clock, stream)
    expect_all(emu, 300)
    assert stats.retries_401 == 1


@pytest.mark.parametrize(
    "path", ["/v2/streaming/hostname", "/oauth/token", "/channels/ch$", "/rows$"]
)
def test_401_twice_fails(
    mode: str, emu: Emulator, rsa_key: PrivateKey, clock: FakeClock, path: str
) -> None:
    emu.faults.add(path=path, status=401, count=2)
    with pytest.raises(AuthenticationError):
        run(mode, emu, rsa_key, clock, stream)


@pytest.mark.parametrize("retry_after", [None, "5"])
def test_429(
    mode: str, emu: Emulator, rsa_key: PrivateKey, clock: FakeClock, retry_after: str | None
) -> None:
    emu.faults.add(
        path="/rows$",
        status=429,
        count=2,
        headers={"Retry-After": retry_after} if retry_after else {},
    )
    stats = run(mode, emu, rsa_key, clock, stream)
    expect_all(emu, 300)
    assert stats.retries_429 == 2
    expected = 5.0 if retry_after else 2.0
    assert clock.sleeps.count(expected) == 2


def test_503(mode: str, emu: Emulator, rsa_key: PrivateKey, clock: FakeClock) -> None:
    emu.faults.add(path="/rows$", status=503, count=2)
    emu.faults.add(
        path="bulk-channel-status", status=503, count=1, body="ERR_GENERAL_EXCEPTION_RETRY_REQUEST"
    )
    stats = run(mode, emu, rsa_key, clock, stream)
    expect_all(emu, 300)
    assert stats.retries_5xx == 3


def test_expired_scoped_token_mid_stream_is_refreshed(
    mode: str, rsa_key: PrivateKey, clock: FakeClock
) -> None:
    with Emulator(
        users=[("myorg-acct", "svc_user", rsa_key)], clock=clock, scoped_token_ttl=300
    ) as emu:

        async def scenario(client: Any) -> Any:
            channel, _ = await client.open_channel("ch")
            for i in range(1, 11):
                await channel.append_row({"n": i}, offset_token=str(i))
                await channel.flush()
                clock.advance(100)  # 1,000 s in all: the 300 s scoped token expires 3 times
            await channel.wait_for_commit("10", timeout=30)
            return client.stats

        stats = run(mode, emu, rsa_key, clock, scenario)
        expect_all(emu, 10)
        assert stats.scoped_exchanges >= 4
        assert stats.retries_401 == 0
        assert emu.stats()["expired_tokens_rejected"] == 0


def test_scoped_token_rejected_by_the_server_is_exchanged_again(
    mode: str, emu: Emulator, rsa_key: PrivateKey, clock: FakeClock
) -> None:
    async def scenario(client: Any) -> Any:
        channel, _ = await client.open_channel("ch")
        await channel.append_row({"n": 1}, offset_token="1")
        await channel.flush()
        # The server forgets its signing key (a restart, say): every scoped token is unknown.
        emu.authority.__init__(emu.users, 3600)  # type: ignore[misc]
        await channel.append_row({"n": 2}, offset_token="2")
        await channel.wait_for_commit("2", timeout=30)
        return client.stats

    stats = run(mode, emu, rsa_key, clock, scenario)
    expect_all(emu, 2)
    assert stats.retries_401 == 1 and stats.scoped_exchanges == 2


@pytest.mark.parametrize("action", ["lost_response", "drop_connection"])
def test_lost_and_dropped_appends_lose_and_duplicate_nothing(
    mode: str, emu: Emulator, rsa_key: PrivateKey, clock: FakeClock, action: str
) -> None:
    emu.faults.add(path="/rows$", action=action, count=1)
    emu.faults.add(path="/rows$", action=action, count=1)
    stats = run(mode, emu, rsa_key, clock, stream)
    expect_all(emu, 300)
    assert stats.rows_appended == 300
    assert emu.stats()["faults_fired"] == 2
