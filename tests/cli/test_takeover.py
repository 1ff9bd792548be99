"""Two writers on one channel: the ``ingest`` that lost it says so and exits 69 (issue 9,
item 2); nothing of it lands after the other writer took over, nothing twice."""

from __future__ import annotations

import subprocess
import time

from snowpipe_stream import Client, ClientConfig, PrivateKey
from snowpipe_stream.emulator import Emulator
from tests.cli.test_cli import ACCOUNT, EXE, PIPE_ARGS, USER, committed, emu, env_for

__all__ = ["emu"]  # the fixture, shared with test_cli


def test_the_ingest_that_lost_its_channel_exits_69_and_says_why(
    emu: Emulator, rsa_key: PrivateKey
) -> None:
    proc = subprocess.Popen(
        [EXE, "ingest", "-", *PIPE_ARGS, "--channel", "shared", "--input-id", "feed"],
        env=env_for(emu, SNOWFLAKE_MAX_CLIENT_LAG="0.1"),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    try:
        proc.stdin.write(b"".join(b'{"n": %d}\n' % i for i in range(1, 4)))
        proc.stdin.flush()
        deadline = time.monotonic() + 10
        while committed(emu, "shared") != [1, 2, 3]:
            assert time.monotonic() < deadline, "the first rows were not committed"
            time.sleep(0.02)
        # Another writer opens the channel and commits rows of its own.
        config = ClientConfig(
            account=ACCOUNT, user=USER, private_key=rsa_key, url=emu.url, max_client_lag=0
        )
        with Client("other", "DB", "S", "P", config=config) as other:
            channel, _ = other.open_channel("shared")
            channel.append_row({"n": 100}, "other:1")
            channel.wait_for_commit("other:1", timeout=30)
        # The ingest goes on reading: its next send finds the channel is not its own any more.
        proc.stdin.write(b"".join(b'{"n": %d}\n' % i for i in range(4, 7)))
        proc.stdin.close()
        proc.wait(timeout=60)
        err = proc.stderr.read().decode()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    assert proc.returncode == 69, err
    assert "was opened by another client" in err and "not known to be committed" in err
    assert "hint: another writer opened this channel" in err
    assert committed(emu, "shared") == [1, 2, 3, 100]  # none of 4-6, nothing twice
