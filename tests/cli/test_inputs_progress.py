"""The progress bar shows the percent done and the time left when the size of the inputs is
known (of a compressed file: its compressed bytes read). The installed command on a terminal,
against the emulator."""

from __future__ import annotations

import gzip
import os
import re
import subprocess
import threading
from pathlib import Path

from snowpipe_stream.emulator import Emulator
from tests.cli.test_cli import EXE, PIPE_ARGS, emu, env_for, write_ndjson

__all__ = ["emu"]


def on_a_terminal(emu: Emulator, *args: str, stdin: bytes | None = None) -> tuple[bytes, str]:
    """What `ingest ARGS` writes to a terminal on stderr, and its stdout."""
    import pty

    master, slave = pty.openpty()
    read_end, write_end = os.pipe()  # stdin is a pipe: its size is unknown
    proc = subprocess.Popen(
        [EXE, "ingest", *args, *PIPE_ARGS],
        env={**env_for(emu), "TERM": "xterm", "COLUMNS": "160"},
        stdin=read_end,
        stdout=subprocess.PIPE,
        stderr=slave,
    )
    os.close(slave)
    os.close(read_end)

    def feed() -> None:
        with os.fdopen(write_end, "wb") as pipe:
            pipe.write(stdin or b"")

    writer = threading.Thread(target=feed)
    writer.start()
    seen = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    out, _ = proc.communicate(timeout=60)
    writer.join(timeout=10)
    os.close(master)
    assert proc.returncode == 0, seen
    return seen, out.decode()


def test_percent_and_eta_for_files_compressed_or_not(emu: Emulator, tmp_path: Path) -> None:
    plain = write_ndjson(tmp_path / "a.ndjson", 30_000)
    packed = tmp_path / "b.ndjson.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes(), compresslevel=1))
    for data in (plain, packed):
        seen, out = on_a_terminal(emu, str(data), "--channel", data.name)
        assert "ingested 30,000 new rows" in out
        shown = [int(p) for p in re.findall(rb"(\d+)% \xe2\x80\xa2 ETA \d+:\d\d:\d\d", seen)]
        assert shown, seen[-2000:]
        assert all(0 <= p <= 100 for p in shown) and shown == sorted(shown)


def test_no_percent_when_the_size_is_unknown(emu: Emulator, tmp_path: Path) -> None:
    lines = write_ndjson(tmp_path / "a.ndjson", 30_000).read_bytes()
    seen, out = on_a_terminal(emu, "-", "--channel", "s", "--input-id", "feed", stdin=lines)
    assert "ingested 30,000 new rows" in out
    assert b"rows/s" in seen and b"ETA" not in seen
