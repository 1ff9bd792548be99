"""Three simulated hours of streaming with short-lived tokens: nothing reaches the caller."""

from __future__ import annotations

from snowpipe_stream import Client, ClientConfig, PrivateKey
from snowpipe_stream.emulator import Emulator
from snowpipe_stream.testing import FakeClock

HOURS = 3
STEP_SECS = 10.0  # simulated time between batches


def test_three_hours_of_refreshes(rsa_key: PrivateKey) -> None:
    clock = FakeClock()
    steps = int(HOURS * 3600 / STEP_SECS)
    with Emulator(users=[("long-acct", "svc", rsa_key)], clock=clock, scoped_token_ttl=300) as emu:
        config = ClientConfig(
            account="long-acct",
            user="svc",
            private_key=rsa_key,
            url=emu.url,
            jwt_exp_secs=60,
            jwt_refresh_margin_secs=30,
            max_client_lag=0,
        )
        with Client("long", "DB", "S", "P", config=config, clock=clock) as client:
            channel, _ = client.open_channel("long")
            for step in range(1, steps + 1):
                channel.append_rows(
                    [{"step": step, "i": i} for i in range(10)], str(step), str(step)
                )
                channel.flush()
                clock.advance(STEP_SECS)
            channel.wait_for_commit(str(steps), timeout=60)
            stats = client.stats
        rows = emu.rows("DB", "S", "P", "long")
        emu_stats = emu.stats()
    assert len(rows) == steps * 10
    assert [r["step"] for r in rows[::10]] == list(range(1, steps + 1))
    # No request ever left with an expired credential, and nothing needed a 401 retry.
    assert emu_stats["expired_tokens_rejected"] == 0
    assert emu_stats["jwts_rejected"] == 0 and emu_stats["scoped_tokens_rejected"] == 0
    assert stats.retries_401 == 0
    # The 300 s scoped token is renewed 30 s before it expires: every 270 s of simulated time.
    expected_exchanges = 1 + int(HOURS * 3600 / 270)
    assert abs(stats.scoped_exchanges - expected_exchanges) <= expected_exchanges * 0.1
    # A JWT is minted when a control-plane call needs one, i.e. for each exchange (a 60 s JWT is
    # always stale 270 s later); never more than one per exchange.
    assert stats.jwt_mints == stats.scoped_exchanges
