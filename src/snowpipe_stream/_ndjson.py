"""Rows to NDJSON bytes (pure).

A row is a mapping with str keys. Values may be None, bool, int, finite float, str,
bytes/bytearray (hex by default, Snowflake's BINARY_INPUT_FORMAT default; base64 by option),
list/tuple/set/frozenset (arrays), nested mappings, datetime/date/time (ISO 8601), Decimal and
UUID. :func:`prepare` checks a row and returns what the encoder can take as is; msgspec then
encodes whole batches at once (``encode_lines``), far faster than a per-row loop.
:func:`object_lines` checks NDJSON that is encoded already (``append_ndjson``).
"""

from __future__ import annotations

import datetime as dt
import enum
import math
import uuid
from base64 import b64encode
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

import msgspec

from ._exceptions import InvalidRowError, RowTypeError

__all__ = [
    "encode_lines",
    "encode_row",
    "encode_row_into",
    "line_problem",
    "object_block",
    "object_lines",
    "plain",
    "prepare",
    "prepare_many",
]

_encoder = msgspec.json.Encoder()
_encode_into = _encoder.encode_into
_SCALARS = frozenset({str, int, bool, type(None)})
_OTHER_OK = frozenset({dt.datetime, dt.date, dt.time, uuid.UUID})
_MAX_DEPTH = 64
_BASES: tuple[type[Any], ...] = (int, float, str, bytes, bytearray, list, tuple, set, frozenset)


def _binary(value: bytes | bytearray, binary_format: str, where: str = "a value") -> str:
    if binary_format == "hex":
        return value.hex()
    if binary_format == "utf8":
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidRowError(
                f"{where} holds bytes that are not valid UTF-8, and the pipe's "
                "BINARY_INPUT_FORMAT is UTF-8; send text, or use a pipe with HEX or BASE64"
            ) from None
    return b64encode(value).decode("ascii")


def _value(value: Any, binary_format: str, where: str, depth: int) -> tuple[bool, Any]:
    """Check one value; return (changed, value to encode)."""
    t = type(value)
    if t in _SCALARS:
        return False, value
    if t is float:
        if not math.isfinite(value):
            raise InvalidRowError(
                f"{where} is {value!r}; JSON has no NaN or Infinity: send None or a finite number"
            )
        return False, value
    if t is bytes or t is bytearray:
        return True, _binary(value, binary_format, where)
    if depth >= _MAX_DEPTH:
        raise RowTypeError(f"{where} is nested more than {_MAX_DEPTH} levels deep (a cycle?)")
    if t is list or t is tuple or t is set or t is frozenset:
        changed = t is not list
        out = []
        for i, item in enumerate(value):
            c, v = _value(item, binary_format, f"{where}[{i}]", depth + 1)
            changed = changed or c
            out.append(v)
        return changed, (out if changed else value)
    if isinstance(value, Mapping):
        return _mapping(value, binary_format, where, depth + 1)
    if t in _OTHER_OK:
        return False, value
    if t is Decimal:
        if not value.is_finite():
            raise InvalidRowError(f"{where} is Decimal({str(value)!r}); send a finite number")
        return False, value
    if isinstance(value, enum.Enum):
        return True, _value(value.value, binary_format, where, depth)[1]
    # Subclasses (of str, int, list, ...): as their base type.
    for base in _BASES:
        if isinstance(value, base):
            return True, _value(base(value), binary_format, where, depth)[1]
    if isinstance(value, dt.date | dt.time | uuid.UUID):
        return False, value
    raise RowTypeError(
        f"{where} has unsupported type {t.__name__}; send None, bool, int, float, str, bytes, "
        "a list, a mapping, datetime/date/time, Decimal or UUID"
    )


def _mapping(
    row: Mapping[Any, Any], binary_format: str, where: str, depth: int
) -> tuple[bool, Any]:
    changed = type(row) is not dict
    out: dict[str, Any] | None = None
    for key, value in row.items():
        if type(key) is not str:
            raise RowTypeError(
                f"{where} has a key of type {type(key).__name__} ({key!r}); keys must be str "
                "column names"
            )
        c, v = _value(
            value,
            binary_format,
            f"{where}[{key!r}]" if depth > 1 else f"{where} column {key!r}",
            depth,
        )
        if c and out is None:
            out = dict(row)
            changed = True
        if out is not None:
            out[key] = v
    if out is None and changed:
        out = dict(row)
    return changed, (out if out is not None else row)


def plain(row: dict[Any, Any]) -> bool:
    """True when ``row`` needs no conversion: str keys; scalar, finite float or flat list values.

    Written as one flat loop because it runs for every row: it is most of append_row's cost.
    """
    for key, value in row.items():
        if type(key) is not str:
            return False
        t = type(value)
        if t is str or t is int or t is bool or value is None:
            continue
        if t is float:
            if value - value == 0.0:  # false for NaN and +-Infinity
                continue
            return False
        if t is list:
            for item in value:
                ti = type(item)
                if ti is str or ti is int or ti is bool or item is None:
                    continue
                if ti is float and item - item == 0.0:
                    continue
                return False
            continue
        return False
    return True


def prepare(row: object, binary_format: str = "hex", where: str = "row") -> Mapping[str, Any]:
    """Check ``row``; return it, or a converted copy, ready for the encoder.

    Raises :class:`RowTypeError` or :class:`InvalidRowError` naming the column and the fix.
    """
    if type(row) is dict and plain(row):
        return row
    if not isinstance(row, Mapping):
        raise RowTypeError(
            f"{where} is a {type(row).__name__}; a row must be a mapping of column name to value"
        )
    _, out = _mapping(row, binary_format, where, 1)
    return out  # type: ignore[no-any-return]


def prepare_many(
    rows: Iterable[object], binary_format: str = "hex", first_index: int = 0
) -> list[Mapping[str, Any]]:
    """:func:`prepare` every row; the error names the row's position in ``rows``."""
    out: list[Mapping[str, Any]] = []
    append = out.append
    for row in rows:
        if type(row) is dict and plain(row):
            append(row)
        else:
            append(prepare(row, binary_format, where=f"row {first_index + len(out)}"))
    return out


def _encode_error(exc: Exception, where: str) -> InvalidRowError:
    if isinstance(exc, UnicodeEncodeError):
        return InvalidRowError(
            f"{where} holds a str that is not valid Unicode (a lone surrogate such as "
            "'\\udc80', often from bytes decoded with errors='surrogateescape'); "
            "decode the source bytes properly or send them as bytes"
        )
    return RowTypeError(f"{where} cannot be encoded as JSON: {exc}")


def encode_row(row: Mapping[str, Any], where: str = "row") -> bytes:
    """One prepared row as an NDJSON line (ending in ``\\n``)."""
    try:
        return _encoder.encode(row) + b"\n"
    except (TypeError, ValueError, UnicodeEncodeError, RecursionError) as exc:
        raise _encode_error(exc, where) from None


def encode_row_into(row: Mapping[str, Any], buf: bytearray, where: str = "row") -> None:
    """Append one prepared row and its ``\\n`` to ``buf``; on error ``buf`` is left as it was."""
    start = len(buf)
    try:
        _encode_into(row, buf, -1)
    except (TypeError, ValueError, UnicodeEncodeError, RecursionError) as exc:
        del buf[start:]
        raise _encode_error(exc, where) from None
    buf.append(10)


def encode_lines(rows: list[Mapping[str, Any]], first_index: int = 0) -> bytes:
    """Prepared rows as NDJSON, one line each, every line ending in ``\\n``."""
    try:
        return _encoder.encode_lines(rows)
    except (TypeError, ValueError, UnicodeEncodeError, RecursionError):
        # Find the row at fault, for a message that names it.
        for i, row in enumerate(rows, first_index):
            encode_row(row, where=f"row {i}")
        raise


# --- NDJSON that is already encoded ---------------------------------------------------------
#
# The rule, for both paths below: a body is lines, each ending at b"\n" (a b"\r" before it is
# JSON whitespace: CRLF endings are fine). A line of JSON whitespace only (space, tab, CR) is
# blank and skipped, but still numbered: line numbers are an editor's, 1-based. Every other line
# must be exactly one JSON object (RFC 8259: UTF-8, nothing but whitespace around it). Numbers
# are checked for syntax, not range: RFC 8259 leaves range to the reader, and Snowflake judges
# values against their columns (as it does "abc" sent to a NUMBER column).


class _AnyObject(msgspec.Struct):
    """Decodes any JSON object (its members skipped, but checked) and nothing else."""


_one_object = msgspec.json.Decoder(_AnyObject).decode
_objects = msgspec.json.Decoder(_AnyObject).decode_lines
_JSON_SPACE = b" \t\r"
_KINDS = {b"[": "list", b'"': "str", b"t": "bool", b"f": "bool", b"n": "null"}


def _utf8(data: bytes) -> bool:
    if data.isascii():
        return True
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def object_lines(raw: bytes) -> tuple[bytes, int, list[int]]:
    """``(NDJSON of the object lines, their count, 1-based numbers of the other lines)``.

    The rule is in the comment above; the object lines come back as they are, each ending in
    ``\\n``. The usual body is checked whole at C speed, without a Python object per row; any
    other body line by line.

    Why the whole-body check is exact. Let E be the line ending the body uses (``\\n``, or
    ``\\r\\n`` throughout) and n its number of lines. It accepts only when (a) the body starts
    with ``{``, ends with ``}E``, and each of its other n-1 newlines sits in ``}E{``; (b) msgspec
    decodes it as JSON objects separated by whitespace, exactly n of them; (c) it is UTF-8.
    Then every line is exactly one object:

    1. A JSON string cannot hold a raw CR or LF (control characters must be escaped; msgspec
       rejects them), so no string spans two lines. A line's first byte ``{`` and its last
       ``}`` (before E) cannot be inside a string: the string's quotes would both have to be
       on that line, one before the first byte or after the last. Both are structural.
    2. A structural ``}`` closes an object, a complete value. Inside an array or object a value
       is followed by ``,`` or a closing bracket. At each line boundary the next token after
       the ``}`` is ``{``, and after the last line's ``}`` comes the end of the body: so every
       line's last ``}`` closes a top-level object, and every line's first ``{`` (the body's
       first byte, or the one after a top-level value) opens one. No value spans a boundary.
    3. Each line therefore holds whole objects only, at least one (the one its ``{`` opens).
       n objects over n lines: exactly one per line. It starts at the line's first byte and
       ends at its last ``}`` (which closes a top-level object, and the line has only one), so
       the line is that object and its line ending.

    Conversely a body of lines that are each exactly one object, with no blank line and one
    kind of line ending, passes. Any other body goes line by line with the same rule, so both
    paths give the same answer for every body: tests/unit/test_ndjson.py checks both, and the
    emulator's own check, against a plain per-line ``msgspec.json.decode``.
    """
    if not raw:
        return b"", 0, []
    if not raw.endswith(b"\n"):
        raw += b"\n"
    n = object_block(raw)
    if n:
        return raw, n, []
    good: list[bytes] = []
    bad: list[int] = []
    is_ascii = raw.isascii()
    for number, line in enumerate(raw[:-1].split(b"\n"), 1):
        if line[:1] != b"{" and not line.strip(_JSON_SPACE):
            continue  # blank
        try:
            _one_object(line)
        except msgspec.DecodeError:
            bad.append(number)
            continue
        if is_ascii or _utf8(line):
            good.append(line)
        else:
            bad.append(number)
    return (b"\n".join(good) + b"\n" if good else b""), len(good), bad


def object_block(raw: bytes) -> int:
    """The number of lines of ``raw`` (which ends in ``\\n``) when the whole-body check of
    :func:`object_lines` passes (every line exactly one object, one kind of line ending, no
    blank line), else 0: the usual body, checked without looking at a line on its own."""
    n = raw.count(b"\n")
    end = b"\r\n" if raw.endswith(b"\r\n") else b"\n"
    if (
        raw.startswith(b"{")
        and raw.endswith(b"}" + end)
        and raw.count(b"}" + end + b"{") == n - 1
        and _utf8(raw)
    ):
        try:
            if len(_objects(raw)) == n:
                return n
        except msgspec.DecodeError:
            pass
    return 0


def line_problem(line: bytes) -> str | None:
    """Why one NDJSON line is not a row (by the rule above), or None when it is one."""
    try:
        _one_object(line)
    except msgspec.ValidationError:
        kind = _KINDS.get(line.lstrip(_JSON_SPACE)[:1], "number")
        return f"expected a JSON object, got {kind}"
    except msgspec.DecodeError as exc:
        return f"invalid JSON: {exc}"
    if not _utf8(line):
        return "invalid JSON: not UTF-8 text; decode the source and encode it as UTF-8"
    return None
