"""Parquet and Arrow IPC (Feather) inputs of ``ingest``: records read batch by batch.

Record ``n`` is row ``n`` of the input (1-based, across its row groups), so a rerun resumes
after the committed row exactly as it does after an NDJSON line. A Parquet file is read one
row group at a time (``iter_batches``), an Arrow file or stream one record batch at a time:
memory holds one batch and its JSON, whatever the file's size.

Each batch is converted to NDJSON column by column (``snowpipe_stream._arrow``); its lines go
to the channel as NDJSON records. A table with binary columns is the exception: how bytes are
written depends on the pipe (hex, base64 or UTF-8), which the channel knows and a reader does
not, so its rows go as Python rows (``append_rows`` encodes the bytes as the pipe expects).

These formats need pyarrow (``pip install "snowpipe-stream[arrow]"``); without it an input in
them is refused with that advice, before anything is sent.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO, Any

import msgspec

from .._arrow import INSTALL_HINT, arrow_ndjson, pyarrow
from .._exceptions import InvalidRowError
from ._readers import BadInput, Format

__all__ = ["COLUMNAR_FORMATS"]

#: Rows read and converted at a time: small enough that the conversion's intermediate arrays
#: stay a few MB (a Parquet row group may be larger: it is read in slices).
BATCH_ROWS = 16_384

Item = tuple[int, Any, int]
_encode = msgspec.json.Encoder().encode


def _pyarrow(source: str, what: str) -> Any:
    try:
        return pyarrow()
    except ImportError:
        raise BadInput(source, 0, f"reading {what} needs pyarrow: {INSTALL_HINT}") from None


def _parquet(source: str, stream: IO[bytes]) -> Iterator[Item]:
    _pyarrow(source, "Parquet")
    import pyarrow.parquet as pq

    if not stream.seekable():
        raise BadInput(
            source,
            0,
            "Parquet is read from its end, so it cannot come from a pipe: save it to "
            "a file, or send Arrow IPC stream format (--format arrow)",
        )
    try:
        # Without pre-buffering or reader threads: one row group's column chunks at a time
        # (peak memory 22 MB of Arrow's instead of 68 MB for a 50 MB file; the reading is not
        # the bound, sending is).
        parquet = pq.ParquetFile(stream, pre_buffer=False)
        batches = parquet.iter_batches(batch_size=BATCH_ROWS, use_threads=False)
        yield from _rows(source, batches)
    except (pyarrow().ArrowInvalid, OSError) as exc:
        raise BadInput(source, 0, f"invalid Parquet: {exc}") from None


def _arrow_ipc(source: str, stream: IO[bytes]) -> Iterator[Item]:
    pa = _pyarrow(source, "Arrow IPC")
    try:
        if stream.seekable() and stream.read(6) == b"ARROW1":  # the file format (Feather v2)
            stream.seek(0)
            reader = pa.ipc.open_file(stream)
            batches = (reader.get_batch(i) for i in range(reader.num_record_batches))
        else:
            if stream.seekable():
                stream.seek(0)
            batches = iter(pa.ipc.open_stream(stream))
        yield from _rows(source, batches)
    except (pa.ArrowInvalid, OSError) as exc:
        raise BadInput(source, 0, f"invalid Arrow IPC data: {exc}") from None


def _rows(source: str, batches: Iterator[Any]) -> Iterator[Item]:
    """``(row number, NDJSON line or row dict, size)`` for every row of ``batches``."""
    number = 0
    for whole in batches:
        as_dicts = _has_binary(whole.schema)
        for start in range(0, whole.num_rows, BATCH_ROWS):
            batch = whole.slice(start, BATCH_ROWS)
            if as_dicts:
                for row in batch.to_pylist():
                    number += 1
                    yield number, row, len(_encode(row))
                continue
            try:
                blob, _ = arrow_ndjson(batch)
            except InvalidRowError:
                bad = _first_bad(batch)
                for line in arrow_ndjson(batch.slice(0, bad))[0].splitlines(keepends=True):
                    number += 1
                    yield number, line, len(line)
                raise BadInput(source, number + 1, _reason(batch.slice(bad, 1))) from None
            for line in blob.splitlines(keepends=True):
                number += 1
                yield number, line, len(line)


def _first_bad(batch: Any) -> int:
    """The index of the first row of ``batch`` that cannot be converted (a binary search:
    a prefix converts when the bad row is not in it)."""
    lo, hi = 0, batch.num_rows  # rows [0, lo) convert; [0, hi) does not
    while hi - lo > 1:
        mid = (lo + hi) // 2
        try:
            arrow_ndjson(batch.slice(0, mid))
        except InvalidRowError:
            hi = mid
        else:
            lo = mid
    return lo


def _reason(row: Any) -> str:
    try:
        arrow_ndjson(row)
    except InvalidRowError as exc:
        return str(exc).removeprefix("row 0 ")
    raise AssertionError("the row converted alone")  # pragma: no cover


def _has_binary(schema: Any) -> bool:
    types = pyarrow().types

    def binary(t: Any) -> bool:
        if (
            types.is_binary(t)
            or types.is_large_binary(t)
            or types.is_fixed_size_binary(t)
            or types.is_binary_view(t)
        ):
            return True
        if types.is_dictionary(t):
            return binary(t.value_type)
        return any(binary(t.field(i).type) for i in range(t.num_fields))

    return any(binary(field.type) for field in schema)


def _decode(source: str, line: int, item: Any) -> Any:
    return item  # NDJSON lines (checked by the channel) or rows from Arrow


def _ident(item: Any) -> bytes:
    return item[:-1] if isinstance(item, bytes) else _encode(item)


#: ``_readers``' formats (record n is row n of the input: its place is counted in rows).
COLUMNAR_FORMATS: dict[str, Format] = {
    "parquet": Format("parquet", _parquet, _decode, _ident),
    "arrow": Format("arrow", _arrow_ipc, _decode, _ident),
}
