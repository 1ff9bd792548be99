"""`ingest --channels N`: records dealt over N channels in stripes, each channel resuming after
its own committed token, exactly once across kills and reruns; another N is refused.
The installed command, against the emulator."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from snowpipe_stream.cli._shards import STRIPE
from snowpipe_stream.emulator import Emulator
from tests.cli.test_cli import EXE, PIPE_ARGS, cli, committed, emu, env_for, ingest, write_ndjson

__all__ = ["emu"]


def owned(total: int, shards: int, k: int) -> list[int]:
    """The records channel k (1-based) owns of an input of ``total`` records."""
    return [n for n in range(1, total + 1) if (n - 1) // STRIPE % shards == k - 1]


def assert_dealt(emu: Emulator, total: int, shards: int, name: str = "c1") -> None:
    every: list[int] = []
    for k in range(1, shards + 1):
        rows = committed(emu, f"{name}-{k}")
        assert rows == owned(total, shards, k), f"{name}-{k}"
        every += rows
    assert sorted(every) == list(range(1, total + 1))


def test_records_are_dealt_in_stripes_and_a_rerun_sends_nothing(
    emu: Emulator, tmp_path: Path
) -> None:
    data = write_ndjson(tmp_path / "a.ndjson", 10_500)  # read in blocks past its first 64 KiB
    out = ingest(emu, str(data), extra=("--channels", "3"))
    assert out.returncode == 0, out.stderr
    assert_dealt(emu, 10_500, 3)
    assert "ingested 10,500 new rows into DB.S.P channels c1-1 .. c1-3" in out.stdout
    key = f"a.ndjson@{'[0-9a-f]' * 16}/3"
    assert re.search(rf"c1-2 {key}:10500", out.stdout), out.stdout
    again = ingest(emu, str(data), extra=("--channels", "3", "--json"))
    assert again.returncode == 0, again.stderr
    summary = json.loads(again.stdout)
    assert summary["nothing_new"] and summary["committed_offset"] is None
    assert {k: v.rsplit(":", 1)[1] for k, v in summary["channels"].items()} == {
        "c1-1": "10000",
        "c1-2": "10500",
        "c1-3": "9000",
    }
    assert_dealt(emu, 10_500, 3)


def test_a_grown_file_resumes_each_channel_after_its_own_token(
    emu: Emulator, tmp_path: Path
) -> None:
    # 3,500 records: c1-1 ends at 3,500, c1-2 at 2,000, c1-3 at 3,000. Grown to 12,345, the
    # rerun reads from record 2,001 and each channel skips what it has.
    data = write_ndjson(tmp_path / "grows.ndjson", 3_500)
    assert ingest(emu, str(data), extra=("--channels", "3")).returncode == 0
    write_ndjson(tmp_path / "more.ndjson", 12_345 - 3_500, start=3_501)
    with data.open("a") as f:
        f.write((tmp_path / "more.ndjson").read_text())
    out = ingest(emu, str(data), extra=("--channels", "3"))
    assert out.returncode == 0, out.stderr
    assert "ingested 8,845 new rows" in out.stdout
    for k, after in ((1, 3500), (2, 2000), (3, 3000)):
        assert f"resuming channel 'c1-{k}' after record {after:,} of {data}" in out.stderr
    assert_dealt(emu, 12_345, 3)


def test_a_killed_run_then_rerun_delivers_every_row_once(emu: Emulator, tmp_path: Path) -> None:
    total = 60_000
    data = write_ndjson(tmp_path / "big.ndjson", total)
    args = ["ingest", str(data), *PIPE_ARGS, "--channel", "c1", "--channels", "4"]
    proc = subprocess.Popen(
        [EXE, *args, "--batch-bytes", "20000", "--no-progress"],
        env=env_for(emu),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while emu.stats()["rows_committed"] < 8_000 and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    before = emu.stats()["rows_committed"]
    assert 0 < before < total, "the run was not cut short; make the file bigger"
    out = ingest(emu, str(data), extra=("--channels", "4"))
    assert out.returncode == 0, out.stderr
    assert_dealt(emu, total, 4)


def test_another_number_of_channels_is_refused_before_any_channel_is_opened(
    emu: Emulator, tmp_path: Path
) -> None:
    data = write_ndjson(tmp_path / "a.ndjson", 2_500)
    other = write_ndjson(tmp_path / "other.ndjson", 10)
    # Another input's records in a channel of the family are not this run's business.
    assert ingest(emu, str(other), channel="c1-7").returncode == 0
    assert ingest(emu, str(data), extra=("--channels", "3")).returncode == 0
    sent = emu.stats()["rows_committed"]
    opens = emu.stats()["requests"].get("open 200", 0)
    spreads = (("--channels", "2"), (), ("--channels", "4"), ("--channels", "9"))
    runs = [
        subprocess.Popen(
            [EXE, "ingest", str(data), *PIPE_ARGS, "--channel", "c1", *extra],
            env=env_for(emu),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for extra in spreads
    ]
    outs = [(proc.communicate(timeout=60)[1], proc.returncode) for proc in runs]  # all reaped
    for extra, (stderr, code) in zip(spreads, outs, strict=True):
        out = subprocess.CompletedProcess([], code, "", stderr)
        assert out.returncode == 2, (extra, out.stderr)
        assert "from a run with --channels 3" in out.stderr, (extra, out.stderr)
        assert "run the same command with --channels 3 to resume" in out.stderr
    assert emu.stats()["rows_committed"] == sent
    assert emu.stats()["requests"].get("open 200", 0) == opens  # refused before opening any
    assert committed(emu, "c1-7") == list(range(1, 11))


def test_a_bad_line_keeps_what_came_before_in_every_channel(emu: Emulator, tmp_path: Path) -> None:
    lines = [json.dumps({"n": i}) for i in range(1, 4001)]
    lines[2_700 - 1] = "{oops"
    data = tmp_path / "bad.ndjson"
    data.write_text("\n".join(lines) + "\n")
    out = ingest(emu, str(data), extra=("--channels", "2"))
    assert out.returncode == 65 and f"{data}:2700: invalid JSON" in out.stderr, out.stderr
    assert committed(emu, "c1-1") == owned(2_699, 2, 1)
    assert committed(emu, "c1-2") == owned(2_699, 2, 2)
    lines[2_700 - 1] = json.dumps({"n": 2700})
    data.write_text("\n".join(lines) + "\n")
    out = ingest(emu, str(data), extra=("--channels", "2"))
    assert out.returncode == 0, out.stderr
    assert "ingested 1,301 new rows" in out.stdout
    assert_dealt(emu, 4_000, 2)


def test_stdin_is_dealt_too(emu: Emulator) -> None:
    body = "".join(json.dumps({"n": i}) + "\n" for i in range(1, 2_501)).encode()
    args = ("ingest", "-", *PIPE_ARGS, "--channel", "c1", "--channels", "2")
    out = cli(*args, "--input-id", "feed", env=env_for(emu), stdin=body)
    assert out.returncode == 0, out.stderr
    assert_dealt(emu, 2_500, 2)
    again = cli(*args, "--input-id", "feed", env=env_for(emu), stdin=body)
    assert again.returncode == 0 and "ingested 0 new rows" in again.stdout, again.stderr
    assert_dealt(emu, 2_500, 2)


def test_deleting_the_bad_line_instead_loses_and_repeats_nothing(
    emu: Emulator, tmp_path: Path
) -> None:
    # The bad line sits inside a block of lines whose later stripes belong to the other
    # channel: none of them may be sent before the bad line is found, or the rerun (records
    # renumbered by the deletion) would skip one record and repeat another.
    lines = [json.dumps({"n": i}) for i in range(1, 6001)]
    lines[2_700 - 1] = "{oops"
    data = tmp_path / "bad.ndjson"
    data.write_text("\n".join(lines) + "\n")
    assert ingest(emu, str(data), extra=("--channels", "2")).returncode == 65
    del lines[2_700 - 1]
    data.write_text("\n".join(lines) + "\n")
    out = ingest(emu, str(data), extra=("--channels", "2"))
    assert out.returncode == 0, out.stderr
    values = committed(emu, "c1-1") + committed(emu, "c1-2")
    assert sorted(values) == [n for n in range(1, 6001) if n != 2_700]


def test_one_channel_sends_nothing_after_a_bad_line_found_by_the_channel(
    emu: Emulator, tmp_path: Path
) -> None:
    # With one channel, a block with a bad line is not taken whole by the reader: the channel
    # checks its lines, in the reading thread, while the chunks before it are being sent in the
    # background: the chunks after the bad one must never be appended.
    # Blocks of lines are read 1 MiB at a time (about 19,000 of these lines): the bad one sits
    # in the second block, and three more blocks follow it, read while it is being appended.
    lines = [json.dumps({"n": i, "pad": "p" * 40}) for i in range(1, 100_001)]
    lines[30_000 - 1] = "{oops"  # starts like an object: it reaches the channel in a block
    data = tmp_path / "bad.ndjson"
    data.write_text("\n".join(lines) + "\n")
    out = ingest(emu, str(data), extra=("--batch-bytes", "64KiB"))
    assert out.returncode == 65 and f"{data}:30000: invalid JSON" in out.stderr, out.stderr
    assert committed(emu) == list(range(1, 30_000))
    del lines[30_000 - 1]
    data.write_text("\n".join(lines) + "\n")
    out = ingest(emu, str(data), extra=("--batch-bytes", "64KiB"))
    assert out.returncode == 0, out.stderr
    assert committed(emu) == [n for n in range(1, 100_001) if n != 30_000]


@pytest.mark.parametrize("channels", ["1", "2"])
def test_a_failed_send_stops_the_run_and_the_rerun_sends_the_rest_once(
    emu: Emulator, tmp_path: Path, channels: str
) -> None:
    # The channels send in the background: an append answered 400 (not retried) is raised by
    # the reading thread's next call, the run stops with the committed offsets, and nothing
    # after the failed request is committed before it; the rerun sends the rest, once.
    data = write_ndjson(tmp_path / "a.ndjson", 60_000)
    emu.faults.extend([{"path": "/rows$", "method": "POST", "status": 400, "rate": 0.1}])
    args = ("--batch-bytes", "64KiB", "--channels", channels)
    out = ingest(emu, str(data), extra=args)
    assert out.returncode != 0, out.stderr
    assert "committed offset" in out.stderr, out.stderr
    stats = emu.stats()["requests"]
    assert any(k.startswith("append 400") for k in stats), stats
    names = ["c1"] if channels == "1" else ["c1-1", "c1-2"]
    before = {name: committed(emu, name) for name in names}
    for k, name in enumerate(names):
        # What each channel committed is the start of what it owns: nothing after a request
        # that failed went in before it.
        owned = [n for n in range(1, 60_001) if (n - 1) // STRIPE % len(names) == k]
        assert before[name] == owned[: len(before[name])]
    assert sum(map(len, before.values())) < 60_000  # it stopped
    emu.faults.clear()
    out = ingest(emu, str(data), extra=args)
    assert out.returncode == 0, out.stderr
    values = [n for name in names for n in committed(emu, name)]
    assert sorted(values) == list(range(1, 60_001))
