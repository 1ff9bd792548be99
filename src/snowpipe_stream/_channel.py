"""Channels: buffering, batching, commit tracking and exactly-once recovery.

:class:`ChannelCore` holds a channel's state and its logic, written once as flows (see
``_transport``); :class:`Channel` and :class:`AsyncChannel` are thin shells that run those
flows with their client's driver.

State of one channel::

    builder   rows buffered, not yet cut into a batch
    ready     batches cut, not yet sent (or to be sent again after a recovery), in order
    inflight  batches sent (or being sent), not yet known to be committed, kept for replay

Offset tokens. Every batch carries an end offset token: the caller's token of its last row, or,
when that row has none, a token of the library's own (``snowpipe-stream:<n>``, a prefix that a
caller's token may not use). The committed offset token therefore always marks exactly where the
committed rows end, and it is found *by position* in the channel's own sequence of batches
(``committed``, the boundary last seen, then ``inflight``, then ``ready``). For that search to be
unambiguous, a caller's token that could end a batch is refused (:class:`OffsetTokenError`,
before anything of the call is buffered) when it equals the boundary or a token still in use:
the end of an uncommitted batch, or the token of the last buffered row (a cut takes every
buffered row, so no other buffered token can end a batch; see ``BatchBuilder``).

Ours to recover, or not ours. The client reopens the channel and replays the uncommitted
batches when the failure is of our own making or Snowflake's: an append whose outcome stayed
unknown after its retries (lost response, 5xx, timeout), a row-sequencer error, a 409 or a
status other than SUCCESS. It does *not* when the channel has become someone else's:

- an append answered ``STALE_CONTINUATION_TOKEN_SEQUENCER`` or a status
  ``ERR_CHANNEL_HAS_INVALID_CLIENT_SEQUENCER``: another client (or a second ``open_channel`` of
  this one) opened the channel, which bumps its client sequencer; that writer now owns it;
- the channel was dropped (``ERR_CHANNEL_NO_LONGER_EXISTS``, a 404, or absent from a status
  answer): reopening would create a new, empty channel and replay into it;
- the committed offset token Snowflake reports is not one of this channel's sequence: somebody
  else wrote or reset it. Before reopening, the recovery reads the channel's status and checks
  this, so it never takes a channel away from its new owner.

In those cases the writer gets :class:`ChannelInvalidatedError` (``ChannelDroppedError`` for a
drop) naming what happened, the committed token it saw and the rows of its own that are not
committed; ``close()`` and ``Client.close()`` raise it too. One case cannot be told apart: a
second writer that commits the very same offset tokens while this channel only waits (sends
nothing). Give each writer its own channel name, as Snowflake requires.

Locks (sync): appends are serialized by the channel's send lock, taken through the
``Exclusive`` effect and held across append requests only (each consumes the continuation token
the previous one returned); the channel's state lock is held during each step of a flow and
never across a request or a sleep. Commit polling and waiting hold no lock between steps, so a
waiting thread never stalls an appending one.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import partial
from itertools import chain
from typing import TYPE_CHECKING, Any, cast

from ._arrow import ArrowRows, arrow_rows, dataframe_table
from ._batching import Batch, BatchBuilder, check_token, parse_int_token, row_tokens, token_reached
from ._constants import (
    AUTO_OFFSET_TOKEN_PREFIX,
    DEFAULT_CLOSE_TIMEOUT_SECS,
    DEFAULT_EXIT_CLOSE_TIMEOUT_SECS,
    DEFAULT_PIPE_BINARY_FORMAT,
)
from ._exceptions import (
    APIConnectionError,
    ChannelDroppedError,
    ChannelInvalidatedError,
    ClosedError,
    CommitTimeoutError,
    ConflictError,
    InvalidRowError,
    NotFoundError,
    OffsetTokenError,
    ServerError,
    SnowpipeError,
)
from ._logfields import log_fields
from ._metrics import pipe_label
from ._ndjson import encode_lines, line_problem, object_lines, plain, prepare, prepare_many
from ._protocol import (
    DROPPED_CODES,
    OPENED_ELSEWHERE_CODES,
    ChannelStatus,
    Compressor,
    append_op,
    drop_op,
    open_op,
    parse_append,
    parse_binary_input_format,
    parse_bulk_status,
    parse_open,
    pipe_info_op,
    pipe_name,
    status_op,
)
from ._transport import BUSY, Call, Compute, Core, Exclusive, Flow, Sleep

if TYPE_CHECKING:
    from ._client import AsyncClient, Client

__all__ = ["AsyncChannel", "Channel", "ChannelCore"]

_log = logging.getLogger("snowpipe_stream.channel")

#: Consecutive recoveries without a successful append before the channel gives up.
MAX_RECOVERIES_WITHOUT_PROGRESS = 3
#: Commit polling backs off gently from a first interval of half the commit latency this
#: channel has seen (or Snowflake's reported average processing latency), within these bounds:
#: the wait after a commit lands is about half the current interval.
POLL_INITIAL_SECS = 0.05
POLL_GROWTH = 1.5
POLL_MAX_SECS = 1.0
#: Opening a channel that holds another writer's uncommitted rows waits for them this long
#: at most, retrying from OPEN_RETRY_INITIAL_SECS (doubling up to OPEN_RETRY_MAX_SECS).
OPEN_WAIT_FOR_UNCOMMITTED_SECS = 60.0
OPEN_RETRY_INITIAL_SECS = 0.5
OPEN_RETRY_MAX_SECS = 4.0
#: Weight of the newest observation in the commit-latency average.
LATENCY_WEIGHT = 0.3
#: While streaming with more than a quarter of max_inflight_bytes uncommitted, check commits
#: at most this often (one status request) to release the batches kept for replay.
OPPORTUNISTIC_POLL_SECS = 0.5
#: How often a long commit wait says it is still waiting.
WAIT_WARNING_EVERY_SECS = 60.0
#: Committed end tokens remembered (to recognise a status answer older than what we know, and
#: to answer ``wait_for_commit`` for a token that committed a while ago).
RELEASED_MEMORY = 4096

#: The strings that start with the reserved prefix are exactly those in [LOW, HIGH).
_RESERVED_LOW = AUTO_OFFSET_TOKEN_PREFIX
_RESERVED_HIGH = AUTO_OFFSET_TOKEN_PREFIX[:-1] + chr(ord(AUTO_OFFSET_TOKEN_PREFIX[-1]) + 1)

CommitTarget = str | Callable[[str | None], bool] | None

#: What the send step answers when backpressure stops it (more than max_inflight_bytes would
#: be uncommitted): the caller waits for commits outside the send lock, then tries again.
_BLOCKED = "blocked"


@dataclass(frozen=True)
class CommitProgress:
    """The channel's committed point advanced: ``token`` is committed now, and ``rows`` rows
    this channel appended were committed since the previous progress (``channel.on_commit``)."""

    channel: str
    token: str | None
    rows: int


@dataclass(frozen=True)
class ErrorRows:
    """Snowflake rejected ``rows`` more rows of the channel (``total`` in all); what its status
    says of the last one (``channel.on_error_rows``)."""

    channel: str
    rows: int
    total: int
    last_error_message: str | None
    last_error_offset_upper_bound: str | None


Event = CommitProgress | ErrorRows


class ChannelCore:
    """One channel's state and logic; no I/O of its own (flows yield effects)."""

    def __init__(
        self, core: Core, database: str, schema: str, pipe: str, name: str, send_lock: Any
    ) -> None:
        cfg = core.config
        self.core = core
        self.database, self.schema, self.pipe, self.name = database, schema, pipe, name
        self.send_lock = send_lock
        self.metrics = core.metrics
        #: The labels of this channel's series: (pipe, channel).
        self.labels = (pipe_label(database, schema, pipe), name)
        self.builder = BatchBuilder(cfg.max_request_bytes)
        self._now = core.clock.monotonic
        self.ready: deque[Batch] = deque()
        self.inflight: deque[Batch] = deque()
        self._inflight_bytes = 0
        #: End tokens of the batches in ready and inflight.
        self.kept_ends: set[str] = set()
        #: Recently committed end tokens, oldest first.
        self.released: dict[str | None, None] = {}
        self.compressor = Compressor(cfg.compression)
        #: How bytes are sent: the setting, or the pipe's format (learned when it opens).
        self.binary_format: str = cfg.binary_format or ""
        self.max_inflight_bytes = cfg.max_inflight_bytes
        self.continuation: str | None = None
        self.session: str | None = None
        #: The committed offset token at the boundary before the first kept batch.
        self.committed: str | None = None
        self.auto_seq = 0
        self.status: ChannelStatus | None = None
        self.needs_reopen = False
        self.failed: ChannelInvalidatedError | None = None
        #: Why the channel is closed ("closed", "client closed", ...), or None while open.
        self.closed: str | None = None
        self.recoveries_without_progress = 0
        self.last_poll = core.clock.monotonic()
        #: The channel's rows_error_count as last seen (its growth is logged and counted).
        self.rows_error_count: int | None = None
        #: Someone listens (on_commit, on_error_rows, commits()): events are queued for them.
        self.listening = False
        #: Committed progress and rejected rows, in the order seen, for the listeners (a
        #: background thread or task takes them: never delivered under a lock).
        self.events: deque[Event] = deque()
        #: Seconds from an append's acceptance to the status that showed it committed (EWMA).
        self.commit_latency: float | None = None
        #: Called (under the state lock) each time the sender takes a ready batch: a caller
        #: waiting for room in ``ready`` is told (the sync shell's background sender).
        self.on_taken: Callable[[], None] | None = None

    @property
    def inflight_bytes(self) -> int:
        """Bytes of the batches in ``inflight``; the metrics' gauge follows every change."""
        return self._inflight_bytes

    @inflight_bytes.setter
    def inflight_bytes(self, nbytes: int) -> None:
        self._inflight_bytes = nbytes
        self.metrics.inflight(*self.labels, nbytes)

    def log_fields(self, **fields: Any) -> dict[str, Any]:
        """``extra=`` for this channel's log lines: its name and pipe, and ``fields``."""
        return log_fields(
            channel=self.name, pipe=pipe_name(self.database, self.schema, self.pipe), **fields
        )

    # --- buffering (pure; the shell holds the state lock) -----------------------------------

    def add_row(self, row: object, offset_token: str | None) -> bool:
        """Buffer one row; True when a batch became ready to send."""
        if self.failed is not None or self.closed:
            self.check_open()
        t = offset_token
        if t is not None and (
            # One condition, no calls: this runs for every row (see _claim for the rules).
            type(t) is not str
            or t in self.kept_ends
            or t == self.builder.end_token
            or t == self.committed
            or not t
            or _RESERVED_LOW <= t < _RESERVED_HIGH  # startswith(prefix), for less
        ):
            self._claim(_token(t), "offset_token")  # raises, naming the rule
        if type(row) is not dict or not plain(row):
            row = prepare(row, self.binary_format)
        batch = self.builder.add_row(row, offset_token, self._now)
        if batch is None:
            return False
        self._enqueue([batch])
        return True

    def add_rows(self, rows: Iterable[object], start: str | None, end: str | None) -> bool:
        """Buffer many rows (checked and encoded as one batch); True when a batch is ready."""
        self.check_open()
        if isinstance(rows, str | bytes | bytearray | Mapping) or not isinstance(rows, Iterable):
            raise TypeError(
                f"rows must be an iterable of mappings (a list of dicts), got "
                f"{type(rows).__name__}; for one row use append_row(row)"
            )
        start = check_token(start, "start_offset_token")
        end = check_token(end, "end_offset_token")
        prepared = prepare_many(rows, self.binary_format)
        if not prepared:
            return False
        return self._add_blob(encode_lines(prepared), len(prepared), start, end)

    def add_ndjson(
        self, data: bytes, start: str | None, end: str | None, checked: bool = False
    ) -> bool:
        """Buffer rows that are NDJSON already (one JSON object per line); checked, not parsed.

        ``checked``: the caller has checked ``data`` with ``object_lines`` already and it was
        all objects, each line ending in ``\\n`` (the CLI does, before it deals lines to several
        channels): not checked twice."""
        self.check_open()
        if not isinstance(data, bytes | bytearray | memoryview):
            raise TypeError(
                f"data must be bytes of NDJSON, got {type(data).__name__}"
                + ("; encode it first: data.encode()" if isinstance(data, str) else "")
            )
        start = check_token(start, "start_offset_token")
        end = check_token(end, "end_offset_token")
        if checked:
            if data and not data.endswith(b"\n"):
                raise ValueError("checked NDJSON must end with a newline")
            blob, count, bad = bytes(data), data.count(b"\n"), list[int]()
        else:
            blob, count, bad = object_lines(bytes(data))
        if bad:
            line = bytes(data).split(b"\n")[bad[0] - 1]
            raise InvalidRowError(f"line {bad[0]} of the NDJSON: {line_problem(line)}")
        if not count:
            return False
        return self._add_blob(blob, count, start, end)

    def encode_arrow(
        self, data: object, start: str | None, end: str | None
    ) -> tuple[ArrowRows, str | None, str | None]:
        """Arrow ``data`` as NDJSON rows, and the checked tokens; changes no state (the shells
        run it without the state lock: it is the costly part)."""
        self.check_open()
        start = check_token(start, "start_offset_token")
        end = check_token(end, "end_offset_token")
        rows = arrow_rows(data, self.binary_format or DEFAULT_PIPE_BINARY_FORMAT)
        return rows, start, end

    def add_encoded(self, encoded: tuple[ArrowRows, str | None, str | None]) -> bool:
        """Buffer what :meth:`encode_arrow` made, by append_rows' rules (:meth:`_add_blob`);
        a call over one request is cut at the line ends Arrow gave, not row by row."""
        self.check_open()
        rows, start, end = encoded
        blob, count = rows.ndjson, rows.rows
        if not count:
            return False
        if len(blob) <= self.builder.max_bytes:
            return self._add_blob(blob, count, start, end)
        if start is not None and start == self.committed:
            self._claim(start, "start_offset_token")
        longest, row = rows.longest()
        if longest > self.builder.max_bytes:
            ends = rows.line_ends()
            line = blob[ends[row - 1] if row else 0 : ends[row]]
            self.builder.check_line(line, where=f"row {row}")
        # row_tokens gives a str for every row, or None.
        tokens = cast("list[str] | None", row_tokens(start, end, count))
        if tokens is None:
            if end is not None:
                self._claim(end, "end_offset_token")
        else:
            # Any row may end a request: each token is claimed, as _add_blob does (at C speed).
            given = set(tokens)
            if (
                self.committed in given
                or self.builder.end_token in given
                or not given.isdisjoint(self.kept_ends)
            ):
                for token in tokens:
                    self._claim(token, "end_offset_token")
        out: list[Batch] = []
        now = self.core.clock.monotonic()
        self.builder.add_lines(blob, rows.line_ends(), tokens, start, end, now, out)
        return self._enqueue(out)

    def _add_blob(self, blob: bytes, count: int, start: str | None, end: str | None) -> bool:
        out: list[Batch] = []
        now = self.core.clock.monotonic()
        if start is not None and start == self.committed:
            self._claim(start, "start_offset_token")  # the last committed row, sent again
        if len(blob) <= self.builder.max_bytes:
            if end is not None:
                self._claim(end, "end_offset_token")
            self.builder.add(blob, count, start, end, now, out)
            return self._enqueue(out)
        # Over one request: the call is split, and any of its rows may end a request. Only then
        # can a single row be over the limit: look for one before anything is buffered.
        lines = blob.split(b"\n")
        if max(map(len, lines)) + 1 > self.builder.max_bytes:
            i = next(i for i, line in enumerate(lines) if len(line) + 1 > self.builder.max_bytes)
            self.builder.check_line(lines[i] + b"\n", where=f"row {i}")
        # Without a token per row, the requests that end inside this call get the library's own.
        tokens = row_tokens(start, end, count) or [*([None] * (count - 1)), end]
        for token in tokens:
            if token is not None:
                self._claim(token, "end_offset_token")
        self.builder.add_split(blob, tokens, start, now, out)
        return self._enqueue(out)

    def _claim(self, token: str, param: str) -> None:
        """Refuse ``token`` when it could make the committed point ambiguous (see module doc)."""
        if token == self.committed:
            raise OffsetTokenError(
                f"{param} {token!r:.80} is channel {self.name!r}'s last committed offset token: "
                "the rows after it need new tokens (are you sending the last committed row "
                "again?)"
            )
        if token in self.kept_ends or token == self.builder.end_token:
            raise OffsetTokenError(
                f"{param} {token!r:.80} is already used by rows of channel {self.name!r} that are "
                "not committed yet; each offset token must mark one place in the stream. To "
                "give several rows one token, send them in one append_rows(rows, "
                "end_offset_token=...) call"
            )

    def cut(self) -> bool:
        """Move buffered rows into a ready batch; True when anything is ready to send."""
        batch = self.builder.cut()
        if batch is not None:
            self._enqueue([batch])
        return bool(self.ready) or self.needs_reopen

    def uncompressed(self) -> list[Batch]:
        """The ready batches whose request body is not made yet (the shells compress them
        ahead of the send, outside the state lock: see ``Compressor.body``)."""
        return [b for b in self.ready if b.body is None]

    def lagging(self, now: float, max_lag: float) -> bool:
        """Whether rows wait to be sent: buffered longer than ``max_lag``, or cut into batches
        that no sender took (one was busy when they were cut)."""
        first = self.builder.first_row_at
        return (first is not None and now - first >= max_lag) or (
            bool(self.ready) and not self.needs_reopen
        )

    def _enqueue(self, batches: list[Batch]) -> bool:
        for batch in batches:
            if batch.end_token is None:
                self.auto_seq += 1
                batch.end_token = f"{AUTO_OFFSET_TOKEN_PREFIX}{self.auto_seq}"
                batch.start_token = batch.start_token or batch.end_token
            self.kept_ends.add(batch.end_token)
            self.ready.append(batch)
        return bool(batches)

    def check_open(self) -> None:
        if self.failed is not None:
            raise self.failed
        if self.closed:
            raise ClosedError(
                f"channel {self.name!r} is closed ({self.closed}); open it again with "
                "client.open_channel() (it resumes from its committed offset token)"
            )

    @property
    def pending_rows(self) -> int:
        return (
            self.builder.rows + sum(b.rows for b in self.ready) + sum(b.rows for b in self.inflight)
        )

    def _kept(self) -> Iterator[Batch]:
        return chain(self.inflight, self.ready)

    def uncommitted(self) -> tuple[int, tuple[str | None, str | None]]:
        """Rows accepted and not known to be committed, and the tokens of the first and last."""
        first = next(self._kept(), None)
        last = self.ready[-1] if self.ready else self.inflight[-1] if self.inflight else None
        start = first.start_token if first is not None else self.builder.start_token
        end = self.builder.end_token if self.builder.rows else last.end_token if last else None
        return self.pending_rows, (start, end)

    def describe_uncommitted(self) -> str:
        rows, (start, end) = self.uncommitted()
        if not rows:
            return "no rows of its are uncommitted"
        return (
            f"{rows:,} row{'s' if rows != 1 else ''} appended on it "
            f"{'are' if rows != 1 else 'is'} not known to be committed (offset tokens {start!r} "
            f"to {end!r}"
            f"; tokens starting with {AUTO_OFFSET_TOKEN_PREFIX!r} are the library's own)"
        )

    # --- failing --------------------------------------------------------------------------

    def fail(
        self, reason: str, what: str, *, code: str | None = None, committed: str | None = None
    ) -> ChannelInvalidatedError:
        """Mark the channel failed for good; the error names what happened and what is lost."""
        rows, span = self.uncommitted()
        seen = committed if committed is not None else self.committed
        cls = ChannelDroppedError if reason == "dropped" else ChannelInvalidatedError
        self.failed = cls(
            f"channel {self.name!r} {what}; the last committed offset token this channel saw is "
            f"{self.committed!r}; {self.describe_uncommitted()}. "
            + _ADVICE.get(reason, _ADVICE["invalid"]),
            channel=self.name,
            code=code,
            reason=reason,
            last_committed=seen,
            uncommitted_rows=rows,
            uncommitted_range=span,
        )
        return self.failed

    def refresh_failure(self) -> ChannelInvalidatedError | None:
        """The failure, with its counts brought up to date (rows may have committed since)."""
        if self.failed is None:
            return None
        rows, span = self.uncommitted()
        self.failed.uncommitted_rows, self.failed.uncommitted_range = rows, span
        return self.failed

    def supersede(self, committed: str | None) -> None:
        """Another ``open_channel`` of this client opened the same channel (committed at
        ``committed``): release what committed, and fail with the rest."""
        if self.failed is not None or self.closed:
            return
        self._release(committed)
        if self.pending_rows:
            self.fail("opened_elsewhere", "was opened again by this client (open_channel)")
        else:
            self.closed = "replaced by a newer open_channel of the same name"

    # --- the committed point --------------------------------------------------------------

    def _locate(self, committed: str | None) -> int | None:
        """How many kept batches ``committed`` covers, or None when it is not in our sequence."""
        if committed == self.committed:
            return 0
        if committed is None or committed not in self.kept_ends:
            return None
        for n, batch in enumerate(self._kept(), 1):
            if batch.end_token == committed:
                return n
        raise AssertionError("kept_ends out of step with the kept batches")  # pragma: no cover

    def _release(self, committed: str | None) -> bool:
        """Drop the kept batches ``committed`` covers; False when it is not in our sequence (a
        token we saw commit earlier is an old answer: nothing to do, True)."""
        n = self._locate(committed)
        if n is None:
            return committed in self.released
        rows = 0
        for _ in range(n):
            if self.inflight:
                batch = self.inflight.popleft()
                self.inflight_bytes -= batch.nbytes
            else:
                batch = self.ready.popleft()
            rows += batch.rows
            self._forget(batch)
        if n:
            self.committed = committed
            self._progress(rows)
        return True

    def _progress(self, rows: int) -> None:
        if self.listening:
            self.events.append(CommitProgress(self.name, self.committed, rows))

    def poll_due(self, now: float) -> bool:
        """Whether the background watcher should ask for the status: rows of ours are out and
        not known committed, and the last status call is older than the poll interval."""
        if self.failed is not None or self.closed or not self.inflight:
            return False
        return now - self.last_poll >= self._first_poll_interval()

    def _forget(self, batch: Batch) -> None:
        """A kept batch committed: stop keeping it."""
        assert batch.end_token is not None
        self.kept_ends.discard(batch.end_token)
        self.released[batch.end_token] = None
        if len(self.released) > RELEASED_MEMORY:
            del self.released[next(iter(self.released))]
        now = self.core.clock.monotonic()
        if batch.sent_at is not None:
            seen = now - batch.sent_at
            old = self.commit_latency
            self.commit_latency = seen if old is None else old + LATENCY_WEIGHT * (seen - old)
        if not batch.sent:  # committed although its answer was lost
            batch.sent = True
            self.core.stats.add(rows_appended=batch.rows, bytes_sent=batch.nbytes)
            self.metrics.appended(*self.labels, batch.rows, batch.nbytes)
        first = batch.first_send_at
        self.metrics.committed(
            *self.labels, batch.rows, batch.nbytes, None if first is None else now - first
        )

    # --- flows ----------------------------------------------------------------------------

    def open_flow(self, offset_token: str | None) -> Flow[ChannelStatus]:
        """Open the channel for this writer. Rows another writer (or a crashed run) has in
        flight are not discarded: like Snowflake's SDK, open with ``fail_on_uncommitted_rows``
        and wait (bounded) until they commit, so the committed token we start from includes
        them. (A recovery reopen does not: what it discards is our own, and it replays it.)"""
        if not self.binary_format:
            yield from self._learn_binary_format()
        clock = self.core.clock
        deadline = clock.monotonic() + OPEN_WAIT_FOR_UNCOMMITTED_SECS
        delay = OPEN_RETRY_INITIAL_SECS
        while True:
            op = open_op(
                self.database,
                self.schema,
                self.pipe,
                self.name,
                offset_token,
                str(uuid.uuid4()),
                fail_on_uncommitted_rows=True,
            )
            try:
                resp = yield Call(op)
                break
            except ConflictError as exc:
                if exc.code != "ERR_CHANNEL_HAS_UNCOMMITTED_DATA":
                    raise
                if clock.monotonic() + delay > deadline:
                    exc.args = (
                        f"{exc.args[0]}: rows another writer sent are still not committed after "
                        f"{OPEN_WAIT_FOR_UNCOMMITTED_SECS:g} s; is another writer still using "
                        f"channel {self.name!r}? (one writer per channel)",
                    )
                    raise
                _log.info(
                    "channel %s has rows in flight from another writer; waiting %.1f s for "
                    "them to commit before opening it",
                    self.name,
                    delay,
                    extra=self.log_fields(),
                )
                yield Sleep(delay)
                delay = min(delay * 2, OPEN_RETRY_MAX_SECS)
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
        self.rows_error_count = status.rows_error_count
        if status.snowflake_avg_processing_latency_ms:
            self.commit_latency = status.snowflake_avg_processing_latency_ms / 1000
        # Library tokens continue after a committed one of ours (never one that may be in use).
        auto = self.committed or ""
        if auto.startswith(AUTO_OFFSET_TOKEN_PREFIX):
            self.auto_seq = parse_int_token(auto[len(AUTO_OFFSET_TOKEN_PREFIX) :]) or 0
        _log.info(
            "channel %s opened (last committed offset token %s)",
            self.name,
            self.committed,
            extra=self.log_fields(),
        )
        return status

    def _learn_binary_format(self) -> Flow[None]:
        """Bytes go as the pipe expects them (its BINARY_INPUT_FORMAT), as Snowflake's SDK
        does: read ``:pipe-info`` once per pipe and client, unless ``binary_format`` is set."""
        key = (self.database.upper(), self.schema.upper(), self.pipe.upper())
        known = self.core.binary_formats.get(key)
        if known is None:
            resp = yield Call(
                pipe_info_op(self.database, self.schema, self.pipe, str(uuid.uuid4()))
            )
            known = parse_binary_input_format(resp.content, self.pipe)
            if known is None:
                known = DEFAULT_PIPE_BINARY_FORMAT
                _log.info(
                    "pipe %s names no BINARY_INPUT_FORMAT: bytes are sent as %s, as Snowflake's "
                    "SDK does (set binary_format to choose)",
                    self.pipe,
                    known,
                    extra=self.log_fields(),
                )
            self.core.binary_formats[key] = known
        self.binary_format = known

    def send_flow(self, blocking: bool = True) -> Flow[None]:
        """Send every ready batch in order (under the send lock), recovering the channel when it
        must be reopened; under backpressure, wait for commits without holding the lock."""
        clock = self.core.clock
        deadline: float | None = None
        delay = POLL_INITIAL_SECS
        while True:
            outcome = yield Exclusive(self._send_locked_flow(), self.send_lock, blocking)
            if outcome is BUSY or outcome is None or not blocking:
                return  # (the background flusher never waits, for a lock or for commits)
            # Backpressure: wait until enough of what was sent is committed.
            if deadline is None:
                deadline = clock.monotonic() + self.core.config.request_timeout_secs * 5
            yield from self.poll_flow()
            if self.inflight_bytes + self._next_nbytes() <= self.max_inflight_bytes:
                delay = POLL_INITIAL_SECS
                continue
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

    def _next_nbytes(self) -> int:
        return self.ready[0].nbytes if self.ready else 0

    def _send_locked_flow(self) -> Flow[str | None]:
        """The sender (holding the send lock): None when all is sent, ``_BLOCKED`` under
        backpressure."""
        while True:
            self.check_open()
            if self.needs_reopen:
                yield from self._recover_flow()
            if not self.ready:
                return None
            batch = self.ready[0]
            if self.inflight and self.inflight_bytes + batch.nbytes > self.max_inflight_bytes:
                return _BLOCKED
            if batch.body is None:
                # Compressed without the state lock, so appends go on meanwhile; then look
                # again from the top: the channel may have changed.
                yield Compute(partial(self.compressor.body, batch))
                continue
            assert self.continuation is not None
            op = append_op(
                self.database,
                self.schema,
                self.pipe,
                self.name,
                body=batch.body,
                nbytes=batch.nbytes,
                encoding=self.compressor.encoding,
                rows=batch.rows,
                continuation_token=self.continuation,
                start_token=batch.start_token,
                end_token=batch.end_token,
                request_id=batch.request_id,
                session=self.session,
                min_append_ms=self._wall_ms(batch.first_at),
            )
            # Kept as in flight while its request is out: a status answer may show it committed
            # before its own answer is read.
            self.ready.popleft()
            self.inflight.append(batch)
            self.inflight_bytes += batch.nbytes
            if self.on_taken is not None:
                self.on_taken()
            started = self.core.clock.monotonic()
            if batch.first_send_at is None:
                batch.first_send_at = started
            try:
                resp = yield Call(op)
            except ChannelInvalidatedError as exc:
                if exc.code in OPENED_ELSEWHERE_CODES:
                    raise self.fail(
                        "opened_elsewhere",
                        f"was opened by another client (Snowflake answered {exc.code} to an "
                        "append)",
                        code=exc.code,
                    ) from None
                if exc.code in DROPPED_CODES:
                    raise self.fail(
                        "dropped", f"was dropped ({exc.code} on an append)", code=exc.code
                    ) from None
                if not exc.recoverable:
                    raise
                self._must_reopen(str(exc), exc)
                continue
            except NotFoundError as exc:
                raise self.fail("dropped", f"no longer exists ({exc})", code=exc.code) from None
            except (APIConnectionError, ServerError) as exc:
                # The outcome is unknown after the retries: reopening tells what committed.
                self._must_reopen(f"append outcome unknown ({exc})", exc)
                continue
            except BaseException:
                # Not accepted (a 400, throttled for good, ...): it goes back to be sent later.
                self._unsend(batch)
                raise
            self.continuation = parse_append(resp.content, self.name)
            self.session = resp.headers.get("x-snowflake-session")
            batch.sent_at = self.core.clock.monotonic()
            self.metrics.append_latency(*self.labels, batch.sent_at - started)
            self.recoveries_without_progress = 0
            if not batch.sent:
                batch.sent = True
                self.core.stats.add(rows_appended=batch.rows, bytes_sent=batch.nbytes)
                self.metrics.appended(*self.labels, batch.rows, batch.nbytes)
            if self._time_to_poll():
                # Opportunistic commit tracking: release what committed meanwhile, so memory
                # stays well below max_inflight_bytes during a long stream.
                yield from self.poll_flow()

    def _wall_ms(self, monotonic: float | None) -> int | None:
        """Epoch milliseconds of a monotonic instant (the clock's two faces, read once each)."""
        if monotonic is None:
            return None
        clock = self.core.clock
        return int((clock.time() - (clock.monotonic() - monotonic)) * 1000)

    def _unsend(self, batch: Batch) -> None:
        if self.inflight and self.inflight[-1] is batch:
            self.inflight.pop()
            self.inflight_bytes -= batch.nbytes
            self.ready.appendleft(batch)

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
            self.needs_reopen = True
            if isinstance(cause, ChannelInvalidatedError):
                rows, span = self.uncommitted()
                raise ChannelInvalidatedError(
                    f"channel {self.name!r} had to be reopened "
                    f"{MAX_RECOVERIES_WITHOUT_PROGRESS + 1} times in a row without an append "
                    f"getting through ({cause}); "
                    f"{self.describe_uncommitted()}: they are kept, and the next flush, "
                    "wait_for_commit or close tries again",
                    channel=self.name,
                    code=cause.code,
                    last_committed=self.committed,
                    uncommitted_rows=rows,
                    uncommitted_range=span,
                ) from cause
            raise cause
        _log.info("channel %s must be reopened: %s", self.name, why, extra=self.log_fields())
        self.needs_reopen = True

    def _check_ours(self, status: ChannelStatus, when: str) -> None:
        """Fail when ``status`` shows the channel is no longer this writer's."""
        code = status.channel_status_code
        if code in OPENED_ELSEWHERE_CODES:
            raise self.fail("opened_elsewhere", f"was opened by another client ({code})", code=code)
        if code in DROPPED_CODES:
            raise self.fail("dropped", f"was dropped ({code})", code=code)
        committed = status.last_committed_offset_token
        if self._locate(committed) is None and committed not in self.released:
            raise self.fail(
                "opened_elsewhere",
                f"has committed offset token {committed!r} ({when}), which this channel never "
                "sent: another client wrote to it, or it was dropped and created again",
                committed=committed,
            )

    def _recover_flow(self) -> Flow[None]:
        """Reopen the channel and replay what did not commit (holding the send lock)."""
        self.core.stats.add(reopens=1)
        self.metrics.reopened(*self.labels)
        # Look before reopening: an open would take the channel from a new owner, or create a
        # dropped one again.
        try:
            resp = yield Call(
                status_op(self.database, self.schema, self.pipe, [self.name], str(uuid.uuid4()))
            )
            before = parse_bulk_status(resp.content, [self.name])[self.name]
        except NotFoundError as exc:
            raise self.fail("dropped", f"no longer exists ({exc})", code=exc.code) from None
        self._check_ours(before, "before reopening it to recover")
        resp = yield Call(
            open_op(self.database, self.schema, self.pipe, self.name, None, str(uuid.uuid4()))
        )
        token, status = parse_open(resp.content, self.name)
        if not status.is_valid:
            raise self.fail(
                "invalid",
                f"could not be recovered: reopening it answered {status.channel_status_code}",
                code=status.channel_status_code,
            )
        committed = status.last_committed_offset_token
        kept = len(self.inflight) + len(self.ready)
        n = self._locate(committed)
        if n is None:
            raise self.fail(
                "opened_elsewhere",
                f"was reopened at committed offset token {committed!r}, which is not in this "
                "channel's sequence: another client wrote to it, or it was reset",
                committed=committed,
            )
        # Put the sent-but-uncommitted batches back in front of the ready ones, in place. A
        # replay is a new request (a new id); only a retry of one request repeats its id.
        for batch in self.inflight:
            batch.request_id = str(uuid.uuid4())
        self.ready.extendleft(reversed(self.inflight))
        self.inflight.clear()
        self.inflight_bytes = 0
        done_rows = 0
        for _ in range(n):
            batch = self.ready.popleft()
            done_rows += batch.rows
            self._forget(batch)
        self.continuation, self.session, self.status = token, None, status
        moved = committed != self.committed
        self.committed = committed
        if moved:
            self._progress(done_rows)
        self.needs_reopen = False
        _log.info(
            "channel %s recovered: reopened at committed offset token %s; %d of %d kept "
            "batches (%d rows) were committed, %d batches (%d rows) will be sent again",
            self.name,
            committed,
            n,
            kept,
            done_rows,
            len(self.ready),
            sum(b.rows for b in self.ready),
            extra=self.log_fields(),
        )

    def poll_flow(self) -> Flow[ChannelStatus]:
        """One status call: update the committed point and release committed batches.

        It recovers nothing itself (it holds no send lock): a channel that must be reopened is
        marked so, and the next send reopens it.
        """
        self.core.stats.add(status_requests=1)
        self.last_poll = self.core.clock.monotonic()
        try:
            resp = yield Call(
                status_op(self.database, self.schema, self.pipe, [self.name], str(uuid.uuid4()))
            )
            status = parse_bulk_status(resp.content, [self.name])[self.name]
        except NotFoundError as exc:
            raise self.fail("dropped", f"no longer exists ({exc})", code=exc.code) from None
        except ChannelInvalidatedError as exc:
            if not exc.recoverable:
                raise
            self.needs_reopen = True
            return self.status or ChannelStatus(self.name, exc.code or "UNKNOWN")
        self.status = status
        self._note_rejected_rows(status)
        if self.failed is not None:
            return status
        code = status.channel_status_code
        if code in OPENED_ELSEWHERE_CODES or code in DROPPED_CODES:
            self._check_ours(status, "in a status answer")
        if not status.is_valid:
            _log.info("channel %s reports %s", self.name, code, extra=self.log_fields())
            self.needs_reopen = True
            return status
        if not self._release(status.last_committed_offset_token):
            self._check_ours(status, "in a status answer")
        return status

    def _note_rejected_rows(self, status: ChannelStatus) -> None:
        """Snowflake rejected rows (ON_ERROR = CONTINUE: they are not stored): say so once per
        growth of the channel's rows_error_count, with what the status knows of the last one."""
        seen, now = self.rows_error_count, status.rows_error_count
        self.rows_error_count = now
        if seen is None or now <= seen:
            return
        self.core.stats.add(rows_rejected=now - seen)
        self.metrics.error_rows(*self.labels, now - seen)
        if self.listening:
            self.events.append(
                ErrorRows(
                    self.name,
                    now - seen,
                    now,
                    status.last_error_message,
                    status.last_error_offset_upper_bound,
                )
            )
        _log.warning(
            "channel %s: Snowflake rejected %d more row%s (%d in all); the last error: %s "
            "(offset token upper bound %s). Rejected rows are not stored: fix them and send "
            "them again",
            self.name,
            now - seen,
            "s" if now - seen != 1 else "",
            now,
            status.last_error_message or "(no message)",
            status.last_error_offset_upper_bound,
            extra=self.log_fields(),
        )

    def wait_flow(self, target: CommitTarget, timeout: float) -> Flow[str | None]:
        """Flush, then poll until ``target`` is committed (None: every row appended so far)."""
        clock = self.core.clock
        start = clock.monotonic()
        deadline = start + timeout
        next_warning = start + WAIT_WARNING_EVERY_SECS
        delay = self._first_poll_interval()
        self.check_open()
        # Which of our batches must commit: the one whose rows hold the token (or, for None,
        # the last). A token we cannot place is judged from the tokens, never by a guess while
        # rows of ours are pending.
        self.cut()
        last = self.ready[-1] if self.ready else self.inflight[-1] if self.inflight else None
        end: str | None = None
        pending = last is not None
        if target is None:
            if last is None:
                return self.committed
            end = last.end_token
        elif isinstance(target, str):
            holder = next((b for b in self._kept() if target in b.tokens), None)
            if holder is not None:
                end = holder.end_token
            elif target in self.released or target == self.committed:
                return self.committed
        while True:
            yield from self.send_flow()
            if self._reached(target, end, pending):
                return self.committed
            status = yield from self.poll_flow()
            if self.needs_reopen:
                continue  # recover and replay first
            if self._reached(target, end, pending):
                return self.committed
            now = clock.monotonic()
            if now >= deadline:
                rows, (first, last_token) = self.uncommitted()
                raise CommitTimeoutError(
                    f"channel {self.name!r}: not committed within {timeout:g} s "
                    f"(waiting for {_describe(target)}; last committed offset token "
                    f"{status.last_committed_offset_token!r}; {rows:,} row"
                    f"{'s' if rows != 1 else ''} not committed, offset tokens {first!r} to "
                    f"{last_token!r})",
                    channel=self.name,
                    waited_for=target if isinstance(target, str) else None,
                    last_committed=self.committed,
                )
            if now >= next_warning:
                _log.warning(
                    "channel %s: still waiting for %s after %.0f s (last committed "
                    "offset token %s)",
                    self.name,
                    _describe(target),
                    now - start,
                    self.committed,
                    extra=self.log_fields(),
                )
                next_warning = now + WAIT_WARNING_EVERY_SECS
            yield Sleep(min(delay, max(deadline - now, 0.0)))
            delay = min(delay * POLL_GROWTH, POLL_MAX_SECS)

    def _first_poll_interval(self) -> float:
        latency = self.commit_latency
        if latency is None:
            return POLL_INITIAL_SECS
        return min(max(latency / 2, POLL_INITIAL_SECS), POLL_MAX_SECS)

    def _reached(self, target: CommitTarget, end: str | None, pending: bool) -> bool:
        """Whether the wait is over: the batch ``end`` committed, or ``target`` is judged
        committed from the tokens (never by a guess while rows of ours were pending)."""
        if self.failed is not None:
            raise self.failed
        if end is not None:
            return end not in self.kept_ends
        if callable(target):
            return bool(target(self.committed))
        assert target is not None
        return target in self.released or token_reached(self.committed, target, guess=not pending)

    def close_flow(self, drop: bool, timeout: float) -> Flow[None]:
        """Flush and wait until every row appended is committed, then release (or drop) the
        channel. Raises when rows appended on it are not committed, whatever the reason."""
        if self.failed is None and not self.closed:
            yield from self.wait_flow(None, timeout)
        failure = self.refresh_failure()
        if failure is not None and failure.uncommitted_rows:
            self.closed = self.closed or "by close()"
            raise failure
        if self.closed:
            return  # closed before: nothing more to do
        if drop and failure is None:
            yield Exclusive(self._drop_flow(), self.send_lock)
        self.closed = "by close()"
        _log.info(
            "channel %s closed%s (last committed offset token %s)",
            self.name,
            " and dropped" if drop and failure is None else "",
            self.committed,
            extra=self.log_fields(),
        )

    def _drop_flow(self) -> Flow[None]:
        yield Call(drop_op(self.database, self.schema, self.pipe, self.name, str(uuid.uuid4())))

    def abandon(self, why: str) -> None:
        """Stop using the channel without waiting (the client closes without flushing); say
        what was not committed."""
        if self.closed:
            return
        if self.failed is None and self.pending_rows:
            _log.warning(
                "channel %s abandoned (%s): %s; reopen it to resume from its committed offset "
                "token %s",
                self.name,
                why,
                self.describe_uncommitted(),
                self.committed,
                extra=self.log_fields(),
            )
        self.closed = why


_ADVICE = {
    "opened_elsewhere": (
        "This client no longer owns it and did not send those rows again: one writer per "
        "channel. If the other writer is gone, open the channel again and resume after its "
        "committed offset token"
    ),
    "dropped": (
        "The client does not create it again by itself (a new channel starts with no committed "
        "offset token, so a replay could duplicate rows): open it again to start over"
    ),
    "invalid": "Open the channel again and resume after its committed offset token",
}


def _describe(target: CommitTarget) -> str:
    if target is None:
        return "every appended row to commit"
    if callable(target):
        return "the commit predicate"
    return f"offset token {target!r}"


def _token(value: object) -> str:
    token = check_token(value, "offset_token")
    assert token is not None
    return token


# --- shells --------------------------------------------------------------------------------


def _check_wait_args(token: object, timeout: object) -> None:
    if not (isinstance(token, str) or callable(token)):
        raise TypeError(
            f"token must be an offset token (str) or a predicate on the committed token, got "
            f"{type(token).__name__} {token!r:.80}"
        )
    _check_timeout(timeout)


def _check_timeout(timeout: object) -> None:
    if timeout is None:
        return
    if isinstance(timeout, bool) or not isinstance(timeout, int | float):
        raise TypeError(f"timeout must be a number of seconds, got {type(timeout).__name__}")
    if not timeout >= 0:
        raise ValueError(f"timeout must be a number of seconds >= 0, got {timeout!r}")


CommitCallback = Callable[[CommitProgress], object]
ErrorRowsCallback = Callable[[ErrorRows], object]


class _Listeners:
    """Callbacks of one channel and their delivery (shared by the sync and async shells)."""

    _core: ChannelCore

    def _init_listeners(self) -> None:
        self._on_commit: list[CommitCallback] = []
        self._on_error_rows: list[ErrorRowsCallback] = []
        #: Queues of the async ``commits()`` iterators (None ends one).
        self._queues: list[Any] = []

    def _deliver(self) -> None:
        """Hand the queued events to the callbacks, in order (never under a lock; an exception
        in a callback is logged, not raised into the client's background work)."""
        events = self._core.events
        while events:
            event = events.popleft()
            if isinstance(event, CommitProgress):
                targets: list[Callable[[Any], object]] = [*self._on_commit]
                for queue in self._queues:
                    queue.put_nowait(event)
            else:
                targets = [*self._on_error_rows]
            for callback in targets:
                try:
                    callback(event)
                except Exception:
                    _log.exception(
                        "a callback of channel %s raised (it is not called again for this event)",
                        self._core.name,
                        extra=self._core.log_fields(),
                    )

    def _listen(self, into: list[Any], listener: object) -> None:
        """Add a callback (or an iterator's queue) and have the client's watcher look after it."""
        if into is not self._queues and not callable(listener):
            raise TypeError(f"callback must be callable, got {type(listener).__name__}")
        self._core.check_open()
        into.append(listener)
        self._core.listening = True
        self._start_watcher()

    def _start_watcher(self) -> None:
        raise NotImplementedError

    def _stop_listening(self) -> None:
        self._on_commit.clear()
        self._on_error_rows.clear()
        for queue in self._queues:
            queue.put_nowait(None)
        self._queues.clear()
        self._core.listening = False
        self._core.events.clear()


class _SendThread:
    """Makes a :class:`Channel`'s requests in a thread of its own (``ClientConfig.
    send_in_background``): ``append_*`` check, buffer, cut and compress in the caller's thread
    and return while the requests go out, so the caller prepares request k+1 while request k
    is out. (A channel's requests go one at a time: each needs the continuation token of the
    one before. Without this thread the caller waits for each.)

    - Order: the thread sends ``ready`` in order under the channel's send lock, as a caller
      would; a caller's own send (``wait_for_commit``, ``close``) takes the same lock.
    - Memory: a caller waits while more than ``READY_BATCHES`` cut batches wait to be sent;
      ``max_inflight_bytes`` bounds what is sent and not committed, as without the thread.
    - Errors: an error of a send stops the thread; the channel's next call raises it (once)
      before buffering anything. The batch that failed stays first in line, so nothing after it
      goes before it, and the call after that sends it again (as a call that sent it in its own
      thread would have). ``close`` sends what is left itself and raises if that fails again.
    """

    READY_BATCHES = 2

    def __init__(self, channel: Channel) -> None:
        self._channel = channel
        self._cond = threading.Condition()
        self._wanted = self._stopping = False
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        channel._core.on_taken = self._taken

    def _taken(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def check(self) -> None:
        """Raise the error that stopped the thread, once."""
        if self._error is not None:
            with self._cond:
                error, self._error = self._error, None
            if error is not None:
                raise error

    def discard_error(self) -> BaseException | None:
        with self._cond:
            error, self._error = self._error, None
        return error

    def kick(self, wait: bool = True) -> None:
        """Have the thread send what is ready; with ``wait``, then wait while more than
        ``READY_BATCHES`` are ready (or until the thread stops on an error)."""
        core = self._channel._core
        with self._cond:
            if self._stopping:
                return
            self._wanted = True
            thread = self._thread
            if thread is None or not thread.is_alive():
                thread = self._thread = threading.Thread(
                    target=self._run, daemon=True, name=f"snowpipe-stream-send-{core.name}"
                )
                thread.start()
            self._cond.notify_all()
            if wait:
                self._cond.wait_for(
                    lambda: (
                        len(core.ready) <= self.READY_BATCHES
                        or self._error is not None
                        or self._stopping
                        or not thread.is_alive()
                    )
                )

    def stop(self) -> None:
        """No more sends from the thread (it ends after the one under way, if any)."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()

    def _run(self) -> None:
        channel, core = self._channel, self._channel._core
        while True:
            with self._cond:
                self._cond.wait_for(
                    lambda: (self._wanted and self._error is None) or self._stopping
                )
                if self._stopping:
                    return
                self._wanted = False
            try:
                channel._run(core.send_flow())
            except BaseException as exc:  # raised by the channel's next call
                with self._cond:
                    self._error, self._wanted = exc, False
                    self._cond.notify_all()
                if core.failed is not None or core.closed:
                    return
            else:
                with self._cond:
                    self._cond.notify_all()


class Channel(_Listeners):
    """A channel of a :class:`~snowpipe_stream.Client`. Thread-safe; appends are serialized."""

    def __init__(self, client: Client, core: ChannelCore) -> None:
        self._client = client
        self._core = core
        self._init_listeners()
        #: Held during each step of this channel's flows (never across a request or a sleep).
        self._state = threading.Lock()
        #: Makes the requests when ``ClientConfig.send_in_background`` is on.
        self._sender = _SendThread(self) if client.config.send_in_background else None

    @property
    def name(self) -> str:
        return self._core.name

    @property
    def latest_committed_offset_token(self) -> str | None:
        """The last committed offset token this channel has seen (no request)."""
        return self._core.committed

    def _run(self, flow: Flow[Any]) -> Any:
        return self._client._run(flow, self._state)

    def _send(self, ready: bool) -> None:
        """After rows were buffered: send the batches they made ready (compressed first,
        outside the state lock), in this thread or the background sender's."""
        if not ready:
            return
        core = self._core
        # Compressed here, ahead of the send and outside the state lock: with the background
        # sender this thread compresses request k+1 while request k is out (measured: faster
        # than compressing in the sender, where it lengthens the chain of requests).
        with self._state:
            todo = core.uncompressed()
        for batch in todo:
            core.compressor.body(batch)
        if self._sender is not None:
            self._sender.kick()
        else:
            self._run(core.send_flow())

    def _check_sender(self) -> None:
        if self._sender is not None:
            self._sender.check()

    def append_row(self, row: Mapping[str, Any], offset_token: str | None = None) -> None:
        """Buffer one row; sends when a batch is full. A bad row raises and is not buffered."""
        if self._sender is not None:
            self._sender.check()
        with self._state:
            ready = self._core.add_row(row, offset_token)
        if ready:
            self._send(ready)

    def append_rows(
        self,
        rows: Iterable[Mapping[str, Any]],
        start_offset_token: str | None = None,
        end_offset_token: str | None = None,
    ) -> None:
        """Buffer many rows; if any row is bad, none of them is buffered."""
        self._check_sender()
        with self._state:
            ready = self._core.add_rows(rows, start_offset_token, end_offset_token)
        self._send(ready)

    def append_ndjson(
        self,
        data: bytes,
        start_offset_token: str | None = None,
        end_offset_token: str | None = None,
    ) -> None:
        """Buffer rows given as NDJSON bytes (one JSON object per line), without parsing them
        into Python objects: the fast path for data that is JSON already. A line that is not a
        JSON object raises :class:`InvalidRowError` and none of ``data`` is buffered."""
        self._check_sender()
        with self._state:
            ready = self._core.add_ndjson(data, start_offset_token, end_offset_token)
        self._send(ready)

    def _append_checked_ndjson(self, data: bytes, start: str | None, end: str | None) -> None:
        """:meth:`append_ndjson` of lines checked already (``ChannelCore.add_ndjson``)."""
        self._check_sender()
        with self._state:
            ready = self._core.add_ndjson(data, start, end, checked=True)
        self._send(ready)

    def append_arrow(
        self,
        data: Any,
        start_offset_token: str | None = None,
        end_offset_token: str | None = None,
    ) -> None:
        """Buffer the rows of a ``pyarrow.Table``, ``RecordBatch``, ``RecordBatchReader`` or an
        iterable of batches, converted column by column to the JSON Snowflake expects (see
        ``snowpipe_stream._arrow``). Offset tokens as for :meth:`append_rows`: the whole call
        is converted before any of it is buffered, and a bad value (a NaN, a type JSON cannot
        carry) raises :class:`InvalidRowError` naming its row and column. Needs pyarrow
        (``pip install "snowpipe-stream[arrow]"``)."""
        self._check_sender()
        encoded = self._core.encode_arrow(data, start_offset_token, end_offset_token)
        with self._state:
            ready = self._core.add_encoded(encoded)
        self._send(ready)

    def append_dataframe(
        self,
        df: Any,
        start_offset_token: str | None = None,
        end_offset_token: str | None = None,
    ) -> None:
        """Buffer the rows of a pandas or polars DataFrame, through Arrow (polars without a
        copy; pandas' index is not sent: ``reset_index()`` to send it). As :meth:`append_arrow`."""
        self.append_arrow(dataframe_table(df), start_offset_token, end_offset_token)

    def flush(self) -> None:
        """Send every buffered row now (does not wait for the commit; with
        ``send_in_background``, hands them to the sender)."""
        self._check_sender()
        with self._state:
            self._core.check_open()
            ready = self._core.cut()
        self._send(ready)

    def _flush_if_lagging(self, now: float, max_lag: float) -> None:
        core = self._core
        if not core.lagging(now, max_lag) or core.failed is not None or core.closed:
            return
        with self._state:
            ready = core.cut()
        if not ready:
            return
        if self._sender is not None:
            self._sender.kick(wait=False)  # the flusher never waits
        else:
            # Without waiting for the send lock: a send under way takes these rows along.
            self._run(core.send_flow(blocking=False))

    def wait_for_commit(
        self, token: str | Callable[[str | None], bool], timeout: float = 60.0
    ) -> str | None:
        """Flush and wait until ``token`` (or the predicate) is committed; return the committed
        offset token. Holds no lock while it waits: other threads keep appending."""
        _check_wait_args(token, timeout)
        self._check_sender()
        return self._run(self._core.wait_flow(token, timeout))  # type: ignore[no-any-return]

    def get_latest_committed_offset_token(self) -> str | None:
        return self.get_channel_status().last_committed_offset_token

    def get_channel_status(self) -> ChannelStatus:
        if self._core.closed:
            self._core.check_open()
        return self._run(self._core.poll_flow())  # type: ignore[no-any-return]

    def close(self, drop: bool = False, timeout: float | None = None) -> None:
        """Flush, wait until every appended row is committed, release (and maybe drop) it.

        Raises when rows appended on this channel are not committed: :class:`CommitTimeoutError`
        after ``timeout`` seconds, or the :class:`ChannelInvalidatedError` that stopped it.
        """
        _check_timeout(timeout)
        if self._sender is not None:
            # Close sends what is left itself (raising if that fails again): the background
            # sender's error, if one stopped it, is superseded.
            error = self._sender.discard_error()
            if error is not None:
                _log.debug(
                    "channel %s: closing after a background send failed: %s",
                    self.name,
                    error,
                    extra=self._core.log_fields(),
                )
        try:
            self._run(
                self._core.close_flow(
                    drop, DEFAULT_CLOSE_TIMEOUT_SECS if timeout is None else timeout
                )
            )
        finally:
            if self._core.closed:  # closed, or it raised what it could not commit: told once
                # The progress seen up to here reaches the callbacks; none comes after close.
                self._client._drain_events(self)
                self._stop_listening()
                self._client._forget(self)

    def _start_watcher(self) -> None:
        self._client._start_watcher()

    def _stop_listening(self) -> None:
        # Every way a channel ends (close, abandon, its client's close) comes here.
        super()._stop_listening()
        if self._sender is not None:
            self._sender.stop()

    def on_commit(self, callback: CommitCallback) -> None:
        """Call ``callback(progress)`` each time the channel's committed point advances, with
        the committed offset token and how many of this channel's rows committed since the
        last call (a :class:`CommitProgress`), in order. The client's background thread
        watches the commits while rows are out and makes the calls, never holding a lock; an
        exception in the callback is logged. No call comes after :meth:`close` returns."""
        self._listen(self._on_commit, callback)

    def on_error_rows(self, callback: ErrorRowsCallback) -> None:
        """Call ``callback(error_rows)`` when Snowflake rejects more rows of this channel (its
        ``rows_error_count`` grew): an :class:`ErrorRows` with how many, the total, and the
        last error's message and offset upper bound. Called as :meth:`on_commit` is."""
        self._listen(self._on_error_rows, callback)

    def __enter__(self) -> Channel:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *rest: object) -> None:
        if exc_type is None:
            self.close()
        elif issubclass(exc_type, Exception):
            # Leaving on an error: a short, bounded close; the first error is the one to see.
            try:
                self.close(timeout=DEFAULT_EXIT_CLOSE_TIMEOUT_SECS)
            except SnowpipeError as exc:
                _log.warning(
                    "closing channel %s after an error also failed: %s",
                    self.name,
                    exc,
                    extra=self._core.log_fields(),
                )
        else:  # Ctrl-C and the like: do not wait at all
            self._core.abandon("interrupted")
            self._stop_listening()

    def __repr__(self) -> str:
        return (
            f"Channel({self._core.name!r}, committed={self._core.committed!r}, "
            f"pending_rows={self._core.pending_rows})"
        )


class AsyncChannel(_Listeners):
    """A channel of an :class:`~snowpipe_stream.AsyncClient`; mirrors :class:`Channel`."""

    def __init__(self, client: AsyncClient, core: ChannelCore) -> None:
        self._client = client
        self._core = core
        self._init_listeners()

    @property
    def name(self) -> str:
        return self._core.name

    @property
    def latest_committed_offset_token(self) -> str | None:
        return self._core.committed

    async def append_row(self, row: Mapping[str, Any], offset_token: str | None = None) -> None:
        if self._core.add_row(row, offset_token):
            await self._client._run(self._core.send_flow())

    async def append_rows(
        self,
        rows: Iterable[Mapping[str, Any]],
        start_offset_token: str | None = None,
        end_offset_token: str | None = None,
    ) -> None:
        if self._core.add_rows(rows, start_offset_token, end_offset_token):
            await self._client._run(self._core.send_flow())

    async def append_ndjson(
        self,
        data: bytes,
        start_offset_token: str | None = None,
        end_offset_token: str | None = None,
    ) -> None:
        if self._core.add_ndjson(data, start_offset_token, end_offset_token):
            await self._client._run(self._core.send_flow())

    async def _append_checked_ndjson(self, data: bytes, start: str | None, end: str | None) -> None:
        """:meth:`append_ndjson` of lines checked already (``ChannelCore.add_ndjson``)."""
        if self._core.add_ndjson(data, start, end, checked=True):
            await self._client._run(self._core.send_flow())

    async def append_arrow(
        self,
        data: Any,
        start_offset_token: str | None = None,
        end_offset_token: str | None = None,
    ) -> None:
        encoded = self._core.encode_arrow(data, start_offset_token, end_offset_token)
        if self._core.add_encoded(encoded):
            await self._client._run(self._core.send_flow())

    async def append_dataframe(
        self,
        df: Any,
        start_offset_token: str | None = None,
        end_offset_token: str | None = None,
    ) -> None:
        await self.append_arrow(dataframe_table(df), start_offset_token, end_offset_token)

    async def flush(self) -> None:
        self._core.check_open()
        if self._core.cut():
            await self._client._run(self._core.send_flow())

    async def _flush_if_lagging(self, now: float, max_lag: float) -> None:
        core = self._core
        if not core.lagging(now, max_lag) or core.failed is not None or core.closed:
            return
        if core.cut():
            await self._client._run(core.send_flow(blocking=False))

    async def wait_for_commit(
        self, token: str | Callable[[str | None], bool], timeout: float = 60.0
    ) -> str | None:
        _check_wait_args(token, timeout)
        return await self._client._run(self._core.wait_flow(token, timeout))

    async def get_latest_committed_offset_token(self) -> str | None:
        return (await self.get_channel_status()).last_committed_offset_token

    async def get_channel_status(self) -> ChannelStatus:
        if self._core.closed:
            self._core.check_open()
        return await self._client._run(self._core.poll_flow())

    async def close(self, drop: bool = False, timeout: float | None = None) -> None:
        _check_timeout(timeout)
        try:
            await self._client._run(
                self._core.close_flow(
                    drop, DEFAULT_CLOSE_TIMEOUT_SECS if timeout is None else timeout
                )
            )
        finally:
            if self._core.closed:
                self._deliver()  # the progress seen up to here; none comes after close
                self._stop_listening()
                self._client._forget(self)

    aclose = close

    def _start_watcher(self) -> None:
        self._client._start_watcher()

    def on_commit(self, callback: CommitCallback) -> None:
        """As :meth:`Channel.on_commit`; the callback is called on the event loop, by the
        client's background task."""
        self._listen(self._on_commit, callback)

    def on_error_rows(self, callback: ErrorRowsCallback) -> None:
        """As :meth:`Channel.on_error_rows`, on the event loop."""
        self._listen(self._on_error_rows, callback)

    async def commits(self) -> AsyncIterator[CommitProgress]:
        """The channel's commit progress as it happens (``async for p in channel.commits()``):
        each advance of its committed point, in order; the iteration ends when the channel is
        closed."""
        queue: asyncio.Queue[CommitProgress | None] = asyncio.Queue()
        self._listen(self._queues, queue)
        while (progress := await queue.get()) is not None:
            yield progress

    async def __aenter__(self) -> AsyncChannel:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, *rest: object) -> None:
        if exc_type is None:
            await self.close()
        elif issubclass(exc_type, Exception):
            try:
                await self.close(timeout=DEFAULT_EXIT_CLOSE_TIMEOUT_SECS)
            except SnowpipeError as exc:
                _log.warning(
                    "closing channel %s after an error also failed: %s",
                    self.name,
                    exc,
                    extra=self._core.log_fields(),
                )
        else:
            self._core.abandon("interrupted")

    def __repr__(self) -> str:
        return (
            f"AsyncChannel({self._core.name!r}, committed={self._core.committed!r}, "
            f"pending_rows={self._core.pending_rows})"
        )
