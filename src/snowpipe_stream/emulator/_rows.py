"""The emulator's own check of an append body: one JSON object per line, parsed line by line.

Deliberately plain, and independent of the client's ``snowpipe_stream._ndjson`` (whose
whole-body fast check this one must not share: an oracle that shares the code under test hides
that code's bugs). The body is split at ``\\n``; each line is decoded on its own as "one JSON
object": msgspec parses and checks the whole line (members included) but builds nothing but an
empty struct, which keeps the emulator fast. A line is a row when that succeeds and the line is
UTF-8. Anything else (invalid JSON or UTF-8, two values on a line, part of a value, an array, a
scalar) is an error row, as Snowflake counts it with ON_ERROR=CONTINUE. Lines of JSON whitespace
only are skipped. Numbers are checked for syntax, not range (as the client does).
"""

from __future__ import annotations

import msgspec

__all__ = ["split_rows"]


class _Object(msgspec.Struct):
    """Any JSON object (members checked, then skipped); anything else fails to decode."""


_decode_object = msgspec.json.Decoder(_Object).decode
_JSON_SPACE = b" \t\r"


def _utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def split_rows(raw: bytes) -> tuple[bytes, int, list[int]]:
    """``(NDJSON of the rows, how many, 1-based line numbers of the error rows)``.

    Blank lines are skipped but numbered, as an editor numbers them. The NDJSON returned holds
    the rows as they came (a CRLF line keeps its ``\\r``), each ending in ``\\n``: ``raw``
    itself when every line is a row.
    """
    lines = raw.split(b"\n")
    if lines[-1] == b"":
        lines.pop()  # after the final newline (or an empty body)
    utf8 = raw.isascii() or _utf8(raw)
    good: list[bytes] = []
    bad: list[int] = []
    keep = good.append
    for number, line in enumerate(lines, 1):
        try:
            _decode_object(line)
        except msgspec.DecodeError:
            if line.strip(_JSON_SPACE):
                bad.append(number)
            continue
        if utf8 or _utf8(line):
            keep(line)
        else:
            bad.append(number)
    if good and len(good) == len(lines):
        return (raw if raw.endswith(b"\n") else raw + b"\n"), len(good), bad
    return (b"\n".join(good) + b"\n" if good else b""), len(good), bad
