"""A client whose clock is off: refreshes on the server's clock, JWTs it accepts."""

from __future__ import annotations

from snowpipe_stream import Client, PrivateKey
from snowpipe_stream._clock import Clock
from snowpipe_stream.emulator import Emulator
from snowpipe_stream.testing import FakeClock

from .conftest import ACCOUNT, DB, PIPE, SCHEMA, USER, make_config


class OffsetClock:
    """The shared fake clock as a machine whose clock is ``offset`` seconds off sees it."""

    def __init__(self, base: FakeClock, offset: float) -> None:
        self.base, self.offset = base, offset

    def time(self) -> float:
        return self.base.time() + self.offset

    def monotonic(self) -> float:
        return self.base.monotonic()

    def sleep(self, seconds: float) -> None:
        self.base.sleep(seconds)

    async def asleep(self, seconds: float) -> None:
        await self.base.asleep(seconds)


def _stream(client: Client, clock: FakeClock, requests: int) -> None:
    channel, _ = client.open_channel("skew")
    for i in range(1, requests + 1):
        channel.append_rows([{"i": i}], str(i), str(i))
        channel.flush()
        clock.advance(1.0)
    channel.wait_for_commit(str(requests), timeout=30)


def test_a_clock_50s_ahead_does_not_exchange_before_every_request(
    rsa_key: PrivateKey, clock: FakeClock
) -> None:
    requests = 145
    local: Clock = OffsetClock(clock, 50.0)
    with Emulator(users=[(ACCOUNT, USER, rsa_key)], clock=clock, scoped_token_ttl=35) as emu:
        config = make_config(emu, rsa_key, jwt_exp_secs=3600)
        with Client("skew", DB, SCHEMA, PIPE, config=config, clock=local) as client:
            _stream(client, clock, requests)
            stats = client.stats
            skew = client.clock_skew_secs
        assert len(emu.rows(DB, SCHEMA, PIPE, "skew")) == requests
    assert skew is not None and abs(skew - 50.0) <= 1.0
    # 35 s tokens refreshed at half their life, on the server's clock: one per ~17.5 s of
    # the ~150 s streamed (72 of 145 requests were exchanges before).
    assert stats.scoped_exchanges <= requests / 17.5 + 2
    assert stats.retries_401 == 0


def test_a_clock_90s_ahead_gets_one_401_then_backdated_jwts(
    rsa_key: PrivateKey, clock: FakeClock
) -> None:
    local: Clock = OffsetClock(clock, 90.0)  # beyond the 60 s the verifier allows for iat
    with Emulator(users=[(ACCOUNT, USER, rsa_key)], clock=clock, scoped_token_ttl=60) as emu:
        config = make_config(emu, rsa_key, jwt_exp_secs=60, jwt_refresh_margin_secs=20)
        with Client("skew", DB, SCHEMA, PIPE, config=config, clock=local) as client:
            _stream(client, clock, 200)
            stats = client.stats
        rejected = emu.stats()["jwts_rejected"]
        assert len(emu.rows(DB, SCHEMA, PIPE, "skew")) == 200
    # The first JWT's iat was 90 s ahead: refused once; its answer's Date corrected the clock.
    assert rejected == 1 and stats.retries_401 == 1
    assert stats.scoped_exchanges >= 4  # later exchanges, each with a fresh JWT, all accepted
