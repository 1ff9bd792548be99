"""How an ``ingest`` run ends when it is stopped: Ctrl-C, SIGTERM, a server outage mid-run.

Each sends what it read, waits briefly for the commit, prints the committed offset and says
that the same command resumes; the exit code says which: 130, 143, or 75 (temporary).
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time

import pytest

from snowpipe_stream.emulator import Emulator
from tests.cli.test_cli import EXE, PIPE_ARGS, committed, emu, env_for

__all__ = ["emu"]  # the fixture, shared with test_cli


def start_from_stdin(emu: Emulator, **env: str) -> subprocess.Popen[bytes]:
    args = [EXE, "ingest", "-", "--input-id", "feed", *PIPE_ARGS, "--channel", "c1"]
    return subprocess.Popen(
        args,
        env=env_for(emu, **env),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def feed(proc: subprocess.Popen[bytes], start: int, n: int) -> None:
    assert proc.stdin is not None
    proc.stdin.write(
        b"".join(json.dumps({"n": i}).encode() + b"\n" for i in range(start, start + n))
    )
    proc.stdin.flush()


def wait_until(condition: object, what: str, secs: float = 30) -> None:
    deadline = time.monotonic() + secs
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def channel_opened(emu: Emulator) -> bool:
    return any(k.startswith("open") and k.endswith(" 200") for k in emu.stats()["requests"])


@pytest.mark.parametrize(
    ("sig", "code", "name"), [(signal.SIGTERM, 143, "SIGTERM"), (signal.SIGINT, 130, "Ctrl-C")]
)
def test_a_signal_sends_what_was_read_and_prints_the_committed_offset(
    emu: Emulator, sig: signal.Signals, code: int, name: str
) -> None:
    # The channel would hold these rows 30 s before sending them: only the stop sends them.
    proc = start_from_stdin(emu, SNOWFLAKE_MAX_CLIENT_LAG="30")
    wait_until(lambda: channel_opened(emu), "the channel was not opened")
    feed(proc, 1, 10)
    time.sleep(1.0)  # real time for the command to read them (from a pipe: at once)
    started = time.monotonic()
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == code, err
    assert time.monotonic() - started < 5.0
    stderr = err.decode()
    assert f"{name}: sending what was read" in stderr
    assert re.search(r"channel 'c1' committed offset: feed@[0-9a-f]{16}:10\n", stderr), stderr
    assert f"stopped by {name}; run the same command again to resume" in stderr
    assert committed(emu) == list(range(1, 11))


def test_an_outage_mid_run_exits_75_temporary(emu: Emulator) -> None:
    proc = start_from_stdin(emu, SNOWFLAKE_MAX_CLIENT_LAG="0.05", SNOWFLAKE_MAX_SERVER_RETRIES="1")
    feed(proc, 1, 5)
    wait_until(lambda: "append 200" in emu.stats()["requests"], "the first rows were not sent")
    emu.stop()
    feed(proc, 6, 5)
    _, err = proc.communicate(timeout=60)  # closes stdin: the end of the input
    stderr = err.decode()
    assert proc.returncode == 75, stderr
    # What the command last saw committed (it may not have asked since the first append).
    assert re.search(r"channel 'c1' committed offset: (None|feed@[0-9a-f]{16}:5)\n", stderr)
    assert "hint: a temporary failure: run the same command again" in stderr
