"""``ingest`` reads its inputs as the user meant: a missing input is reported before anything
connects (exit 66), and the format comes from the extension unless ``--format`` says otherwise.
The installed command, against the emulator."""

from __future__ import annotations

import csv
import json
import os
import time
from pathlib import Path

from snowpipe_stream.emulator import Emulator
from tests.cli.test_cli import ACCOUNT, KEYS, PIPE_ARGS, USER, cli, committed, emu, ingest

__all__ = ["emu"]


def dead_env() -> dict[str, str]:
    """An environment whose URL refuses connections: any attempt to connect is slow and logged."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SNOWFLAKE_")}
    env.update(
        {
            "SNOWFLAKE_ACCOUNT": ACCOUNT,
            "SNOWFLAKE_USER": USER,
            "SNOWFLAKE_URL": "http://127.0.0.1:9",
            "SNOWFLAKE_PRIVATE_KEY_PATH": str(KEYS / "rsa_key.p8"),
        }
    )
    return env


def test_a_missing_input_exits_66_before_connecting(tmp_path: Path) -> None:
    good = tmp_path / "good.ndjson"
    good.write_text('{"n": 1}\n')
    dangling = tmp_path / "dangling.ndjson"
    dangling.symlink_to(tmp_path / "nowhere")
    for bad in (tmp_path / "missing.ndjson", tmp_path, dangling):
        started = time.monotonic()
        out = cli("ingest", str(good), str(bad), *PIPE_ARGS, "--channel", "c", env=dead_env())
        assert out.returncode == 66, out.stderr
        assert time.monotonic() - started < 5  # no retries against the dead URL
        assert f"error: {bad}: cannot open: " in out.stderr
        assert "connection" not in out.stderr.lower()


def test_the_format_comes_from_the_extension(emu: Emulator, tmp_path: Path) -> None:
    with (tmp_path / "rows.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["n", "name"])
        w.writerows([[i, f"x{i}"] for i in range(1, 4)])
    (tmp_path / "rows.json").write_text(json.dumps([{"n": i} for i in range(1, 4)], indent=1))
    (tmp_path / "rows.jsonl").write_text("".join(f'{{"n": {i}}}\n' for i in range(1, 4)))
    for name in ("rows.csv", "rows.json", "rows.jsonl"):
        out = ingest(emu, str(tmp_path / name), channel=name)
        assert out.returncode == 0, out.stderr
        assert committed(emu, name) == [1, 2, 3]
    assert emu.rows("DB", "S", "P", "rows.csv")[0] == {"n": "1", "name": "x1"}
    # The key is the same as with --format: a rerun with it resumes (nothing new).
    out = ingest(emu, str(tmp_path / "rows.csv"), channel="rows.csv", extra=("--format", "csv"))
    assert out.returncode == 0 and "ingested 0 new rows" in out.stdout, out.stderr


def test_format_wins_and_stdin_and_unknown_extensions_are_ndjson(
    emu: Emulator, tmp_path: Path
) -> None:
    lines = tmp_path / "lines.csv"  # NDJSON under a misleading name
    lines.write_text('{"n": 1}\n{"n": 2}\n')
    out = ingest(emu, str(lines), channel="forced", extra=("--format", "ndjson"))
    assert out.returncode == 0 and committed(emu, "forced") == [1, 2], out.stderr
    out = ingest(emu, "-", channel="stdin", stdin=b'{"n": 1}\n', extra=("--input-id", "feed"))
    assert out.returncode == 0 and committed(emu, "stdin") == [1], out.stderr
    data = tmp_path / "export.txt"
    data.write_text('{"n": 1}\n')
    out = ingest(emu, str(data), channel="txt")
    assert out.returncode == 0 and committed(emu, "txt") == [1], out.stderr
    table = tmp_path / "table.dat"
    table.write_text("n,name\n1,a\n")
    out = ingest(emu, str(table), channel="dat")
    assert out.returncode == 65
    assert f"{table}:1: invalid JSON" in out.stderr
    assert "no known extension" in out.stderr and "--format csv" in out.stderr
    # A known extension: no such hint.
    bad = tmp_path / "bad.ndjson"
    bad.write_text("n,name\n")
    out = ingest(emu, str(bad), channel="bad")
    assert out.returncode == 65 and "--format" not in out.stderr


def test_the_input_options_are_in_the_help_and_the_readme() -> None:
    out = cli("ingest", "--help", env=dict(os.environ))
    assert out.returncode == 0, out.stderr
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    for option in ("--format", "--delimiter", "--null-value", "--no-null", "--infer-types"):
        assert option in out.stdout and f"`{option}" in readme, option
    for text in ("| 66 |", "`.tsv`", "`.gz`, `.zst` and `.bz2`", "record N\n(byte B)"):
        assert text in readme, text
