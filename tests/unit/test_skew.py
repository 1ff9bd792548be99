"""The server clock estimate and the floor between two scoped-token exchanges."""

from __future__ import annotations

from email.utils import formatdate

from snowpipe_stream._skew import ServerClock, SkewEstimator
from snowpipe_stream._tokens import MIN_EXCHANGE_INTERVAL_SECS, ScopedTokenCache
from snowpipe_stream.testing import FakeClock


def test_the_estimate_is_the_median_of_date_headers_and_follows_a_jump() -> None:
    skew = SkewEstimator()
    assert skew.local_ahead_secs() is None and skew.offset == 0.0
    server = 1_800_000_000.0
    for i in range(5):
        skew.observe(formatdate(server + i, usegmt=True), server + i + 50.0)
    assert abs(skew.local_ahead_secs() - 49.5) < 1e-9  # type: ignore[operator]
    # One slow answer does not move the median.
    skew.observe(formatdate(server + 5, usegmt=True), server + 5 + 58.0)
    assert abs(skew.offset + 49.5) < 1e-9
    # The local clock jumps back 40 s: three answers later the estimate has followed.
    for i in range(6, 9):
        skew.observe(formatdate(server + i, usegmt=True), server + i + 10.0)
    assert abs(skew.local_ahead_secs() - 9.5) < 1e-9  # type: ignore[operator]


def test_bad_or_missing_headers_are_ignored() -> None:
    skew = SkewEstimator()
    for header in (None, "", "yesterday", "Mon, 99 Foo 2026 99:99:99 GMT"):
        skew.observe(header, 1_800_000_000.0)
    assert skew.local_ahead_secs() is None


def test_the_server_clock_applies_the_offset_to_wall_time_only() -> None:
    base = FakeClock()
    skew = SkewEstimator()
    skew.observe_server_time(base.time() - 50, base.time())
    clock = ServerClock(base, skew)
    assert clock.time() == base.time() - 50
    assert clock.monotonic() == base.monotonic()
    clock.sleep(3)
    assert base.sleeps == [3]


def test_no_exchange_sooner_than_the_floor_unless_invalidated() -> None:
    cache = ScopedTokenCache(refresh_margin_secs=60)
    now, mono = 1_000.0, 0.0
    # A 4 s token: within the margin from the start; the floor keeps it while it is valid.
    cache.set("tok", now + 4, now, mono)
    assert cache.fresh(now + 1, mono + 1) == "tok"
    assert cache.fresh(now + 4.5, mono + 4.5) is None  # expired: never reused
    cache.set("tok2", now + 30, now, mono)
    assert cache.fresh(now + 16, mono + 16) is None  # past half its life, past the floor
    assert cache.fresh(now + 16, mono + MIN_EXCHANGE_INTERVAL_SECS - 1) == "tok2"
    cache.invalidate("tok2")
    assert cache.fresh(now, mono) is None
