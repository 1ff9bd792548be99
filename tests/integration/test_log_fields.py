"""The library's log records carry the structured fields (``extra``) the README documents."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from snowpipe_stream import AuthenticationError, PrivateKey
from snowpipe_stream._credentials import KeySource
from snowpipe_stream._logfields import FIELDS
from snowpipe_stream.emulator import Emulator
from snowpipe_stream.testing import FakeClock
from tests.clients import run_on_emulator
from tests.integration.conftest import DB, PIPE, SCHEMA
from tests.integration.test_client_emulator import expect_all, stream

WHERE = f"{DB}.{SCHEMA}.{PIPE}"


def fields(record: logging.LogRecord) -> dict[str, Any]:
    return {name: getattr(record, name) for name in FIELDS if hasattr(record, name)}


def the(records: list[logging.LogRecord], start: str) -> list[logging.LogRecord]:
    found = [r for r in records if r.getMessage().startswith(start)]
    assert found, f"no record starts with {start!r}"
    return found


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_requests_retries_and_channel_lines_carry_their_fields(
    mode: str,
    emu: Emulator,
    rsa_key: PrivateKey,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    emu.faults.add(path="/rows$", status=429, count=1)
    with caplog.at_level(logging.DEBUG, "snowpipe_stream"):
        run_on_emulator(mode, emu, rsa_key, clock, stream)
    expect_all(emu, 300)
    records = caplog.records

    # The retry warning: which call, which attempt of it failed, and how.
    (retry,) = the(records, "received 429 from append to channel 'ch'")
    assert retry.levelno == logging.WARNING and retry.name == "snowpipe_stream.transport"
    got = fields(retry)
    assert got == {
        "channel": "ch",
        "pipe": WHERE,
        "request_id": got["request_id"],
        "attempt": 1,
        "status": 429,
        "endpoint": "append",
    }
    # Each attempt's DEBUG line: the same request id, the attempt counting up.
    attempts = [
        fields(r)
        for r in the(records, "POST /v2/streaming/data/")
        if getattr(r, "request_id", None) == got["request_id"]
    ]
    assert [(a["attempt"], a["status"]) for a in attempts] == [(1, 429), (2, 200)]
    assert all(a["endpoint"] == "append" and a["channel"] == "ch" for a in attempts)
    assert {fields(r)["endpoint"] for r in the(records, "GET /v2/streaming/hostname")} == {
        "hostname"
    }
    (exchange,) = (r for r in records if getattr(r, "endpoint", None) == "token")
    assert "channel" not in fields(exchange) and "pipe" not in fields(exchange)

    # Channel lines: the channel and its pipe.
    for start in ("channel ch opened", "channel ch closed"):
        (line,) = the(records, start)
        assert fields(line) == {"channel": "ch", "pipe": WHERE}, start

    # The key that signs: its fingerprint.
    (minted,) = the(records, "JWT refreshed")
    assert fields(minted) == {"fingerprint": rsa_key.fingerprint}


def test_a_recovery_tells_its_channel_and_the_lost_attempt(
    emu: Emulator, rsa_key: PrivateKey, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    emu.faults.add(path="/rows$", action="lost_response", count=1)
    with caplog.at_level(logging.INFO, "snowpipe_stream"):
        run_on_emulator("async", emu, rsa_key, clock, stream)
    expect_all(emu, 300)
    (lost,) = the(caplog.records, "network error from append to channel 'ch'")
    got = fields(lost)
    assert got == {  # no status: no answer came
        "channel": "ch",
        "pipe": WHERE,
        "request_id": got["request_id"],
        "attempt": 1,
        "endpoint": "append",
    }
    for start in ("channel ch must be reopened", "channel ch recovered"):
        (line,) = the(caplog.records, start)
        assert fields(line) == {"channel": "ch", "pipe": WHERE}, start


def test_a_final_failure_carries_its_status_and_request_id(
    emu: Emulator, rsa_key: PrivateKey, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    emu.faults.add(path="/rows$", status=401, count=2)
    with caplog.at_level(logging.DEBUG, "snowpipe_stream"), pytest.raises(AuthenticationError):
        run_on_emulator("sync", emu, rsa_key, clock, stream)
    (error,) = (r for r in caplog.records if r.levelno == logging.ERROR)
    assert error.getMessage().startswith("AuthenticationError: ")
    retried = the(caplog.records, "received 401 from append")
    assert fields(error) == {"request_id": retried[0].request_id, "status": 401}


def test_a_rotated_key_is_told_by_its_fingerprint(
    rsa_key: PrivateKey, other_key: PrivateKey, caplog: pytest.LogCaptureFixture
) -> None:
    keys = [rsa_key]
    source = KeySource.from_provider(lambda: keys[-1])
    keys.append(other_key)
    with caplog.at_level(logging.INFO, "snowpipe_stream.auth"):
        assert source.at_mint()
    (changed,) = the(caplog.records, "private key changed")
    assert fields(changed) == {"fingerprint": other_key.fingerprint}


def test_an_error_of_a_call_without_its_own_id_carries_the_id_it_sent(
    emu: Emulator, rsa_key: PrivateKey, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    # The hostname call makes its request id in request_flow (the op has none): the error must
    # name that id, as the retry lines do, so a support case can quote it.
    emu.faults.add(path="/hostname$", status=401, count=2)
    with caplog.at_level(logging.DEBUG, "snowpipe_stream"), pytest.raises(AuthenticationError) as e:
        run_on_emulator("sync", emu, rsa_key, clock, stream)
    retried = the(caplog.records, "received 401 from discover the ingest host")
    assert e.value.request_id is not None and e.value.request_id == retried[0].request_id
