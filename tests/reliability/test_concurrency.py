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
    sent = [0] * THREADS
    progress = threading.Condition()
    stop = threading.Event()
    errors: list[BaseException] = []
    with Emulator(users=[("conc-acct", "svc", rsa_key)], clock=clock, scoped_token_ttl=120) as emu:
        with Client("conc", "DB", "S", "P", config=config(emu, rsa_key), clock=clock) as client:
            channels = [client.open_channel(f"t{i}")[0] for i in range(THREADS)]

            def worker(i: int) -> None:
                try:
                    n = 0
                    while not stop.is_set():
                        n += 1
                        channels[i].append_row({"t": i, "n": n}, offset_token=str(n))
                        channels[i].flush()
                        with progress:
                            sent[i] = n
                            progress.notify_all()
                except BaseException as exc:
                    errors.append(exc)
                    with progress:
                        progress.notify_all()

            threads = [threading.Thread(target=worker, args=(i,)) for i in range(THREADS)]
            for t in threads:
                t.start()
            for _ in range(STEPS):
                # Let every thread send with the current tokens, then age them all at once.
                with progress:
                    marks = list(sent)
                    assert progress.wait_for(
                        lambda marks=marks: (
                            errors  # type: ignore[misc]
                            or all(s > m for s, m in zip(sent, marks, strict=True))
                        ),
                        timeout=30,
                    )
                clock.advance(STEP_SECS)
            stop.set()
            for t in threads:
                t.join(timeout=30)
            assert not any(t.is_alive() for t in threads), "deadlock"
            assert not errors, errors
            for i, channel in enumerate(channels):
                channel.wait_for_commit(str(sent[i]), timeout=60)
            stats = client.stats
        for i in range(THREADS):
            got = [r["n"] for r in emu.rows("DB", "S", "P", f"t{i}")]
            assert got == list(range(1, sent[i] + 1))
        issued = emu.stats()["scoped_tokens_issued"]
    # One exchange (and one JWT) per refresh window, however many threads found it stale.
    assert stats.scoped_exchanges == issued
    assert stats.scoped_exchanges <= STEPS + 1
    assert stats.jwt_mints <= stats.scoped_exchanges
    assert stats.retries_401 == 0


def test_64_tasks_over_8_channels(rsa_key: PrivateKey) -> None:
    clock = FakeClock()
    per_task = 300

    async def main(emu: Emulator) -> Any:
        async with AsyncClient(
            "conc-async", "DB", "S", "P", config=config(emu, rsa_key), clock=clock
        ) as client:
            channels = [(await client.open_channel(f"a{c}"))[0] for c in range(8)]

            async def task(t: int) -> None:
                channel = channels[t % 8]
                for i in range(per_task):
                    await channel.append_row({"task": t, "i": i})
                    if i % 50 == 49:
                        await channel.flush()
                        clock.advance(7)  # tokens expire while the tasks run

            await asyncio.wait_for(asyncio.gather(*(task(t) for t in range(64))), timeout=120)
            for channel in channels:
                await asyncio.wait_for(channel.close(), timeout=60)
            return client.stats

    with Emulator(users=[("conc-acct", "svc", rsa_key)], clock=clock, scoped_token_ttl=120) as emu:
        stats = asyncio.run(main(emu))
        rows = emu.rows("DB", "S", "P")
        issued = emu.stats()["scoped_tokens_issued"]
    assert len(rows) == 64 * per_task
    assert {(r["task"], r["i"]) for r in rows} == {
        (t, i) for t in range(64) for i in range(per_task)
    }
    for c in range(8):  # each task's rows keep their order within its channel
        for t in range(c, 64, 8):
            mine = [r["i"] for r in rows if r["task"] == t]
            assert mine == list(range(per_task))
    assert stats.scoped_exchanges == issued
    assert stats.jwt_mints <= stats.scoped_exchanges
    # A 120 s scoped token is renewed after 90 s: at most one exchange per 90 s window.
    assert stats.scoped_exchanges <= clock.monotonic() / 90 + 2
