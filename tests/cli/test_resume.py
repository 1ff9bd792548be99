"""``ingest`` resumes only the input a channel's committed token belongs to (issue 9, item 6).

The installed command against the emulator: another input in the same channel stops with
exit 2 and says what to do; nothing is skipped without a word.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from snowpipe_stream import Client, ClientConfig
from snowpipe_stream.emulator import Emulator
from tests.cli.test_cli import committed, emu, env_for, ingest, write_ndjson

__all__ = ["emu"]  # the fixture, shared with test_cli


def append_ndjson(path: Path, start: int, n: int) -> None:
    with path.open("a") as f:
        f.writelines(json.dumps({"n": i, "pad": "z" * 40}) + "\n" for i in range(start, start + n))


def test_another_file_in_the_same_channel_stops_with_exit_2(emu: Emulator, tmp_path: Path) -> None:
    day1 = write_ndjson(tmp_path / "day1.ndjson", 1000)
    day2 = write_ndjson(tmp_path / "day2.ndjson", 1000, start=1001)
    assert ingest(emu, str(day1), channel="daily").returncode == 0
    out = ingest(emu, str(day2), channel="daily")
    assert out.returncode == 2, out.stdout + out.stderr
    assert "channel 'daily' has committed record 1,000 of another input" in out.stderr
    assert "an input named day1.ndjson" in out.stderr and "Nothing was sent" in out.stderr
    assert "hint: to load new data, use a new --channel, or add --restart" in out.stderr
    assert committed(emu, "daily") == list(range(1, 1001))
    # --restart sends day2 from its first record; the same command again resumes it.
    out = ingest(emu, str(day2), channel="daily", extra=("--restart",))
    assert out.returncode == 0, out.stderr
    assert "ingested 1,000 new rows" in out.stdout
    assert "--restart: channel 'daily' has committed offset token 'day1.ndjson@" in out.stderr
    rerun = ingest(emu, str(day2), channel="daily")
    assert rerun.returncode == 0 and "ingested 0 new rows" in rerun.stdout
    # day1 again is another input now; --restart with day2 would send it twice: refused.
    assert ingest(emu, str(day1), channel="daily").returncode == 2
    again = ingest(emu, str(day2), channel="daily", extra=("--restart",))
    assert again.returncode == 2 and "run the same command without --restart" in again.stderr
    assert committed(emu, "daily") == list(range(1, 2001))


def test_a_file_rewritten_or_cut_short_under_the_same_name_stops(
    emu: Emulator, tmp_path: Path
) -> None:
    data = write_ndjson(tmp_path / "export.ndjson", 100)
    assert ingest(emu, str(data)).returncode == 0
    write_ndjson(data, 100, start=501)  # new contents, same name
    out = ingest(emu, str(data))
    assert out.returncode == 2
    assert f"{data} has that name, but not the same first records" in out.stderr
    write_ndjson(data, 60)  # the same first records, fewer of them
    out = ingest(emu, str(data))
    assert out.returncode == 2
    assert f"{data} has 60 records, but channel 'c1' has committed record 100" in out.stderr
    assert "cut short or rewritten" in out.stderr and "hint: to load it as new data" in out.stderr
    assert committed(emu) == list(range(1, 101))


def test_a_file_that_grows_resumes_at_its_old_end(emu: Emulator, tmp_path: Path) -> None:
    small = write_ndjson(tmp_path / "small.ndjson", 10)  # its identity: its first record
    big = write_ndjson(tmp_path / "big.ndjson", 3000)  # the first 64 KiB of its records
    for path, n, covered in ((small, 10, r"\+1"), (big, 3000, "")):
        first = ingest(emu, str(path), channel=path.stem)
        assert re.search(
            rf"committed offset {path.name}@[0-9a-f]{{16}}{covered}:{n};", first.stdout
        )
        append_ndjson(path, n + 1, 25)
        out = ingest(emu, str(path), channel=path.stem)
        assert out.returncode == 0, out.stderr
        assert "ingested 25 new rows" in out.stdout
        assert f"resuming channel '{path.stem}' after record {n:,} of {path}" in out.stderr
        assert committed(emu, path.stem) == list(range(1, n + 26))


def test_several_inputs_resume_in_the_right_one_and_only_in_the_same_order(
    emu: Emulator, tmp_path: Path
) -> None:
    a = write_ndjson(tmp_path / "a.ndjson", 40)
    b = tmp_path / "b.ndjson"
    lines = [json.dumps({"n": i}) for i in range(41, 81)]
    lines[20] = "{oops"  # b's record 21
    b.write_text("\n".join(lines) + "\n")
    out = ingest(emu, str(a), str(b))
    assert out.returncode == 65 and f"{b}:21: invalid JSON" in out.stderr
    assert committed(emu) == list(range(1, 61))
    # In another order, or without a: not the run that committed b's record 20.
    for inputs in ((str(b), str(a)), (str(b),)):
        out = ingest(emu, *inputs)
        assert out.returncode == 2 and "of another input" in out.stderr, out.stderr
    lines[20] = json.dumps({"n": 61})
    b.write_text("\n".join(lines) + "\n")
    out = ingest(emu, str(a), str(b))
    assert out.returncode == 0, out.stderr
    assert f"after record 20 of {b}" in out.stderr and f"{a} before it are committed" in out.stderr
    assert "ingested 20 new rows" in out.stdout
    assert committed(emu) == list(range(1, 81))


def test_a_renamed_file_resumes_with_its_old_name(emu: Emulator, tmp_path: Path) -> None:
    old = write_ndjson(tmp_path / "old.ndjson", 30)
    assert ingest(emu, str(old)).returncode == 0
    new = old.rename(tmp_path / "new.ndjson")
    append_ndjson(new, 31, 5)
    refused = ingest(emu, str(new))
    assert refused.returncode == 2 and "--input-id OLD-NAME" in refused.stderr
    out = ingest(emu, str(new), extra=("--input-id", "old.ndjson"))
    assert out.returncode == 0, out.stderr
    assert "ingested 5 new rows" in out.stdout
    assert committed(emu) == list(range(1, 36))


def test_tokens_written_by_something_else_are_refused(emu: Emulator, tmp_path: Path) -> None:
    # What the CLI of before wrote: bare record numbers.
    config = ClientConfig.from_sources(env=env_for(emu))
    with Client("old", "DB", "S", "P", config=config) as client:
        channel, _ = client.open_channel("c1")
        channel.append_rows([{"n": i} for i in range(1, 11)], "1", "10")
        channel.wait_for_commit("10")
    data = write_ndjson(tmp_path / "a.ndjson", 20)
    out = ingest(emu, str(data))
    assert out.returncode == 2
    assert "committed offset token '10', which `snowpipe-stream ingest` did not write" in out.stderr
    out = ingest(emu, str(data), extra=("--restart",))
    assert out.returncode == 0 and "ingested 20 new rows" in out.stdout
    assert committed(emu) == list(range(1, 11)) + list(range(1, 21))
