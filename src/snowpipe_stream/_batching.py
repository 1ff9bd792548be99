"""Cutting NDJSON rows into request-sized batches, and offset tokens (pure).

A :class:`Batch` is what one append request carries: NDJSON bytes (uncompressed, every line
ending in ``\\n``), its row count, the offset tokens of its first and last rows, and the
request id that every retry of it reuses. :class:`BatchBuilder` accumulates rows and cuts a
batch whenever the next row would push it over ``max_bytes``; rows keep their order.

A batch's end offset token is the token of its *last* row, or None when that row has none (the
channel then gives the batch a token of the library's own, see ``_channel``): a committed
offset token always says exactly where the committed rows end.
"""

from __future__ import annotations

import uuid
from bisect import bisect_right
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ._constants import AUTO_OFFSET_TOKEN_PREFIX
from ._exceptions import OffsetTokenError, RowTooLargeError
from ._ndjson import encode_row_into

__all__ = [
    "Batch",
    "BatchBuilder",
    "check_token",
    "parse_int_token",
    "row_tokens",
    "token_reached",
]


@dataclass
class Batch:
    #: The rows as NDJSON; released (``b""``) once :attr:`body` holds them compressed.
    payload: bytes
    rows: int
    start_token: str | None
    end_token: str | None
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    #: Whether an append of this batch has succeeded once (a replay after recovery is not
    #: counted again in the stats).
    sent: bool = False
    #: The caller's tokens of its rows, so that a wait for any of them knows this batch.
    tokens: set[str] = field(default_factory=set)
    #: When (monotonic) its oldest row was appended, when it was first sent, and when
    #: Snowflake accepted it.
    first_at: float | None = None
    first_send_at: float | None = None
    sent_at: float | None = None
    #: The request body: the payload compressed (or the payload itself, uncompressed), made
    #: once, by the appending thread ahead of the send or else by the sender; a replay sends
    #: the same bytes again.
    body: bytes | None = None
    #: Bytes of NDJSON (the payload's length: it stays when the payload is released).
    nbytes: int = field(init=False)

    def __post_init__(self) -> None:
        self.nbytes = len(self.payload)


def check_token(value: object, param: str) -> str | None:
    """``value`` as an offset token: None or a non-empty str without the reserved prefix.

    A wrong type is a ``TypeError`` naming ``param``; a reserved or empty token is an
    :class:`OffsetTokenError`.
    """
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(
            f"{param} must be a str or None, got {type(value).__name__} {value!r:.80}; offset "
            f"tokens are strings (for a number, pass str(n))"
        )
    if not value:
        raise OffsetTokenError(f"{param} is an empty string; give a non-empty token or None")
    if value.startswith(AUTO_OFFSET_TOKEN_PREFIX):
        raise OffsetTokenError(
            f"{param} {value!r:.80} starts with {AUTO_OFFSET_TOKEN_PREFIX!r}, which is reserved "
            "for the tokens the library gives batches without one of yours; use another prefix"
        )
    return value


def parse_int_token(token: str | None) -> int | None:
    """The integer an offset token spells, or None when it is not a plain integer."""
    if token is None:
        return None
    t = token.strip()
    digits = t[1:] if t.startswith(("+", "-")) else t
    if not digits.isdigit() or not digits.isascii():
        return None
    return int(t)


def token_reached(committed: str | None, target: str, *, guess: bool = True) -> bool:
    """Whether ``committed`` is at or past ``target``, judged from the tokens alone.

    Snowflake commits in batches, so the committed token can jump past the one waited for:
    compare with >=, numerically when both are integers or the same prefix and a number
    (``file:10`` is past ``file:9``), else, with ``guess``, as strings. A token of the
    library's own says nothing about the caller's. (A channel that sent ``target`` itself
    knows better: it tracks its own batches; this is the fallback.)
    """
    if committed is None or committed.startswith(AUTO_OFFSET_TOKEN_PREFIX):
        return False
    a, b = parse_int_token(committed), parse_int_token(target)
    if a is not None and b is not None:
        return a >= b
    pa, pb = _split_number(committed), _split_number(target)
    if pa is not None and pb is not None and pa[0] == pb[0]:
        return pa[1] >= pb[1]  # "k:10" is past "k:9"
    return guess and committed >= target


def _split_number(token: str) -> tuple[str, int] | None:
    """``(prefix, number)`` for a token that ends in an ASCII number, else None.

    Zero-padded numbers (``007``) are not split: their width would not survive interpolation.
    """
    i = len(token)
    while i and "0" <= token[i - 1] <= "9":
        i -= 1
    digits = token[i:]
    if not digits or (len(digits) > 1 and digits[0] == "0"):
        return None
    return token[:i], int(digits)


def row_tokens(start: str | None, end: str | None, n: int) -> list[str | None] | None:
    """Per-row offset tokens for ``n`` rows given only the first and last, or None.

    When ``start`` and ``end`` are ``P + str(a)`` and ``P + str(b)`` with the same prefix ``P``
    and ``b - a == n - 1`` (plain integers are the case ``P == ""``), row ``i`` gets
    ``P + str(a + i)``: every row has a token of the caller's, so a call split over several
    requests still ends each request at one of them.
    """
    if start is None or end is None or n < 1:
        return None
    if n == 1:
        return [end]
    a, b = _split_number(start), _split_number(end)
    if a is None or b is None or a[0] != b[0] or b[1] - a[1] != n - 1:
        return None
    prefix, first = a[0], a[1]
    return [f"{prefix}{first + i}" for i in range(n)]


class BatchBuilder:
    """Accumulates NDJSON lines in one buffer; cuts :class:`Batch` es of at most ``max_bytes``.

    Every cut takes all the rows buffered so far (``add_row`` and ``add`` cut *before* the rows
    they are adding): two rows in the builder always end up in one batch, so only the token of
    the last buffered row (:attr:`end_token`) can become a batch's end token.
    """

    __slots__ = ("_buf", "_first_at", "_max", "_rows", "_start", "_tokens", "_whole", "end_token")

    def __init__(self, max_bytes: int) -> None:
        self._max = max_bytes
        self._buf = bytearray()
        #: A blob added whole to an empty builder, not copied into ``_buf`` (yet): a batch of
        #: that blob alone is cut without a copy (``append_ndjson`` of a request's worth).
        self._whole: bytes | None = None
        self._rows = 0
        self._start: str | None = None
        #: The token of the last buffered row: the only one that can end a batch (read it only).
        self.end_token: str | None = None
        self._first_at: float | None = None
        #: The caller's tokens of the buffered rows (they go with the batch: for waits).
        self._tokens: set[str] = set()

    @property
    def max_bytes(self) -> int:
        return self._max

    @property
    def rows(self) -> int:
        return self._rows

    @property
    def nbytes(self) -> int:
        return len(self._buf) if self._whole is None else len(self._whole)

    @property
    def start_token(self) -> str | None:
        return self._start

    @property
    def first_row_at(self) -> float | None:
        """Monotonic time the oldest buffered row arrived, or None when empty."""
        return self._first_at

    def _too_large(self, size: int, where: str) -> RowTooLargeError:
        return RowTooLargeError(
            f"{where} is {size} bytes as JSON, over the {self._max}-byte request limit "
            "(max_request_bytes); split the value or raise the limit (at most 16 MiB)",
            size=size,
            limit=self._max,
        )

    def check_line(self, line: bytes, where: str = "row") -> None:
        if len(line) > self._max:
            raise self._too_large(len(line), where)

    def add_row(
        self, row: Mapping[str, Any], token: str | None, now: Callable[[], float]
    ) -> Batch | None:
        """Encode one prepared row straight into the buffer; return a batch cut to make room.

        This is append_row's hot path: no intermediate bytes, the clock read once per batch.
        """
        if self._whole is not None:
            self._spill()
        buf = self._buf
        start = len(buf)
        encode_row_into(row, buf)
        if len(buf) > self._max:
            size = len(buf) - start
            if size > self._max:
                del buf[start:]
                raise self._too_large(size, "row")
            # The buffered rows make a batch; this row starts the next one.
            batch = Batch(
                bytes(memoryview(buf)[:start]),
                self._rows,
                self._start,
                self.end_token,
                tokens=self._tokens,
                first_at=self._first_at,
            )
            self._buf = buf[start:]
            self._rows = 1
            self._start = self.end_token = token
            self._tokens = set() if token is None else {token}
            self._first_at = now()
            return batch
        # The same bookkeeping as _append, inlined: this runs once per row.
        if self._rows == 0:
            self._first_at = now()
            self._start = token
        elif self._start is None:
            self._start = token
        self._rows += 1
        self.end_token = token
        if token is not None:
            self._tokens.add(token)
        return None

    def add(
        self,
        blob: bytes,
        rows: int,
        start: str | None,
        end: str | None,
        now: float,
        out: list[Batch],
    ) -> None:
        """Add ``rows`` NDJSON lines in ``blob`` (at most ``max_bytes``, already checked) as a
        whole; append a batch cut to make room to ``out``.

        ``start``/``end`` are the offset tokens of the first and last of these rows.
        """
        assert len(blob) <= self._max
        if self.nbytes + len(blob) > self._max:
            out.append(self._cut())
        self._append(blob, rows, start, end, now)

    def add_split(
        self,
        blob: bytes,
        tokens: list[str | None],
        start: str | None,
        now: float,
        out: list[Batch],
    ) -> None:
        """Add the lines of ``blob`` (over ``max_bytes``) one by one, row ``i`` with end token
        ``tokens[i]``; the first row's start token is ``start``. Append cut batches to ``out``."""
        lines = blob.split(b"\n")[:-1]
        for i, (line, token) in enumerate(zip(lines, tokens, strict=True)):
            data = line + b"\n"
            if self.nbytes + len(data) > self._max and self._rows:
                out.append(self._cut())
            self._append(data, 1, start if i == 0 else token, token, now)

    def add_lines(
        self,
        blob: bytes,
        ends: list[int],
        tokens: list[str] | None,
        start: str | None,
        end: str | None,
        now: float,
        out: list[Batch],
    ) -> None:
        """:meth:`add_split` for lines whose ends are known (``ends[i]``: where line ``i``
        ends, after its ``\\n``; every line at most ``max_bytes``, already checked): the same
        batches, cut by a search over ``ends`` instead of a step per row.

        ``tokens`` are the rows' tokens, or None when only the last row has one (``end``).
        """
        n = len(ends)
        i = pos = 0
        while i < n:
            fit = bisect_right(ends, pos + self._max - self.nbytes, i)
            if fit == i:  # not even the next line fits: the buffered rows make a batch
                assert self._rows, "a line over max_bytes was not refused"
                out.append(self._cut())
                continue
            last = fit - 1
            if tokens is None:
                # As add_split: a batch starts at the first token among its rows (row 0's is
                # ``start``; only the call's last row has one of its own).
                last_token = end if fit == n else None
                first_token = start if i == 0 else None
                if first_token is None and (i > 0 or fit > 1):
                    first_token = last_token
            else:
                first_token, last_token = (start if i == 0 else tokens[i]), tokens[last]
                self._tokens.update(tokens[i:last])  # for waits on any of them
            self._append(blob[pos : ends[last]], fit - i, first_token, last_token, now)
            pos, i = ends[last], fit

    def _append(
        self, blob: bytes, rows: int, start: str | None, end: str | None, now: float
    ) -> None:
        if self._rows == 0:
            self._first_at = now
            self._start = start
        elif self._start is None:
            self._start = start
        if self._rows == 0 and isinstance(blob, bytes):
            self._whole = blob
        else:
            if self._whole is not None:
                self._spill()
            self._buf += blob
        self._rows += rows
        self.end_token = end
        if end is not None:
            self._tokens.add(end)

    def _spill(self) -> None:
        assert self._whole is not None and not self._buf
        self._buf += self._whole
        self._whole = None

    def cut(self) -> Batch | None:
        """The buffered rows as a batch, or None when there are none."""
        return self._cut() if self._rows else None

    def _cut(self) -> Batch:
        whole, self._whole = self._whole, None
        batch = Batch(
            bytes(self._buf) if whole is None else whole,
            self._rows,
            self._start,
            self.end_token,
            tokens=self._tokens,
            first_at=self._first_at,
        )
        self._buf = bytearray()
        self._rows = 0
        self._start = self.end_token = None
        self._first_at = None
        self._tokens = set()
        return batch
