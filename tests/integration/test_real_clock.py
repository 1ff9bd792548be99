"""The one test on the real clock: a 429 makes both drivers really wait the seed's 2 s."""

from __future__ import annotations

import asyncio
import threading
import time as real_time

from snowpipe_stream import AsyncClient, Client, PrivateKey
from snowpipe_stream.emulator import Emulator
from tests.integration.conftest import DB, PIPE, SCHEMA, make_config


def test_429_really_waits_two_seconds(rsa_key: PrivateKey) -> None:
    with Emulator(users=[("myorg-acct", "svc_user", rsa_key)]) as emu:
        emu.faults.add(path="/channels/sync/rows$", status=429, count=1)
        emu.faults.add(path="/channels/async/rows$", status=429, count=1)
        config = make_config(emu, rsa_key)
        elapsed: dict[str, float] = {}

        def sync_side() -> None:
            with Client("real-sync", DB, SCHEMA, PIPE, config=config) as client:
                channel, _ = client.open_channel("sync")
                t0 = real_time.monotonic()
                channel.append_row({"n": 1}, offset_token="1")
                channel.flush()
                elapsed["sync"] = real_time.monotonic() - t0

        async def async_side() -> None:
            async with AsyncClient("real-async", DB, SCHEMA, PIPE, config=config) as client:
                channel, _ = await client.open_channel("async")
                t0 = real_time.monotonic()
                await channel.append_row({"n": 1}, offset_token="1")
                await channel.flush()
                elapsed["async"] = real_time.monotonic() - t0

        thread = threading.Thread(target=sync_side)
        thread.start()
        asyncio.run(async_side())
        thread.join(timeout=30)
        rows = emu.rows(DB, SCHEMA, PIPE)
    # Each side met its 429 and slept for real.
    assert sorted(elapsed) == ["async", "sync"]
    assert all(2.0 <= t < 10 for t in elapsed.values()), elapsed
    assert sorted(r["n"] for r in rows) == [1, 1]
