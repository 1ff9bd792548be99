"""The retry policy as plain values: decide() and parse_retry_after()."""

from __future__ import annotations

import email.utils

import pytest

from snowpipe_stream._retry import Action, Attempts, Outcome, RetryPolicy, decide, parse_retry_after

NOW = 1_700_000_000.0
POLICY = RetryPolicy()


def step(
    outcome: Outcome,
    attempts: Attempts | None = None,
    policy: RetryPolicy = POLICY,
    mono: float = 0.0,
    jitter: float = 0.5,
):  # type: ignore[no-untyped-def]
    return decide(
        policy,
        attempts or Attempts(started=0.0),
        outcome,
        now_wall=NOW,
        now_mono=mono,
        jitter=jitter,
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("5", 5.0),
        (" 2.5 ", 2.5),
        ("-3", 0.0),
        ("soon", None),
        ("nan", None),
        (email.utils.formatdate(NOW + 30, usegmt=True), 30.0),
        (email.utils.formatdate(NOW - 30, usegmt=True), 0.0),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, NOW) == expected


def test_success_is_done() -> None:
    assert step(Outcome("append", status=200)).action is Action.DONE


def test_401_retries_once_with_refresh() -> None:
    first = step(Outcome("token", status=401))
    assert (first.action, first.refresh, first.delay) == (Action.RETRY, True, 0.0)
    second = step(Outcome("token", status=401), first.attempts)
    assert second.action is Action.FAIL
    assert step(Outcome("token", status=401, can_refresh=False)).action is Action.FAIL
    off = RetryPolicy(retry_on_unauthorized=False)
    assert step(Outcome("token", status=401), policy=off).action is Action.FAIL


def test_429_fixed_delay_retry_after_and_budget() -> None:
    d = step(Outcome("append", status=429))
    assert (d.action, d.delay) == (Action.RETRY, 2.0)
    assert step(Outcome("append", status=429, retry_after="7")).delay == 7.0
    assert step(Outcome("append", status=429, retry_after="1")).delay == 2.0
    assert step(Outcome("append", status=429, retry_after="999")).delay == 60.0
    attempts = Attempts(started=0.0)
    for _ in range(5):
        d = step(Outcome("append", status=429), attempts)
        assert d.action is Action.RETRY and d.attempts is not None
        attempts = d.attempts
    assert step(Outcome("append", status=429), attempts).action is Action.FAIL
    assert attempts.history == ("429:2s",) * 5


@pytest.mark.parametrize(
    "code",
    [
        "ReceiverSaturated",
        "MemoryThresholdExceeded",
        "MemoryThresholdExceededInContainer",
        "HttpRetryableClientError",
    ],
)
@pytest.mark.parametrize("status", [400, 503])
def test_backpressure_codes_back_off_like_429_whatever_the_status(code: str, status: int) -> None:
    # Before, a 400 with one of these failed at once and a 503 spent the server retries.
    attempts = Attempts(started=0.0)
    for _ in range(5):
        d = step(Outcome("append", status=status, code=code, retry_after="7"), attempts)
        assert (d.action, d.delay) == (Action.RETRY, 7.0)
        assert d.attempts is not None
        attempts = d.attempts
    assert (attempts.throttle, attempts.server) == (5, 0)
    assert attempts.history[0] == f"{status} {code}:7s"
    last = step(Outcome("append", status=status, code=code), attempts)
    assert last.action is Action.FAIL and "throttled after 5 back-offs" in last.reason


@pytest.mark.parametrize("status", [408, 499, 500, 502, 503, 504])
def test_server_statuses_back_off_exponentially(status: int) -> None:
    attempts = Attempts(started=0.0)
    delays = []
    for _ in range(5):
        d = step(Outcome("open", status=status), attempts, jitter=1.0)
        assert d.action is Action.RETRY and d.attempts is not None
        delays.append(d.delay)
        attempts = d.attempts
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0]
    assert step(Outcome("open", status=status), attempts).action is Action.FAIL


def test_jitter_keeps_half_the_delay() -> None:
    assert step(Outcome("open", status=503), jitter=0.0).delay == 0.25


def test_deadline_bounds_retries() -> None:
    policy = RetryPolicy(deadline_secs=10)
    assert step(Outcome("open", status=503), policy=policy, mono=9.9).action is Action.FAIL
    assert step(Outcome("open", status=503), policy=policy, mono=1.0).action is Action.RETRY


def test_failures_and_codes() -> None:
    for failure in ("connect", "timeout", "network"):
        assert step(Outcome("append", failure=failure)).action is Action.RETRY
    assert (
        step(Outcome("status", status=400, code="ERR_GENERAL_EXCEPTION_RETRY_REQUEST")).action
        is Action.RETRY
    )
    assert (
        step(Outcome("append", status=400, code="STALE_CONTINUATION_TOKEN_SEQUENCER")).action
        is Action.REOPEN
    )
    assert step(Outcome("append", status=409)).action is Action.REOPEN
    assert (
        step(Outcome("open", status=409, code="ERR_CHANNEL_HAS_UNCOMMITTED_DATA")).action
        is Action.FAIL
    )
    assert (
        step(Outcome("open", status=409, code="ERR_OPEN_CHANNEL_IN_PROGRESS")).action
        is Action.RETRY
    )
    for status in (400, 403, 404, 413):
        assert step(Outcome("append", status=status)).action is Action.FAIL


def test_policy_is_immutable() -> None:
    with pytest.raises(AttributeError):
        POLICY.max_throttle_retries = 9  # type: ignore[misc]


@pytest.mark.parametrize("failure", ["tls_verify", "tls_protocol", "dns"])
def test_failures_no_retry_heals_fail_at_once(failure: str) -> None:
    for established in (False, True):
        decision = step(Outcome("hostname", failure=failure, established=established))
        assert decision.action is Action.FAIL and failure in decision.reason


def test_connection_failures_before_the_first_success_get_the_short_deadline() -> None:
    policy = RetryPolicy(initial_connect_deadline_secs=3, deadline_secs=120)
    for failure in ("connect", "timeout", "network"):
        fresh = Outcome("hostname", failure=failure, established=False)
        assert step(fresh, policy=policy, mono=1.0, jitter=0.0).action is Action.RETRY
        late = step(fresh, policy=policy, mono=2.9, jitter=0.0)
        assert late.action is Action.FAIL
        assert "before any successful request" in late.reason and "deadline 3 s" in late.reason
        # After a success (a mid-stream outage), the whole budget.
        healed = Outcome("hostname", failure=failure, established=True)
        assert step(healed, policy=policy, mono=2.9, jitter=0.0).action is Action.RETRY
    # A server that answers 503 is reachable: the whole budget, established or not.
    answered = Outcome("hostname", status=503, established=False)
    assert step(answered, policy=policy, mono=2.9, jitter=0.0).action is Action.RETRY
