"""docs/protocol.md's error catalogue, code by code: the emulator answers the code and the real
client reacts as the table says (retry, recover by reopening, or a typed error)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from snowpipe_stream import (
    AuthenticationError,
    BadRequestError,
    ChannelDroppedError,
    ChannelInvalidatedError,
    ConflictError,
    NotFoundError,
    PrivateKey,
    RowTooLargeError,
    ThrottledError,
)
from snowpipe_stream.emulator import Emulator
from snowpipe_stream.emulator import _messages as M
from snowpipe_stream.testing import FakeClock
from tests.clients import run_on_emulator
from tests.integration.conftest import DB, PIPE, SCHEMA

pytestmark = pytest.mark.parametrize("mode", ["async"])

OPEN = {"method": "PUT", "path": "/channels/ch$"}
APPEND = {"method": "POST", "path": "/rows$"}
STATUS = {"method": "POST", "path": "bulk-channel-status"}
TOTAL = 300


def landed(emu: Emulator) -> list[int]:
    params = {"database": DB, "schema": SCHEMA, "pipe": PIPE, "channel": "ch"}
    resp = httpx.get(f"{emu.url}/emulator/v1/rows", params=params)
    resp.raise_for_status()
    return [json.loads(line)["n"] for line in resp.text.splitlines()]


async def stream(client: Any) -> Any:
    """Three batches of 100 rows, each flushed, then a wait for the last commit."""
    channel, _ = await client.open_channel("ch")
    for start in (1, 101, 201):
        rows = [{"n": n} for n in range(start, start + 100)]
        await channel.append_rows(rows, str(start), str(start + 99))
        await channel.flush()
    assert await channel.wait_for_commit(str(TOTAL), timeout=30) == str(TOTAL)
    await channel.close()
    return client.stats


def fault(emu: Emulator, where: dict[str, str], **rule: Any) -> None:
    resp = httpx.post(f"{emu.url}/emulator/v1/faults", json={**where, **rule})
    assert resp.status_code == 200, resp.text


def answers(emu: Emulator, endpoint: str) -> dict[str, int]:
    return {k: v for k, v in emu.stats()["requests"].items() if k.startswith(endpoint + " ")}


# --- retried -------------------------------------------------------------------------------


def test_open_channel_in_progress_is_retried(
    mode: str, emu: Emulator, rsa_key: PrivateKey, clock: FakeClock
) -> None:
    fault(emu, OPEN, code="ERR_OPEN_CHANNEL_IN_PROGRESS", count=2)
    stats = run_on_emulator(mode, emu, rsa_key, clock, stream)
    assert landed(emu) == list(range(1, TOTAL + 1))
    assert stats.retries_5xx == 2 and stats.reopens == 0
    assert answers(emu, "open")["open 409"] == 2


@pytest.mark.parametrize(
    ("where", "status", "body"),
    [
        (APPEND, 500, '"ERR_GENERAL_EXCEPTION_RETRY_REQUEST"'),  # the bare JSON string
        (STATUS, 503, '"ERR_GENERAL_EXCEPTION_RETRY_REQUEST"'),
        (OPEN, 400, '"ERR_GENERAL_EXCEPTION_RETRY_REQUEST"'),  # the code, not the status
        (APPEND, None, None),  # the named code: 503 and {"code", "message"}
    ],
)
def test_general_exception_retry_request_is_retried(
    mode: str,
    emu: Emulator,
    rsa_key: PrivateKey,
    clock: FakeClock,
    where: dict[str, str],
    status: int | None,
    body: str | None,
) -> None:
    rule: dict[str, Any] = {"code": "ERR_GENERAL_EXCEPTION_RETRY_REQUEST", "count": 2}
    if status is not None:
        rule.update(status=status, body=body)
    fault(emu, where, **rule)
    stats = run_on_emulator(mode, emu, rsa_key, clock, stream)
    assert landed(emu) == list(range(1, TOTAL + 1))
    assert stats.retries_5xx == 2 and stats.reopens == 0
    assert emu.stats()["faults_fired"] == 2


BACKPRESSURE = [
    "ReceiverSaturated",
    "MemoryThresholdExceeded",
    "MemoryThresholdExceededInContainer",
    "HttpRetryableClientError",
]


@pytest.mark.parametrize(
    ("code", "status"),
    [
        *[(code, None) for code in BACKPRESSURE],
        *[(code, 400) for code in BACKPRESSURE],  # the code decides, whatever the status
        ("ERR_THROTTLED", None),  # the emulator's own 429
    ],
)
def test_backpressure_backs_off_like_429(
    mode: str,
    emu: Emulator,
    rsa_key: PrivateKey,
    clock: FakeClock,
    code: str,
    status: int | None,
) -> None:
    fault(emu, APPEND, code=code, count=2, **({"status": status} if status else {}))
    stats = run_on_emulator(mode, emu, rsa_key, clock, stream)
    assert landed(emu) == list(range(1, TOTAL + 1))
    assert clock.sleeps.count(2.0) == 2  # the throttle back-off, not the jittered 5xx one
    assert (stats.retries_429, stats.retries_5xx) == (2, 0)
    assert stats.reopens == 0 and emu.stats()["faults_fired"] == 2


def test_backpressure_past_the_budget_on_an_append_reopens_and_replays(
    mode: str, emu: Emulator, rsa_key: PrivateKey, clock: FakeClock
) -> None:
    # Five back-offs, then the 503 is an append of unknown outcome: the channel is reopened
    # and what did not commit is sent again, once.
    fault(emu, APPEND, code="ReceiverSaturated", count=6)
    stats = run_on_emulator(mode, emu, rsa_key, clock, stream)
    assert landed(emu) == list(range(1, TOTAL + 1))
    assert clock.sleeps.count(2.0) == 5 and stats.reopens == 1
    assert stats.retries_429 == 5
    assert emu.stats()["faults_fired"] == 6


def test_throttling_past_the_budget_on_an_open_is_a_throttled_error(
    mode: str, emu: Emulator, rsa_key: PrivateKey, clock: FakeClock
) -> None:
    fault(emu, OPEN, code="MemoryThresholdExceeded", status=429, count=6)
    with pytest.raises(ThrottledError, match="MemoryThresholdExceeded"):
        run_on_emulator(mode, emu, rsa_key, clock, stream)
    assert clock.sleeps.count(2.0) == 5 and answers(emu, "open") == {"open 429": 6}


# --- recovered by reopening ------------------------------------------------------------------


@pytest.mark.parametrize(
    "code",
    [
        "ERR_CHANNEL_HAS_INVALID_ROW_SEQUENCER",
        "ERR_CHANNEL_MUST_BE_REOPENED",
        "ERR_CHANNEL_MUST_BE_REOPENED_DUE_TO_ROW_SEQ_GAP",
        "STALE_PIPE_CACHE",
    ],
)
def test_channel_level_codes_on_an_append_are_recovered_by_reopening(
    mode: str, emu: Emulator, rsa_key: PrivateKey, clock: FakeClock, code: str
) -> None:
    fault(emu, APPEND, code=code, count=1)
    stats = run_on_emulator(mode, emu, rsa_key, clock, stream)
    assert landed(emu) == list(range(1, TOTAL + 1))  # every row once
    assert stats.reopens == 1


# --- typed errors ----------------------------------------------------------------------------


def test_uncommitted_data_on_open_is_waited_for_and_never_forced(
    mode: str, emu: Emulator, rsa_key: PrivateKey, clock: FakeClock
) -> None:
    # Another writer's rows in flight: the open waits for them (0.5 s doubling, 60 s in all)
    # and never forces (no open with the flag false, which would discard them).
    fault(emu, OPEN, code="ERR_CHANNEL_HAS_UNCOMMITTED_DATA", count=2)
    run_on_emulator(mode, emu, rsa_key, clock, stream)
    assert answers(emu, "open") == {"open 409": 2, "open 200": 1}
    assert clock.sleeps[:2] == [0.5, 1.0]
    # For good: after 60 s, the ConflictError says so.
    fault(emu, OPEN, code="ERR_CHANNEL_HAS_UNCOMMITTED_DATA", count=40)
    with pytest.raises(ConflictError, match="still not committed after 60 s") as caught:
        run_on_emulator(mode, emu, rsa_key, clock, stream)
    assert caught.value.code == "ERR_CHANNEL_HAS_UNCOMMITTED_DATA"
    assert caught.value.status_code == 409


@pytest.mark.parametrize(
    "code", ["STALE_CONTINUATION_TOKEN_SEQUENCER", "ERR_CHANNEL_HAS_INVALID_CLIENT_SEQUENCER"]
)
def test_a_sequencer_moved_by_another_open_is_opened_elsewhere(
    mode: str, emu: Emulator, rsa_key: PrivateKey, clock: FakeClock, code: str
) -> None:
    fault(emu, APPEND, code=code, count=1)
    with pytest.raises(ChannelInvalidatedError) as caught:
        run_on_emulator(mode, emu, rsa_key, clock, stream)
    assert not isinstance(caught.value, ChannelDroppedError)
    assert caught.value.reason == "opened_elsewhere" and caught.value.code == code
    assert answers(emu, "open") == {"open 200": 1}  # not reopened: it is not ours any more


@pytest.mark.parametrize(
    "code", ["ERR_CHANNEL_NO_LONGER_EXISTS", "ERR_CHANNEL_DOES_NOT_EXIST_OR_IS_NOT_AUTHORIZED"]
)
def test_a_channel_gone_on_an_append_is_dropped(
    mode: str, emu: Emulator, rsa_key: PrivateKey, clock: FakeClock, code: str
) -> None:
    fault(emu, APPEND, code=code, count=1)
    with pytest.raises(ChannelDroppedError) as caught:
        run_on_emulator(mode, emu, rsa_key, clock, stream)
    assert caught.value.reason == "dropped" and caught.value.code == code
    assert answers(emu, "open") == {"open 200": 1}  # never created again by a reopen


def test_payload_too_large_is_row_too_large(
    mode: str, emu: Emulator, rsa_key: PrivateKey, clock: FakeClock
) -> None:
    fault(emu, APPEND, code="ERR_PAYLOAD_TOO_LARGE", count=1)
    with pytest.raises(RowTooLargeError) as caught:
        run_on_emulator(mode, emu, rsa_key, clock, stream)
    assert caught.value.status_code == 413
    assert answers(emu, "append")["append 413"] == 1


@pytest.mark.parametrize(
    ("where", "code", "error"),
    [
        (OPEN, "ERR_PIPE_DOES_NOT_EXIST_OR_NOT_AUTHORIZED", NotFoundError),
        (OPEN, "ERR_DATABASE_DOES_NOT_EXIST_OR_NOT_AUTHORIZED", NotFoundError),
        (OPEN, "ERR_TABLE_DOES_NOT_EXIST_NOT_AUTHORIZED", NotFoundError),
        (OPEN, "ERR_INVALID_CHANNEL_NAME", BadRequestError),
        (OPEN, "391902", BadRequestError),
        ({"path": "hostname"}, "391902", BadRequestError),
    ],
)
def test_configuration_errors_fail_at_once_with_the_code(
    mode: str,
    emu: Emulator,
    rsa_key: PrivateKey,
    clock: FakeClock,
    where: dict[str, str],
    code: str,
    error: type[Exception],
) -> None:
    fault(emu, where, code=code, count=1)
    with pytest.raises(error) as caught:
        run_on_emulator(mode, emu, rsa_key, clock, stream)
    assert getattr(caught.value, "code", None) == code
    assert M.KNOWN_CODES[code][1] in str(caught.value)  # the service's message is kept
    assert emu.stats()["faults_fired"] == 1


# --- authentication --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("where", "code"),
    [
        ({"path": "hostname"}, "390144"),
        ({"path": "/oauth/token"}, "390144"),
        (APPEND, "390303"),
        (APPEND, "390318"),
        (OPEN, "390318"),
    ],
)
def test_a_401_is_refreshed_once(
    mode: str,
    emu: Emulator,
    rsa_key: PrivateKey,
    clock: FakeClock,
    where: dict[str, str],
    code: str,
) -> None:
    fault(emu, where, code=code, count=1)
    stats = run_on_emulator(mode, emu, rsa_key, clock, stream)
    assert landed(emu) == list(range(1, TOTAL + 1))
    assert stats.retries_401 == 1


@pytest.mark.parametrize(("where", "code"), [({"path": "hostname"}, "390144"), (APPEND, "390318")])
def test_a_401_after_the_refresh_is_an_authentication_error(
    mode: str,
    emu: Emulator,
    rsa_key: PrivateKey,
    clock: FakeClock,
    where: dict[str, str],
    code: str,
) -> None:
    fault(emu, where, code=code, count=2)
    with pytest.raises(AuthenticationError) as caught:
        run_on_emulator(mode, emu, rsa_key, clock, stream)
    assert caught.value.code == code and caught.value.status_code == 401


@pytest.mark.parametrize(
    ("where", "code"), [({"path": "hostname"}, "390144"), (APPEND, "390318"), (OPEN, "390318")]
)
def test_a_bare_401_rule_answers_with_the_code_of_the_credential_the_call_carries(
    mode: str,
    emu: Emulator,
    rsa_key: PrivateKey,
    clock: FakeClock,
    where: dict[str, str],
    code: str,
) -> None:
    # A rule with only a status: the control host's calls carry the key-pair JWT (390144), the
    # ingest host's carry the scoped token, whose rejection Snowflake answers with 390318.
    fault(emu, where, status=401, count=2)
    with pytest.raises(AuthenticationError) as caught:
        run_on_emulator(mode, emu, rsa_key, clock, stream)
    assert caught.value.code == code and caught.value.status_code == 401


def test_retries_repeat_their_request_id_and_replays_after_a_reopen_take_new_ones(
    mode: str, emu: Emulator, rsa_key: PrivateKey, clock: FakeClock
) -> None:
    # A 503 is retried (same id, retryCount + 1); a lost answer to an append is recovered by a
    # reopen and a replay, which is a new request (new id, retryCount 0). The emulator checks it.
    fault(emu, APPEND, status=503, count=2)
    fault(emu, APPEND, action="lost_response", count=1)
    run_on_emulator(mode, emu, rsa_key, clock, stream)
    assert landed(emu) == list(range(1, TOTAL + 1))
    stats = emu.stats()
    assert stats["retries"].get("append", 0) >= 2
    assert stats["request_ids_reused"] == {}
    assert stats["requests"].get("open 200", 0) >= 2  # the lost answer did cause a reopen
