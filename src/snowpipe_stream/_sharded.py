"""Sharded channels: numbered records spread over N channels, exactly once across restarts.

:meth:`Client.open_sharded_channel <snowpipe_stream.Client.open_sharded_channel>` gives a
:class:`ShardedChannel` (:class:`AsyncShardedChannel` for an ``AsyncClient``): N channels
``NAME-1`` .. ``NAME-N`` that the caller writes to as one. The caller numbers its records
(from 1, increasing from call to call: a line of a file, a Kafka offset + 1); record ``n``
goes to the channel that owns it by the rule of ``_sharding`` (stripes of 1,000 dealt in
turn) with the offset token ``KEY/N:n``. Each channel commits its records in order, so after a
crash its committed token says which of its records are in, and
:attr:`~ShardedChannel.resume_from` is the first record some channel has not committed: the
caller gives the records again from there, and the sharded channel skips those whose owner has
them already. Every record goes in exactly once, in order within its channel.

The contract, stated for the caller: a replay gives the same records under the same numbers
(numbers may have gaps, as a compacted Kafka partition's offsets do, but a record never given
again after ``resume_from`` is taken as absent), one writer per family of channels, and the
same ``channels=N`` and ``key`` on every run (a different ``N`` is refused before any channel
is opened: :class:`ShardingMismatchError`).

A call is checked whole before any of it is buffered: its record numbers (after the last one
given), its rows (a bad row raises :class:`InvalidRowError`), their size. Leaving a ``with``
block on an exception abandons the channels (nothing buffered is sent or waited for), as
``abandon_on_error`` does for the CLI: the job resumes from the committed tokens when run again,
and flushing a half-done batch of work on the way out would only delay the exit.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ._batching import BatchBuilder
from ._channel import AsyncChannel, Channel, ChannelCore
from ._exceptions import ClosedError, InvalidRowError, SnowpipeError
from ._logfields import log_fields
from ._names import check_channel_name
from ._ndjson import encode_lines, line_problem, object_lines, prepare_many
from ._sharding import (
    DEFAULT_KEY,
    Part,
    ShardPlan,
    channel_names,
    check_family,
    check_key,
    check_shards,
    family,
    line_end,
)

if TYPE_CHECKING:
    from ._client import AsyncClient, Client

__all__ = ["AsyncShardedChannel", "ShardedChannel", "aopen_sharded", "open_sharded"]

_log = logging.getLogger("snowpipe_stream.channel")

#: A call's parts, each with its NDJSON.
_Parts = list[tuple[Part, bytes]]


def _check_args(name: object, channels: object, key: object) -> tuple[str, int, str]:
    name = check_channel_name(name)
    shards = check_shards(channels)
    key = check_key(DEFAULT_KEY if key is None else key)
    check_channel_name(family(name)[-1])  # the longest name a run could use: valid too
    return name, shards, key


class _ShardedBase:
    """What the sync and async shells share: the plan, the checks of a call, the reads."""

    def __init__(
        self, name: str, key: str, cores: list[ChannelCore], plan: ShardPlan, max_bytes: int
    ) -> None:
        self._name = name
        self._key = key
        self._cores = cores
        self._plan = plan
        self._max_bytes = max_bytes
        self._closed: str | None = None

    @property
    def name(self) -> str:
        """The name the channels are named after (``NAME-1`` .. ``NAME-N``; ``NAME`` for one)."""
        return self._name

    @property
    def key(self) -> str:
        """The key of the records' offset tokens (``KEY/N:n``)."""
        return self._key

    @property
    def resume_from(self) -> int:
        """The first record that is not known to be committed by the channel that owns it:
        every record given before it is in. On opening, where to start giving records again;
        later, where a rerun would start (from the committed tokens as last seen: they advance
        with :meth:`wait_for_commit`). No request."""
        return self._plan.current([core.committed for core in self._cores])

    @property
    def committed_offset_tokens(self) -> dict[str, str | None]:
        """Each channel's committed offset token as last seen (no request), by channel name."""
        return {core.name: core.committed for core in self._cores}

    @property
    def last_number(self) -> int | None:
        """The last record number given (None: none since opening)."""
        return self._plan.last

    def _check_open(self) -> None:
        if self._closed is not None:
            raise ClosedError(
                f"sharded channel {self._name!r} is closed ({self._closed}); open it again with "
                "client.open_sharded_channel() (it resumes from its channels' committed offset "
                "tokens: give the records again from its resume_from)"
            )

    def _rows(self, rows: Iterable[Mapping[str, Any]], first: object) -> tuple[_Parts, int | None]:
        """The parts of an ``append_rows`` call, encoded and checked, and its last number."""
        self._check_open()
        if isinstance(rows, str | bytes | bytearray | Mapping) or not isinstance(rows, Iterable):
            raise TypeError(
                f"rows must be an iterable of mappings (a list of dicts), got "
                f"{type(rows).__name__}; for one row use append_row(row, number)"
            )
        items = rows if isinstance(rows, Sequence) else list(rows)
        start = self._plan.check(first, len(items), "first_number")
        fmt = self._cores[0].binary_format
        out = []
        for part in self._plan.parts(start, len(items)):
            prepared = prepare_many(items[part.start : part.stop], fmt, first_index=part.start)
            out.append((part, encode_lines(prepared, part.start)))
        self._check_sizes(out)
        return out, start + len(items) - 1 if items else None

    def _ndjson(self, data: bytes, first: object) -> tuple[_Parts, int | None]:
        """The parts of an ``append_ndjson`` call, checked and cut, and its last number."""
        self._check_open()
        if not isinstance(data, bytes | bytearray | memoryview):
            raise TypeError(
                f"data must be bytes of NDJSON, got {type(data).__name__}"
                + ("; encode it first: data.encode()" if isinstance(data, str) else "")
            )
        raw = bytes(data)
        blob, count, bad = object_lines(raw)
        start = self._plan.check(first, count, "first_number")
        if bad:
            line = raw.split(b"\n")[bad[0] - 1]
            raise InvalidRowError(f"line {bad[0]} of the NDJSON: {line_problem(line)}")
        parts = self._plan.parts(start, count)
        out = _cut(blob, count, parts)
        self._check_sizes(out)
        return out, start + count - 1 if count else None

    def _check_sizes(self, parts: _Parts) -> None:
        """A row over the request limit raises before any part is buffered (a channel would
        find it only when its part comes)."""
        for part, payload in parts:
            if len(payload) > self._max_bytes:
                for i, line in enumerate(payload.split(b"\n")):
                    BatchBuilder(self._max_bytes).check_line(
                        line + b"\n", where=f"row {part.start + i}"
                    )

    def _row(self, number: object) -> Part | None:
        """Where record ``number`` of an ``append_row`` goes (None: its owner has it)."""
        self._check_open()
        start = self._plan.check(number, 1, "number")
        parts = self._plan.parts(start, 1)
        if not parts:
            self._plan.last = start
        return parts[0] if parts else None

    def _targets(self, number: object, timeout: object) -> list[int]:
        self._check_open()
        if number is not None:
            if isinstance(number, bool) or not isinstance(number, int):
                raise TypeError(f"number must be an int or None, got {type(number).__name__}")
            if number < 1:
                raise ValueError(f"number must be a record number >= 1, got {number}")
        if isinstance(timeout, bool) or not isinstance(timeout, int | float):
            raise TypeError(f"timeout must be a number of seconds, got {type(timeout).__name__}")
        if not timeout >= 0:
            raise ValueError(f"timeout must be a number of seconds >= 0, got {timeout!r}")
        return self._plan.targets(number)

    def _abandoned(self, why: str) -> None:
        _log.warning(
            "sharded channel %s abandoned (%s): what it buffered was not sent, what it sent is "
            "not waited for; open it again and give the records from its resume_from (%d now)",
            self._name,
            why,
            self.resume_from,
            extra=log_fields(channel=self._name),
        )

    def __repr__(self) -> str:
        pending = sum(core.pending_rows for core in self._cores)
        return (
            f"{type(self).__name__}({self._name!r}, channels={len(self._cores)}, "
            f"key={self._key!r}, resume_from={self.resume_from}, pending_rows={pending}"
            + (f", closed={self._closed!r})" if self._closed else ")")
        )


def _cut(blob: bytes, count: int, parts: list[Part]) -> _Parts:
    """The NDJSON of each part: its lines of ``blob`` (``count`` lines, one record each)."""
    offsets: dict[int, int] = {}
    pos = line = 0
    for boundary in sorted({p.start for p in parts} | {p.stop for p in parts}):
        pos = line_end(blob, boundary - line, count - line, pos)
        line = boundary
        offsets[boundary] = pos
    return [(p, blob[offsets[p.start] : offsets[p.stop]]) for p in parts]


class ShardedChannel(_ShardedBase):
    """Records spread over N channels of a :class:`~snowpipe_stream.Client`, exactly once
    across restarts (see :meth:`Client.open_sharded_channel
    <snowpipe_stream.Client.open_sharded_channel>`). Thread-safe: calls are serialized, so
    records reach each channel in the order of their numbers."""

    def __init__(
        self, client: Client, name: str, key: str, channels: list[Channel], plan: ShardPlan
    ) -> None:
        super().__init__(
            name, key, [c._core for c in channels], plan, client.config.max_request_bytes
        )
        self._client = client
        self._channels = tuple(channels)
        #: Held during a call: its parts reach their channels before the next call's.
        self._lock = threading.Lock()

    @property
    def channels(self) -> tuple[Channel, ...]:
        """The underlying channels, in order (channel ``k`` owns stripes ``k``, ``k + N``, ...)."""
        return self._channels

    def append_row(self, row: Mapping[str, Any], number: int) -> None:
        """Buffer record ``number`` (greater than the last one given) in the channel that owns
        it; skipped when that channel has committed it already."""
        with self._lock:
            part = self._row(number)
            if part is None:
                return
            self._plan.last = part.first - 1
            self._channels[part.channel].append_row(row, self._plan.token(part.first))
            self._plan.given(part)

    def append_rows(self, rows: Iterable[Mapping[str, Any]], first_number: int) -> None:
        """Buffer records ``first_number`` .. ``first_number + len(rows) - 1``, each in the
        channel that owns it, without those committed already. If any row is bad, or the
        numbers do not follow the last one given, nothing of the call is buffered."""
        with self._lock:
            parts, last = self._rows(rows, first_number)
            self._send(parts, last)

    def append_ndjson(self, data: bytes, first_number: int) -> None:
        """As :meth:`append_rows`, for rows that are NDJSON already (one JSON object a line;
        blank lines are not records): cut at the stripes' ends, never parsed into objects."""
        with self._lock:
            parts, last = self._ndjson(data, first_number)
            self._send(parts, last)

    def _send(self, parts: _Parts, last: int | None) -> None:
        token = self._plan.token
        for part, payload in parts:
            self._plan.last = part.first - 1  # what came before is handed over (or skipped)
            # Checked (or encoded) whole by _ndjson / _rows: the channel does not check again.
            channel = self._channels[part.channel]
            channel._append_checked_ndjson(payload, token(part.first), token(part.last))
            self._plan.given(part)
        if last is not None:  # (an empty call gives nothing)
            self._plan.last = last

    def flush(self) -> None:
        """Send every buffered record now (does not wait for the commit)."""
        self._check_open()
        for channel in self._channels:
            channel.flush()

    def wait_for_commit(self, number: int | None = None, timeout: float = 60.0) -> int:
        """Flush and wait until every record given up to ``number`` (None: every record given)
        is committed, ``timeout`` seconds in all (:class:`CommitTimeoutError` after); return
        :attr:`resume_from`, the first record not known committed (a Kafka consumer commits
        that offset). Holds no lock while it waits: other threads keep appending."""
        targets = self._targets(number, timeout)
        for channel, target in zip(self._channels, targets, strict=True):
            if target:
                channel.flush()  # every channel sends before any wait: their commits overlap
        clock = self._client._core.clock
        deadline = clock.monotonic() + timeout
        for channel, target in zip(self._channels, targets, strict=True):
            if target:
                left = max(deadline - clock.monotonic(), 0.0)
                channel.wait_for_commit(self._plan.token(target), left)
        return self.resume_from

    def close(self, drop: bool = False, timeout: float | None = None) -> None:
        """Flush, wait until every record given is committed, release (with ``drop``, drop)
        the channels. Every channel is closed; the first error of one whose records are not
        all committed is raised after. ``timeout`` bounds the whole wait (default: each
        channel's own, 5 minutes)."""
        with self._lock:
            if self._closed is not None:
                return
            self._closed = "by close()"
            clock = self._client._core.clock
            deadline = None if timeout is None else clock.monotonic() + timeout
            first: SnowpipeError | None = None
            for channel in self._channels:
                try:
                    left = None if deadline is None else max(deadline - clock.monotonic(), 0.0)
                    channel.close(drop=drop, timeout=left)
                except SnowpipeError as exc:
                    first = first or exc
            if first is not None:
                raise first

    def _abandon(self, why: str) -> None:
        if self._closed is not None:
            return
        self._closed = why
        for channel in self._channels:
            _abandon_channel(self._client, channel, why)
        self._abandoned(why)

    def __enter__(self) -> ShardedChannel:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *rest: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self._abandon(f"left its with block on {exc_type.__name__}")


def _abandon_channel(client: Client, channel: Channel, why: str) -> None:
    with channel._state:
        channel._core.abandon(why)
    channel._stop_listening()
    client._forget(channel)


class AsyncShardedChannel(_ShardedBase):
    """The asyncio twin of :class:`ShardedChannel`: calls are serialized on the event loop."""

    def __init__(
        self,
        client: AsyncClient,
        name: str,
        key: str,
        channels: list[AsyncChannel],
        plan: ShardPlan,
    ) -> None:
        super().__init__(
            name, key, [c._core for c in channels], plan, client.config.max_request_bytes
        )
        self._client = client
        self._channels = tuple(channels)
        self._lock = asyncio.Lock()

    @property
    def channels(self) -> tuple[AsyncChannel, ...]:
        """The underlying channels, in order."""
        return self._channels

    async def append_row(self, row: Mapping[str, Any], number: int) -> None:
        async with self._lock:
            part = self._row(number)
            if part is None:
                return
            self._plan.last = part.first - 1
            await self._channels[part.channel].append_row(row, self._plan.token(part.first))
            self._plan.given(part)

    async def append_rows(self, rows: Iterable[Mapping[str, Any]], first_number: int) -> None:
        async with self._lock:
            parts, last = self._rows(rows, first_number)
            await self._send(parts, last)

    async def append_ndjson(self, data: bytes, first_number: int) -> None:
        async with self._lock:
            parts, last = self._ndjson(data, first_number)
            await self._send(parts, last)

    async def _send(self, parts: _Parts, last: int | None) -> None:
        token = self._plan.token
        for part, payload in parts:
            self._plan.last = part.first - 1
            await self._channels[part.channel]._append_checked_ndjson(
                payload, token(part.first), token(part.last)
            )
            self._plan.given(part)
        if last is not None:  # (an empty call gives nothing)
            self._plan.last = last

    async def flush(self) -> None:
        self._check_open()
        for channel in self._channels:
            await channel.flush()

    async def wait_for_commit(self, number: int | None = None, timeout: float = 60.0) -> int:
        """As :meth:`ShardedChannel.wait_for_commit`; the channels are waited for at once."""
        targets = self._targets(number, timeout)
        waits = [
            channel.wait_for_commit(self._plan.token(target), timeout)
            for channel, target in zip(self._channels, targets, strict=True)
            if target
        ]
        results = await asyncio.gather(*waits, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return self.resume_from

    async def close(self, drop: bool = False, timeout: float | None = None) -> None:
        """As :meth:`ShardedChannel.close`."""
        async with self._lock:
            if self._closed is not None:
                return
            self._closed = "by close()"
            clock = self._client._core.clock
            deadline = None if timeout is None else clock.monotonic() + timeout
            first: SnowpipeError | None = None
            for channel in self._channels:
                try:
                    left = None if deadline is None else max(deadline - clock.monotonic(), 0.0)
                    await channel.close(drop=drop, timeout=left)
                except SnowpipeError as exc:
                    first = first or exc
            if first is not None:
                raise first

    aclose = close

    def _abandon(self, why: str) -> None:
        if self._closed is not None:
            return
        self._closed = why
        for channel in self._channels:
            _aabandon_channel(self._client, channel, why)
        self._abandoned(why)

    async def __aenter__(self) -> AsyncShardedChannel:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, *rest: object) -> None:
        if exc_type is None:
            await self.close()
        else:
            self._abandon(f"left its with block on {exc_type.__name__}")


def _aabandon_channel(client: AsyncClient, channel: AsyncChannel, why: str) -> None:
    channel._core.abandon(why)
    channel._stop_listening()
    client._forget(channel)


def _opened(name: str, key: str, plan: ShardPlan) -> None:
    _log.info(
        "sharded channel %s opened: %d channel%s, key %r; resume from record %d",
        name,
        plan.shards,
        "s" if plan.shards != 1 else "",
        key,
        plan.resume_from,
        extra=log_fields(channel=name),
    )


def open_sharded(client: Client, name: str, channels: object, key: object) -> ShardedChannel:
    """:meth:`Client.open_sharded_channel`: check the family (one status request), then open
    the channels."""
    name, shards, key = _check_args(name, channels, key)
    statuses = client.get_channel_statuses(family(name), missing_ok=True)
    check_family(name, key, shards, {n: s.last_committed_offset_token for n, s in statuses.items()})
    opened: list[Channel] = []
    try:
        tokens: dict[str, str | None] = {}
        for channel_name in channel_names(name, shards):
            channel, status = client.open_channel(channel_name)
            opened.append(channel)
            tokens[channel_name] = status.last_committed_offset_token
        # What the channels hold as they are opened (a writer may have committed since).
        plan = ShardPlan(key, shards, check_family(name, key, shards, tokens))
    except BaseException:
        for channel in opened:
            _abandon_channel(client, channel, "its sharded channel failed to open")
        raise
    _opened(name, key, plan)
    return ShardedChannel(client, name, key, opened, plan)


async def aopen_sharded(
    client: AsyncClient, name: str, channels: object, key: object
) -> AsyncShardedChannel:
    """:meth:`AsyncClient.open_sharded_channel`, as :func:`open_sharded`."""
    name, shards, key = _check_args(name, channels, key)
    statuses = await client.get_channel_statuses(family(name), missing_ok=True)
    check_family(name, key, shards, {n: s.last_committed_offset_token for n, s in statuses.items()})
    opened: list[AsyncChannel] = []
    try:
        tokens: dict[str, str | None] = {}
        for channel_name in channel_names(name, shards):
            channel, status = await client.open_channel(channel_name)
            opened.append(channel)
            tokens[channel_name] = status.last_committed_offset_token
        plan = ShardPlan(key, shards, check_family(name, key, shards, tokens))
    except BaseException:
        for channel in opened:
            _aabandon_channel(client, channel, "its sharded channel failed to open")
        raise
    _opened(name, key, plan)
    return AsyncShardedChannel(client, name, key, opened, plan)
