"""write_unit / awrite_unit against the emulator: a unit written once, however it is retried."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from snowpipe_stream import AsyncClient, Client, PrivateKey
from snowpipe_stream._resume import ReplayMismatchError, awrite_unit, unit_token, write_unit
from snowpipe_stream.emulator import Emulator
from snowpipe_stream.testing import FakeClock
from tests.integration.conftest import DB, PIPE, SCHEMA, make_config

N = 25_000  # three requests' worth of chunks at the default 10,000 rows


def rows(n: int = N, fail_at: int | None = None) -> Iterator[dict[str, Any]]:
    for i in range(1, n + 1):
        if i == fail_at:
            raise RuntimeError(f"the source died at row {i}")
        yield {"i": i, "pad": "x" * 40}


def landed(emu: Emulator, channel: str = "part-0") -> list[int]:
    return [r["i"] for r in emu.iter_rows(DB, SCHEMA, PIPE, channel)]


def write(
    emu: Emulator, key: PrivateKey, clock: FakeClock, source: Any, mode: str, **kw: Any
) -> Any:
    config = make_config(emu, key)
    if mode == "sync":
        with Client("w", DB, SCHEMA, PIPE, config=config, clock=clock) as client:
            return write_unit(client, "part-0", source, "job-1", **kw)

    async def main() -> Any:
        async with AsyncClient("w", DB, SCHEMA, PIPE, config=config, clock=clock) as client:
            return await awrite_unit(client, "part-0", source, "job-1", **kw)

    return asyncio.run(main())


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_unit_is_written_whole_and_its_result_says_so(
    mode: str, emu: Emulator, rsa_key: PrivateKey, clock: FakeClock
) -> None:
    result = write(emu, rsa_key, clock, rows(), mode, sequence=4)
    assert landed(emu) == list(range(1, N + 1))
    assert (result.rows_seen, result.rows_sent, result.rows_skipped) == (N, N, 0)
    assert result.committed_token == unit_token("job-1", 4, N)


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_retry_after_a_source_failure_sends_only_what_is_missing(
    mode: str, emu: Emulator, rsa_key: PrivateKey, clock: FakeClock
) -> None:
    # The first attempt dies at row 23,456 after two chunks went out; the retry skips what
    # its channel committed, whatever that was, and sends the rest.
    with pytest.raises(RuntimeError, match="died at row 23456"):
        write(emu, rsa_key, clock, rows(fail_at=23_456), mode)
    first = len(landed(emu))
    assert first == 20_000  # the two full chunks were appended, and committed on the way out
    result = write(emu, rsa_key, clock, rows(), mode)
    assert landed(emu) == list(range(1, N + 1))
    assert (result.rows_skipped, result.rows_sent) == (first, N - first)


def test_a_retry_reads_a_partial_commit_from_any_earlier_writer(
    emu: Emulator, rsa_key: PrivateKey, clock: FakeClock
) -> None:
    # Rows 1..777 committed by an attempt that then vanished (not closed, say a lost executor).
    config = make_config(emu, rsa_key)
    with Client("w", DB, SCHEMA, PIPE, config=config, clock=clock) as client:
        channel, _ = client.open_channel("part-0")
        head = list(rows(777))
        channel.append_rows(head, unit_token("job-1", 0, 1), unit_token("job-1", 0, 777))
        channel.wait_for_commit(unit_token("job-1", 0, 777), timeout=30)
        result = write(emu, rsa_key, clock, rows(), "sync")
    assert landed(emu) == list(range(1, N + 1))
    assert result.rows_skipped == 777


def test_a_unit_passed_by_a_later_one_sends_nothing_and_a_short_replay_is_refused(
    emu: Emulator, rsa_key: PrivateKey, clock: FakeClock
) -> None:
    write(emu, rsa_key, clock, rows(10), "sync", sequence=1)
    write(emu, rsa_key, clock, rows(10), "sync", sequence=2)
    replay = write(emu, rsa_key, clock, rows(10), "sync", sequence=1)  # an old batch replayed
    assert (replay.rows_sent, replay.rows_skipped) == (0, 10)
    with pytest.raises(ReplayMismatchError, match="yielded 4 rows but 10 are committed"):
        write(emu, rsa_key, clock, rows(4), "sync", sequence=2)
    assert landed(emu) == list(range(1, 11)) * 2


def test_async_rows_are_taken_too(emu: Emulator, rsa_key: PrivateKey, clock: FakeClock) -> None:
    async def source() -> AsyncIterator[dict[str, Any]]:
        for row in rows(1_234):
            yield row

    result = write(emu, rsa_key, clock, source(), "async", chunk_rows=500)
    assert landed(emu) == list(range(1, 1_235))
    assert result.rows_sent == 1_234
