"""Records spread over N channels, each resuming after its own committed token (pure).

One rule, used by the library's sharded channels (:mod:`._sharded`) and by the CLI's
``ingest --channels N`` (``cli/_shards``). Snowflake caps one channel's throughput (about 1 MB/s
uncompressed through the REST API, by its documentation), so a large load is spread over
several channels, as the Kafka connector does with a topic's partitions. Records are numbered
from 1; they are cut into *stripes* of :data:`STRIPE` records, dealt to the channels in turn:
record ``n`` is owned by channel ``(n - 1) // STRIPE % N`` (:func:`owner`). Ownership depends
only on ``n`` and ``N``, never on how the records were handed over (call sizes, where a rerun
started), so a channel's committed offset token, which names the last of *its* records that is
in, says exactly which of its records are in: every record below it that the channel owns.

The channels are named ``NAME-1`` .. ``NAME-N`` (one channel: ``NAME`` itself;
:func:`channel_names`). A run with another ``N`` would deal the records otherwise, so before any
channel is opened every name a run with any ``N`` could have used (:func:`family`) is looked up
in one status request, and a committed token written with another ``N`` is refused.

The library's tokens are ``KEY/N:n`` (:func:`record_token`): the key tells them apart from other
writers' tokens, ``N`` says how the records were dealt, ``n`` is the record. A call's part is
sent with the tokens of its first and last records, ``KEY/N:a`` and ``KEY/N:b``: a prefix and a
number, so the channel gives every row in between its own token when it splits the part over
several requests (``_batching.row_tokens``), and a commit wait compares them as numbers. (The
CLI writes its own ``NAME@HASH/N:n`` tokens, which name the input as well: ``cli/_identity``.)

:class:`ShardPlan` holds the decisions of one sharded channel: where it resumes
(:attr:`ShardPlan.resume_from`), which records of a call go to which channel and which are
skipped because their owner has committed them already, what a commit wait waits for.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ._constants import AUTO_OFFSET_TOKEN_PREFIX
from ._exceptions import OffsetTokenError, ShardingMismatchError

__all__ = [
    "DEFAULT_KEY",
    "MAX_CHANNELS",
    "STRIPE",
    "Part",
    "ShardPlan",
    "channel_names",
    "check_family",
    "check_key",
    "check_shards",
    "family",
    "last_owned",
    "line_end",
    "next_owned",
    "owner",
    "parse_record_token",
    "record_token",
    "resume_point",
]

#: Records per stripe: large enough that a call is seldom cut, small enough that a few
#: thousand records already use every channel.
STRIPE = 1000
#: The most channels records are spread over (Snowflake's per-pipe channel limit is far
#: higher; past a few dozen a single process is the bound, not the channels). It bounds the
#: family looked up before a run.
MAX_CHANNELS = 64
#: The key of the library's tokens when the caller gives none.
DEFAULT_KEY = "records"


def channel_names(name: str, shards: int) -> list[str]:
    """The channels of a run: ``[name]`` for one, ``name-1`` .. ``name-N`` otherwise."""
    return [name] if shards == 1 else [f"{name}-{k}" for k in range(1, shards + 1)]


def family(name: str) -> list[str]:
    """Every name a run with any number of channels could have used for ``name``."""
    return [name, *(f"{name}-{k}" for k in range(1, MAX_CHANNELS + 1))]


def owner(number: int, shards: int) -> int:
    """The index (0-based) of the channel that owns record ``number``."""
    return (number - 1) // STRIPE % shards


def next_owned(k: int, after: int, shards: int) -> int:
    """The first record after record ``after`` (0: none) that channel ``k`` owns."""
    m = after + 1
    stripe = (m - 1) // STRIPE
    ahead = (k - stripe) % shards  # stripes until one of k's
    return m if ahead == 0 else (stripe + ahead) * STRIPE + 1


def last_owned(k: int, upto: int, shards: int) -> int:
    """The last record up to record ``upto`` that channel ``k`` owns (0: none)."""
    if upto < 1:
        return 0
    stripe = (upto - 1) // STRIPE
    behind = (stripe - k) % shards  # stripes back to one of k's
    if behind == 0:
        return upto
    return max(stripe - behind + 1, 0) * STRIPE


def resume_point(committed: Sequence[int], shards: int) -> int:
    """The first record not committed by its owner, given each channel's last committed
    record (0: none): every record before it is in."""
    return min(next_owned(k, c, shards) for k, c in enumerate(committed[:shards]))


def line_end(data: bytes, count: int, lines: int, start: int = 0) -> int:
    """Where the ``count``-th line from ``start`` ends (after its newline), in ``data`` whose
    ``lines`` lines from ``start`` (a line's first byte) each end in ``\\n``; ``0 <= count <=
    lines``. Counted at C speed up to a guess from the average line length, then a few steps
    of ``find``/``rfind`` to the exact line (a ``find`` per line was 11% of the CPU of
    ``ingest --channels 2``)."""
    if count == 0:
        return start
    if count == lines:
        return len(data)
    guess = start + (len(data) - start) * count // lines
    seen = data.count(b"\n", start, guess)  # lines ending before ``guess``
    if seen < count:
        at = guess - 1
        for _ in range(count - seen):
            at = data.find(b"\n", at + 1)
    else:
        at = guess
        for _ in range(seen - count + 1):
            at = data.rfind(b"\n", start, at)
    return at + 1


def check_key(key: object) -> str:
    """``key`` as the key of record tokens: a non-empty str, not the library's reserved prefix."""
    if not isinstance(key, str):
        raise TypeError(f"key must be a str, got {type(key).__name__}")
    if not key or key != key.strip() or not key.isprintable():
        raise ValueError(
            f"key must be a non-empty string of printable characters without outer spaces, "
            f"got {key!r:.80}"
        )
    if key.startswith(AUTO_OFFSET_TOKEN_PREFIX):
        raise ValueError(f"key must not start with {AUTO_OFFSET_TOKEN_PREFIX!r} (reserved)")
    return key


def check_shards(shards: object) -> int:
    """``shards`` as a number of channels: an int from 1 to :data:`MAX_CHANNELS`."""
    if isinstance(shards, bool) or not isinstance(shards, int):
        raise TypeError(f"channels must be an int, got {type(shards).__name__}")
    if not 1 <= shards <= MAX_CHANNELS:
        raise ValueError(f"channels must be from 1 to {MAX_CHANNELS}, got {shards}")
    return shards


def record_token(key: str, shards: int, number: int) -> str:
    """The offset token of record ``number`` dealt over ``shards`` channels."""
    return f"{key}/{shards}:{number}"


def parse_record_token(token: str | None) -> tuple[str, int, int] | None:
    """``(key, N, n)`` of a token :func:`record_token` made, else None."""
    if not token:
        return None
    head, _, n = token.rpartition(":")
    key, _, shards = head.rpartition("/")
    if not key or not _plain_int(shards) or not _plain_int(n):
        return None
    return key, int(shards), int(n)


def _plain_int(digits: str) -> bool:
    """An integer as ``str(int)`` spells it, >= 1."""
    return digits.isascii() and digits.isdigit() and digits[0] != "0"


def check_family(
    name: str, key: str, shards: int, committed: Mapping[str, str | None]
) -> list[int]:
    """Each channel's last committed record (0: none), from the committed tokens of the family
    of ``name`` (a channel absent from ``committed`` has none); raises
    :class:`ShardingMismatchError` when they were not dealt by these ``key`` and ``shards``:

    - a channel of the family holds a token of ``key`` written with another number of
      channels (a rerun with another ``N``);
    - one of this run's channels holds a token that is not ``key``'s (another writer, another
      key: nothing says which of these records are in), or a record it does not own.

    Another writer's tokens in the family's other channels are not this run's business.
    """
    ours = channel_names(name, shards)
    mine = {n: parse_record_token(committed.get(n)) for n in family(name)}
    holders = [n for n, t in mine.items() if t is not None and t[0] == key]
    for channel, token in mine.items():
        if token is not None and token[0] == key and token[1] == shards and channel not in ours:
            raise ShardingMismatchError(
                f"channel {channel!r} has committed offset token {committed[channel]!r}: "
                f"records of key {key!r} dealt over {shards} channels, but it is not one of "
                f"the channels {_listed(ours)}: another program wrote it. Nothing was opened. "
                "Use another name or key, or drop it first (client.drop_channel)",
                channel=channel,
                committed=committed[channel] or "",
                written_with=None,
                channels=shards,
            )
        if token is not None and token[0] == key and token[1] != shards:
            written = token[1]
            raise ShardingMismatchError(
                f"channel {channel!r} has committed offset token {committed[channel]!r}: "
                f"records of key {key!r} dealt over {written} channel"
                f"{'s' if written != 1 else ''}, and this sharded channel deals them over "
                f"{shards}; each channel resumes only the records it owns, so the records "
                f"must be dealt the same way. Nothing was opened. Open it with "
                f"channels={written} to resume; to start over, drop the channels "
                f"{_listed(holders)} first (client.drop_channel), or use another name",
                channel=channel,
                committed=committed[channel] or "",
                written_with=written,
                channels=shards,
            )
    out: list[int] = []
    for k, channel in enumerate(ours):
        token, raw = mine[channel], committed.get(channel)
        if raw is None:
            out.append(0)
            continue
        if token is None or token[0] != key:
            raise ShardingMismatchError(
                f"channel {channel!r} has committed offset token {raw!r}, which a sharded "
                f"channel of key {key!r} did not write: nothing says which of your records "
                "are in it. Nothing was opened. Give the key that wrote it (key=...), use "
                f"another name, or drop {channel!r} first (client.drop_channel) to start over",
                channel=channel,
                committed=raw,
                written_with=None,
                channels=shards,
            )
        if owner(token[2], shards) != k:
            raise ShardingMismatchError(
                f"channel {channel!r} has committed offset token {raw!r}, but record "
                f"{token[2]:,} belongs to channel {ours[owner(token[2], shards)]!r}: the "
                "channels were not written by this sharded channel. Nothing was opened. Use "
                "another name, or drop the channels first (client.drop_channel)",
                channel=channel,
                committed=raw,
                written_with=None,
                channels=shards,
            )
        out.append(token[2])
    return out


def _listed(names: list[str]) -> str:
    if len(names) <= 4:
        return ", ".join(repr(n) for n in names)
    return f"{names[0]!r} .. {names[-1]!r}"


@dataclass(frozen=True)
class Part:
    """Records ``first`` .. ``last`` of a call, for channel ``channel``: the call's items
    ``start`` .. ``stop - 1``."""

    channel: int
    start: int
    stop: int
    first: int
    last: int


class ShardPlan:
    """The decisions of one sharded channel (no I/O): its shells hand it the committed
    records the channels were opened with, ask it where each call's records go, and tell it
    what they gave.

    ``skip[k]`` is channel ``k``'s last committed record when it was opened: its records up
    to there are in, and are skipped when given again. ``sent[k]`` is the last record given
    to channel ``k`` since (0: none). ``last`` is the last record number given (None: none).
    """

    def __init__(self, key: str, shards: int, committed: Sequence[int]) -> None:
        if len(committed) != shards:
            raise ValueError(f"{shards} channels, {len(committed)} committed records")
        self.key = key
        self.shards = shards
        self.skip = list(committed)
        self.sent = [0] * shards
        self.last: int | None = None

    def token(self, number: int) -> str:
        return record_token(self.key, self.shards, number)

    @property
    def resume_from(self) -> int:
        """The first record not committed by its owner when the channels were opened."""
        return resume_point(self.skip, self.shards)

    def current(self, committed: Sequence[str | None]) -> int:
        """Where a rerun would resume, given the channels' committed tokens as last seen."""
        points = []
        for k, token in enumerate(committed):
            parsed = parse_record_token(token)
            ok = parsed is not None and parsed[0] == self.key and parsed[1] == self.shards
            points.append(max(parsed[2] if ok and parsed else 0, self.skip[k]))
        return resume_point(points, self.shards)

    def check(self, first: object, count: int, what: str) -> int:
        """``first`` as the number of the first of ``count`` records given next; refuses a
        number that does not follow the last one given."""
        if isinstance(first, bool) or not isinstance(first, int):
            raise TypeError(f"{what} must be an int (a record number), got {type(first).__name__}")
        if first < 1:
            raise ValueError(f"{what} must be a record number >= 1, got {first}")
        if self.last is not None and first <= self.last:
            given = f"record {first:,}" + (f" .. {first + count - 1:,}" if count > 1 else "")
            raise OffsetTokenError(
                f"{given} given after record {self.last:,}: record numbers must increase "
                "from call to call (each channel's committed token says which of its records "
                "are in only if they come in order); nothing of this call was buffered. "
                "To send records again, open the sharded channel again and start from its "
                "resume_from"
            )
        return first

    def parts(self, first: int, count: int) -> list[Part]:
        """Where records ``first`` .. ``first + count - 1`` go: one :class:`Part` per run of
        records with one owner, in order, without the records their owner has committed."""
        out: list[Part] = []
        last = first + count - 1
        n = first
        while n <= last:
            end = min(((n - 1) // STRIPE + 1) * STRIPE, last)  # the end of n's stripe
            k = owner(n, self.shards)
            lo = max(n, self.skip[k] + 1)
            if lo <= end:
                prev = out[-1] if out else None
                if prev is not None and prev.channel == k and prev.last == lo - 1:
                    out[-1] = Part(k, prev.start, end - first + 1, prev.first, end)
                else:
                    out.append(Part(k, lo - first, end - first + 1, lo, end))
            n = end + 1
        return out

    def given(self, part: Part) -> None:
        """``part`` was handed to its channel."""
        self.sent[part.channel] = part.last
        self.last = part.last

    def targets(self, number: int | None) -> list[int]:
        """For a wait until every record given up to ``number`` (None: every record given) is
        committed: the record each channel must commit (0: nothing to wait for)."""
        out = []
        for k, sent in enumerate(self.sent):
            upto = sent if number is None else min(last_owned(k, number, self.shards), sent)
            out.append(upto if upto > self.skip[k] else 0)
        return out
