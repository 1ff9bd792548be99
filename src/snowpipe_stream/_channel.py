"""Channels: buffering, batching, commit tracking and exactly-once recovery.

:class:`ChannelCore` holds a channel's state and its logic, written once as flows (see
``_transport``); :class:`Channel` and :class:`AsyncChannel` are thin shells that take the
channel's lock and run those flows with their client's driver.

State of one channel::

    builder   rows buffered, not yet cut into a batch
    ready     batches cut, not yet accepted by Snowflake (in order)
    inflight  batches accepted (HTTP 200) but not yet reported committed, kept for replay

Recovery: when Snowflake says the channel must be reopened (stale continuation token, a
sequencer error, a 409, a status other than SUCCESS), or an append's outcome stays unknown
after its retries, the channel reopens itself. The open answer carries the last committed
offset token: the kept batches up to it are dropped, the rest are sent again, in order, with
the new continuation token. No row is lost and none is duplicated.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from ._batching import Batch, BatchBuilder, committed_prefix, parse_int_token, token_reached
from ._constants import DEFAULT_CLOSE_TIMEOUT_SECS
from ._exceptions import (
    APIConnectionError,
    ChannelInvalidatedError,
    CommitTimeoutError,
    InvalidRowError,
    ServerError,
    SnowpipeError,
)
from ._ndjson import encode_lines, line_problem, object_lines, plain, prepare, prepare_many
from ._protocol import (
    ChannelStatus,
    Compressor,
    append_op,
    drop_op,
    open_op,
    parse_append,
    parse_bulk_status,
    parse_open,
    status_op,
)
from ._transport import Call, Core, Flow, Sleep

if TYPE_CHECKING:
    from ._client import AsyncClient, Client

__all__ = ["AsyncChannel", "Channel", "ChannelCore"]

_log = logging.getLogger("snowpipe_stream.channel")

#: Consecutive recoveries without a successful append before the channel gives up.
MAX_RECOVERIES_WITHOUT_PROGRESS = 3
#: Commit polling starts fast (commits usually land within a second) and backs off gently:
#: the wait after a commit lands is about half the current interval.
POLL_INITIAL_SECS = 0.05
POLL_GROWTH = 1.5
POLL_MAX_SECS = 1.0
#: While streaming with more than a quarter of max_inflight_bytes uncommitted, check commits
#: at most this often (one status request) to release the batches kept for replay.
OPPORTUNISTIC_POLL_SECS = 0.5
#: How often a long commit wait says it is still waiting.
WAIT_WARNING_EVERY_SECS = 60.0

CommitTarget = str | Callable[[str | None], bool] | None


class ChannelCore:
    """One channel's state and logic; no I/O of its own (flows yield effects)."""

    def __init__(self, core: Core, database: str, schema: str, pipe: str, name: str) -> None:
        cfg = core.config
        self.core = core
        self.database, self.schema, self.pipe, self.name = database, schema, pipe, name
        self.builder = BatchBuilder(cfg.max_request_bytes)
        self._now = core.clock.monotonic
        self.ready: deque[Batch] = deque()
        self.inflight: deque[Batch] = deque()
        self.inflight_bytes = 0
        self.compressor = Compressor(cfg.compression)
        self.binary_format = cfg.binary_format
        self.max_inflight_bytes = cfg.max_inflight_bytes
        self.continuation: str | None = None
        self.session: str | None = None
        self.committed: str | None = None
        self.last_token: str | None = None
        self.status: ChannelStatus | None = None
        self.needs_reopen = False
        self.failed: ChannelInvalidatedError | None = None
        self.closed = False
        self.recoveries_without_progress = 0
        self.last_poll = core.clock.monotonic()

    # --- buffering (pure; the shell holds the lock) ---------------------------------------

    def add_row(self, row: object, offset_token: str | None) -> bool:
        """Buffer one row; True when a batch became ready to send."""
        if self.failed is not None or self.closed:
            self._check_open()
        if type(row) is not dict or not plain(row):
            row = prepare(row, self.binary_format)
        batch = self.builder.add_row(row, offset_token, self._now)
        if batch is None:
            return False
        self._enqueue([batch])
        return True

    def add_rows(self, rows: Iterable[object], start: str | None, end: str | None) -> bool:
        """Buffer many rows (checked and encoded as one batch); True when a batch is ready."""
        self._check_open()
        prepared = prepare_many(rows, self.binary_format)
        if not prepared:
            return False
        return self._add_blob(encode_lines(prepared), len(prepared), start, end)

    def add_ndjson(self, data: bytes, start: str | None, end: str | None) -> bool:
        """Buffer rows that are NDJSON already (one JSON object per line); checked, not parsed."""
        self._check_open()
        blob, count, bad = object_lines(bytes(data))
        if bad:
            line = bytes(data).split(b"\n")[bad[0] - 1]
            raise InvalidRowError(f"line {bad[0]} of the NDJSON: {line_problem(line)}")
        if not count:
            return False
        return self._add_blob(blob, count, start, end)

    def _add_blob(self, blob: bytes, count: int, start: str | None, end: str | None) -> bool:
        if len(blob) > self.builder.max_bytes:
            # Only then can a single row be over the limit (it would never fit a request):
            # look for one before anything is buffered.
            lines = blob.split(b"\n")
            if max(map(len, lines)) + 1 > self.builder.max_bytes:
                i = next(
                    i for i, line in enumerate(lines) if len(line) + 1 > self.builder.max_bytes
                )
                self.builder.check_line(lines[i] + b"\n", where=f"row {i}")
        out: list[Batch] = []
        self.builder.add(blob, count, start, end, self.core.clock.monotonic(), out)
        return self._enqueue(out)

    def cut(self) -> bool:
        """Move buffered rows into a ready batch; True when anything is ready to send."""
        batch = self.builder.cut()
        if batch is not None:
            self._enqueue([batch])
        return bool(self.ready) or self.needs_reopen

    def lagging(self, now: float, max_lag: float) -> bool:
        first = self.builder.first_row_at
        return first is not None and now - first >= max_lag

    def _enqueue(self, batches: list[Batch]) -> bool:
        for batch in batches:
            if batch.end_token is None:
                # No caller token in this batch: number it after the last integer token (a
                # batch needs a token of its own, or its commit could never be confirmed).
                last = parse_int_token(self.last_token)
                if last is None and self.last_token is not None:
                    _log.warning(
                        "channel %s: the last offset token %r is not an integer; rows sent "
                        "without offset tokens are numbered from 1",
                        self.name,
                        self.last_token,
                    )
                batch.end_token = str((last or 0) + 1)
                batch.start_token = batch.start_token or batch.end_token
            self.last_token = batch.end_token
            self.ready.append(batch)
        return bool(batches)

    def _check_open(self) -> None:
        if self.failed is not None:
            raise self.failed
        if self.closed:
            raise ChannelInvalidatedError(
                f"channel {self.name!r} is closed; open it again with client.open_channel()",
                channel=self.name,
            )

    @property
    def pending_rows(self) -> int:
        return (
            self.builder.rows + sum(b.rows for b in self.ready) + sum(b.rows for b in self.inflight)
        )

    # --- flows ----------------------------------------------------------------------------

    def open_flow(self, offset_token: str | None) -> Flow[ChannelStatus]:
        resp = yield Call(
            open_op(
                self.database, self.schema, self.pipe, self.name, offset_token, str(uuid.uuid4())
            )
        )
        token, status = parse_open(resp.content, self.name)
        if not status.is_valid:
            raise ChannelInvalidatedError(
                f"open channel {self.name!r}: Snowflake answered {status.channel_status_code}"
                f"{': ' + status.last_error_message if status.last_error_message else ''}",
                channel=self.name,
                code=status.channel_status_code,
            )
        self.continuation, self.session, self.status = token, None, status
        self.committed = status.last_committed_offset_token
        self.last_token = self.committed
        _log.info("channel %s opened (last committed offset token %s)", self.name, self.committed)
        return status

    def send_flow(self) -> Flow[None]:
        """Send every ready batch in order, recovering the channel when it must be reopened."""
        while True:
            if self.failed is not None:
                raise self.failed
            if self.needs_reopen:
                yield from self._recover_flow()
            if not self.ready:
                return
            batch = self.ready[0]
            limit = self.max_inflight_bytes - batch.nbytes
            if self.inflight_bytes > limit and self.inflight:
                yield from self._drain_flow(limit)
                continue
            assert self.continuation is not None
            op = append_op(
                self.database,
                self.schema,
                self.pipe,
                self.name,
                payload=batch.payload,
                rows=batch.rows,
                continuation_token=self.continuation,
                start_token=batch.start_token,
                end_token=batch.end_token,
                request_id=batch.request_id,
                compressor=self.compressor,
                session=self.session,
            )
            try:
                resp = yield Call(op)
            except ChannelInvalidatedError as exc:
                if not exc.recoverable:
                    raise
                self._must_reopen(str(exc), exc)
                continue
            except (APIConnectionError, ServerError) as exc:
                # The outcome is unknown after the retries: reopening tells what committed.
                self._must_reopen(f"append outcome unknown ({exc})", exc)
                continue
            self.continuation = parse_append(resp.content, self.name)
            self.session = resp.headers.get("x-snowflake-session")
            self.ready.popleft()
            self.inflight.append(batch)
            self.inflight_bytes += batch.nbytes
            self.recoveries_without_progress = 0
            if not batch.sent:
                batch.sent = True
                self.core.stats.add(rows_appended=batch.rows, bytes_sent=batch.nbytes)
            if self._time_to_poll():
                # Opportunistic commit tracking: release what committed meanwhile, so memory
                # stays well below max_inflight_bytes during a long stream.
                yield from self.poll_flow()

    def _time_to_poll(self) -> bool:
        if self.inflight_bytes < self.max_inflight_bytes // 4:
            return False
        now = self.core.clock.monotonic()
        if now - self.last_poll < OPPORTUNISTIC_POLL_SECS:
            return False
        self.last_poll = now
        return True

    def _must_reopen(self, why: str, cause: SnowpipeError) -> None:
        self.recoveries_without_progress += 1
        if self.recoveries_without_progress > MAX_RECOVERIES_WITHOUT_PROGRESS:
            # Keep every batch: a later flush can try again; the caller sees why.
            self.recoveries_without_progress = 0
            raise cause
        _log.info("channel %s must be reopened: %s", self.name, why)
        self.needs_reopen = True

    def _recover_flow(self) -> Flow[None]:
        self.core.stats.add(reopens=1)
        resp = yield Call(
            open_op(self.database, self.schema, self.pipe, self.name, None, str(uuid.uuid4()))
        )
        token, status = parse_open(resp.content, self.name)
        if not status.is_valid:
            self.failed = ChannelInvalidatedError(
                f"channel {self.name!r} could not be recovered: reopening it answered "
                f"{status.channel_status_code}; {self.pending_rows} rows were not committed",
                channel=self.name,
                code=status.channel_status_code,
            )
            raise self.failed
        committed = status.last_committed_offset_token
        kept = len(self.inflight) + len(self.ready)
        # Put the accepted-but-uncommitted batches back in front of the ready ones, in place
        # (the deque may be appended to meanwhile by another task).
        self.ready.extendleft(reversed(self.inflight))
        self.inflight.clear()
        self.inflight_bytes = 0
        done = committed_prefix(self.ready, committed)
        done_rows = 0
        for _ in range(done):
            batch = self.ready.popleft()
            done_rows += batch.rows
            if not batch.sent:  # committed although its answer was lost
                batch.sent = True
                self.core.stats.add(rows_appended=batch.rows, bytes_sent=batch.nbytes)
        self.continuation, self.session, self.status = token, None, status
        self.committed = committed
        self.needs_reopen = False
        _log.info(
            "channel %s recovered: reopened at committed offset token %s; %d of %d kept "
            "batches (%d rows) were committed, %d batches (%d rows) will be sent again",
            self.name,
            committed,
            done,
            kept,
            done_rows,
            len(self.ready),
            sum(b.rows for b in self.ready),
        )

    def poll_flow(self) -> Flow[ChannelStatus]:
        """One status call: update the committed token and release committed batches."""
        try:
            resp = yield Call(
                status_op(self.database, self.schema, self.pipe, [self.name], str(uuid.uuid4()))
            )
            status = parse_bulk_status(resp.content, [self.name])[self.name]
        except ChannelInvalidatedError as exc:
            if not exc.recoverable:
                raise
            self.needs_reopen = True
            yield from self._recover_flow()
            assert self.status is not None
            return self.status
        self.status = status
        if not status.is_valid:
            _log.info("channel %s reports %s", self.name, status.channel_status_code)
            self.needs_reopen = True
            yield from self._recover_flow()
            return status
        self._release(status.last_committed_offset_token)
        return status

    def _release(self, committed: str | None) -> None:
        self.committed = committed
        for _ in range(committed_prefix(self.inflight, committed)):
            self.inflight_bytes -= self.inflight.popleft().nbytes

    def _drain_flow(self, limit: int) -> Flow[None]:
        """Backpressure: wait for commits until at most ``limit`` bytes are uncommitted."""
        clock = self.core.clock
        deadline = clock.monotonic() + self.core.config.request_timeout_secs * 5
        delay = POLL_INITIAL_SECS
        while self.inflight_bytes > limit and self.inflight:
            yield from self.poll_flow()
            if self.inflight_bytes <= limit:
                return
            if clock.monotonic() >= deadline:
                raise CommitTimeoutError(
                    f"channel {self.name!r}: {self.inflight_bytes} bytes sent but not committed "
                    f"(max_inflight_bytes={self.max_inflight_bytes}); Snowflake is not "
                    "committing",
                    channel=self.name,
                    last_committed=self.committed,
                )
            yield Sleep(delay)
            delay = min(delay * POLL_GROWTH, POLL_MAX_SECS)

    def wait_flow(self, target: CommitTarget, timeout: float) -> Flow[str | None]:
        """Flush, then poll until ``target`` is committed (None: everything sent so far)."""
        clock = self.core.clock
        start = clock.monotonic()
        deadline = start + timeout
        next_warning = start + WAIT_WARNING_EVERY_SECS
        delay = POLL_INITIAL_SECS
        self.cut()
        if target is None and not (self.ready or self.inflight or self.needs_reopen):
            return self.committed
        while True:
            yield from self.send_flow()
            status = yield from self.poll_flow()
            if self.ready or self.needs_reopen:
                continue  # recovered: send the replay first
            committed = status.last_committed_offset_token
            if target is None:
                if not self.inflight:
                    return committed
            elif callable(target):
                if target(committed):
                    return committed
            elif token_reached(committed, target):
                return committed
            now = clock.monotonic()
            if now >= deadline:
                raise CommitTimeoutError(
                    f"channel {self.name!r}: not committed within {timeout:g} s "
                    f"(waiting for {_describe(target)}; last committed offset token "
                    f"{committed!r}; {sum(b.rows for b in self.inflight)} rows in flight)",
                    channel=self.name,
                    waited_for=target if isinstance(target, str) else None,
                    last_committed=committed,
                )
            if now >= next_warning:
                _log.warning(
                    "channel %s: still waiting for %s after %.0f s (last committed "
                    "offset token %s)",
                    self.name,
                    _describe(target),
                    now - start,
                    committed,
                )
                next_warning = now + WAIT_WARNING_EVERY_SECS
            yield Sleep(min(delay, max(deadline - now, 0.0)))
            delay = min(delay * POLL_GROWTH, POLL_MAX_SECS)

    def close_flow(self, drop: bool, timeout: float) -> Flow[None]:
        if self.failed is None and not self.closed:
            yield from self.wait_flow(None, timeout)
        if drop:
            yield Call(drop_op(self.database, self.schema, self.pipe, self.name, str(uuid.uuid4())))
        self.closed = True
        _log.info(
            "channel %s closed%s (last committed offset token %s)",
            self.name,
            " and dropped" if drop else "",
            self.committed,
        )

    def supersede(self) -> None:
        self.failed = ChannelInvalidatedError(
            f"channel {self.name!r} was opened again by this client; use the new Channel",
            channel=self.name,
        )


def _describe(target: CommitTarget) -> str:
    if target is None:
        return "every sent row to commit"
    if callable(target):
        return "the commit predicate"
    return f"offset token {target!r}"


# --- shells --------------------------------------------------------------------------------


class Channel:
    """A channel of a :class:`~snowpipe_stream.Client`. Thread-safe; appends are serialized."""

    def __init__(self, client: Client, core: ChannelCore) -> None:
        self._client = client
        self._core = core
        self._lock = threading.RLock()

    @property
    def name(self) -> str:
        return self._core.name

    @property
    def latest_committed_offset_token(self) -> str | None:
        """The last committed offset token this channel has seen (no request)."""
        return self._core.committed

    def append_row(self, row: Mapping[str, Any], offset_token: str | None = None) -> None:
        """Buffer one row; sends when a batch is full. A bad row raises and is not buffered."""
        with self._lock:
            if self._core.add_row(row, offset_token):
                self._client._run(self._core.send_flow())

    def append_rows(
        self,
        rows: Iterable[Mapping[str, Any]],
        start_offset_token: str | None = None,
        end_offset_token: str | None = None,
    ) -> None:
        """Buffer many rows; if any row is bad, none of them is buffered."""
        with self._lock:
            if self._core.add_rows(rows, start_offset_token, end_offset_token):
                self._client._run(self._core.send_flow())

    def append_ndjson(
        self,
        data: bytes,
        start_offset_token: str | None = None,
        end_offset_token: str | None = None,
    ) -> None:
        """Buffer rows given as NDJSON bytes (one JSON object per line), without parsing them
        into Python objects: the fast path for data that is JSON already. A line that is not a
        JSON object raises :class:`InvalidRowError` and none of ``data`` is buffered."""
        with self._lock:
            if self._core.add_ndjson(data, start_offset_token, end_offset_token):
                self._client._run(self._core.send_flow())

    def flush(self) -> None:
        """Send every buffered row now (does not wait for the commit)."""
        with self._lock:
            if self._core.cut():
                self._client._run(self._core.send_flow())

    def _flush_if_lagging(self, now: float, max_lag: float) -> None:
        if self._core.lagging(now, max_lag) and self._lock.acquire(blocking=False):
            try:
                if self._core.lagging(now, max_lag):
                    self.flush()
            finally:
                self._lock.release()

    def wait_for_commit(
        self, token: str | Callable[[str | None], bool], timeout: float = 60.0
    ) -> str | None:
        """Flush and wait until ``token`` (or the predicate) is committed; return the token."""
        with self._lock:
            return self._client._run(self._core.wait_flow(token, timeout))

    def get_latest_committed_offset_token(self) -> str | None:
        return self.get_channel_status().last_committed_offset_token

    def get_channel_status(self) -> ChannelStatus:
        with self._lock:
            return self._client._run(self._core.poll_flow())

    def close(self, drop: bool = False, timeout: float | None = None) -> None:
        """Flush, wait until everything sent is committed, release (and maybe drop) it."""
        with self._lock:
            self._client._run(
                self._core.close_flow(
                    drop, DEFAULT_CLOSE_TIMEOUT_SECS if timeout is None else timeout
                )
            )
        self._client._forget(self)

    def __enter__(self) -> Channel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"Channel({self._core.name!r}, committed={self._core.committed!r}, "
            f"pending_rows={self._core.pending_rows})"
        )


class AsyncChannel:
    """A channel of an :class:`~snowpipe_stream.AsyncClient`; mirrors :class:`Channel`."""

    def __init__(self, client: AsyncClient, core: ChannelCore) -> None:
        self._client = client
        self._core = core
        self._lock = asyncio.Lock()

    @property
    def name(self) -> str:
        return self._core.name

    @property
    def latest_committed_offset_token(self) -> str | None:
        return self._core.committed

    async def append_row(self, row: Mapping[str, Any], offset_token: str | None = None) -> None:
        if self._core.add_row(row, offset_token):
            async with self._lock:
                await self._client._run(self._core.send_flow())

    async def append_rows(
        self,
        rows: Iterable[Mapping[str, Any]],
        start_offset_token: str | None = None,
        end_offset_token: str | None = None,
    ) -> None:
        if self._core.add_rows(rows, start_offset_token, end_offset_token):
            async with self._lock:
                await self._client._run(self._core.send_flow())

    async def append_ndjson(
        self,
        data: bytes,
        start_offset_token: str | None = None,
        end_offset_token: str | None = None,
    ) -> None:
        if self._core.add_ndjson(data, start_offset_token, end_offset_token):
            async with self._lock:
                await self._client._run(self._core.send_flow())

    async def flush(self) -> None:
        if self._core.cut():
            async with self._lock:
                await self._client._run(self._core.send_flow())

    async def _flush_if_lagging(self, now: float, max_lag: float) -> None:
        if self._core.lagging(now, max_lag) and not self._lock.locked():
            await self.flush()

    async def wait_for_commit(
        self, token: str | Callable[[str | None], bool], timeout: float = 60.0
    ) -> str | None:
        async with self._lock:
            return await self._client._run(self._core.wait_flow(token, timeout))

    async def get_latest_committed_offset_token(self) -> str | None:
        return (await self.get_channel_status()).last_committed_offset_token

    async def get_channel_status(self) -> ChannelStatus:
        async with self._lock:
            return await self._client._run(self._core.poll_flow())

    async def close(self, drop: bool = False, timeout: float | None = None) -> None:
        async with self._lock:
            await self._client._run(
                self._core.close_flow(
                    drop, DEFAULT_CLOSE_TIMEOUT_SECS if timeout is None else timeout
                )
            )
        self._client._forget(self)

    aclose = close

    async def __aenter__(self) -> AsyncChannel:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def __repr__(self) -> str:
        return (
            f"AsyncChannel({self._core.name!r}, committed={self._core.committed!r}, "
            f"pending_rows={self._core.pending_rows})"
        )
