"""Own a channel, seek to its committed offset token, send what is missing, confirm.

The engine-neutral piece under the Spark sink (``snowpipe_stream.spark``), for any scheduler
that can replay a *unit* of work: a partition of a Spark micro-batch, a file, a range of a
Kafka partition. A unit is named by a ``write_id`` (stable across retries of the same work: a
streaming query's id, a job's run id) and a ``sequence`` number (its micro-batch; 0 for a
one-off write), and always goes through the same channel. Row ``n`` (from 1) of the unit is
sent with the offset token ``{write_id}:{sequence}:{n}``, so the channel's committed token says
exactly how far a unit got, whichever attempt sent it:

- committed ``W:S:k`` for this unit's ``W:S``: the first ``k`` rows are in; send the rest;
- committed ``W:S'`` with ``S' > S``: a later unit of this write committed, so this one did
  too (the channel's units commit in order); send nothing;
- anything else (nothing committed, an earlier unit, another write's token): send every row.

The contract this rests on, stated for the caller: a replayed unit yields the same rows in the
same order (Spark's replayable sources and a deterministic plan give that), and one channel
carries one unit at a time (a channel per partition). A replay that yields fewer rows than are
already committed breaks it and raises :class:`ReplayMismatchError`.

:class:`UnitPlan` is the pure part (what to skip, the tokens of each chunk); :func:`write_unit`
and :func:`awrite_unit` are its sync and async shells over :class:`~snowpipe_stream.Client`.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ._constants import AUTO_OFFSET_TOKEN_PREFIX
from ._exceptions import SnowpipeError

if TYPE_CHECKING:
    from ._client import AsyncClient, Client

__all__ = [
    "ReplayMismatchError",
    "UnitPlan",
    "UnitResult",
    "awrite_unit",
    "committed_rows",
    "parse_unit_token",
    "unit_token",
    "write_unit",
    "write_unit_arrow",
]

#: ``committed_rows``' answer when a later unit of the same write is committed: skip them all.
ALL = sys.maxsize
DEFAULT_CHUNK_ROWS = 10_000
DEFAULT_COMMIT_TIMEOUT_SECS = 300.0


class ReplayMismatchError(SnowpipeError, ValueError):
    """A replayed unit yielded fewer rows than its channel has committed already: the source
    did not replay the same rows, so resuming by position would be wrong."""


def check_write_id(write_id: object) -> str:
    if not isinstance(write_id, str) or not write_id or write_id != write_id.strip():
        raise ValueError(f"write_id must be a non-empty string without outer spaces: {write_id!r}")
    if write_id.startswith(AUTO_OFFSET_TOKEN_PREFIX):
        raise ValueError(f"write_id must not start with {AUTO_OFFSET_TOKEN_PREFIX!r} (reserved)")
    return write_id


def unit_token(write_id: str, sequence: int, n: int) -> str:
    """The offset token of row ``n`` (from 1) of unit ``(write_id, sequence)``."""
    return f"{write_id}:{sequence}:{n}"


def parse_unit_token(token: str | None) -> tuple[str, int, int] | None:
    """``(write_id, sequence, n)`` of a unit token, else None."""
    if not token:
        return None
    parts = token.rsplit(":", 2)
    if len(parts) != 3 or not parts[0]:
        return None
    write_id, seq, n = parts
    if not (seq.isascii() and seq.isdigit() and n.isascii() and n.isdigit()):
        return None
    if (len(seq) > 1 and seq[0] == "0") or (len(n) > 1 and n[0] == "0"):
        return None  # not one this module made
    return write_id, int(seq), int(n)


def committed_rows(committed: str | None, write_id: str, sequence: int) -> int:
    """How many leading rows of unit ``(write_id, sequence)`` are committed, given the channel's
    committed offset token: a count, or :data:`ALL` when a later unit of the write is."""
    parsed = parse_unit_token(committed)
    if parsed is None or parsed[0] != write_id or parsed[1] < sequence:
        return 0
    if parsed[1] > sequence:
        return ALL
    return parsed[2]


class UnitPlan:
    """The pure decisions of one unit's write: rows to skip, each chunk's first and last token.

    ``chunks(rows)`` yields ``(rows, start_token, end_token)`` for the rows still to send;
    ``finish()`` checks the replay and returns the last row's token (None for an empty unit).
    """

    def __init__(
        self,
        write_id: str,
        sequence: int,
        committed: str | None,
        chunk_rows: int = DEFAULT_CHUNK_ROWS,
    ) -> None:
        self.write_id = check_write_id(write_id)
        if isinstance(sequence, bool) or not isinstance(sequence, int) or sequence < 0:
            raise ValueError(f"sequence must be an integer >= 0, got {sequence!r}")
        if isinstance(chunk_rows, bool) or not isinstance(chunk_rows, int) or chunk_rows < 1:
            raise ValueError(f"chunk_rows must be an integer >= 1, got {chunk_rows!r}")
        self.sequence = sequence
        self.committed_before = committed
        self.skip = committed_rows(committed, write_id, sequence)
        self.chunk_rows = chunk_rows
        self.rows_seen = 0
        self.rows_sent = 0
        self._prefix = f"{write_id}:{sequence}:"

    def _chunk(self, chunk: list[Mapping[str, Any]]) -> tuple[list[Mapping[str, Any]], str, str]:
        last = self.rows_seen
        self.rows_sent += len(chunk)
        return chunk, f"{self._prefix}{last - len(chunk) + 1}", f"{self._prefix}{last}"

    def take(self, row: Mapping[str, Any], chunk: list[Mapping[str, Any]]) -> bool:
        """Count ``row``; add it to ``chunk`` unless committed already. True when it is full."""
        self.rows_seen += 1
        if self.rows_seen <= self.skip:
            return False
        chunk.append(row)
        return len(chunk) >= self.chunk_rows

    def chunks(
        self, rows: Iterable[Mapping[str, Any]]
    ) -> Iterator[tuple[list[Mapping[str, Any]], str, str]]:
        chunk: list[Mapping[str, Any]] = []
        for row in rows:
            if self.take(row, chunk):
                yield self._chunk(chunk)
                chunk = []
        if chunk:
            yield self._chunk(chunk)

    def span(self, n: int) -> tuple[int, str, str] | None:
        """For the next block of ``n`` rows (a columnar batch): ``(offset, start, end)``, the
        first row of the block still to send and the tokens of it and of the block's last row;
        None when the whole block is committed already."""
        first = self.rows_seen + 1
        self.rows_seen += n
        if n <= 0 or self.rows_seen <= self.skip:
            return None
        offset = max(0, self.skip - first + 1)
        self.rows_sent += n - offset
        return offset, f"{self._prefix}{first + offset}", f"{self._prefix}{self.rows_seen}"

    def cut(self, chunk: list[Mapping[str, Any]]) -> tuple[list[Mapping[str, Any]], str, str]:
        """The tokens for a ``chunk`` filled by :meth:`take` (async shells iterate themselves)."""
        return self._chunk(chunk)

    def finish(self) -> str | None:
        """The unit's last token to wait for (None when nothing was sent); raises
        :class:`ReplayMismatchError` when the replay had fewer rows than are committed."""
        if self.skip != ALL and self.skip > self.rows_seen:
            raise ReplayMismatchError(
                f"unit {self.write_id}:{self.sequence} yielded {self.rows_seen} rows but "
                f"{self.skip} are committed on its channel already "
                f"(committed offset token {self.committed_before!r}); a replay must yield the "
                "same rows in the same order (a deterministic source and plan)"
            )
        return f"{self._prefix}{self.rows_seen}" if self.rows_sent else None


@dataclass(frozen=True)
class UnitResult:
    """What one unit's write did; picklable (a Spark commit message carries it)."""

    channel: str
    write_id: str
    sequence: int
    #: Rows the unit yielded this time.
    rows_seen: int
    #: Rows committed already by an earlier attempt, not sent again.
    rows_skipped: int
    rows_sent: int
    #: The channel's committed offset token when the write returned (after its commit).
    committed_token: str | None


def _result(channel: str, plan: UnitPlan, committed: str | None) -> UnitResult:
    return UnitResult(
        channel=channel,
        write_id=plan.write_id,
        sequence=plan.sequence,
        rows_seen=plan.rows_seen,
        rows_skipped=plan.rows_seen - plan.rows_sent,
        rows_sent=plan.rows_sent,
        committed_token=committed,
    )


def write_unit(
    client: Client,
    channel: str,
    rows: Iterable[Mapping[str, Any]],
    write_id: str,
    sequence: int = 0,
    *,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    timeout: float = DEFAULT_COMMIT_TIMEOUT_SECS,
) -> UnitResult:
    """Write one unit through ``channel`` exactly once, however often it is retried.

    Opens (takes over) the channel, skips the rows its committed token says are in, appends
    the rest with unit tokens, waits until the last one is committed (``timeout`` seconds:
    :class:`~snowpipe_stream.CommitTimeoutError` after) and closes the channel.
    """
    ch, status = client.open_channel(channel)
    plan = UnitPlan(write_id, sequence, status.last_committed_offset_token, chunk_rows)
    for chunk, start, end in plan.chunks(rows):
        ch.append_rows(chunk, start, end)
    last = plan.finish()
    committed = ch.wait_for_commit(last, timeout) if last is not None else plan.committed_before
    ch.close(timeout=timeout)
    return _result(channel, plan, committed)


def write_unit_arrow(
    client: Client,
    channel: str,
    batches: Iterable[Any],
    write_id: str,
    sequence: int = 0,
    *,
    timeout: float = DEFAULT_COMMIT_TIMEOUT_SECS,
) -> UnitResult:
    """:func:`write_unit` for columnar data: ``batches`` of ``pyarrow.RecordBatch`` (or
    tables), appended with :meth:`~snowpipe_stream.Channel.append_arrow`; a batch that is
    partly committed is sliced, one that is wholly committed is not converted at all."""
    ch, status = client.open_channel(channel)
    plan = UnitPlan(write_id, sequence, status.last_committed_offset_token)
    for batch in batches:
        span = plan.span(batch.num_rows)
        if span is not None:
            offset, start, end = span
            ch.append_arrow(batch.slice(offset) if offset else batch, start, end)
    last = plan.finish()
    committed = ch.wait_for_commit(last, timeout) if last is not None else plan.committed_before
    ch.close(timeout=timeout)
    return _result(channel, plan, committed)


async def awrite_unit(
    client: AsyncClient,
    channel: str,
    rows: Iterable[Mapping[str, Any]] | AsyncIterable[Mapping[str, Any]],
    write_id: str,
    sequence: int = 0,
    *,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    timeout: float = DEFAULT_COMMIT_TIMEOUT_SECS,
) -> UnitResult:
    """:func:`write_unit` for an :class:`~snowpipe_stream.AsyncClient` (rows may be async)."""
    ch, status = await client.open_channel(channel)
    plan = UnitPlan(write_id, sequence, status.last_committed_offset_token, chunk_rows)
    if isinstance(rows, AsyncIterable):
        chunk: list[Mapping[str, Any]] = []
        async for row in rows:
            if plan.take(row, chunk):
                await ch.append_rows(*plan.cut(chunk))
                chunk = []
        if chunk:
            await ch.append_rows(*plan.cut(chunk))
    else:
        for part, start, end in plan.chunks(rows):
            await ch.append_rows(part, start, end)
    last = plan.finish()
    committed = (
        await ch.wait_for_commit(last, timeout) if last is not None else plan.committed_before
    )
    await ch.close(timeout=timeout)
    return _result(channel, plan, committed)
