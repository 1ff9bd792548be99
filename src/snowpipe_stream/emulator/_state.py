"""The emulator's model of Snowflake: channels, sequencers, commits (no HTTP here).

Each channel has a client sequencer (bumped by every open) and a row sequencer (bumped by
every accepted append); a continuation token carries both. Accepted batches wait
``commit_delay`` seconds (on the injected clock) before they count as committed; commits are
applied lazily whenever the channel is looked at, so no background task is needed and a shared
``FakeClock`` moves commits along with everything else.
"""

from __future__ import annotations

import logging
import secrets
import threading
import zlib
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import msgspec
import zstandard

from .._clock import Clock
from .._constants import EMULATOR_MAX_REQUEST_BYTES
from .._names import channel_key, channel_name_problem
from . import _messages as M
from ._rows import split_rows
from ._types import TypedPipes

_log = logging.getLogger("snowpipe_stream.emulator")

PipeKey = tuple[str, str, str]

_decode = msgspec.json.decode


class EmulatorError(Exception):
    """An error answer: (status, code, message) from ``_messages``."""

    def __init__(
        self, spec: M.ErrorSpec, message: str | None = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message or spec[2])
        self.status, self.code = spec[0], spec[1]
        self.message = message or spec[2]
        self.headers = headers or {}


@dataclass
class _Pending:
    commit_at: float
    offset_token: str | None
    data: bytes
    rows: int


@dataclass
class ChannelState:
    pipe: PipeKey
    key: str
    name: str
    created_on_ms: int
    nonce: str = field(default_factory=lambda: secrets.token_hex(4))
    client_seq: int = 0
    row_seq: int = 0
    status_code: str = M.SUCCESS
    committed: str | None = None
    pending: deque[_Pending] = field(default_factory=deque)
    rows_inserted: int = 0
    rows_parsed: int = 0
    rows_error_count: int = 0
    last_error_offset_upper_bound: str | None = None
    last_error_message: str | None = None
    last_error_timestamp: int | None = None
    window: deque[tuple[float, int]] = field(default_factory=deque)

    def continuation(self) -> str:
        return f"{self.nonce}_{self.client_seq}_{self.row_seq}"


def _norm(name: str) -> str:
    """The key of a database, schema or pipe name (case-insensitive, as in Snowflake)."""
    return name.upper()


def _channel_key(name: str) -> str:
    """The key of a valid channel name; a 400 for a name that breaks the naming rules."""
    problem = channel_name_problem(name)
    if problem is not None:
        raise EmulatorError(M.INVALID_CHANNEL_NAME, problem[:1].upper() + problem[1:])
    return channel_key(name)


#: Compressed bytes fed to zstd per call: a zstd block of 4 bytes can stand for 128 KiB, so one
#: call yields at most 16 MiB whatever the frame declares.
_ZSTD_FEED = 512
#: Most uncompressed bytes one zlib call may return.
_GZIP_STEP = 1 << 20


def _too_large(limit: int) -> EmulatorError:
    return EmulatorError(
        M.PAYLOAD_TOO_LARGE,
        f"The uncompressed payload exceeds {limit} bytes; split it into smaller requests",
    )


def decode_body(body: bytes, encoding: str | None, limit: int) -> bytes:
    """The NDJSON of an append body, decompressed; 413 past ``limit`` uncompressed bytes.

    Decompression is a stream with a hard cap: memory stays within a few times ``limit``
    whatever sizes a zstd frame or gzip member declares (a 33 KB bomb is refused, not inflated).
    """
    enc = (encoding or "identity").strip().lower()
    if enc in ("identity", ""):
        if len(body) > limit:
            raise _too_large(limit)
        return body
    out: list[bytes] = []
    size = 0
    try:
        if enc == "zstd":
            declared = zstandard.frame_content_size(body[:18]) if len(body) >= 6 else -1
            if declared > limit:
                raise _too_large(limit)
            # No window larger than the cap: a frame needing more memory is refused unread.
            dctx = zstandard.ZstdDecompressor(max_window_size=max(limit, 8 << 20))
            dobj = dctx.decompressobj()
            view = memoryview(body)
            pos, carry = 0, b""
            piece: bytes | memoryview
            while pos < len(body) or carry:
                if carry:
                    piece, carry = carry, b""
                else:
                    piece, pos = view[pos : pos + _ZSTD_FEED], pos + _ZSTD_FEED
                chunk = dobj.decompress(piece)
                size += len(chunk)
                if size > limit:
                    raise _too_large(limit)
                out.append(chunk)
                if dobj.eof:
                    # Concatenated frames decode as one body, as the zstd tools do.
                    carry = dobj.unused_data
                    if carry or pos < len(body):
                        dobj = dctx.decompressobj()
            if not dobj.eof:
                raise EmulatorError(M.BAD_ENCODING, f"{M.BAD_ENCODING[2]}: truncated zstd frame")
        elif enc == "gzip":
            d = zlib.decompressobj(16 + zlib.MAX_WBITS)
            data = body
            while data:
                chunk = d.decompress(data, _GZIP_STEP)
                size += len(chunk)
                if size > limit:
                    raise _too_large(limit)
                out.append(chunk)
                data = d.unconsumed_tail
                if d.eof:
                    break
            if not d.eof:
                raise EmulatorError(M.BAD_ENCODING, f"{M.BAD_ENCODING[2]}: truncated gzip member")
        else:
            raise EmulatorError(M.BAD_ENCODING, f"Unsupported Content-Encoding {encoding!r}")
    except zstandard.ZstdError as exc:
        if "too much memory" in str(exc):
            raise EmulatorError(
                M.PAYLOAD_TOO_LARGE,
                f"The zstd frame needs a window larger than {limit} bytes; split the request",
            ) from None
        raise EmulatorError(M.BAD_ENCODING, f"{M.BAD_ENCODING[2]}: {exc}") from None
    except (zlib.error, EOFError) as exc:
        raise EmulatorError(M.BAD_ENCODING, f"{M.BAD_ENCODING[2]}: {exc}") from None
    return b"".join(out)


class EmulatorState:
    """Channels of every pipe, and the rules of the protocol."""

    #: Pipes declared by DDL (set by ``Emulator(ddl=...)``): their rows are typed and checked.
    typed: TypedPipes | None = None

    def __init__(
        self,
        clock: Clock,
        store: Any,
        *,
        commit_delay: float = 0.2,
        max_request_bytes: int = EMULATOR_MAX_REQUEST_BYTES,
        binary_input_format: str | None = "HEX",
        soft_limits: bool = False,
        strict_pipes: bool = False,
        pipes: tuple[str, ...] = (),
    ) -> None:
        self.clock = clock
        self.store = store
        self.commit_delay = commit_delay
        self.max_request_bytes = max_request_bytes
        #: What ``:pipe-info`` says of every pipe's BINARY_INPUT_FORMAT (None: nothing).
        self.binary_input_format = binary_input_format
        self.soft_limits = soft_limits
        self.strict_pipes = strict_pipes
        self.pipes: set[PipeKey] = set()
        for spec in pipes:
            self.declare_pipe(spec)
        self.channels: dict[tuple[PipeKey, str], ChannelState] = {}
        #: (pipe, channel key, nonce) of dropped channels: their holders' continuation tokens
        #: are answered ERR_CHANNEL_NO_LONGER_EXISTS, as Snowflake does.
        self.dropped: set[tuple[PipeKey, str, str]] = set()
        self.lock = threading.RLock()
        self._load()

    def declare_pipe(self, spec: str) -> None:
        parts = spec.split(".")
        if len(parts) != 3 or not all(parts):
            raise ValueError(f"a pipe is DATABASE.SCHEMA.PIPE, got {spec!r}")
        self.pipes.add((_norm(parts[0]), _norm(parts[1]), _norm(parts[2])))

    def _load(self) -> None:
        for row in self.store.channels():
            db, schema, pipe, key, name, committed, inserted, parsed, errors, created = row[:10]
            nonce, client_seq = row[10:]
            ch = ChannelState(
                (db, schema, pipe),
                key,
                name,
                created,
                committed=committed,
                rows_inserted=inserted,
                rows_parsed=parsed,
                rows_error_count=errors,
            )
            if nonce:
                # The holder's continuation tokens stay ours across a restart (Snowflake does
                # not forget who opened a channel), but what was accepted and not committed is
                # gone: the row sequencer is unknown, so the next append must reopen.
                ch.nonce, ch.client_seq, ch.row_seq = nonce, client_seq, -1
            self.channels[((db, schema, pipe), key)] = ch

    # --- helpers --------------------------------------------------------------------------

    def _pipe(self, db: str, schema: str, pipe: str) -> PipeKey:
        key = (_norm(db), _norm(schema), _norm(pipe))
        if self.strict_pipes and key not in self.pipes:
            raise EmulatorError(
                M.PIPE_NOT_FOUND, f"Pipe {'.'.join(key)} does not exist or is not authorized"
            )
        return key

    def _channel(self, pipe: PipeKey, channel: str) -> ChannelState:
        ch = self.channels.get((pipe, _channel_key(channel)))
        if ch is None:
            raise EmulatorError(M.CHANNEL_NOT_FOUND)
        return ch

    def _channel_row(self, ch: ChannelState) -> tuple[Any, ...]:
        return (
            *ch.pipe,
            ch.key,
            ch.name,
            ch.committed,
            ch.rows_inserted,
            ch.rows_parsed,
            ch.rows_error_count,
            ch.created_on_ms,
            ch.nonce,
            ch.client_seq,
        )

    def _settle(self, ch: ChannelState) -> None:
        """Commit every pending batch whose time has come."""
        now = self.clock.time()
        while ch.pending and ch.pending[0].commit_at <= now:
            batch = ch.pending.popleft()
            ch.rows_inserted += batch.rows
            if batch.offset_token is not None:
                ch.committed = batch.offset_token
            if batch.rows:
                self.store.commit_batch(
                    ch.pipe,
                    ch.key,
                    batch.offset_token,
                    batch.rows,
                    batch.data,
                    self._channel_row(ch),
                )
            else:
                self.store.save_channel(self._channel_row(ch))

    def status(self, ch: ChannelState) -> dict[str, Any]:
        self._settle(ch)
        return {
            "database_name": ch.pipe[0],
            "schema_name": ch.pipe[1],
            "pipe_name": ch.pipe[2],
            "channel_name": ch.name,
            "channel_status_code": ch.status_code,
            "last_committed_offset_token": ch.committed,
            "created_on_ms": ch.created_on_ms,
            "rows_inserted": ch.rows_inserted,
            "rows_parsed": ch.rows_parsed,
            "rows_error_count": ch.rows_error_count,
            "last_error_offset_upper_bound": ch.last_error_offset_upper_bound,
            "last_error_message": ch.last_error_message,
            "last_error_timestamp": ch.last_error_timestamp,
            # The name Snowflake's own SDK reads (the REST docs show the one above).
            "last_error_timestamp_ms": ch.last_error_timestamp,
            "snowflake_avg_processing_latency_ms": int(self.commit_delay * 1000),
        }

    # --- operations -----------------------------------------------------------------------

    def open_channel(
        self, db: str, schema: str, pipe: str, channel: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        with self.lock:
            key = self._pipe(db, schema, pipe)
            ch_key = _channel_key(channel)
            ch = self.channels.get((key, ch_key))
            if ch is None:
                ch = ChannelState(key, ch_key, channel, int(self.clock.time() * 1000))
                self.channels[(key, ch.key)] = ch
            else:
                self._settle(ch)
                if ch.pending and body.get("fail_on_uncommitted_rows") is True:
                    raise EmulatorError(M.UNCOMMITTED_DATA)
                if ch.pending:
                    _log.info(
                        "channel %s reopened: %d uncommitted batches discarded",
                        ch.name,
                        len(ch.pending),
                    )
                ch.pending.clear()
            ch.client_seq += 1
            ch.row_seq = 0
            ch.status_code = M.SUCCESS
            if "offset_token" in body:
                token = body["offset_token"]
                ch.committed = None if token is None else str(token)
            self.store.save_channel(self._channel_row(ch))
            return {"next_continuation_token": ch.continuation(), "channel_status": self.status(ch)}

    def append(
        self,
        db: str,
        schema: str,
        pipe: str,
        channel: str,
        continuation: str | None,
        offset_token: str | None,
        raw: bytes,
    ) -> str:
        """Accept a batch of NDJSON; return the next continuation token."""
        with self.lock:
            key = self._pipe(db, schema, pipe)
            if not continuation:
                raise EmulatorError(M.CONTINUATION_REQUIRED)
            nonce, _, rest = continuation.partition("_")
            ch = self.channels.get((key, _norm(channel)))
            if (ch is None or ch.nonce != nonce) and (key, _norm(channel), nonce) in self.dropped:
                raise EmulatorError(M.CHANNEL_NO_LONGER_EXISTS)
            ch = self._channel(key, channel)
            cseq, _, rseq = rest.partition("_")
            if nonce != ch.nonce or cseq != str(ch.client_seq):
                raise EmulatorError(M.STALE_CONTINUATION)
            if ch.status_code != M.SUCCESS:
                raise EmulatorError(M.CHANNEL_MUST_BE_REOPENED)
            if rseq != str(ch.row_seq):
                # A continuation token used twice (or forged): the channel is now invalid.
                ch.status_code = M.INVALID_ROW_SEQUENCER[1]
                raise EmulatorError(M.INVALID_ROW_SEQUENCER)
            if self.soft_limits:
                self._throttle(ch, len(raw))
            data, rows, bad = split_rows(raw)
            now = self.clock.time()
            typed = self.typed.pipe(key) if self.typed is not None else None
            refused: list[tuple[Any, str]] = []
            if typed is not None and self.typed is not None:
                # A pipe declared by DDL: each row is converted to the table's types; rows
                # that do not fit are error rows (ON_ERROR = CONTINUE), kept for inspection.
                # What the pipe says of BINARY_INPUT_FORMAT; when it says nothing, clients
                # send base64 (what Snowflake's SDK does then), so that is what is read.
                data, rows, refused = self.typed.check(
                    typed, data, now, self.binary_input_format or "BASE64"
                )
                self.typed.record(key, ch.name, offset_token, refused, now)
            ch.rows_parsed += rows + len(bad) + len(refused)
            if bad:
                ch.rows_error_count += len(bad)
                ch.last_error_offset_upper_bound = offset_token
                ch.last_error_message = f"{M.ROW_NOT_AN_OBJECT} (line {bad[-1]} of the request)"
                ch.last_error_timestamp = int(now * 1000)
            if refused:
                ch.rows_error_count += len(refused)
                ch.last_error_offset_upper_bound = offset_token
                ch.last_error_message = refused[-1][1]
                ch.last_error_timestamp = int(now * 1000)
            ch.row_seq += 1
            ch.pending.append(_Pending(now + self.commit_delay, offset_token, data, rows))
            self._settle(ch)
            return ch.continuation()

    def _throttle(self, ch: ChannelState, nbytes: int) -> None:
        now = self.clock.monotonic()
        while ch.window and ch.window[0][0] <= now - 1.0:
            ch.window.popleft()
        requests = len(ch.window)
        volume = sum(n for _, n in ch.window)
        if requests >= 10 or (requests and volume + nbytes > 1_000_000):
            raise EmulatorError(M.THROTTLED)
        ch.window.append((now, nbytes))

    def bulk_status(self, db: str, schema: str, pipe: str, names: list[str]) -> dict[str, Any]:
        with self.lock:
            key = self._pipe(db, schema, pipe)
            out: dict[str, Any] = {}
            for name in names:
                # Found whatever the case, answered under the name as asked.
                ch = self.channels.get((key, _channel_key(name)))
                if ch is not None:
                    out[name] = self.status(ch)
            return {"channel_statuses": out}

    def drop(self, db: str, schema: str, pipe: str, channel: str) -> None:
        with self.lock:
            key = self._pipe(db, schema, pipe)
            ch = self._channel(key, channel)
            self._settle(ch)
            self.dropped.add((key, ch.key, ch.nonce))
            del self.channels[(key, ch.key)]
            self.store.delete_channel(key, ch.key)

    def overview(self) -> list[dict[str, Any]]:
        """Every channel, as the live page shows it (committed token, rows, errors)."""
        with self.lock:
            out = []
            for ch in self.channels.values():
                self._settle(ch)
                out.append(
                    {
                        "database": ch.pipe[0],
                        "schema": ch.pipe[1],
                        "pipe": ch.pipe[2],
                        "channel": ch.name,
                        "status": ch.status_code,
                        "committed_offset_token": ch.committed,
                        "rows_inserted": ch.rows_inserted,
                        "rows_error_count": ch.rows_error_count,
                        "pending_batches": len(ch.pending),
                        "last_error_message": ch.last_error_message,
                        "last_error_offset_upper_bound": ch.last_error_offset_upper_bound,
                    }
                )
        return sorted(out, key=lambda c: (c["database"], c["schema"], c["pipe"], c["channel"]))

    def settle_all(self) -> None:
        with self.lock:
            for ch in self.channels.values():
                self._settle(ch)

    def rows(self, db: str, schema: str, pipe: str, channel: str | None = None) -> list[Any]:
        """Every committed row of a pipe (or one channel), in commit order."""
        out: list[Any] = []
        for batch in self.iter_batches(db, schema, pipe, channel):
            out.extend(batch)
        return out

    def iter_batches(
        self, db: str, schema: str, pipe: str, channel: str | None = None
    ) -> Iterator[list[Any]]:
        """The committed rows of a pipe (or one channel), a committed batch at a time."""
        self.settle_all()
        key = (_norm(db), _norm(schema), _norm(pipe))
        for data in self.store.batches(key, None if channel is None else channel_key(channel)):
            yield _decode(b"[" + b",".join(data.splitlines()) + b"]")

    def rows_ndjson(self, db: str, schema: str, pipe: str, channel: str | None = None) -> bytes:
        self.settle_all()
        key = (_norm(db), _norm(schema), _norm(pipe))
        return b"".join(self.store.batches(key, None if channel is None else channel_key(channel)))
