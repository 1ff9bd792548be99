"""``ingest --channels N``: which channel owns which record (pure).

Snowflake caps one channel's throughput (about 1 MB/s uncompressed through the REST API, by
its documentation), so a large load is spread over several channels, as the Kafka connector and
Estuary do. The records of each input are cut into *stripes* of ``STRIPE`` records, dealt to
the channels in turn: record ``n`` (1-based, counted in its input, as in its offset token) is
owned by channel ``(n - 1) // STRIPE % N``. Ownership depends only on ``n`` and ``N``, never on
how the input was read (blocks, chunk sizes, where a rerun started), so each channel's
committed token ``KEY/N:n`` says exactly which of *its* records are in: a rerun with the same
``N`` resumes each channel after its own token, and every record goes in exactly once. A rerun
with another ``N`` would deal the records differently, so it is refused (``_identity``).

The channels are named ``NAME-1`` .. ``NAME-N`` (one channel: ``NAME`` itself, as without
``--channels``). Before a run, the other names of the family (``NAME`` and ``NAME-1`` ..
``NAME-MAX_CHANNELS``) are looked up too: a committed token of these inputs in any of them
means the inputs were spread another way.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator

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

#: Records per stripe: large enough that a block of lines is seldom cut, small enough that
#: a few thousand records already use every channel.
STRIPE = 1000
#: The most channels one ``ingest`` spreads over (Snowflake's per-pipe channel limit is far
#: higher; past a few dozen a single reading process is the bound, not the channels).
MAX_CHANNELS = 64
#: What a channel has committed of an input that comes before its resume point: all of it.
ALL = sys.maxsize


def channel_names(name: str, shards: int) -> list[str]:
    """The channels of a run: ``[name]`` for one, ``name-1`` .. ``name-N`` otherwise."""
    return [name] if shards == 1 else [f"{name}-{k}" for k in range(1, shards + 1)]


def family(name: str) -> list[str]:
    """Every name a run with any ``--channels`` could have used for ``name``."""
    return [name, *(f"{name}-{k}" for k in range(1, MAX_CHANNELS + 1))]


def owner(number: int, shards: int) -> int:
    """The index (0-based) of the channel that owns record ``number``."""
    return (number - 1) // STRIPE % shards


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


def _line_end(data: bytes, count: int, lines: int) -> int:
    """Where line ``count`` of ``data`` (``lines`` lines, each ending in ``\\n``) ends, after
    its newline. Counted at C speed from a guess at the average line length, then a few
    steps of ``find``/``rfind`` to the exact line (a step per line from the start was 11% of
    ``ingest --channels 2``'s CPU)."""
    guess = len(data) * count // lines
    seen = data.count(b"\n", 0, guess)  # lines ending before ``guess``
    if seen < count:
        at = guess - 1
        for _ in range(count - seen):
            at = data.find(b"\n", at + 1)
    else:
        at = guess
        for _ in range(seen - count + 1):
            at = data.rfind(b"\n", 0, at)
        # ``at`` is now the newline of line ``count``
    return at + 1


def _cut(block: Record, count: int) -> tuple[Record, Record]:
    """The first ``count`` records of a block of lines, and the rest."""
    data = block.row
    assert isinstance(data, bytes) and 0 < count < block.count
    at = _line_end(data, count, block.count)
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
