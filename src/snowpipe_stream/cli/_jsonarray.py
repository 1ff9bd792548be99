"""JSON inputs of ``ingest``: an array of objects, streamed one element at a time.

The file is never loaded whole: :class:`Elements` holds a bounded buffer (``chunk`` bytes read
at a time, plus the element being parsed) and hands out each element as soon as it is parsed,
by :meth:`json.JSONDecoder.raw_decode` at an index of the buffer (the C scanner of the standard
library: no dependency; ijson's pure-Python backend is far slower, and its C backend or
json-stream would be one more compiled dependency for what a 100-line splitter does).

- An element that does not end inside the buffer is parsed again once more input is read (the
  buffer doubles each time, so a large element costs a few parses at most). An element that
  ends exactly at the buffer's end is parsed again too: a number could go on.
- Errors name the record (the element's index, from 1) and the byte offset in the file where
  the problem is (the file has one line, or lines that are not records: a line number would not
  help).
- A top-level object (not an array) is one record. Whitespace only, or ``[]``: no records.
- Each element is handed on as its text, on one line (its line breaks are whitespace between
  tokens: a JSON string cannot hold a raw one), for the channel's ``append_ndjson``: numbers
  keep every digit, and the channel checks it at C speed instead of re-encoding Python objects.
  The parsed object is there for the identity hash (see ``_readers``).
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Callable, Iterator
from typing import IO, Any

__all__ = ["CHUNK", "MAX_RECORD", "Elements"]

#: Bytes read at a time.
CHUNK = 1 << 16
#: The largest element (characters): more is an error rather than a buffer without a bound.
MAX_RECORD = 64 << 20

_WS = re.compile(r"[ \t\n\r]*")
_raw_decode = json.JSONDecoder().raw_decode

Item = tuple[int, Any, int]
Bad = Callable[..., Exception]


def _nbytes(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


class Elements:
    """The elements of the JSON array in ``stream``, as (index, (object, its text), bytes).

    ``bad(source, index, reason, unit="record", offset=...)`` makes the exception for bad
    input. ``peak`` is the most characters the buffer has held (what a test bounds).
    """

    def __init__(
        self,
        source: str,
        stream: IO[bytes],
        bad: Bad,
        chunk: int = CHUNK,
        max_record: int = MAX_RECORD,
    ) -> None:
        self._source, self._stream, self._bad = source, stream, bad
        self._chunk, self._max = chunk, max_record
        self._text = codecs.getincrementaldecoder("utf-8")()
        self._buf = ""
        self._pos = 0
        self._base = 0  # the byte offset of _buf[0] in the file
        self._eof = False
        self.peak = 0

    def _fail(self, index: int, at: int, reason: str) -> Exception:
        offset = self._base + _nbytes(self._buf[:at])
        return self._bad(self._source, index, reason, unit="record", offset=offset)

    def _more(self, index: int, want: int) -> bool:
        """Read at least ``want`` more bytes (or to the end); False at the end."""
        if self._eof:
            return False
        if self._pos >= self._chunk:  # drop what was handed out
            self._base += _nbytes(self._buf[: self._pos])
            self._buf = self._buf[self._pos :]
            self._pos = 0
        data = self._stream.read(max(want, self._chunk))
        try:
            self._buf += self._text.decode(data, final=not data)
        except UnicodeDecodeError as exc:
            # (The record is not known when the buffer is read ahead: the byte is.)
            at = self._base + _nbytes(self._buf) + exc.start
            raise self._bad(
                self._source, 0, f"not UTF-8 text at byte {at:,} ({exc.reason}): encode it as UTF-8"
            ) from None
        self._eof = not data
        self.peak = max(self.peak, len(self._buf))
        return True

    def _skip_ws(self, index: int) -> str:
        """The next character that is not whitespace ("" at the end)."""
        while True:
            end = _WS.match(self._buf, self._pos)
            assert end is not None
            self._pos = end.end()
            if self._pos < len(self._buf):
                return self._buf[self._pos]
            if not self._more(index, self._chunk):
                return ""

    def _value(self, index: int) -> tuple[Any, bytes, int]:
        """The value at the position, its text (UTF-8), and where it starts in the buffer; the
        position moves past it."""
        while True:
            start = self._pos
            try:
                value, end = _raw_decode(self._buf, start)
            except json.JSONDecodeError as exc:
                if self._eof or (
                    # An error before the buffer's end is in the data, not for want of it
                    # (a literal cut short, "tr", fails at its start: hence the margin).
                    not exc.msg.startswith("Unterminated string") and exc.pos < len(self._buf) - 16
                ):
                    raise self._fail(index, exc.pos, f"invalid JSON: {exc.msg}") from None
                if len(self._buf) - start > self._max:
                    raise self._fail(
                        index, start, f"a record longer than {self._max:,} characters"
                    ) from None
                self._more(index, len(self._buf) - start)
                continue
            if end == len(self._buf) and not self._eof:
                self._more(index, self._chunk)  # a number may go on: parse it again
                continue
            self._pos = end
            return value, self._buf[start:end].encode("utf-8", "surrogatepass"), start

    def __iter__(self) -> Iterator[Item]:
        first = self._skip_ws(0)
        if first == "":
            return
        if first != "[":
            value, text, _ = self._value(1)
            if not isinstance(value, dict):
                raise self._fail(1, 0, "not a JSON array or object")
            self._end(1)
            yield 1, (value, text), len(text)
            return
        self._pos += 1
        index = 0
        while True:
            index += 1
            c = self._skip_ws(index)
            if c == "]" and index == 1:
                break
            if index > 1:
                if c == "]":
                    break
                if c != ",":
                    raise self._fail(
                        index,
                        self._pos,
                        "expected ',' or ']' after the record before it"
                        if c
                        else "the array is not closed (the file ends inside it)",
                    )
                self._pos += 1
                c = self._skip_ws(index)
            if c == "":
                raise self._fail(
                    index, self._pos, "the array is not closed (the file ends inside it)"
                )
            value, text, at = self._value(index)
            if not isinstance(value, dict):
                raise self._fail(index, at, f"record {index} is {_kind(value)}, not an object")
            yield index, (value, text), len(text)
        self._pos += 1
        self._end(max(index - 1, 1))  # (index is one past the last record here)

    def _end(self, index: int) -> None:
        if self._skip_ws(index) != "":
            raise self._fail(index, self._pos, "more data after the end of the JSON document")


def _kind(value: Any) -> str:
    return {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number"
    )
