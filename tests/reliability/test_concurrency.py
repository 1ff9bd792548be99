"""Many threads and tasks on one client while tokens expire: single flight, no deadlock."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from snowpipe_stream import AsyncClient, Client, ClientConfig, PrivateKey
from snowpipe_stream.emulator import Emulator
from snowpipe_stream.testing import FakeClock

THREADS = 16
STEPS = 8
STEP_SECS = 100.0  # > the 90 s a 120 s scoped token lasts before its refresh margin


def config(emu: Emulator, key: PrivateKey, **kw: Any) -> ClientConfig:
    return ClientConfig(
        account="conc-acct",
        user="svc",
        private_key=key,
        url=emu.url,
        jwt_exp_secs=60,
        max_client_lag=0,
        **kw,
    )


def test_16_threads_share_one_client(rsa_key: PrivateKey) -> None:
    clock = FakeClock()
    # Each step every thread sends; then, with nothing in flight, the clock jumps past the
    # tokens' refresh margin and all 16 threads find them stale at once.
    barrier = threading.Barrier(THREADS + 1, timeout=60)
    sent = [0] * THREADS
    errors: list[BaseException] = []
    with Emulator(users=[("conc-acct", "svc", rsa_key)], clock=clock, scoped_token_ttl=120) as emu:
        with Client("conc", "DB", "S", "P", config=config(emu, rsa_key), clock=clock) as client:
            channels = [client.open_channel(f"t{i}")[0] for i in range(THREADS)]

            def worker(i: int) -> None:
                try:
                    for step in range(STEPS + 1):
                        for _ in range(3):
                            sent[i] += 1
                            channels[i].append_row(
                                {"t": i, "n": sent[i]}, offset_token=str(sent[i])
                            )
                            channels[i].flush()
                        if step < STEPS:
                            barrier.wait()  # all sent
                            barrier.wait()  # the clock has moved
                except BaseException as exc:
                    errors.append(exc)
                    barrier.abort()

            threads = [threading.Thread(target=worker, args=(i,)) for i in range(THREADS)]
            for t in threads:
                t.start()
            try:
                for _ in range(STEPS):
                    barrier.wait()
                    clock.advance(STEP_SECS)
                    barrier.wait()
            except threading.BrokenBarrierError:
                pass
            for t in threads:
                t.join(timeout=60)
            assert not any(t.is_alive() for t in threads), "deadlock"
            assert not errors, errors
            for i, channel in enumerate(channels):
                channel.wait_for_commit(str(sent[i]), timeout=60)
            stats = client.stats
        for i in range(THREADS):
            got = [r["n"] for r in emu.rows("DB", "S", "P", f"t{i}")]
            assert got == list(range(1, 3 * (STEPS + 1) + 1))
        issued = emu.stats()["scoped_tokens_issued"]
        expired = emu.stats()["expired_tokens_rejected"]
    # One exchange (and one JWT) per refresh window, however many threads found it stale.
    assert stats.scoped_exchanges == issued == STEPS + 1
    assert stats.jwt_mints == STEPS + 1
    assert stats.retries_401 == 0 and expired == 0


def test_64_tasks_over_8_channels(rsa_key: PrivateKey) -> None:
    clock = FakeClock()
    phases, per_phase = 4, 75

    async def main(emu: Emulator) -> Any:
        async with AsyncClient(
            "conc-async", "DB", "S", "P", config=config(emu, rsa_key), clock=clock
        ) as client:
            channels = [(await client.open_channel(f"a{c}"))[0] for c in range(8)]

            async def task(t: int, phase: int) -> None:
                channel = channels[t % 8]
                for i in range(phase * per_phase, (phase + 1) * per_phase):
                    await channel.append_row({"task": t, "i": i})
                    if i % 25 == 24:
                        await channel.flush()

            for phase in range(phases):
                # 64 tasks at once; between phases (nothing in flight) the tokens age past
                # their refresh margin, so all tasks of the next phase find them stale.
                await asyncio.wait_for(
                    asyncio.gather(*(task(t, phase) for t in range(64))), timeout=120
                )
                clock.advance(STEP_SECS)
            for channel in channels:
                await asyncio.wait_for(channel.close(), timeout=60)
            return client.stats

    with Emulator(users=[("conc-acct", "svc", rsa_key)], clock=clock, scoped_token_ttl=120) as emu:
        stats = asyncio.run(main(emu))
        rows = emu.rows("DB", "S", "P")
        issued = emu.stats()["scoped_tokens_issued"]
    total = phases * per_phase
    assert len(rows) == 64 * total
    assert {(r["task"], r["i"]) for r in rows} == {(t, i) for t in range(64) for i in range(total)}
    for t in range(64):  # each task's rows keep their order within its channel
        assert [r["i"] for r in rows if r["task"] == t] == list(range(total))
    assert stats.scoped_exchanges == issued == phases + 1
    assert stats.jwt_mints == phases + 1
    assert stats.retries_401 == 0
