"""Arrow tables (and pandas / polars DataFrames, through Arrow) to NDJSON rows (pure).

Columns are converted one at a time with Arrow's compute kernels, never a Python loop per value
(base64 binaries and the rare string column holding control characters are the exceptions):
each column becomes an array of JSON texts, one per row (``null`` for a null), and one
``binary_join_element_wise`` glues them into lines ``{"a":1,"b":"x"}\\n``. The lines are what
``append_rows`` would send for the same values:

==========================  ==================================================================
Arrow                       JSON
==========================  ==================================================================
null (any type)             ``null`` (as ``append_rows`` sends a ``None``: the key is present)
int*, uint*                 number
float16/32/64               number, shortest text; NaN and +-inf are refused, naming the column
bool                        ``true`` / ``false``
string (all kinds)          string
binary (all kinds)          string: hex, base64 or UTF-8, the channel's ``binary_format``
decimal128/256 (p <= 15)    number, exact text (``1.50``): a double holds 15 digits exactly
decimal128/256 (p > 15)     string (``"12345678901234567.89"``), as ``append_rows`` sends a
                            ``Decimal``: exact at any precision; Snowflake's NUMBER takes it
date32/64                   ``"2024-01-02"``
time32/64                   ``"01:02:03.004"``, the unit's digits kept
timestamp, no zone          ``"2024-01-02T03:04:05.123456"``, the unit's digits kept
timestamp with a zone       ``"2024-01-02T04:04:05.123456+01:00"``, in its zone
list, large/fixed list      array
struct                      object
map                         object (keys: strings or integers)
dictionary                  its values
==========================  ==================================================================

pyarrow is an optional dependency (``pip install "snowpipe-stream[arrow]"``): this module
imports it on first use, so the library imports without it.
"""

from __future__ import annotations

import datetime as dt
import re
from binascii import b2a_base64
from collections.abc import Iterable, Iterator
from typing import Any

import msgspec

from ._exceptions import InvalidRowError, RowTypeError

__all__ = [
    "INSTALL_HINT",
    "ArrowRows",
    "arrow_ndjson",
    "arrow_rows",
    "dataframe_table",
    "pyarrow",
    "to_batches",
]

INSTALL_HINT = 'pip install "snowpipe-stream[arrow]"'
#: Rows converted at a time: keeps every intermediate array small (and in cache), and far from
#: the 2 GiB limit of an Arrow string array.
SLICE_ROWS = 65_536
#: Decimals of at most this many digits go as JSON numbers; wider ones as strings.
DECIMAL_NUMBER_DIGITS = 15

_pa: Any = None
_pc: Any = None


def pyarrow() -> Any:
    """The ``pyarrow`` module; an ImportError naming the extra when it is not installed."""
    global _pa, _pc
    if _pa is None:
        try:
            import pyarrow as pa
            import pyarrow.compute as pc
        except ImportError as exc:
            raise ImportError(
                "Arrow tables and DataFrames need pyarrow, which is not installed; install it "
                f"with: {INSTALL_HINT}"
            ) from exc
        _pa, _pc = pa, pc
    return _pa


# --- inputs ------------------------------------------------------------------------------


def to_batches(data: object) -> Iterator[Any]:
    """The record batches of a ``pyarrow.Table``, a ``RecordBatch``, a ``RecordBatchReader``,
    or an iterable of batches (or tables)."""
    pa = pyarrow()
    if isinstance(data, pa.Table):
        yield from data.to_batches()
    elif isinstance(data, pa.RecordBatch):
        yield data
    elif isinstance(data, pa.RecordBatchReader):
        yield from data
    elif isinstance(data, Iterable) and not isinstance(data, str | bytes | bytearray | dict):
        for i, item in enumerate(data):
            if isinstance(item, pa.RecordBatch):
                yield item
            elif isinstance(item, pa.Table):
                yield from item.to_batches()
            else:
                raise TypeError(
                    f"item {i} of data is a {type(item).__name__}; give pyarrow RecordBatches "
                    "(or Tables)"
                )
    else:
        raise TypeError(
            f"data must be a pyarrow Table, RecordBatch, RecordBatchReader or an iterable of "
            f"RecordBatches, got {type(data).__name__}"
            + ("; for a DataFrame use append_dataframe(df)" if _is_dataframe(data) else "")
        )


def _is_dataframe(obj: object) -> bool:
    module = type(obj).__module__
    return module.startswith(("pandas", "polars"))


def dataframe_table(df: object) -> Any:
    """A pandas or polars DataFrame (or anything exporting an Arrow stream) as a pyarrow Table.

    polars hands its columns over without copying; pandas' index is not sent (reset_index()
    first to send it as columns).
    """
    pa = pyarrow()
    module = type(df).__module__
    try:
        if module.startswith("pandas"):
            return pa.Table.from_pandas(df, preserve_index=False)
        if module.startswith("polars"):
            return df.to_arrow()  # type: ignore[attr-defined]
        if hasattr(df, "__arrow_c_stream__"):
            return pa.table(df)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
        raise RowTypeError(f"the DataFrame cannot be converted to Arrow: {exc}") from None
    raise TypeError(
        f"df must be a pandas or polars DataFrame, got {type(df).__name__}; for pyarrow tables "
        "use append_arrow(data)"
    )


# --- conversion --------------------------------------------------------------------------


class ArrowRows:
    """Arrow rows as NDJSON, and each line's length (to cut requests between lines without
    searching the bytes again)."""

    __slots__ = ("_lengths", "ndjson", "rows")

    def __init__(self, ndjson: bytes, rows: int, lengths: list[Any]) -> None:
        self.ndjson, self.rows, self._lengths = ndjson, rows, lengths

    def line_ends(self) -> list[int]:
        """Where each line ends in :attr:`ndjson` (after its ``\\n``)."""
        if not self._lengths:
            return []
        lengths = _pa.concat_arrays(self._lengths)
        return _pc.cumulative_sum(lengths).to_pylist()  # type: ignore[no-any-return]

    def longest(self) -> tuple[int, int]:
        """``(length, row)`` of the longest line (with its ``\\n``), ``(0, -1)`` if none."""
        if not self.rows:
            return 0, -1
        lengths = _pa.concat_arrays(self._lengths)
        length = _pc.max(lengths).as_py()
        return length, _pc.index(lengths, length).as_py()


def arrow_ndjson(data: object, binary_format: str = "hex") -> tuple[bytes, int]:
    """``(NDJSON, rows)`` of Arrow ``data`` (see :func:`to_batches`), one line per row.

    Raises :class:`InvalidRowError` (a NaN, a bad UTF-8 binary) or :class:`RowTypeError` (a
    type JSON cannot carry) naming the column; nothing is returned in part.
    """
    out = arrow_rows(data, binary_format)
    return out.ndjson, out.rows


def arrow_rows(data: object, binary_format: str = "hex") -> ArrowRows:
    """:func:`arrow_ndjson`, with each line's length."""
    pyarrow()
    parts: list[Any] = []
    lengths: list[Any] = []
    rows = 0
    for batch in to_batches(data):
        names = batch.schema.names
        if len(set(names)) != len(names):
            dup = next(n for n in names if names.count(n) > 1)
            raise RowTypeError(
                f"column {dup!r} appears more than once; a row is a JSON object, whose keys "
                "must differ: rename or drop one"
            )
        for start in range(0, batch.num_rows, SLICE_ROWS):
            part = batch.slice(start, SLICE_ROWS)
            texts = _lines(part, binary_format, rows + start)
            parts.append(_body(texts))
            offsets = _offsets(texts)
            lengths.append(_pc.subtract(offsets[1:], offsets[:-1]))
        rows += batch.num_rows
    return ArrowRows(b"".join(parts), rows, lengths)


def _lines(batch: Any, binary_format: str, first_row: int) -> Any:
    """One JSON object and its ``\\n`` per row of ``batch``: a string array without nulls."""
    if batch.num_columns == 0:
        return _pa.array(["{}\n"] * batch.num_rows, _pa.string())
    pieces = _object(batch.schema.names, batch.columns, "", binary_format, first_row)
    pieces[-1] += "\n"
    return _pc.binary_join_element_wise(*pieces, "")


def _offsets(texts: Any) -> Any:
    """The offsets of a string or binary array (``pa.string()``/``pa.binary()``), as int64."""
    pa = _pa
    n = len(texts)
    raw = pa.Array.from_buffers(pa.int32(), n + 1, [None, texts.buffers()[1]], 0, texts.offset)
    return raw.cast(pa.int64())


def _body(texts: Any) -> Any:
    """The concatenated values of a string or binary array, straight from its buffer (no
    copy): a ``pyarrow.Buffer``, which ``bytes.join`` and ``re`` read as they are."""
    if len(texts) == 0 or texts.buffers()[2] is None:
        return b""
    offsets = _offsets(texts)
    lo, hi = offsets[0].as_py(), offsets[len(texts)].as_py()
    return texts.buffers()[2][lo:hi]


def _json(arr: Any, where: str, binary_format: str, first_row: int) -> Any:
    """A string array without nulls: the JSON text of each value of ``arr`` (``null`` for a
    null)."""
    return _filled(_texts(arr, where, binary_format, first_row))


def _filled(texts: Any) -> Any:
    if isinstance(texts, _Wrapped):
        texts = texts.materialize()
    return texts.fill_null("null") if texts.null_count else texts


def _texts(arr: Any, where: str, binary_format: str, first_row: int) -> Any:
    """JSON texts of ``arr``'s values, null where ``arr`` is null (``pa.string()``)."""
    pa, pc = _pa, _pc
    t = arr.type
    types = pa.types
    string = pa.string()
    if types.is_dictionary(t):
        values = _json(arr.dictionary, where, binary_format, 0)
        return pc.take(values, arr.indices)
    if types.is_null(t):
        return pa.nulls(len(arr), string)
    if types.is_boolean(t) or types.is_integer(t):
        return pc.cast(arr, string)
    if types.is_floating(t):
        finite = pc.is_finite(arr)
        if not pc.all(finite.fill_null(True)).as_py():
            i = pc.index(finite, False).as_py()
            raise InvalidRowError(
                f"row {first_row + i} {where} is {arr[i].as_py()!r}; JSON has no NaN or "
                "Infinity: send null or a finite number"
            )
        return pc.cast(arr, string)
    if types.is_decimal(t):
        texts = pc.cast(arr, string)
        return texts if t.precision <= DECIMAL_NUMBER_DIGITS else _quote(texts)
    if types.is_string(t) or types.is_large_string(t) or types.is_string_view(t):
        return _strings(pc.cast(arr, string))
    if (
        types.is_binary(t)
        or types.is_large_binary(t)
        or types.is_fixed_size_binary(t)
        or types.is_binary_view(t)
    ):
        return _binaries(arr, where, binary_format, first_row)
    if types.is_date(t) or types.is_time(t):
        return _quote(pc.cast(arr, string))
    if types.is_timestamp(t):
        return _timestamps(arr)
    if types.is_list(t) or types.is_large_list(t) or types.is_fixed_size_list(t):
        return _list(arr, where, binary_format, first_row)
    if types.is_list_view(t) or types.is_large_list_view(t):
        return _list(pc.cast(arr, pa.large_list(t.value_type)), where, binary_format, first_row)
    if types.is_map(t):
        return _map(arr, where, binary_format, first_row)
    if types.is_struct(t):
        return _struct(arr, where, binary_format, first_row)
    advice = (
        "; cast it to int64 (a count of its unit) or to a string first"
        if types.is_duration(t) or types.is_interval(t)
        else "; cast it to a supported type first"
    )
    raise RowTypeError(
        f"{where} has Arrow type {t}, which has no JSON form for Snowflake{advice} (supported: "
        "integers, floats, decimals, bool, strings, binaries, date, time, timestamp, lists, "
        "structs, maps, dictionaries, null)"
    )


class _Wrapped:
    """Texts still to be put between ``before`` and ``after`` (quotes, mostly): a column
    without nulls has them folded into the literals around it, saving a pass."""

    __slots__ = ("after", "before", "texts")

    def __init__(self, before: str, texts: Any, after: str) -> None:
        self.before, self.texts, self.after = before, texts, after

    def materialize(self) -> Any:
        return _pc.binary_join_element_wise(self.before, self.texts, self.after, "")


def _quote(texts: Any) -> _Wrapped:
    """Texts that need no escaping (digits, dates, hex...) as JSON strings."""
    return _Wrapped('"', texts, '"')


def _object(names: list[str], columns: list[Any], where: str, fmt: str, row: int) -> list[Any]:
    """The pieces of one JSON object per row (for ``binary_join_element_wise``): literals and
    arrays, quotes folded into the literals where they can be."""
    pieces: list[Any] = []
    literal = "{"
    for name, column in zip(names, columns, strict=True):
        literal += msgspec.json.encode(name).decode() + ":"
        texts = _texts(column, f"{where}[{name!r}]" if where else f"column {name!r}", fmt, row)
        if isinstance(texts, _Wrapped) and not texts.texts.null_count:
            pieces += [literal + texts.before, texts.texts]
            literal = texts.after + ","
            continue
        pieces += [literal, _filled(texts)]
        literal = ","
    pieces.append(literal[:-1] + "}" if literal.endswith(",") else literal + "}")
    return pieces


_NEEDS_ESCAPE = re.compile(rb'["\\\x00-\x1f]')
_CONTROL = re.compile(rb"[\x00-\x1f]")


def _strings(texts: Any) -> Any:
    """Strings as JSON strings. Their bytes are searched at once for what JSON escapes: most
    columns have none. ``"`` and ``\\`` are escaped by kernels; a control character (rare)
    sends the column through msgspec's encoder, value by value."""
    pc = _pc
    body = _body(texts)
    if _NEEDS_ESCAPE.search(body) is None:
        return _quote(texts)
    if _CONTROL.search(body) is not None:
        encode = msgspec.json.encode
        return _pa.array(
            [None if s is None else encode(s).decode() for s in texts.to_pylist()],
            _pa.string(),
        )
    escaped = pc.replace_substring(pc.replace_substring(texts, "\\", "\\\\"), '"', '\\"')
    return _quote(escaped)


def _timestamps(arr: Any) -> Any:
    """ISO 8601 with the unit's digits; with a zone, the time in that zone and its offset.

    UTC and fixed offsets are cast (fast); a named zone with daylight saving goes through
    ``strftime``, which looks each value's offset up (about 1 us a value).
    """
    pa, pc = _pa, _pc
    t = arr.type
    tz = t.tz
    suffix = '"'
    if tz is not None:
        offset = _fixed_offset(tz)
        if offset is None:
            return _quote(pc.strftime(arr, format="%Y-%m-%dT%H:%M:%S%Ez"))
        minutes, suffix = offset[0], offset[1] + '"'
        arr = arr.cast(pa.timestamp(t.unit))  # the UTC wall clock
        if minutes:
            arr = pc.add(arr, pa.scalar(dt.timedelta(minutes=minutes), pa.duration(t.unit)))
    text = pc.replace_substring(arr.cast(pa.string()), " ", "T", max_replacements=1)
    return _Wrapped('"', text, suffix)


_FIXED = re.compile(r"([+-])(\d{2}):?(\d{2})")
_UTC = frozenset({"UTC", "Etc/UTC", "Z", "GMT", "Etc/GMT", "Universal", "Zulu", "Etc/Universal"})


def _fixed_offset(tz: str) -> tuple[int, str] | None:
    """``(minutes east of UTC, "+hh:mm")`` of a zone with one offset, or None."""
    if tz in _UTC:
        return 0, "+00:00"
    m = _FIXED.fullmatch(tz)
    if m is None:
        return None
    sign, hh, mm = m.groups()
    minutes = int(hh) * 60 + int(mm)
    return (-minutes if sign == "-" else minutes), f"{sign}{hh}:{mm}"


def _binaries(arr: Any, where: str, binary_format: str, first_row: int) -> Any:
    pa, pc = _pa, _pc
    data = pc.cast(arr, pa.binary())
    if binary_format == "utf8":
        try:
            texts = pc.cast(data, pa.string())
        except pa.ArrowInvalid:
            i = next(i for i, v in enumerate(data.to_pylist()) if v is not None and _bad_utf8(v))
            raise InvalidRowError(
                f"row {first_row + i} {where} holds bytes that are not valid UTF-8, and the "
                "pipe's BINARY_INPUT_FORMAT is UTF-8; send text, or use a pipe with HEX or "
                "BASE64"
            ) from None
        return _strings(texts)
    if binary_format == "hex":
        return _quote(_hex(data))
    # Base64 does not split at value boundaries: one C call per value.
    b64 = b2a_base64
    encoded = pa.array(
        [None if v is None else b64(v, newline=False) for v in data.to_pylist()], pa.binary()
    )
    return _quote(encoded.cast(pa.string()))


def _bad_utf8(value: bytes) -> bool:
    try:
        value.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def _hex(data: Any) -> Any:
    """A binary array in hex: the whole buffer at once (two characters per byte, so every
    value's offsets double)."""
    pa, pc = _pa, _pc
    n = len(data)
    offsets = _offsets(data)
    lo = offsets[0].as_py()
    digits = bytes(_body(data)).hex().encode("ascii")
    doubled = pc.multiply(pc.subtract(offsets, lo), 2).cast(pa.int32())
    valid = data.is_valid().buffers()[1] if data.null_count else None
    return pa.Array.from_buffers(
        pa.string(), n, [valid, doubled.buffers()[1], pa.py_buffer(digits)], data.null_count
    )


def _list(arr: Any, where: str, binary_format: str, first_row: int) -> Any:
    pa, pc = _pa, _pc
    if pa.types.is_fixed_size_list(arr.type):
        arr = pc.cast(arr, pa.list_(arr.type.value_type))
    offsets = arr.offsets
    lo, hi = offsets[0].as_py(), offsets[len(arr)].as_py()
    items = _json(arr.values.slice(lo, hi - lo), f"{where} (an item)", binary_format, first_row)
    joined = pc.binary_join(_relist(offsets, lo, items), ",")
    texts = pc.binary_join_element_wise("[", joined, "]", "")
    return _keep_nulls(texts, arr)


def _relist(offsets: Any, lo: int, items: Any) -> Any:
    pa, pc = _pa, _pc
    rebased = pc.subtract(offsets, lo) if lo else offsets
    if pa.types.is_int64(offsets.type):
        return pa.LargeListArray.from_arrays(rebased, items)
    return pa.ListArray.from_arrays(rebased, items)


def _keep_nulls(texts: Any, arr: Any) -> Any:
    if not arr.null_count:
        return texts
    return _pc.if_else(arr.is_valid(), texts, _pa.scalar(None, _pa.string()))


def _struct(arr: Any, where: str, binary_format: str, first_row: int) -> Any:
    pc = _pc
    t = arr.type
    if t.num_fields == 0:
        return _keep_nulls(_pa.array(["{}"] * len(arr), _pa.string()), arr)
    names = [t.field(i).name for i in range(t.num_fields)]
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise RowTypeError(f"{where} has the field {dup!r} twice; a JSON object's keys must differ")
    pieces = _object(names, arr.flatten(), where, binary_format, first_row)
    return _keep_nulls(pc.binary_join_element_wise(*pieces, ""), arr)


def _map(arr: Any, where: str, binary_format: str, first_row: int) -> Any:
    pa, pc = _pa, _pc
    types = pa.types
    offsets = arr.offsets
    lo, hi = offsets[0].as_py(), offsets[len(arr)].as_py()
    entries = arr.values.slice(lo, hi - lo)
    keys, values = entries.flatten()
    kt = keys.type
    if types.is_dictionary(kt):
        keys, kt = keys.dictionary_decode(), kt.value_type
    if types.is_string(kt) or types.is_large_string(kt) or types.is_string_view(kt):
        key_texts = _json(keys, f"{where} (a key)", binary_format, first_row)
    elif types.is_integer(kt):
        key_texts = _quote(pc.cast(keys, pa.string())).materialize()
    else:
        raise RowTypeError(
            f"{where} is a map with {kt} keys; JSON object keys are strings: use string or "
            "integer keys"
        )
    value_texts = _json(values, f"{where} (a value)", binary_format, first_row)
    pairs = pc.binary_join_element_wise(key_texts, value_texts, ":")
    joined = pc.binary_join(_relist(offsets, lo, pairs), ",")
    return _keep_nulls(pc.binary_join_element_wise("{", joined, "}", ""), arr)
