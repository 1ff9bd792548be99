"""Records from the inputs of ``ingest`` (NDJSON, CSV, JSON), numbered 1, 2, ... in each input.

A record's number and its input's key (see ``_identity``) make its offset token: that is what
makes ``ingest`` resumable. Records up to ``skip`` are counted but not decoded (they are
committed already). Bad input raises :class:`BadInput` naming the file, the line and the reason.

Regular files are read through Python's buffered file objects. Anything else (stdin, a pipe, a
FIFO, a terminal) is read through :class:`_Watched`, which tells the caller, before each read
from the OS, whether that read would wait for the writer: ``ingest`` then hands the records it
holds to the channel instead of holding them while the writer is slow.
"""

from __future__ import annotations

import csv
import io
import os
import select
import stat
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any

import msgspec

from ._identity import Content, InputId, Refusal

FORMATS = ("ndjson", "csv", "json", "parquet", "arrow")
_decode = msgspec.json.decode
_encode = msgspec.json.encode

#: Called before each read from a stream input: True when the read would wait for the writer.
OnWait = Callable[[bool], None]


@dataclass(frozen=True)
class Record:
    """One input record: a parsed row (CSV, JSON), or one NDJSON line kept as bytes (checked by
    the channel without being parsed into Python objects)."""

    number: int
    source: str
    line: int
    row: dict[str, Any] | bytes
    size: int


@dataclass(frozen=True)
class Source:
    """One input as given: ``path`` (``-``: stdin), its label for messages, the name in its
    identity, and whether it is a stream (stdin, a pipe: its content cannot be checked)."""

    path: str
    label: str
    name: str
    stream: bool


class BadInput(Exception):
    def __init__(self, source: str, line: int, reason: str) -> None:
        super().__init__(f"{source}:{line}: {reason}")
        self.source, self.line, self.reason = source, line, reason


class ShortInput(Exception):
    """An input ended before the record a rerun resumes after."""

    def __init__(self, source: str, records: int) -> None:
        super().__init__(source, records)
        self.source, self.records = source, records


def describe(paths: list[str], input_id: str | None) -> list[Source]:
    """The inputs of a run; :class:`Refusal` when one cannot be identified on a rerun.

    A regular file is named by its base name (``--input-id`` renames a single file: to resume
    a file that was renamed); stdin or a pipe has no content to check, so ``--input-id`` names
    it, and there can be one only.
    """
    sources: list[Source] = []
    for path in paths:
        if path == "-":
            sources.append(Source(path, "<stdin>", "", stream=True))
            continue
        try:
            mode = os.stat(path).st_mode
        except OSError as exc:
            raise BadInput(path, 0, f"cannot open: {exc.strerror}") from None
        if stat.S_ISDIR(mode):
            raise BadInput(path, 0, "cannot open: Is a directory")
        regular = stat.S_ISREG(mode)
        sources.append(Source(path, path, os.path.basename(path) if regular else "", not regular))
    streams = [s for s in sources if s.stream]
    if len(streams) > 1:
        raise Refusal(
            f"{streams[0].label} and {streams[1].label} are both streams (stdin or pipes): a "
            "run can read one only, as it is named by --input-id",
            "ingest them in separate runs (each with its own --input-id), or save them to files",
        )
    if input_id is not None and not input_id:
        raise Refusal("--input-id is empty", "give the input a name, for example --input-id feed")
    if streams:
        if input_id is None:
            raise Refusal(
                f"{streams[0].label} is a stream: its content cannot be checked on a rerun, so "
                "it needs a name",
                "give --input-id NAME; a rerun with the same NAME resumes after the last "
                "committed record, so use the same NAME only for the same data, sent again from "
                "its first record",
            )
        return [Source(s.path, s.label, input_id, s.stream) if s.stream else s for s in sources]
    if input_id is not None:
        if len(sources) != 1:
            raise Refusal(
                f"--input-id names stdin, or a single file, but these are {len(sources)} files",
                "drop --input-id (files are named by their base name), or ingest the file on "
                "its own",
            )
        return [Source(sources[0].path, sources[0].label, input_id, stream=False)]
    return sources


def read_records(
    source: Source,
    fmt: str,
    skip: int = 0,
    content: Content | None = None,
    on_wait: OnWait | None = None,
) -> Iterator[Record]:
    """Every record of ``source`` in order; records numbered ``<= skip`` are not decoded.

    ``content`` (files) is fed each record before it is yielded, until it is full. An input
    with fewer than ``skip`` records raises :class:`ShortInput` at its end.
    """
    reader, decode, ident = _FORMATS[fmt]
    label = source.label
    number = 0
    with _open(source, on_wait) as stream:
        items = reader(label, stream)
        if content is not None:
            for line, item, size in items:
                number += 1
                content.add(ident(item))
                if number > skip:
                    yield Record(number, label, line, decode(label, line, item), size)
                if content.full:
                    break
        for line, item, size in items:
            number += 1
            if number > skip:
                yield Record(number, label, line, decode(label, line, item), size)
    if number < skip:
        raise ShortInput(label, number)


def identify(source: Source, fmt: str, count: int | None) -> InputId:
    """``source``'s identity with its hash over its first ``count`` records (None: up to
    ``IDENTITY_BYTES``); a stream's is its name."""
    if source.stream:
        return InputId(source.name, None, None)
    reader, _, ident = _FORMATS[fmt]
    content = Content()
    with _open(source, None) as stream:
        for _, item, _ in reader(source.label, stream):
            if content.full or content.count == count:
                break
            content.add(ident(item))
    return content.identity(source.name)


def _open(source: Source, on_wait: OnWait | None) -> IO[bytes]:
    if source.path == "-":
        fd, close = sys.stdin.fileno(), False
    else:
        try:
            fd, close = os.open(source.path, os.O_RDONLY), True
        except OSError as exc:
            raise BadInput(source.label, 0, f"cannot open: {exc.strerror}") from None
    # (select() does not take pipes on Windows: there a stream is read like a file.)
    if stat.S_ISREG(os.fstat(fd).st_mode) or on_wait is None or os.name == "nt":
        return open(fd, "rb", closefd=close)
    return io.BufferedReader(_Watched(fd, close, on_wait), 1 << 16)


class _Watched(io.RawIOBase):
    """A stream input (a pipe, a terminal) that says before each read whether it would wait."""

    def __init__(self, fd: int, close: bool, on_wait: OnWait) -> None:
        self._fd, self._close, self._on_wait = fd, close, on_wait

    def readable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._fd

    def readinto(self, buffer: Any) -> int:
        ready, _, _ = select.select([self._fd], [], [], 0)
        self._on_wait(not ready)
        data = os.read(self._fd, len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed and self._close:
            os.close(self._fd)
        super().close()


Item = tuple[int, Any, int]


def _ndjson(source: str, stream: IO[bytes]) -> Iterator[Item]:
    for line_no, raw in enumerate(stream, 1):
        if raw.strip():
            yield line_no, raw, len(raw)


def _decode_ndjson(source: str, line: int, raw: bytes) -> bytes:
    # Kept as JSON: the channel checks whole chunks of lines at C speed (append_ndjson).
    return raw if raw.endswith(b"\n") and not raw.endswith(b"\r\n") else raw.rstrip(b"\r\n") + b"\n"


def _ident_ndjson(raw: bytes) -> bytes:
    return raw.rstrip(b"\r\n")


def _csv(source: str, stream: IO[bytes]) -> Iterator[Item]:
    text = io.TextIOWrapper(stream, encoding="utf-8", newline="")
    reader = csv.reader(text)
    try:
        header = next(reader, None)
        if header is None:
            return
        if not header or len(set(header)) != len(header):
            raise BadInput(source, 1, "the CSV header must name each column once")
        for values in reader:
            if not values:
                continue
            if len(values) != len(header):
                raise BadInput(
                    source,
                    reader.line_num,
                    f"{len(values)} fields, but the header has {len(header)}",
                )
            yield (
                reader.line_num,
                dict(zip(header, values, strict=True)),
                sum(len(v) + 1 for v in values),
            )
    except (csv.Error, UnicodeDecodeError) as exc:
        raise BadInput(source, reader.line_num or 1, f"invalid CSV: {exc}") from None
    finally:
        text.detach()


def _json(source: str, stream: IO[bytes]) -> Iterator[Item]:
    data = stream.read()
    try:
        doc = _decode(data)
    except msgspec.DecodeError as exc:
        raise BadInput(source, 1, f"invalid JSON: {exc}") from None
    records = doc if isinstance(doc, list) else [doc]
    size = max(len(data) // max(len(records), 1), 1)
    for i, row in enumerate(records, 1):
        yield i, row, size


def _decode_parsed(source: str, line: int, row: Any) -> dict[str, Any]:
    if not isinstance(row, dict):
        raise BadInput(source, line, f"record {line} is a {type(row).__name__}, not an object")
    return row


_FORMATS: dict[str, tuple[Any, Any, Callable[[Any], bytes]]] = {  # reader, decoder, identity
    "ndjson": (_ndjson, _decode_ndjson, _ident_ndjson),
    "csv": (_csv, _decode_parsed, _encode),
    "json": (_json, _decode_parsed, _encode),
}

# Parquet and Arrow IPC (pyarrow): a module of their own, which imports BadInput from here.
from ._columnar import COLUMNAR_FORMATS  # noqa: E402

_FORMATS.update(COLUMNAR_FORMATS)
