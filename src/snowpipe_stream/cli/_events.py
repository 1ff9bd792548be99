"""Realistic ~200-byte web events, made deterministically (the demo's and benchmarks' data)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

KINDS = ("page_view", "click", "add_to_cart", "purchase", "search", "signup")


def event(i: int, rng: random.Random) -> dict[str, Any]:
    return {
        "event_id": f"{rng.getrandbits(128):032x}",
        "ts": f"2026-11-28T{(i // 3600) % 24:02d}:{(i // 60) % 60:02d}:{i % 60:02d}"
        f".{i % 1000:03d}Z",
        "user_id": rng.randrange(1_000_000),
        "kind": KINDS[i % len(KINDS)],
        "url": f"https://shop.example.com/p/{rng.randrange(100_000)}?ref=home",
        "amount": round(rng.random() * 500, 2),
        "ok": i % 7 != 0,
        "tags": ["web", KINDS[(i + 1) % len(KINDS)]],
    }


def iter_events(n: int, seed: int = 1) -> Iterator[dict[str, Any]]:
    """The same events as :func:`events`, one at a time (nothing held)."""
    rng = random.Random(seed)
    for i in range(n):
        yield event(i, rng)


def events(n: int, seed: int = 1) -> list[dict[str, Any]]:
    return list(iter_events(n, seed))
