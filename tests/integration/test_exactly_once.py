"""Exactly-once on every path, or a typed error: the real client against the real emulator.

Each test here is a path that once lost or duplicated rows while reporting success: split
calls whose made-up tokens collided with the caller's, a second writer recovered into, a
superseded channel closed silently, a dropped channel re-created and replayed into, calls on a
closed client, a commit wait that held the appenders' lock.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

import pytest

from snowpipe_stream import (
    ChannelDroppedError,
    ChannelInvalidatedError,
    Client,
    ClosedError,
    CommitTimeoutError,
    ConflictError,
    OffsetTokenError,
    PrivateKey,
)
from snowpipe_stream.emulator import Emulator
from snowpipe_stream.testing import FakeClock
from tests.clients import open_client, run_on_emulator
from tests.integration.conftest import DB, PIPE, SCHEMA, make_config

modes = pytest.mark.parametrize("mode", ["sync", "async"])


run = run_on_emulator


def landed(emu: Emulator, channel: str) -> list[Any]:
    return emu.rows(DB, SCHEMA, PIPE, channel)


def rows(writer: str, first: int, last: int) -> list[dict[str, Any]]:
    return [{"w": writer, "n": n, "pad": "p" * 40} for n in range(first, last + 1)]


# --- 1. split calls: the library's tokens never collide with the caller's ---------------------


@modes
def test_split_calls_with_per_call_tokens_and_random_409s_commit_every_row_once(
    mode: str, rsa_key: PrivateKey, clock: FakeClock
) -> None:
    # 40 calls of 60 rows (~3.9 KB each) over 1 KB requests: every call is split into about four
    # requests, and only the last row of a call has a token of the caller's. 8 % of appends
    # answer 409, so the channel recovers again and again and must find the committed point.
    emu = Emulator(
        users=[("myorg-acct", "svc_user", rsa_key)],
        clock=clock,
        faults=[{"path": "/rows$", "method": "POST", "status": 409, "rate": 0.08}],
        fault_seed=7,
        commit_delay_ms=0,
    )
    sent = [rows("a", 60 * k + 1, 60 * k + 60) for k in range(40)]

    async def scenario(client: Any) -> Any:
        channel, _ = await client.open_channel("split")
        for k, call in enumerate(sent, 1):
            await channel.append_rows(call, None, str(k))
        assert await channel.wait_for_commit("40", timeout=600) == "40"
        await channel.close()
        return client.stats

    with emu:
        stats = run(mode, emu, rsa_key, clock, scenario, max_request_bytes=1024)
        assert landed(emu, "split") == [r for call in sent for r in call]
        assert emu.stats()["faults_fired"] >= 3
    assert stats.reopens >= 3  # the faults did fire


@modes
def test_a_token_in_use_is_refused_before_anything_is_sent(
    mode: str, emu: Emulator, rsa_key: PrivateKey, clock: FakeClock
) -> None:
    async def scenario(client: Any) -> None:
        channel, _ = await client.open_channel("tokens")
        await channel.append_rows(rows("a", 1, 3), None, "batch-1")
        with pytest.raises(OffsetTokenError, match="already used by rows"):
            await channel.append_rows(rows("a", 4, 6), None, "batch-1")
        with pytest.raises(OffsetTokenError, match="already used by rows"):
            await channel.append_row(rows("a", 4, 4)[0], "batch-1")
        with pytest.raises(OffsetTokenError, match="reserved"):
            await channel.append_row(rows("a", 4, 4)[0], "snowpipe-stream:9")
        await channel.append_rows(rows("a", 4, 6), None, "batch-2")
        assert await channel.wait_for_commit("batch-2", timeout=30) == "batch-2"
        # The committed token may not be given again: that is how a resent row looks.
        with pytest.raises(OffsetTokenError, match="last committed offset token"):
            await channel.append_row(rows("a", 6, 6)[0], "batch-2")
        with pytest.raises(OffsetTokenError, match=r"start_offset_token 'batch-2' is .* last"):
            await channel.append_rows(rows("a", 6, 7), "batch-2", "batch-3")
        await channel.close()

    run(mode, emu, rsa_key, clock, scenario)
    assert landed(emu, "tokens") == rows("a", 1, 6)


# --- 2. a second writer is never recovered into ------------------------------------------------


@modes
def test_a_takeover_is_reported_to_the_writer_that_lost_it(
    mode: str, emu: Emulator, rsa_key: PrivateKey, clock: FakeClock
) -> None:
    async def scenario(client: Any) -> None:
        a, _ = await client.open_channel("shared")
        await a.append_rows(rows("a", 1, 100), "1", "100")
        assert await a.wait_for_commit("100", timeout=30) == "100"
        # B opens the same channel and commits 101-200 with the very same tokens.
        async with open_client(
            "sync", "b", DB, SCHEMA, PIPE, config=make_config(emu, rsa_key), clock=clock
        ) as other:
            b, status = await other.open_channel("shared")
            assert status.last_committed_offset_token == "100"
            await b.append_rows(rows("b", 101, 200), "101", "200")
            assert await b.wait_for_commit("200", timeout=30) == "200"
        # A appends its own 101-200: its continuation token is stale.
        with pytest.raises(ChannelInvalidatedError) as caught:
            await a.append_rows(rows("a", 101, 200), "101", "200")
            await a.wait_for_commit("200", timeout=30)
        err = caught.value
        assert err.reason == "opened_elsewhere"
        assert "opened by another client" in str(err) and "'100'" in str(err)
        assert (err.last_committed, err.uncommitted_rows) == ("100", 100)
        assert err.uncommitted_range == ("101", "200")
        with pytest.raises(ChannelInvalidatedError):
            await a.wait_for_commit("200", timeout=30)
        with pytest.raises(ChannelInvalidatedError, match="100 rows appended on it"):
            await a.close(drop=True)  # and it does not drop B's channel either
        await client.close()  # A's close() said it already: the client does not again

    run(mode, emu, rsa_key, clock, scenario)
    assert landed(emu, "shared") == rows("a", 1, 100) + rows("b", 101, 200)
    status = emu.state.bulk_status(DB, SCHEMA, PIPE, ["shared"])["channel_statuses"]["shared"]
    assert status["last_committed_offset_token"] == "200"


@modes
def test_a_waiting_writer_sees_a_foreign_commit(
    mode: str, emu: Emulator, rsa_key: PrivateKey, clock: FakeClock
) -> None:
    async def scenario(client: Any) -> None:
        a, _ = await client.open_channel("shared")
        await a.append_rows(rows("a", 1, 10), "a-1", "a-10")
        await a.flush()  # accepted, not committed yet (the emulator's clock has not moved)
        async with open_client(
            "sync", "b", DB, SCHEMA, PIPE, config=make_config(emu, rsa_key), clock=clock
        ) as other:
            # B's open waits for A's rows in flight to commit (it does not discard them).
            b, status = await other.open_channel("shared")
            assert status.last_committed_offset_token == "a-10"
            await b.append_rows(rows("b", 1, 5), "b-1", "b-5")
            await b.wait_for_commit("b-5", timeout=30)
        # A only waits: the committed token is one it never sent. It cannot know whether its
        # rows made it before B took over, so it says so instead of reporting success.
        with pytest.raises(ChannelInvalidatedError, match=r"'b-5'.*never") as caught:
            await a.wait_for_commit("a-10", timeout=30)
        assert caught.value.uncommitted_range == ("a-1", "a-10")
        assert "not known to be committed" in str(caught.value)
        await client.close(wait_for_flush=False)

    run(mode, emu, rsa_key, clock, scenario)
    assert landed(emu, "shared") == rows("a", 1, 10) + rows("b", 1, 5)


@modes
def test_opening_a_channel_never_discards_another_writers_rows_in_flight(
    mode: str, rsa_key: PrivateKey, clock: FakeClock
) -> None:
    # Commits take 1 h: B's open waits 60 s for A's rows, then says why it cannot open.
    users = [("myorg-acct", "svc_user", rsa_key)]
    with Emulator(users=users, clock=clock, commit_delay_ms=3_600_000) as emu:

        async def scenario(client: Any) -> None:
            a, _ = await client.open_channel("shared")
            await a.append_rows(rows("a", 1, 10), "a-1", "a-10")
            await a.flush()
            async with open_client(
                "sync", "b", DB, SCHEMA, PIPE, config=make_config(emu, rsa_key), clock=clock
            ) as other:
                with pytest.raises(ConflictError, match="still not committed after 60 s"):
                    await other.open_channel("shared")
            clock.advance(3600)  # A's rows commit: they were never discarded
            assert await a.wait_for_commit("a-10", timeout=30) == "a-10"
            await a.close()

        run(mode, emu, rsa_key, clock, scenario)
        assert landed(emu, "shared") == rows("a", 1, 10)


# --- 3. close() never succeeds with rows unsent -----------------------------------------------


@modes
def test_a_channel_replaced_by_a_second_open_raises_on_close(
    mode: str, emu: Emulator, rsa_key: PrivateKey, clock: FakeClock
) -> None:
    async def scenario(client: Any) -> None:
        old, _ = await client.open_channel("twice")
        await old.append_rows(rows("a", 1, 5), "1", "5")
        await old.flush()  # in flight: the second open waits for them to commit
        await old.append_rows(rows("a", 6, 8), "6", "8")  # buffered only: never sent
        new, status = await client.open_channel("twice")
        assert status.last_committed_offset_token == "5"
        with pytest.raises(ChannelInvalidatedError, match="3 rows appended on it") as caught:
            await old.close()
        assert caught.value.uncommitted_range == ("6", "8")  # 1-5 committed: not in it
        await new.append_rows(rows("a", 6, 8), "6", "8")
        await new.close()

    run(mode, emu, rsa_key, clock, scenario)
    assert landed(emu, "twice") == rows("a", 1, 8)


@modes
def test_a_replaced_channel_never_closed_makes_the_client_close_raise(
    mode: str, emu: Emulator, rsa_key: PrivateKey, clock: FakeClock
) -> None:
    async def scenario(client: Any) -> None:
        old, _ = await client.open_channel("twice")
        await old.append_rows(rows("a", 1, 3), "1", "3")  # buffered, not sent
        await client.open_channel("TWICE")  # the same channel (names are case-insensitive)
        with pytest.raises(ChannelInvalidatedError, match="opened again by this client"):
            await client.close()  # the old channel's rows are still not committed

    run(mode, emu, rsa_key, clock, scenario)
    assert landed(emu, "twice") == []


# --- 4. a dropped channel is never re-created and replayed into --------------------------------


@modes
@pytest.mark.parametrize("then", ["append", "wait"])
def test_a_dropped_channel_is_a_typed_error_never_a_replay(
    mode: str, emu: Emulator, rsa_key: PrivateKey, clock: FakeClock, then: str
) -> None:
    async def scenario(client: Any) -> None:
        a, _ = await client.open_channel("gone")
        await a.append_rows(rows("a", 1, 100), "1", "100")
        assert await a.wait_for_commit("100", timeout=30) == "100"
        await a.append_rows(rows("a", 101, 200), "101", "200")
        await a.flush()  # accepted, not committed
        emu.state.drop(DB, SCHEMA, PIPE, "gone")  # somebody drops it
        with pytest.raises(ChannelDroppedError) as caught:
            if then == "append":
                await a.append_rows(rows("a", 201, 210), "201", "210")
                await a.flush()
            await a.wait_for_commit("210" if then == "append" else "200", timeout=30)
        err = caught.value
        assert err.reason == "dropped" and "does not create it again" in str(err)
        if then == "append":
            assert err.code == "ERR_CHANNEL_NO_LONGER_EXISTS"
        with pytest.raises(ChannelDroppedError):
            await a.close()
        await client.close(wait_for_flush=False)

    run(mode, emu, rsa_key, clock, scenario)
    assert landed(emu, "gone") == rows("a", 1, 100)  # no duplicates of 1-100
    assert emu.state.bulk_status(DB, SCHEMA, PIPE, ["gone"]) == {"channel_statuses": {}}


# --- 9. a closed client or channel says so ----------------------------------------------------


@modes
def test_calls_on_a_closed_client_raise_closed_error(
    mode: str,
    emu: Emulator,
    rsa_key: PrivateKey,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def scenario(client: Any) -> None:
        channel, _ = await client.open_channel("ch")
        await channel.append_row({"n": 1}, "1")
        await client.close(wait_for_flush=False)
        for call in (
            lambda: channel.append_row({"n": 2}, "2"),
            lambda: channel.append_rows([{"n": 2}], "2", "2"),
            lambda: channel.append_ndjson(b'{"n":2}\n', "2", "2"),
            channel.flush,
            lambda: channel.wait_for_commit("1", timeout=1),
            channel.get_channel_status,
            lambda: client.open_channel("ch"),
            lambda: client.get_channel_statuses(["ch"]),
            lambda: client.drop_channel("ch"),
        ):
            with pytest.raises(ClosedError, match="closed"):
                await call()

    with caplog.at_level(logging.WARNING, "snowpipe_stream"):
        run(mode, emu, rsa_key, clock, scenario)
    assert any(
        "1 row appended on it is not known to be committed" in r.getMessage()
        for r in caplog.records
    )


# --- 12. no lock across a sleep; leaving a with-block on an error does not wait long ----------


class GateClock(FakeClock):
    """A fake clock whose sleeps block (really) until the gate opens."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.sleeping = threading.Event()

    def sleep(self, seconds: float) -> None:
        self.sleeping.set()
        assert self.gate.wait(10), "the gate was never opened"
        super().sleep(seconds)


def test_wait_for_commit_does_not_stall_an_appending_thread(rsa_key: PrivateKey) -> None:
    clock = GateClock()
    # The emulator has a clock of its own and commits at once.
    emu = Emulator(
        users=[("myorg-acct", "svc_user", rsa_key)], clock=FakeClock(), commit_delay_ms=0
    )
    with (
        emu,
        Client("app", DB, SCHEMA, PIPE, config=make_config(emu, rsa_key), clock=clock) as client,
    ):
        channel, _ = client.open_channel("ch")
        channel.append_row({"n": 1}, "1")
        waiter = threading.Thread(target=channel.wait_for_commit, args=("2", 60))
        waiter.start()
        assert clock.sleeping.wait(10)  # the waiter polls, then sleeps
        # Meanwhile another thread appends and sends: it must not wait for the sleeper.
        appended = threading.Event()

        def appender() -> None:
            channel.append_row({"n": 2}, "2")
            channel.flush()
            appended.set()

        threading.Thread(target=appender).start()
        assert appended.wait(10), "the appending thread was stalled by the waiting one"
        assert waiter.is_alive()  # still asleep: the append did not wait for it
        clock.gate.set()
        waiter.join(30)
        assert not waiter.is_alive()
        assert [r["n"] for r in landed(emu, "ch")] == [1, 2]


@modes
def test_an_error_leaving_the_block_closes_within_a_short_bound(
    mode: str, rsa_key: PrivateKey, clock: FakeClock
) -> None:
    # The emulator never commits (a 1-hour commit delay): a normal close would wait 300 s.
    with Emulator(
        users=[("myorg-acct", "svc_user", rsa_key)], clock=clock, commit_delay_ms=3_600_000
    ) as emu:

        async def main() -> None:
            config = make_config(emu, rsa_key)
            with pytest.raises(ValueError, match="the caller's own error"):
                if mode == "sync":
                    with Client("app", DB, SCHEMA, PIPE, config=config, clock=clock) as client:
                        channel, _ = client.open_channel("ch")
                        channel.append_row({"n": 1}, "1")
                        raise ValueError("the caller's own error")
                else:
                    from snowpipe_stream import AsyncClient

                    async with AsyncClient(
                        "app", DB, SCHEMA, PIPE, config=config, clock=clock
                    ) as ac:
                        achannel, _ = await ac.open_channel("ch")
                        await achannel.append_row({"n": 1}, "1")
                        raise ValueError("the caller's own error")

        start = clock.monotonic()
        asyncio.run(main())
        assert clock.monotonic() - start <= 12  # bounded by 10 s, not 300 s per channel


@modes
def test_ctrl_c_in_the_block_does_not_wait_and_says_what_is_uncommitted(
    mode: str, rsa_key: PrivateKey, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    with Emulator(
        users=[("myorg-acct", "svc_user", rsa_key)], clock=clock, commit_delay_ms=3_600_000
    ) as emu:

        async def main() -> None:
            config = make_config(emu, rsa_key)
            with pytest.raises(KeyboardInterrupt):
                if mode == "sync":
                    with Client("app", DB, SCHEMA, PIPE, config=config, clock=clock) as client:
                        channel, _ = client.open_channel("ch")
                        channel.append_rows(rows("a", 1, 3), "1", "3")
                        channel.flush()
                        raise KeyboardInterrupt
                else:
                    from snowpipe_stream import AsyncClient

                    async with AsyncClient(
                        "app", DB, SCHEMA, PIPE, config=config, clock=clock
                    ) as ac:
                        achannel, _ = await ac.open_channel("ch")
                        await achannel.append_rows(rows("a", 1, 3), "1", "3")
                        await achannel.flush()
                        raise KeyboardInterrupt

        with caplog.at_level(logging.WARNING, "snowpipe_stream"):
            asyncio.run(main())
        assert clock.sleeps == []  # not one poll interval waited
        assert any(
            "3 rows appended on it are not known to be committed (offset tokens '1' to '3'"
            in r.getMessage()
            for r in caplog.records
        )


def test_closed_emulator_commit_timeout_names_the_uncommitted_rows(
    rsa_key: PrivateKey, clock: FakeClock
) -> None:
    with Emulator(
        users=[("myorg-acct", "svc_user", rsa_key)], clock=clock, commit_delay_ms=3_600_000
    ) as emu:
        client = Client("app", DB, SCHEMA, PIPE, config=make_config(emu, rsa_key), clock=clock)
        channel, _ = client.open_channel("ch")
        channel.append_rows(rows("a", 1, 4), "k-1", "k-4")
        with pytest.raises(
            CommitTimeoutError, match="4 rows not committed, offset tokens 'k-1' to 'k-4'"
        ):
            channel.close(timeout=5)
        with pytest.raises(CommitTimeoutError):
            client.close(timeout=1)


# --- the emulator restarts: the holder's tokens stay its own, uncommitted rows are gone ------


@modes
def test_an_emulator_restart_is_recovered_exactly_once(
    mode: str, rsa_key: PrivateKey, clock: FakeClock, tmp_path: Any
) -> None:
    state = tmp_path / "emu.sqlite"
    users = [("myorg-acct", "svc_user", rsa_key)]
    first = Emulator(users=users, clock=clock, state=state).start()
    port = int(first.url.rsplit(":", 1)[1])

    async def scenario(client: Any) -> None:
        channel, _ = await client.open_channel("ch")
        await channel.append_rows(rows("a", 1, 50), "1", "50")
        assert await channel.wait_for_commit("50", timeout=30) == "50"
        await channel.append_rows(rows("a", 51, 80), "51", "80")
        await channel.flush()  # accepted, not committed: lost with the server's memory
        first.stop()
        with Emulator(users=users, clock=clock, state=state, port=port) as second:
            await channel.append_rows(rows("a", 81, 100), "81", "100")
            assert await channel.wait_for_commit("100", timeout=30) == "100"
            await channel.close()
            assert landed(second, "ch") == rows("a", 1, 100)
            reopens = client.stats.reopens
        assert reopens == 1  # the unknown row sequencer made the channel reopen once

    try:
        run(mode, first, rsa_key, clock, scenario)
    finally:
        first.stop()


# --- bytes as the pipe expects them (issue 10, on the wire like Snowflake's SDK) --------------


@modes
@pytest.mark.parametrize(("pipe_format", "stored"), [("BASE64", "AP8="), ("HEX", "00ff")])
def test_bytes_follow_the_pipes_binary_input_format(
    mode: str, rsa_key: PrivateKey, clock: FakeClock, pipe_format: str, stored: str
) -> None:
    users = [("myorg-acct", "svc_user", rsa_key)]
    with Emulator(users=users, clock=clock, binary_input_format=pipe_format) as emu:

        async def scenario(client: Any) -> None:
            channel, _ = await client.open_channel("bin")
            await channel.append_row({"b": b"\x00\xff"}, "1")
            await channel.close()

        run(mode, emu, rsa_key, clock, scenario)
        assert landed(emu, "bin") == [{"b": stored}]
