"""Records from input files (NDJSON, CSV, JSON), numbered 1, 2, ... across all inputs.

A record's number is its offset token: it is what makes ``ingest`` resumable. Records up to
``skip`` are counted but not decoded (they are committed already). Bad input raises
:class:`BadInput` naming the file, the line and the reason.
"""

from __future__ import annotations

import csv
import io
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import msgspec

FORMATS = ("ndjson", "csv", "json")
_decode = msgspec.json.decode


@dataclass(frozen=True)
class Record:
    """One input record: a parsed row (CSV, JSON), or one NDJSON line kept as bytes (checked by
    the channel without being parsed into Python objects)."""

    number: int
    source: str
    line: int
    row: dict[str, Any] | bytes
    size: int


class BadInput(Exception):
    def __init__(self, source: str, line: int, reason: str) -> None:
        super().__init__(f"{source}:{line}: {reason}")
        self.source, self.line, self.reason = source, line, reason


def _open(path: str) -> tuple[str, IO[bytes]]:
    if path == "-":
        return "<stdin>", sys.stdin.buffer
    try:
        return path, Path(path).open("rb")
    except OSError as exc:
        raise BadInput(path, 0, f"cannot open: {exc.strerror}") from None


def read_records(paths: list[str], fmt: str, skip: int = 0) -> Iterator[Record]:
    """Every record of ``paths`` in order; records numbered ``<= skip`` are not decoded."""
    reader, decode = _FORMATS[fmt]
    number = 0
    for path in paths:
        source, stream = _open(path)
        try:
            for line, item, size in reader(source, stream):
                number += 1
                if number > skip:
                    yield Record(number, source, line, decode(source, line, item), size)
        finally:
            if stream is not sys.stdin.buffer:
                stream.close()


Item = tuple[int, Any, int]


def _ndjson(source: str, stream: IO[bytes]) -> Iterator[Item]:
    for line_no, raw in enumerate(stream, 1):
        if raw.strip():
            yield line_no, raw, len(raw)


def _decode_ndjson(source: str, line: int, raw: bytes) -> bytes:
    # Kept as JSON: the channel checks whole chunks of lines at C speed (append_ndjson).
    return raw if raw.endswith(b"\n") and not raw.endswith(b"\r\n") else raw.rstrip(b"\r\n") + b"\n"


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


_FORMATS: dict[str, tuple[Any, Any]] = {  # reader, decoder
    "ndjson": (_ndjson, _decode_ndjson),
    "csv": (_csv, _decode_parsed),
    "json": (_json, _decode_parsed),
}
