"""Commit callbacks and the async commit iterator, against the emulator on a shared FakeClock."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from snowpipe_stream import (
    AsyncClient,
    Client,
    CommitProgress,
    ErrorRows,
    PrivateKey,
)
from snowpipe_stream.emulator import Emulator
from snowpipe_stream.testing import FakeClock
from tests.integration.conftest import ACCOUNT, DB, PIPE, SCHEMA, USER, make_config

BATCHES, ROWS = 5, 40


def until(done: threading.Event, clock: FakeClock, steps: int = 400) -> None:
    """Advance the shared clock until ``done`` (bounded): commits happen on its time."""
    for _ in range(steps):
        if done.wait(0.01):
            return
        clock.advance(0.1)
    raise AssertionError("the callbacks never saw the last commit")


def test_on_commit_reports_each_advance_in_order_from_a_background_thread_without_locks(
    emu: Emulator, rsa_key: PrivateKey, clock: FakeClock
) -> None:
    seen: list[CommitProgress] = []
    threads: set[str] = set()
    unlocked: list[bool] = []
    done = threading.Event()
    last = str(BATCHES * ROWS)
    with Client("cb", DB, SCHEMA, PIPE, config=make_config(emu, rsa_key), clock=clock) as client:
        channel, _ = client.open_channel("ch")

        def on_commit(progress: CommitProgress) -> None:
            seen.append(progress)
            threads.add(threading.current_thread().name)
            # Never called under the channel's lock: the callback may use the channel.
            free = channel._state.acquire(blocking=False)
            unlocked.append(free)
            if free:
                channel._state.release()
            if progress.token == last:
                done.set()

        channel.on_commit(on_commit)
        for b in range(BATCHES):
            first = b * ROWS + 1
            rows = [{"i": i} for i in range(first, first + ROWS)]
            channel.append_rows(rows, str(first), str(first + ROWS - 1))
            channel.flush()
            clock.advance(0.3)  # commits come in several steps, not all at once
        until(done, clock)
        channel.close()
        calls_at_close = len(seen)
    assert calls_at_close == len(seen)  # nothing after close
    tokens = [int(p.token or 0) for p in seen]
    assert tokens == sorted(tokens) and len(set(tokens)) == len(tokens) and tokens[-1] == 200
    assert sum(p.rows for p in seen) == BATCHES * ROWS  # every row counted once
    assert all(p.channel == "ch" for p in seen) and all(unlocked)
    assert threads == {"snowpipe-stream-watcher-cb"}


def test_on_error_rows_reports_rows_snowflake_rejected(
    rsa_key: PrivateKey, clock: FakeClock
) -> None:
    ddl = "CREATE TABLE db.schema.t (n INT NOT NULL);"
    with Emulator(users=[(ACCOUNT, USER, rsa_key)], clock=clock, ddl=ddl) as emu:
        errors: list[ErrorRows] = []
        done = threading.Event()
        config = make_config(emu, rsa_key)
        with Client("cb", DB, SCHEMA, "T-STREAMING", config=config, clock=clock) as client:
            channel, _ = client.open_channel("ch")

            def on_error_rows(e: ErrorRows) -> None:
                errors.append(e)
                done.set()

            channel.on_error_rows(on_error_rows)
            channel.append_rows([{"n": 1}, {"n": "x"}, {"n": None}], "1", "3")
            channel.flush()
            until(done, clock)
            channel.close()
    assert [(e.rows, e.total, e.last_error_offset_upper_bound) for e in errors] == [(2, 2, "3")]
    assert errors[0].last_error_message == "Column N: NULL result in a non-nullable column"


def test_a_raising_callback_is_logged_and_the_others_still_run(
    emu: Emulator, rsa_key: PrivateKey, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    got: list[str | None] = []
    done = threading.Event()

    def bad(progress: CommitProgress) -> None:
        raise RuntimeError("a bug in the caller's callback")

    def good(progress: CommitProgress) -> None:
        got.append(progress.token)
        done.set()

    with Client("cb", DB, SCHEMA, PIPE, config=make_config(emu, rsa_key), clock=clock) as client:
        channel, _ = client.open_channel("ch")
        channel.on_commit(bad)
        channel.on_commit(good)
        channel.append_rows([{"i": 1}], "1", "1")
        channel.flush()
        until(done, clock)
        channel.close()
    assert got == ["1"]
    assert "a callback of channel ch raised" in caplog.text
    with pytest.raises(TypeError, match="callable"):
        channel.on_commit("not a function")  # type: ignore[arg-type]


def test_async_commits_iterate_in_order_and_end_when_the_channel_closes(
    emu: Emulator, rsa_key: PrivateKey, clock: FakeClock
) -> None:
    async def main() -> list[Any]:
        config = make_config(emu, rsa_key)
        async with AsyncClient("acb", DB, SCHEMA, PIPE, config=config, clock=clock) as client:
            channel, _ = await client.open_channel("ch")
            seen: list[CommitProgress] = []

            async def consume() -> None:
                async for progress in channel.commits():
                    seen.append(progress)

            consumer = asyncio.create_task(consume())
            await asyncio.sleep(0)  # the iterator is listening
            for b in range(BATCHES):
                first = b * ROWS + 1
                rows = [{"i": i} for i in range(first, first + ROWS)]
                await channel.append_rows(rows, str(first), str(first + ROWS - 1))
                await channel.flush()
                clock.advance(0.3)
            for _ in range(400):
                if seen and seen[-1].token == "200":
                    break
                clock.advance(0.1)
                await asyncio.sleep(0.01)
            await channel.close()
            await asyncio.wait_for(consumer, 5)  # the iteration ended with the close
            return seen

    seen = asyncio.run(main())
    tokens = [int(p.token or 0) for p in seen]
    assert tokens == sorted(tokens) and tokens[-1] == 200
    assert sum(p.rows for p in seen) == BATCHES * ROWS
