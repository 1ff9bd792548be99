"""Timing helpers shared by the benchmarks."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def sample(fn: Callable[[], object], n: int) -> list[float]:
    """Run ``fn`` ``n`` times; return each duration in seconds."""
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def per_call_ns(fn: Callable[[], object], n: int, repeat: int = 5) -> float:
    """Best-of-``repeat`` mean nanoseconds per call over ``n`` calls (for very cheap calls)."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter_ns()
        for _ in range(n):
            fn()
        best = min(best, (time.perf_counter_ns() - t0) / n)
    return best


def ms(x: float) -> str:
    return f"{x * 1000:.3f} ms"


__all__ = ["ms", "pct", "per_call_ns", "sample", "statistics"]
