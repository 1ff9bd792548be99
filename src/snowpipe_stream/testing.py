"""Helpers for testing code that uses snowpipe_stream.

:class:`FakeClock` replaces the real clock: time stands still until you
:meth:`~FakeClock.advance` it, and ``sleep()``/``asleep()`` advance it at once and record the
delay in :attr:`FakeClock.sleeps`, so back-off and token expiry are tested without waiting.
"""

from __future__ import annotations

import asyncio
import threading

__all__ = ["FakeClock"]


class FakeClock:
    """A clock that moves only when told to.

    ``time()`` starts at ``start`` (epoch seconds) and ``monotonic()`` at 0; both move together.
    Thread-safe: one fake clock may be shared by a client and an emulator.
    """

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._lock = threading.Lock()
        self._start = float(start)
        self._elapsed = 0.0
        self.sleeps: list[float] = []

    def time(self) -> float:
        return self._start + self._elapsed

    def monotonic(self) -> float:
        return self._elapsed

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds`` (must not be negative)."""
        if seconds < 0:
            raise ValueError(f"a clock cannot go backwards (advance({seconds!r}))")
        with self._lock:
            self._elapsed += seconds

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self._elapsed += max(seconds, 0.0)

    async def asleep(self, seconds: float) -> None:
        self.sleep(seconds)
        # Yield to the loop as a real sleep would, so other tasks get to run.
        await asyncio.sleep(0)

    def __repr__(self) -> str:
        return f"FakeClock(time={self.time():.3f}, sleeps={len(self.sleeps)})"
