"""The server's clock as this client can know it: estimated from ``Date`` headers.

Tokens carry server times (a scoped token's ``exp``, the ``iat`` Snowflake checks in a JWT), so
a client whose clock is ahead by most of a token's life judged every scoped token already
stale and exchanged a new one before almost every request. :class:`SkewEstimator` takes the
``Date`` header of every response (RFC 9110 §6.6.1: the time the answer was generated, one
second resolution), keeps the median of the last few samples (a jumping clock is followed
within a few responses, a single slow answer does not move it), and :class:`ServerClock` is a
:class:`~snowpipe_stream._clock.Clock` whose ``time()`` is the local clock corrected by it. The
token code reads that clock, so refreshes are scheduled on the server's time and a JWT's
``iat`` is never ahead of the server's clock (Snowflake refuses an ``iat`` in the future beyond
a small, undocumented allowance; the emulator allows 60 s, and the skew is measured from the
answer to the first request, 401 or not, so the retry already carries a corrected ``iat``).
"""

from __future__ import annotations

import statistics
import threading
from collections import deque
from email.utils import parsedate_to_datetime

from ._clock import Clock

__all__ = ["ServerClock", "SkewEstimator"]

#: Samples kept (the median of these is the estimate).
SAMPLES = 5
#: Warn about the skew beyond this (``check``'s threshold).
SKEW_WARN_SECS = 30.0


class SkewEstimator:
    """The offset ``server time - local time``, from ``Date`` headers."""

    def __init__(self) -> None:
        self._samples: deque[float] = deque(maxlen=SAMPLES)
        self._last_header: str | None = None
        self._last_local = 0.0
        self._lock = threading.Lock()
        self._offset = 0.0
        self.observations = 0

    def observe(self, date_header: str | None, local_now: float) -> None:
        """One response's ``Date`` header, read at local time ``local_now``."""
        if not date_header:
            return
        # The same header within the same local second says nothing new: skip the parse.
        if date_header == self._last_header and local_now - self._last_local < 1.0:
            return
        try:
            server = parsedate_to_datetime(date_header).timestamp()
        except (TypeError, ValueError, IndexError, OverflowError):
            return
        self.observe_server_time(server + 0.5, local_now)  # the middle of its second
        self._last_header, self._last_local = date_header, local_now

    def observe_server_time(self, server_now: float, local_now: float) -> None:
        with self._lock:
            self._samples.append(server_now - local_now)
            self._offset = statistics.median(self._samples)
            self.observations += 1

    @property
    def offset(self) -> float:
        """Seconds to add to the local clock to get the server's (0 before any sample)."""
        return self._offset

    @property
    def measured(self) -> bool:
        return self.observations > 0

    def local_ahead_secs(self) -> float | None:
        """How far this machine's clock is ahead of the server's (negative: behind), or None
        before the first answer."""
        return -self._offset if self.measured else None


class ServerClock:
    """The local clock with ``time()`` corrected to the server's (monotonic time and sleeps
    are the local clock's)."""

    __slots__ = ("_base", "_skew")

    def __init__(self, base: Clock, skew: SkewEstimator) -> None:
        self._base = base
        self._skew = skew

    def time(self) -> float:
        return self._base.time() + self._skew.offset

    def monotonic(self) -> float:
        return self._base.monotonic()

    def sleep(self, seconds: float) -> None:
        self._base.sleep(seconds)

    async def asleep(self, seconds: float) -> None:
        await self._base.asleep(seconds)

    def __repr__(self) -> str:
        return f"ServerClock(offset={self._skew.offset:+.1f}s)"
