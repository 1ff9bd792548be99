"""Large NDJSON files are read in blocks of lines (no Python object per line) past the first
records: line numbers, blank lines, CRLF and resume must be exactly what line-by-line reading
gives."""

from __future__ import annotations

import json
from pathlib import Path

from snowpipe_stream.cli._readers import _FORMATS, BLOCK_BYTES, Source, read_records
from snowpipe_stream.emulator import Emulator
from tests.cli.test_cli import committed, emu, ingest

__all__ = ["emu"]

#: Rows of ~60 bytes: about 2.5 blocks, so the block reader carries most of the file.
N = (BLOCK_BYTES * 5 // 2) // 60


def line(i: int) -> str:
    return json.dumps({"n": i, "pad": "z" * 40}) + "\n"


def test_blocks_number_records_and_lines_as_line_by_line_reading_does(tmp_path: Path) -> None:
    # Blank lines, a CRLF line and an indented object in the block region: those blocks are
    # read line by line; the others whole. Records and their lines come out the same.
    text = "".join(line(i) for i in range(1, N + 1))
    lines = text.splitlines(keepends=True)
    lines[N - 100] = "\n"  # blank (not a record)
    lines[N - 50] = lines[N - 50].replace("\n", "\r\n")
    lines[N - 10] = "  " + lines[N - 10]
    path = tmp_path / "big.ndjson"
    path.write_text("".join(lines))
    source = Source(str(path), "big.ndjson", "big.ndjson", stream=False, format=_FORMATS["ndjson"])
    records = list(read_records(source))
    assert any(r.count > 1 for r in records)  # the block path ran
    flat = [one for r in records for one in r.split()]
    want = [(i + 1, ln) for i, ln in enumerate(lines) if ln.strip()]
    assert [(r.line, r.row) for r in flat] == [
        (n, ln.rstrip("\r\n").encode() + b"\n") for n, ln in want
    ]
    assert [r.number for r in flat] == list(range(1, len(want) + 1))
    assert sum(r.count for r in records) == len(want)


def test_a_bad_line_deep_in_a_block_is_named_and_the_rerun_resumes_exactly(
    emu: Emulator, tmp_path: Path
) -> None:
    bad_at = N - 1234
    text = "".join(line(i) if i != bad_at else '{"n": oops}\n' for i in range(1, N + 1))
    path = tmp_path / "big.ndjson"
    path.write_text(text)
    out = ingest(emu, str(path))
    assert out.returncode == 65, out.stderr
    assert f"big.ndjson:{bad_at}: invalid JSON" in out.stderr
    assert committed(emu) == list(range(1, bad_at))  # everything before it, once
    path.write_text(text.replace('{"n": oops}\n', line(bad_at)))
    again = ingest(emu, str(path))
    assert again.returncode == 0, again.stderr
    assert committed(emu) == list(range(1, N + 1))


def test_a_crlf_file_goes_in_blocks_and_lands_whole(emu: Emulator, tmp_path: Path) -> None:
    path = tmp_path / "windows.ndjson"
    path.write_bytes("".join(line(i) for i in range(1, N + 1)).replace("\n", "\r\n").encode())
    out = ingest(emu, str(path))
    assert out.returncode == 0, out.stderr
    assert committed(emu) == list(range(1, N + 1))
