"""CSV (and TSV) inputs of ``ingest``: a header row names the columns, each row is a record.

- A UTF-8 byte order mark (what Excel writes) is not part of the first column's name.
- ``delimiter``: one character (``.tsv`` files: a tab).
- ``null``: the cell text that is a SQL NULL (default ``""``: an empty cell); None: no cell is
  null, every cell is its text (``--no-null``). Python's csv module does not tell a quoted
  empty cell (``""``) from an empty one, so both are the same here.
- ``infer``: integers, decimals and ``true``/``false`` (any case) become JSON numbers and
  booleans; otherwise every value is a string, and Snowflake converts it to the column's type
  (which it does for numbers, booleans, dates and times). Numbers keep every digit: they are
  emitted as the digits of the cell (a :class:`~decimal.Decimal`, written by msgspec as a JSON
  number), never through a float. A cell with leading zeros (``007``, a code) stays a string.

A record is handed to the channel as one encoded JSON object (bytes), as NDJSON lines are: the
channel checks it at C speed. Its identity (see ``_identity``) is its cells *as read*, before
nulls and types: the options change how an input is interpreted, not which input it is, and a
file read by an older version (which had neither) keeps its key.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import IO, Any

import msgspec

__all__ = ["CsvOptions", "decoder", "ident", "reader"]

_INT = re.compile(r"-?(?:0|[1-9][0-9]*)")
_DECIMAL = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_BOOLS = {"true": True, "false": False}
_encoder = msgspec.json.Encoder(decimal_format="number")
ident = msgspec.json.encode

Item = tuple[int, Any, int]


@dataclass(frozen=True)
class CsvOptions:
    delimiter: str = ","
    null: str | None = ""
    infer: bool = False


def reader(
    options: CsvOptions, bad: Callable[[str, int, str], Exception]
) -> Callable[[str, IO[bytes]], Iterator[Item]]:
    """The ``items`` of a CSV format: (line, {column: cell text}, size); ``bad(source, line,
    reason)`` is the exception for bad input."""

    def items(source: str, stream: IO[bytes]) -> Iterator[Item]:
        text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
        rows = csv.reader(text, delimiter=options.delimiter)
        try:
            header = next(rows, None)
            if header is None:
                return
            if not header or len(set(header)) != len(header):
                raise bad(source, 1, "the CSV header must name each column once")
            width = len(header)
            for values in rows:
                if not values:
                    continue
                if len(values) != width:
                    raise bad(
                        source,
                        rows.line_num,
                        f"{len(values)} fields, but the header has {width}"
                        + _delimiter_hint(values, header, options.delimiter),
                    )
                yield (
                    rows.line_num,
                    dict(zip(header, values, strict=True)),
                    sum(len(v) + 1 for v in values),
                )
        except (csv.Error, UnicodeDecodeError) as exc:
            raise bad(source, rows.line_num or 1, f"invalid CSV: {exc}") from None
        finally:
            text.detach()

    return items


def _delimiter_hint(values: list[str], header: list[str], delimiter: str) -> str:
    if len(header) == 1 and delimiter != "\t" and "\t" in header[0]:
        return " (the header has tabs: a TSV? give --delimiter '\\t')"
    return ""


def decoder(options: CsvOptions) -> Callable[[str, int, dict[str, str]], bytes]:
    """The ``decode`` of a CSV format: the row as one JSON object and a newline."""
    null, infer = options.null, options.infer
    encode = _encoder.encode

    if null is None and not infer:

        def plain(source: str, line: int, row: dict[str, str]) -> bytes:
            return encode(row) + b"\n"

        return plain

    def convert(value: str) -> Any:
        if value == null:
            return None
        if infer:
            if _INT.fullmatch(value):
                return int(value)
            if _DECIMAL.fullmatch(value):
                return Decimal(value)
            b = _BOOLS.get(value.lower())
            if b is not None:
                return b
        return value

    def converted(source: str, line: int, row: dict[str, str]) -> bytes:
        return encode({k: convert(v) for k, v in row.items()}) + b"\n"

    return converted
