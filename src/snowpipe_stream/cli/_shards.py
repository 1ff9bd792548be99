"""``ingest --channels N``: the records of a block cut where they change owner (pure).

Which channel owns which record, the channels' names and the family looked up before a run are
the library's rule (``snowpipe_stream._sharding``, also under ``Client.open_sharded_channel``):
record ``n`` (1-based, counted in its input, as in its offset token) is owned by channel
``(n - 1) // STRIPE % N``, whatever blocks the input was read in, so each channel's committed
token ``KEY/N:n`` says exactly which of *its* records are in: a rerun with the same ``N``
resumes each channel after its own token, and every record goes in exactly once. A rerun with
another ``N`` would deal the records differently, so it is refused (``_identity``). Here is the
reader-specific part: cutting a block of NDJSON lines at stripe boundaries, and the part of a
block a channel has not committed.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator

from .._sharding import MAX_CHANNELS, STRIPE, channel_names, family, line_end, owner
from ._readers import Record

__all__ = [
    "ALL",
    "MAX_CHANNELS",
    "STRIPE",
    "after",
    "channel_names",
    "family",
    "owner",
    "stripes",
]

#: What a channel has committed of an input that comes before its resume point: all of it.
ALL = sys.maxsize


def stripes(record: Record, shards: int) -> Iterator[tuple[int, Record]]:
    """``record`` cut where its records change owner: (owner, part) in order.

    A single record, or a block within one stripe, is yielded whole; a block of NDJSON lines
    (one record per line: see ``_readers._ndjson_blocks``) is cut at stripe boundaries.
    """
    if shards == 1:
        yield 0, record
        return
    while True:
        first = record.number
        end = (first - 1) // STRIPE * STRIPE + STRIPE  # the stripe's last record
        if record.last <= end:
            yield owner(first, shards), record
            return
        head, record = _cut(record, end - first + 1)
        yield owner(first, shards), head


def after(record: Record, number: int) -> Record:
    """The records of ``record`` numbered after ``number`` (``record.number <= number <
    record.last``): the part of a block its channel has not committed."""
    return _cut(record, number - record.number + 1)[1]


def _cut(block: Record, count: int) -> tuple[Record, Record]:
    """The first ``count`` records of a block of lines, and the rest."""
    data = block.row
    assert isinstance(data, bytes) and 0 < count < block.count
    at = line_end(data, count, block.count)
    head = Record(
        block.number, block.source, block.line, data[:at], at, block.unit, count, block.checked
    )
    tail = Record(
        block.number + count,
        block.source,
        block.line + count,
        data[at:],
        block.size - at,
        block.unit,
        block.count - count,
        block.checked,
    )
    return head, tail
