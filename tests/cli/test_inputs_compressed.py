"""Compressed inputs (.gz, .zst, .bz2) are read as if they were not, and resume like any file.
The installed command, against the emulator."""

from __future__ import annotations

import bz2
import csv
import gzip
import io
import json
import re
import time
from pathlib import Path

import zstandard

from snowpipe_stream.emulator import Emulator
from tests.cli.test_cli import PIPE_ARGS, cli, committed, emu, ingest
from tests.cli.test_inputs_detect import dead_env

__all__ = ["emu"]


def ndjson(numbers: range, bad: int | None = None) -> bytes:
    return b"".join(
        (b"{oops\n" if i == bad else json.dumps({"n": i, "pad": "p" * 30}).encode() + b"\n")
        for i in numbers
    )


def test_gz_zst_bz2_are_read_with_the_format_under_them(emu: Emulator, tmp_path: Path) -> None:
    (tmp_path / "a.ndjson.gz").write_bytes(gzip.compress(ndjson(range(1, 301))))
    text = io.StringIO(newline="")
    w = csv.writer(text)
    w.writerow(["n", "name"])
    w.writerows([[i, f"x{i}"] for i in range(1, 6)])
    (tmp_path / "b.csv.zst").write_bytes(
        zstandard.ZstdCompressor().compress(text.getvalue().encode())
    )
    (tmp_path / "c.json.bz2").write_bytes(bz2.compress(json.dumps([{"n": 1}, {"n": 2}]).encode()))
    for name, n in (("a.ndjson.gz", 300), ("b.csv.zst", 5), ("c.json.bz2", 2)):
        out = ingest(emu, str(tmp_path / name), channel=name)
        assert out.returncode == 0, out.stderr
        assert committed(emu, name) == list(range(1, n + 1))
        # The name, with its compression extension, is the key's name.
        assert re.search(rf"committed offset {re.escape(name)}@[0-9a-f]{{16}}", out.stdout)
    assert emu.rows("DB", "S", "P", "b.csv.zst")[4] == {"n": "5", "name": "x5"}


def test_a_gz_resumes_after_an_interruption_and_when_it_grows(
    emu: Emulator, tmp_path: Path
) -> None:
    data = tmp_path / "events.ndjson.gz"
    data.write_bytes(gzip.compress(ndjson(range(1, 3001), bad=2500), compresslevel=9))
    out = ingest(emu, str(data))
    assert out.returncode == 65 and f"{data}:2500: invalid JSON" in out.stderr, out.stderr
    assert committed(emu) == list(range(1, 2500))
    # Fixed, and compressed otherwise (another level): the same records, so the same input.
    data.write_bytes(gzip.compress(ndjson(range(1, 3001)), compresslevel=1))
    out = ingest(emu, str(data))
    assert out.returncode == 0, out.stderr
    assert f"resuming channel 'c1' after record 2,499 of {data}" in out.stderr
    assert "ingested 501 new rows" in out.stdout
    # A gzip member appended (cat more.gz >> events.ndjson.gz): resumes at its old end.
    with data.open("ab") as f:
        f.write(gzip.compress(ndjson(range(3001, 3011))))
    out = ingest(emu, str(data))
    assert out.returncode == 0 and "ingested 10 new rows" in out.stdout, out.stderr
    assert committed(emu) == list(range(1, 3011))


def test_data_that_is_not_what_its_extension_says(emu: Emulator, tmp_path: Path) -> None:
    plain = tmp_path / "plain.ndjson.gz"
    plain.write_bytes(ndjson(range(1, 4)))
    started = time.monotonic()
    out = cli("ingest", str(plain), *PIPE_ARGS, "--channel", "c", env=dead_env())
    assert out.returncode == 65 and time.monotonic() - started < 5  # before connecting
    assert f"{plain}: not gzip data" in out.stderr
    cut = tmp_path / "cut.ndjson.zst"
    whole = zstandard.ZstdCompressor().compress(ndjson(range(1, 2001)))
    cut.write_bytes(whole[: len(whole) // 2])
    out = ingest(emu, str(cut), channel="cut")
    assert out.returncode == 65, out.stderr
    assert re.search(
        rf"{re.escape(str(cut))}: record [\d,]+: cannot decompress \(zstd\)", out.stderr
    )
