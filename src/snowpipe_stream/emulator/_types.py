"""One JSON value converted to a Snowflake column type, as Snowflake loads JSON (no I/O here).

:func:`convert` takes a decoded JSON value (numbers with a fraction or exponent as ``Decimal``,
so none is rounded before its column sees it) and a :class:`ColumnType`; it returns the value
as the emulator stores it (a JSON-encodable value: NUMBER as int or Decimal, FLOAT as float or
'NaN'/'inf'/'-inf', DATE/TIME/TIMESTAMP_* as ISO text, BINARY as upper-case hex (read in the
pipe's BINARY_INPUT_FORMAT: HEX, BASE64 or UTF-8), the rest as
JSON) or raises :class:`ConversionError` with Snowflake's wording of the problem.
:func:`convert_row` applies a pipe to one row. The rules, and where the documentation is
silent, the choices, are listed case by case in tests/unit/test_emulator_types.py.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
from collections import deque
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Context, Decimal, InvalidOperation
from typing import Any

import msgspec

from ._ddl import NOW, Column, ColumnType, Pipe, Schema

__all__ = ["ConversionError", "TypedPipes", "convert", "convert_row"]

_TRUE = {"true", "t", "yes", "y", "on", "1"}
_FALSE = {"false", "f", "no", "n", "off", "0"}
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
_YEAR_MS = 31_536_000_000  # TO_TIMESTAMP's thresholds between seconds, ms, us and ns
_STAMP = re.compile(
    r"(\d{4})-(\d{1,2})-(\d{1,2})"
    r"(?:[T ](\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?"
    r"\s*(Z|[+-]\d{2}(?::?\d{2})?)?",
    re.IGNORECASE,
)
_TIME = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?")
_INTEGER = re.compile(r"[+-]?\d+")
_WIDE = Context(prec=120)  # room for 38 digits plus any scale, so quantize never traps
_encode_json = msgspec.json.Encoder(decimal_format="number").encode


class ConversionError(ValueError):
    """A value that does not fit its column: the row is an error row."""


def _text(value: Any) -> str:
    """A value as it appears in Snowflake's messages."""
    if isinstance(value, str):
        return value
    return _encode_json(value).decode()


def _number(value: Any, t: ColumnType) -> int | Decimal:
    if isinstance(value, bool):
        d = Decimal(int(value))
    elif isinstance(value, (int, Decimal)):
        d = Decimal(value)
    elif isinstance(value, float):
        d = Decimal(repr(value))
    elif isinstance(value, str):
        try:
            d = Decimal(value.strip())
        except InvalidOperation:
            raise ConversionError(f"Numeric value '{value}' is not recognized") from None
    else:
        raise ConversionError(f"Numeric value '{_text(value)}' is not recognized")
    if not d.is_finite():
        raise ConversionError(f"Numeric value '{_text(value)}' is not recognized")
    precision, scale = t.precision or 38, t.scale or 0
    try:
        q = d.quantize(Decimal(1).scaleb(-scale), rounding=ROUND_HALF_UP, context=_WIDE)
    except InvalidOperation:  # more digits than even the wide context holds
        q = None
    if q is None or q.adjusted() >= precision - scale:
        raise ConversionError(
            f"Number out of representable range: type NUMBER({precision},{scale}), "
            f"value {_text(value)[:40]}"
        )
    return int(q) if scale == 0 else q


def _float(value: Any) -> float | str:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float, Decimal)):
        f = float(value)
    elif isinstance(value, str):
        word = value.strip().lower()
        if word in ("nan", "inf", "-inf", "infinity", "-infinity"):
            return {"nan": "NaN", "-inf": "-inf", "-infinity": "-inf"}.get(word, "inf")
        try:
            f = float(Decimal(word))
        except InvalidOperation:
            raise ConversionError(f"Numeric value '{value}' is not recognized") from None
    else:
        raise ConversionError(f"Numeric value '{_text(value)}' is not recognized")
    if f != f or f in (float("inf"), float("-inf")):
        raise ConversionError(f"Number out of representable range: type FLOAT, value {value}")
    return f


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float, Decimal)):
        return value != 0
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ConversionError(f"Boolean value '{_text(value)}' is not recognized")


def _varchar(value: Any, t: ColumnType) -> str:
    if isinstance(value, str):
        s = value
    elif isinstance(value, bool):
        s = "true" if value else "false"
    else:
        s = _text(value)
    limit = t.length or 16_777_216
    if len(s) > limit:
        raise ConversionError(f"String '{s[:40]}' is too long and would be truncated")
    return s


#: The pipe's BINARY_INPUT_FORMAT -> how a JSON string becomes bytes (TO_BINARY's formats).
BINARY_FORMATS = ("HEX", "BASE64", "UTF-8")


def _binary(value: Any, t: ColumnType, fmt: str = "HEX") -> str:
    """BINARY from a string in the pipe's BINARY_INPUT_FORMAT (HEX, BASE64 or UTF-8)."""
    name = "hex" if fmt == "HEX" else "base64" if fmt == "BASE64" else "UTF-8"
    if not isinstance(value, str):
        raise ConversionError(f"The following string is not a legal {name}-encoded value: {value}")
    try:
        if fmt == "HEX":
            data = bytes.fromhex(value)
        elif fmt == "BASE64":
            data = base64.b64decode(value, validate=True)
        else:
            data = value.encode("utf-8")
    except (ValueError, binascii.Error, UnicodeEncodeError):
        raise ConversionError(
            f"The following string is not a legal {name}-encoded value: '{value[:40]}'"
        ) from None
    if len(data) > (t.length or 8_388_608):
        raise ConversionError(f"Binary value '{value[:40]}' is too long and would be truncated")
    return data.hex().upper()


def _epoch(value: int) -> tuple[dt.datetime, int]:
    """An integer since the epoch as (UTC datetime to the microsecond, nanoseconds)."""
    a = abs(value)
    per_second = (
        1
        if a < _YEAR_MS
        else 1000
        if a < _YEAR_MS * 1000
        else 10**6
        if a < _YEAR_MS * 10**6
        else 10**9
    )
    seconds, rest = divmod(value, per_second)
    nanos = rest * (10**9 // per_second)
    try:
        when = _EPOCH + dt.timedelta(seconds=seconds, microseconds=nanos // 1000)
    except OverflowError:
        raise ConversionError(f"Timestamp '{value}' is not recognized") from None
    return when, nanos


def _stamp(value: Any, what: str) -> tuple[dt.datetime, int, bool]:
    """(datetime, nanoseconds of the second, whether the input had an offset)."""
    if isinstance(value, (int, Decimal)) and not isinstance(value, bool):
        if isinstance(value, Decimal):
            if value != value.to_integral_value():
                seconds = int(value.to_integral_value(rounding="ROUND_FLOOR"))
                nanos = int((value - seconds) * 10**9)
                try:
                    when = _EPOCH + dt.timedelta(seconds=seconds, microseconds=nanos // 1000)
                except OverflowError:
                    raise ConversionError(f"{what} '{value}' is not recognized") from None
                return when, nanos, True
            value = int(value)
        when, nanos = _epoch(value)
        return when, nanos, True
    if not isinstance(value, str):
        raise ConversionError(f"{what} '{_text(value)}' is not recognized")
    s = value.strip()
    if _INTEGER.fullmatch(s):
        when, nanos = _epoch(int(s))
        return when, nanos, True
    m = _STAMP.fullmatch(s)
    if m is None:
        raise ConversionError(f"{what} '{value}' is not recognized")
    y, mo, d, h, mi, sec, frac, tz = m.groups()
    tzinfo: dt.tzinfo | None = None
    if tz:
        if tz.upper() == "Z":
            tzinfo = dt.timezone.utc
        else:
            digits = tz[1:].replace(":", "")
            minutes = int(digits[:2]) * 60 + int(digits[2:] or 0)
            tzinfo = dt.timezone(dt.timedelta(minutes=minutes if tz[0] == "+" else -minutes))
    nanos = int((frac or "").ljust(9, "0"))
    try:
        when = dt.datetime(
            int(y), int(mo), int(d), int(h or 0), int(mi or 0), int(sec or 0), nanos // 1000, tzinfo
        )
    except ValueError:
        raise ConversionError(f"{what} '{value}' is not recognized") from None
    return when, nanos, tzinfo is not None


def _fraction(nanos: int, scale: int) -> str:
    digits = str(nanos).rjust(9, "0")[:scale].rstrip("0")
    return "." + digits if digits else ""


def _timestamp(value: Any, t: ColumnType) -> str:
    when, nanos, aware = _stamp(value, "Timestamp")
    scale = 9 if t.scale is None else t.scale
    if t.kind == "TIMESTAMP_NTZ":
        # The wall-clock time as written; an offset in the input is dropped.
        return when.strftime("%Y-%m-%dT%H:%M:%S") + _fraction(nanos, scale)
    if not aware:
        when = when.replace(tzinfo=dt.timezone.utc)  # the session's time zone: UTC here
    if t.kind == "TIMESTAMP_LTZ":
        when = when.astimezone(dt.timezone.utc)
    offset = when.strftime("%z")
    return (
        when.strftime("%Y-%m-%dT%H:%M:%S") + _fraction(nanos, scale) + f"{offset[:3]}:{offset[3:]}"
    )


def _date(value: Any) -> str:
    when, _, _ = _stamp(value, "Date")
    return when.strftime("%Y-%m-%d")


def _time(value: Any, t: ColumnType) -> str:
    if not isinstance(value, str) or (m := _TIME.fullmatch(value.strip())) is None:
        raise ConversionError(f"Time '{_text(value)}' is not recognized")
    h, mi, sec, frac = m.groups()
    if int(h) > 23 or int(mi) > 59 or int(sec or 0) > 59:
        raise ConversionError(f"Time '{value}' is not recognized")
    nanos = int((frac or "").ljust(9, "0"))
    scale = 9 if t.scale is None else t.scale
    return f"{int(h):02d}:{mi}:{int(sec or 0):02d}" + _fraction(nanos, scale)


def convert(value: Any, t: ColumnType, binary_format: str = "HEX") -> Any:
    """``value`` (decoded JSON, not None) as type ``t``; ConversionError if it does not fit.

    ``binary_format``: the pipe's BINARY_INPUT_FORMAT, how strings become BINARY."""
    k = t.kind
    if k == "NUMBER":
        return _number(value, t)
    if k == "FLOAT":
        return _float(value)
    if k == "TEXT":
        return _varchar(value, t)
    if k == "BOOLEAN":
        return _boolean(value)
    if k == "DATE":
        return _date(value)
    if k == "TIME":
        return _time(value, t)
    if k.startswith("TIMESTAMP_"):
        return _timestamp(value, t)
    if k == "BINARY":
        return _binary(value, t, binary_format)
    if k == "OBJECT" and not isinstance(value, dict):
        raise ConversionError(f"Failed to cast variant value {_text(value)[:40]} to OBJECT")
    if k == "ARRAY" and not isinstance(value, list):
        raise ConversionError(f"Failed to cast variant value {_text(value)[:40]} to ARRAY")
    return value  # VARIANT, OBJECT, ARRAY: the JSON as it came


def _column_value(
    column: Column,
    present: bool,
    value: Any,
    identity: Callable[[Column], int],
    now: float,
    binary_format: str,
) -> Any:
    if not present:
        if column.identity is not None:
            return identity(column)
        if column.has_default:
            value = column.default
            if value == NOW:
                value = dt.datetime.fromtimestamp(now, dt.timezone.utc).isoformat()
    if value is None:
        if not column.nullable:
            raise ConversionError("NULL result in a non-nullable column")
        return None
    return convert(value, column.type, binary_format)


_MISSING = object()


def _get(row: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(row, dict) or key not in row:
            return _MISSING
        row = row[key]
    return row


def convert_row(
    pipe: Pipe,
    row: dict[str, Any],
    identity: Callable[[Column], int],
    now: float,
    binary_format: str = "HEX",
) -> dict[str, Any]:
    """The table row that ``row`` becomes through ``pipe``; ConversionError names the column.

    ``identity(column)`` gives the next AUTOINCREMENT value; ``now`` (epoch seconds) fills
    DEFAULT CURRENT_TIMESTAMP(). A default pipe maps each column to the JSON key of the same
    name (exactly, else case-insensitively); keys that match no column are ignored.
    """
    values: dict[str, Any] = {}
    if pipe.mappings is None:
        folded = {k.upper(): k for k in row}
        for c in pipe.table.columns:
            key = c.name if c.name in row else folded.get(c.name.upper())
            if key is not None:
                values[c.name] = row[key]
    else:
        for m in pipe.mappings:
            v = _get(row, m.path)
            if v is _MISSING:
                v = None
            if v is not None and m.cast is not None:
                try:
                    v = convert(v, m.cast, binary_format)
                except ConversionError as exc:
                    raise ConversionError(f"Column {m.column}: {exc}") from None
            values[m.column] = v
    out: dict[str, Any] = {}
    for c in pipe.table.columns:
        present = c.name in values
        try:
            out[c.name] = _column_value(
                c, present, values.get(c.name), identity, now, binary_format
            )
        except ConversionError as exc:
            raise ConversionError(f"Column {c.name}: {exc}") from None
    return out


_decode_exact = msgspec.json.Decoder(float_hook=Decimal).decode


class TypedPipes:
    """The pipes declared by DDL, their AUTOINCREMENT counters, and the error rows kept.

    The emulator's state asks :meth:`pipe` for each append; a pipe without DDL answers None
    and keeps the untyped behaviour. Error rows are kept (the newest ``max_errors``) for
    ``GET /emulator/v1/errors``.
    """

    def __init__(self, schema: Schema, max_errors: int = 10_000, store: Any = None) -> None:
        self.schema = schema
        self.errors: deque[dict[str, Any]] = deque(maxlen=max_errors)
        #: Where AUTOINCREMENT counters live across restarts (the emulator's Store), if anywhere.
        self._store = store
        self._identity: dict[tuple[tuple[str, str, str], str], int] = (
            store.identities() if store is not None else {}
        )

    def pipe(self, key: tuple[str, str, str]) -> Pipe | None:
        return self.schema.pipe(key)

    def _next(self, table: tuple[str, str, str], column: Column) -> int:
        assert column.identity is not None
        start, inc = column.identity
        k = (table, column.name)
        value = self._identity.get(k, start - inc) + inc
        self._identity[k] = value
        return value

    def check(
        self, pipe: Pipe, data: bytes, now: float, binary_format: str = "HEX"
    ) -> tuple[bytes, int, list[tuple[Any, str]]]:
        """``(NDJSON of the converted rows, how many, [(error row, message)])`` of a batch.

        ``data`` is the NDJSON of the rows that are JSON objects (``split_rows``' output);
        ``binary_format`` the pipe's BINARY_INPUT_FORMAT.
        """
        good: list[bytes] = []
        bad: list[tuple[Any, str]] = []
        table = pipe.table.key

        def identity(c: Column) -> int:
            return self._next(table, c)

        before = dict(self._identity) if self._store is not None else None
        for line in data.splitlines():
            row = _decode_exact(line)
            try:
                good.append(_encode_json(convert_row(pipe, row, identity, now, binary_format)))
            except ConversionError as exc:
                # Kept as it came (a Raw is encoded verbatim): no number is rounded or refused.
                bad.append((msgspec.Raw(line.strip()), str(exc)))
        if before is not None and before != self._identity:
            # Saved before the batch commits: a value is never given twice, and a gap (a batch
            # that then fails) is what Snowflake's AUTOINCREMENT allows too.
            self._store.save_identities(
                {k: v for k, v in self._identity.items() if before.get(k) != v}
            )
        return (b"\n".join(good) + b"\n" if good else b""), len(good), bad

    def record(
        self,
        pipe: tuple[str, str, str],
        channel: str,
        offset_token: str | None,
        bad: list[tuple[Any, str]],
        now: float,
    ) -> None:
        for row, message in bad:
            self.errors.append(
                {
                    "database": pipe[0],
                    "schema": pipe[1],
                    "pipe": pipe[2],
                    "channel": channel,
                    "offset_token": offset_token,
                    "row": row,
                    "message": message,
                    "timestamp_ms": int(now * 1000),
                }
            )
