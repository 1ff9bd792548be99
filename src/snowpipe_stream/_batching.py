"""Cutting NDJSON rows into request-sized batches, and comparing offset tokens (pure).

A :class:`Batch` is what one append request carries: NDJSON bytes (uncompressed, every line
ending in ``\\n``), its row count, the offset tokens of its first and last rows, and the
request id that every retry of it reuses. :class:`BatchBuilder` accumulates rows and cuts a
batch whenever the next row would push it over ``max_bytes``; rows keep their order.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ._exceptions import RowTooLargeError
from ._ndjson import encode_row_into

__all__ = ["Batch", "BatchBuilder", "committed_prefix", "parse_int_token", "token_reached"]


@dataclass
class Batch:
    payload: bytes
    rows: int
    start_token: str | None
    end_token: str | None
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    #: Whether an append of this batch has succeeded once (a replay after recovery is not
    #: counted again in the stats).
    sent: bool = False

    @property
    def nbytes(self) -> int:
        return len(self.payload)


def parse_int_token(token: str | None) -> int | None:
    """The integer an offset token spells, or None when it is not a plain integer."""
    if token is None:
        return None
    t = token.strip()
    digits = t[1:] if t.startswith(("+", "-")) else t
    if not digits.isdigit() or not digits.isascii():
        return None
    return int(t)


def token_reached(committed: str | None, target: str) -> bool:
    """Whether ``committed`` is at or past ``target``.

    Snowflake commits in batches, so the committed token can jump past the one waited for:
    compare with >=, numerically when both are integers, else as strings.
    """
    if committed is None:
        return False
    a, b = parse_int_token(committed), parse_int_token(target)
    if a is not None and b is not None:
        return a >= b
    return committed >= target


def committed_prefix(batches: Sequence[Batch], committed: str | None) -> int:
    """How many leading ``batches`` the committed offset token covers.

    The batch whose end token equals ``committed`` (the last such) and all before it are
    committed. Failing an exact match, integer tokens are compared numerically. A batch
    without an end token is covered when a later batch is.
    """
    if committed is None:
        return 0
    for i in range(len(batches) - 1, -1, -1):
        if batches[i].end_token == committed:
            return i + 1
    c = parse_int_token(committed)
    if c is None:
        return 0
    covered = 0
    for i, batch in enumerate(batches):
        end = parse_int_token(batch.end_token)
        if batch.end_token is None:
            continue
        if end is None or end > c:
            break
        covered = i + 1
    return covered


class BatchBuilder:
    """Accumulates NDJSON lines in one buffer; cuts :class:`Batch` es of at most ``max_bytes``."""

    __slots__ = ("_buf", "_end", "_first_at", "_max", "_rows", "_start")

    def __init__(self, max_bytes: int) -> None:
        self._max = max_bytes
        self._buf = bytearray()
        self._rows = 0
        self._start: str | None = None
        self._end: str | None = None
        self._first_at: float | None = None

    @property
    def max_bytes(self) -> int:
        return self._max

    @property
    def rows(self) -> int:
        return self._rows

    @property
    def nbytes(self) -> int:
        return len(self._buf)

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
        buf = self._buf
        start = len(buf)
        encode_row_into(row, buf)
        if len(buf) > self._max:
            size = len(buf) - start
            if size > self._max:
                del buf[start:]
                raise self._too_large(size, "row")
            # The buffered rows make a batch; this row starts the next one.
            batch = Batch(bytes(memoryview(buf)[:start]), self._rows, self._start, self._end)
            self._buf = buf[start:]
            self._rows = 1
            self._start = self._end = token
            self._first_at = now()
            return batch
        # The same bookkeeping as _append, inlined: this runs once per row.
        if self._rows == 0:
            self._first_at = now()
            self._start = token
        elif self._start is None:
            self._start = token
        self._rows += 1
        if token is not None:
            self._end = token
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
        """Add ``rows`` NDJSON lines in ``blob`` (already checked); append cut batches to ``out``.

        ``start``/``end`` are the offset tokens of the first and last of these rows.
        """
        if len(self._buf) + len(blob) <= self._max:
            self._append(blob, rows, start, end, now)
        elif len(blob) <= self._max:
            out.append(self._cut())
            self._append(blob, rows, start, end, now)
        else:
            self._add_split(blob, rows, start, end, now, out)

    def _append(
        self, blob: bytes, rows: int, start: str | None, end: str | None, now: float
    ) -> None:
        if self._rows == 0:
            self._first_at = now
            self._start = start
        elif self._start is None:
            self._start = start
        self._buf += blob
        self._rows += rows
        if end is not None:
            self._end = end

    def _add_split(
        self,
        blob: bytes,
        rows: int,
        start: str | None,
        end: str | None,
        now: float,
        out: list[Batch],
    ) -> None:
        lines = blob.split(b"\n")[:-1]
        tokens = _spread_tokens(start, end, len(lines))
        for line, token in zip(lines, tokens, strict=True):
            data = line + b"\n"
            if len(self._buf) + len(data) > self._max and self._rows:
                out.append(self._cut())
            self._append(data, 1, token, token, now)

    def cut(self) -> Batch | None:
        """The buffered rows as a batch, or None when there are none."""
        return self._cut() if self._rows else None

    def _cut(self) -> Batch:
        batch = Batch(bytes(self._buf), self._rows, self._start, self._end)
        self._buf = bytearray()
        self._rows = 0
        self._start = self._end = None
        self._first_at = None
        return batch


def _spread_tokens(start: str | None, end: str | None, n: int) -> list[str | None]:
    """Per-row tokens for ``n`` rows given only the first and last (integers are interpolated)."""
    a, b = parse_int_token(start), parse_int_token(end)
    if a is not None and b is not None and b - a == n - 1:
        return [str(a + i) for i in range(n)]
    tokens: list[str | None] = [None] * n
    if n:
        tokens[0] = start
        tokens[-1] = end if end is not None else tokens[-1]
    return tokens
