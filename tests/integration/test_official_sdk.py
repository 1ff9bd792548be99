"""Snowflake's official Python SDK (``snowpipe-streaming``) runs its whole flow on the emulator.

It needs HTTPS to an IP host, a JWT with millisecond claims, plain-text hostname and token
answers, the pipe-info object and the telemetry endpoint: this proves the emulator speaks the
protocol closely enough for a client we did not write. The runs are at the SDK's own scale:
200,000 rows of about 200 bytes with its default batching (about 4.3 MB of NDJSON a request),
once clean and once through scripted 429, 401 and 503 answers on ``/rows``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from snowpipe_stream import PrivateKey
from snowpipe_stream.emulator import Emulator

pytest.importorskip(
    "snowflake.ingest.streaming",
    reason="Snowflake's snowpipe-streaming wheel is not installable on this platform",
)

SCRIPT = Path(__file__).parent / "sdk" / "run_official_sdk.py"
ROWS = 200_000


def run_sdk(emu: Emulator, key_file: Path, rows: int, result_file: Path) -> dict[str, Any]:
    assert emu.ca_path is not None
    env = {**os.environ, "SSL_CERT_FILE": str(emu.ca_path)}
    args = [emu.url, "sdkorg-acct", "sdk_user", str(key_file), str(rows), str(result_file)]
    out = subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-3000:] + out.stdout[-3000:]
    result: dict[str, Any] = json.loads(result_file.read_text())
    return result


def assert_every_row_once(emu: Emulator, result: dict[str, Any]) -> None:
    assert result.pop("seconds") > 0 and result.pop("cpu") > 0
    assert result == {
        "opened_at": None,
        "committed": str(ROWS),
        "rows_inserted": ROWS,
        "status": "SUCCESS",
    }
    rows = emu.rows("DB", "SCHEMA", "PIPE", "sdk-channel")
    assert [r["n"] for r in rows] == list(range(1, ROWS + 1))
    assert len(json.dumps(rows[-1])) >= 190


@pytest.fixture
def key_file(tmp_path: Path, rsa_key: PrivateKey) -> Path:
    path = tmp_path / "rsa_key.p8"
    path.write_bytes(rsa_key.private_key_pem())
    return path


def test_official_sdk_200k_rows_at_its_own_request_size(
    tmp_path: Path, rsa_key: PrivateKey, key_file: Path
) -> None:
    with Emulator(users=[("sdkorg-acct", "sdk_user", rsa_key)], tls=True) as emu:
        result = run_sdk(emu, key_file, ROWS, tmp_path / "result.json")
        assert_every_row_once(emu, result)
        stats = emu.stats()
        assert stats["jwts_rejected"] == 0
        assert stats["requests"].get("drop 200") == 1
        assert "append 413" not in stats["requests"]
        assert "append 400" not in stats["requests"]
        # Its default batching: a handful of requests of several MB, not thousands of small ones.
        assert 5 <= stats["requests"]["append 200"] <= 200


def test_official_sdk_200k_rows_through_429_401_and_503(
    tmp_path: Path, rsa_key: PrivateKey, key_file: Path
) -> None:
    with Emulator(users=[("sdkorg-acct", "sdk_user", rsa_key)], tls=True) as emu:
        # One of each, on consecutive tries of one request: the SDK backs off 1 s, doubling,
        # so each further fault in a row would double the test's time.
        for status in (429, 401, 503):
            emu.faults.add(path="/rows$", status=status, count=1)
        result = run_sdk(emu, key_file, ROWS, tmp_path / "result.json")
        assert_every_row_once(emu, result)
        requests = emu.stats()["requests"]
        assert (requests["append 429"], requests["append 401"], requests["append 503"]) == (1, 1, 1)
        assert requests["token 200"] == 2  # the 401 made it exchange its scoped token again
        assert emu.faults.rules == []


#: Headers that only the HTTP stacks differ in (connection handling, content negotiation).
TRANSPORT_HEADERS = {"host", "connection", "accept-encoding", "content-length"}


def test_both_clients_put_the_same_on_the_wire(
    tmp_path: Path, rsa_key: PrivateKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same job through Snowflake's SDK and through ours, captured at the emulator: per
    endpoint, our headers include every one the SDK sends, and the query parameters match; the
    emulator's strict mode refuses any request lacking what the SDK always sends."""
    from snowpipe_stream import Client

    key_file = tmp_path / "rsa_key.p8"
    key_file.write_bytes(rsa_key.private_key_pem())
    with Emulator(users=[("sdkorg-acct", "sdk_user", rsa_key)], tls=True, strict_wire=True) as emu:
        result = run_sdk(emu, key_file, 1000, tmp_path / "result.json")
        assert result["committed"] == "1000"
        monkeypatch.setenv("SSL_CERT_FILE", str(emu.ca_path))
        with Client(
            "ours",
            "DB",
            "SCHEMA",
            "PIPE",
            account="sdkorg-acct",
            user="sdk_user",
            private_key=rsa_key,
            url=emu.url,
            max_client_lag=0,
        ) as client:
            channel, _ = client.open_channel("ours")
            channel.append_rows([{"n": i} for i in range(1, 1001)], "1", "1000")
            assert channel.wait_for_commit("1000", timeout=60) == "1000"
            client.get_channel_statuses(["ours"])
            channel.close(drop=True)
        seen = emu.app.wire.seen
        assert emu.stats()["wire_missing"] == {}
    sdk = {ep: hp for (who, ep), hp in seen.items() if who == "SnowpipeStreamingSDK"}
    ours = {ep: hp for (who, ep), hp in seen.items() if who == "snowpipe-stream"}
    assert set(sdk) - {"telemetry"} == set(ours)  # the same endpoints, telemetry aside
    for endpoint, (headers, params) in ours.items():
        sdk_headers, sdk_params = sdk[endpoint]
        assert sdk_headers - TRANSPORT_HEADERS <= headers, (endpoint, sdk_headers - headers)
        assert params == sdk_params, (endpoint, params ^ sdk_params)
