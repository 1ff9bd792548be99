"""``ingest -``: stdin is named with --input-id, and a slow pipe is sent as it comes (issue 9,
items 6 and 12)."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

from snowpipe_stream.emulator import Emulator
from tests.cli.test_cli import EXE, PIPE_ARGS, committed, emu, env_for, ingest

__all__ = ["emu"]  # the fixture, shared with test_cli

LINES = b"".join(b'{"n": %d}\n' % i for i in range(1, 6))


def test_stdin_needs_a_name_and_resumes_under_it(emu: Emulator) -> None:
    out = ingest(emu, "-", stdin=LINES)
    assert out.returncode == 2
    assert "<stdin> is a stream" in out.stderr and "hint: give --input-id NAME" in out.stderr
    assert ingest(emu, "-", stdin=LINES, extra=("--input-id", "feed")).returncode == 0
    # The same stream again under the same name: it resumes (nothing new).
    more = LINES + b'{"n": 6}\n'
    out = ingest(emu, "-", stdin=more, extra=("--input-id", "feed"))
    assert out.returncode == 0 and "ingested 1 new row into" in out.stdout, out.stderr
    # Under another name it is another input: refused, nothing skipped in silence.
    out = ingest(emu, "-", stdin=more, extra=("--input-id", "other"))
    assert out.returncode == 2 and "an input named feed" in out.stderr
    assert committed(emu) == [1, 2, 3, 4, 5, 6]


def test_input_id_names_one_input_only(emu: Emulator, tmp_path: Path) -> None:
    a, b = tmp_path / "a.ndjson", tmp_path / "b.ndjson"
    a.write_bytes(LINES)
    b.write_bytes(LINES)
    out = ingest(emu, str(a), str(b), extra=("--input-id", "x"))
    assert out.returncode == 2 and "--input-id names stdin, or a single file" in out.stderr
    out = ingest(emu, "-", "-", stdin=LINES, extra=("--input-id", "x"))
    assert out.returncode == 2 and "a run can read one only" in out.stderr
    assert emu.rows("DB", "S", "P") == []


def test_a_slow_pipe_is_committed_while_the_writer_is_still_open(emu: Emulator) -> None:
    proc = subprocess.Popen(
        [EXE, "ingest", "-", *PIPE_ARGS, "--channel", "slow", "--input-id", "slow"],
        env=env_for(emu, SNOWFLAKE_MAX_CLIENT_LAG="0.2"),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdin is not None
    try:
        for first, last in ((1, 3), (4, 5)):  # a few lines, then a pause with the pipe open
            proc.stdin.write(b"".join(b'{"n": %d}\n' % i for i in range(first, last + 1)))
            proc.stdin.flush()
            deadline = time.monotonic() + 10  # 0.2 s of lag is expected; 10 s bounds the test
            while committed(emu, "slow") != list(range(1, last + 1)):
                assert time.monotonic() < deadline, f"rows {first}-{last} not committed"
                assert proc.poll() is None, "ingest exited with the pipe open"
                time.sleep(0.02)
        proc.stdin.write(json.dumps({"n": 6}).encode() + b"\n")
        proc.stdin.close()
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.stdout is not None and proc.stderr is not None
    out, err = proc.stdout.read(), proc.stderr.read()
    proc.stdout.close()
    proc.stderr.close()
    assert proc.returncode == 0, err
    assert b"ingested 6 new rows" in out
    assert committed(emu, "slow") == [1, 2, 3, 4, 5, 6]
