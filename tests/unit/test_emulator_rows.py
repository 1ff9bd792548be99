"""NDJSON validation (the emulator's and append_ndjson's): fast and line-by-line paths agree."""

from __future__ import annotations

import pytest

from snowpipe_stream._ndjson import object_lines as split_rows


@pytest.mark.parametrize(
    ("raw", "rows", "bad"),
    [
        (b'{"a":1}\n{"a":2}\n', 2, []),
        (b'{"a":1}\n{"a":2}', 2, []),  # no final newline
        (b'{"a":1}\r\n{"a":2}\r\n', 2, []),
        (b'{"a":1}\n\n{"a":2}\n', 2, []),  # blank line skipped
        (b' {"a":1}\n', 1, []),  # leading space: still an object
        (b'{"a":1},{"b":2}\n{"c":3}\n', 1, [1]),  # two values on one line
        (b'{"a":1}\n[1]\n"s"\n{"a":\n', 1, [2, 3, 4]),
        (b"", 0, []),
    ],
)
def test_split_rows(raw: bytes, rows: int, bad: list[int]) -> None:
    data, count, errors = split_rows(raw)
    assert (count, errors) == (rows, bad)
    assert data.count(b"\n") == rows and (not data or data.endswith(b"\n"))
