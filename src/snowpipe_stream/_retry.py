"""The retry policy: one immutable value and one pure classifier.

:class:`RetryPolicy` holds the knobs (named defaults from ``_constants``); :class:`Attempts`
is the immutable state of one logical call's retries (each step returns a new one, with a
history of what happened, so a retry storm is easy to read in a log). :func:`decide` looks
at what came back (a status and error code, or a connection failure) and says what to do:

========================================  =================================================
outcome                                   decision
========================================  =================================================
2xx                                       done
401                                       refresh the credential, retry once; then fail
429; a backpressure code (ReceiverSatu-   wait ``throttle_backoff_secs`` or a larger
rated, MemoryThresholdExceeded, ...)      Retry-After (capped), up to ``max_throttle_retries``
whatever the status
408/499/5xx, ERR_GENERAL_EXCEPTION_...,   exponential back-off with jitter, bounded by
connection errors, timeouts               attempts and a total deadline (a short one,
                                          ``initial_connect_deadline_secs``, for connection
                                          failures before the client's first success)
TLS verification or protocol failure,     fail at once: no retry can heal them
a host name that does not exist
stale continuation token, sequencer       reopen the channel (appends and statuses only)
errors, 409 on a data call
other 4xx                                 fail at once with the typed error
========================================  =================================================

Nothing here sleeps or reads a clock: times are passed in.
"""

from __future__ import annotations

import email.utils
import enum
import math
from dataclasses import dataclass, replace

from . import _constants as C
from ._protocol import BACKPRESSURE_CODES, REOPEN_CODES, RETRY_CODES, OpKind

__all__ = [
    "UNHEALABLE_FAILURES",
    "Action",
    "Attempts",
    "Decision",
    "Outcome",
    "RetryPolicy",
    "decide",
    "parse_retry_after",
]

#: Statuses retried with exponential back-off.
SERVER_RETRY_STATUSES = frozenset({408, 499, 500, 502, 503, 504})

#: Connection failures that the same request cannot get past later: the server's certificate
#: is not trusted, the server does not speak TLS (or speaks it where http was asked), the host
#: name does not exist. Retrying them only delays the message that says what to fix.
UNHEALABLE_FAILURES = frozenset({"tls_verify", "tls_protocol", "dns"})


@dataclass(frozen=True)
class RetryPolicy:
    """How a call is retried. Immutable: share one across channels and threads."""

    retry_on_unauthorized: bool = C.DEFAULT_RETRY_ON_UNAUTHORIZED
    #: Fresh-credential retries after a 401 (the seed's contract: once).
    max_auth_retries: int = 1
    throttle_backoff_secs: float = C.DEFAULT_THROTTLE_BACKOFF_SECS
    max_throttle_retries: int = C.DEFAULT_MAX_THROTTLE_RETRIES
    max_retry_after_secs: float = C.MAX_RETRY_AFTER_SECS
    max_server_retries: int = C.DEFAULT_SERVER_ERROR_RETRIES
    initial_backoff_secs: float = C.INITIAL_BACKOFF_SECS
    max_backoff_secs: float = C.MAX_BACKOFF_SECS
    #: No retry starts later than this many seconds after the first attempt.
    deadline_secs: float = C.DEFAULT_RETRY_DEADLINE_SECS
    #: The deadline for connection failures until the client's first success.
    initial_connect_deadline_secs: float = C.DEFAULT_INITIAL_CONNECT_DEADLINE_SECS
    server_retry_statuses: frozenset[int] = SERVER_RETRY_STATUSES

    def backoff(self, retry_number: int, jitter: float) -> float:
        """Delay before server-error retry ``retry_number`` (1-based); ``jitter`` in [0, 1)."""
        base = min(self.initial_backoff_secs * 2.0 ** (retry_number - 1), self.max_backoff_secs)
        # "Equal jitter": half fixed, half random, so retries spread but never come at once.
        return base / 2 + base / 2 * jitter


class Action(enum.Enum):
    DONE = "done"
    RETRY = "retry"
    REOPEN = "reopen"
    FAIL = "fail"


@dataclass(frozen=True)
class Outcome:
    """What came back from one attempt."""

    kind: OpKind
    status: int | None = None
    code: str | None = None
    retry_after: str | None = None
    #: "connect" (nothing was sent), "timeout" or "network" (outcome unknown), or one of
    #: :data:`UNHEALABLE_FAILURES`; None for a status.
    failure: str | None = None
    #: Whether the client has had a successful answer before (see
    #: ``initial_connect_deadline_secs``).
    established: bool = True
    #: Whether the credential used can be refreshed (False for a user-supplied JWT).
    can_refresh: bool = True


@dataclass(frozen=True)
class Attempts:
    """Retries spent so far on one call."""

    started: float
    auth: int = 0
    throttle: int = 0
    server: int = 0
    history: tuple[str, ...] = ()

    @property
    def total(self) -> int:
        return 1 + self.auth + self.throttle + self.server


@dataclass(frozen=True)
class Decision:
    action: Action
    delay: float = 0.0
    #: Invalidate the credential before retrying (the 401 path).
    refresh: bool = False
    #: Why, in words for a log line or an error message.
    reason: str = ""
    attempts: Attempts | None = None


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a Retry-After header (seconds or HTTP-date); None when absent/bad."""
    if value is None:
        return None
    v = value.strip()
    try:
        secs = float(v)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(v)
        except (TypeError, ValueError, IndexError):
            return None
        secs = when.timestamp() - now
    if not math.isfinite(secs):
        return None
    return max(secs, 0.0)


def decide(
    policy: RetryPolicy,
    attempts: Attempts,
    outcome: Outcome,
    *,
    now_wall: float,
    now_mono: float,
    jitter: float,
) -> Decision:
    """What to do after ``outcome`` (pure)."""
    status, code = outcome.status, outcome.code
    if outcome.failure is None and status is not None and 200 <= status < 300:
        return Decision(Action.DONE, attempts=attempts)

    # Channel-level problems: the channel must be reopened, not the request repeated.
    if outcome.kind in ("append", "status") and (code in REOPEN_CODES or status == 409):
        return Decision(
            Action.REOPEN, reason=f"channel needs reopening ({code or status})", attempts=attempts
        )

    if status == 401:
        if not outcome.can_refresh:
            return Decision(
                Action.FAIL, reason="a user-supplied JWT cannot be refreshed", attempts=attempts
            )
        if not policy.retry_on_unauthorized or attempts.auth >= policy.max_auth_retries:
            return Decision(
                Action.FAIL,
                reason="unauthorized after refreshing credentials"
                if attempts.auth
                else "unauthorized",
                attempts=attempts,
            )
        nxt = replace(attempts, auth=attempts.auth + 1, history=(*attempts.history, "401"))
        return Decision(Action.RETRY, refresh=True, reason="received 401", attempts=nxt)

    if status == 429 or code in BACKPRESSURE_CODES:
        label = "429" if status == 429 else f"{status} {code}"
        if attempts.throttle >= policy.max_throttle_retries:
            return Decision(
                Action.FAIL,
                reason=f"throttled after {attempts.throttle} back-offs",
                attempts=attempts,
            )
        delay = policy.throttle_backoff_secs
        hinted = parse_retry_after(outcome.retry_after, now_wall)
        if hinted is not None and hinted > delay:
            delay = min(hinted, policy.max_retry_after_secs)
        nxt = replace(
            attempts,
            throttle=attempts.throttle + 1,
            history=(*attempts.history, f"{label}:{delay:g}s"),
        )
        return Decision(Action.RETRY, delay=delay, reason=f"received {label}", attempts=nxt)

    if outcome.failure in UNHEALABLE_FAILURES:
        return Decision(Action.FAIL, reason=f"not retried ({outcome.failure})", attempts=attempts)

    retryable = (
        outcome.failure is not None
        or (status is not None and status in policy.server_retry_statuses)
        or code in RETRY_CODES
    )
    if retryable:
        label = outcome.failure or str(status)
        if attempts.server >= policy.max_server_retries:
            return Decision(
                Action.FAIL,
                reason=f"gave up after {_attempts(attempts.total)} ({label})",
                attempts=attempts,
            )
        delay = policy.backoff(attempts.server + 1, jitter)
        deadline = policy.deadline_secs
        if outcome.failure is not None and not outcome.established:
            deadline = min(deadline, policy.initial_connect_deadline_secs)
        if now_mono + delay - attempts.started > deadline:
            first = "" if outcome.established else " before any successful request"
            spent = now_mono - attempts.started
            return Decision(
                Action.FAIL,
                reason=f"gave up after {_attempts(attempts.total)} in {spent:.1f} s{first} "
                f"({label}; deadline {deadline:g} s)",
                attempts=attempts,
            )
        nxt = replace(
            attempts,
            server=attempts.server + 1,
            history=(*attempts.history, f"{label}:{delay:.2f}s"),
        )
        return Decision(Action.RETRY, delay=delay, reason=f"received {label}", attempts=nxt)

    return Decision(Action.FAIL, reason=f"HTTP {status}", attempts=attempts)


def _attempts(n: int) -> str:
    return "1 attempt" if n == 1 else f"{n} attempts"
