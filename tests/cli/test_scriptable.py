"""The command for scripts: --json, -q, -v before the command, status as a plain table."""

from __future__ import annotations

import json
import re
from pathlib import Path

from snowpipe_stream.emulator import Emulator
from tests.cli.test_cli import PIPE_ARGS, cli, emu, env_for, ingest, write_ndjson
from tests.integration.test_fail_fast import closed_port

__all__ = ["emu"]  # the fixture, shared with test_cli


def test_ingest_json_quiet_and_verbose_before_the_command(emu: Emulator, tmp_path: Path) -> None:
    data = write_ndjson(tmp_path / "a.ndjson", 30)
    out = ingest(emu, str(data), extra=("--json",))
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)  # the whole of stdout: one object
    assert doc["ok"] is True and doc["exit_code"] == 0 and doc["rows"] == 30
    assert doc["pipe"] == "DB.S.P" and doc["channel"] == "c1"
    assert doc["committed_offset"].endswith(":30") and doc["bytes"] > 0
    quiet = ingest(emu, str(data), extra=("-q",))  # a rerun: notes and summary, all quiet
    assert quiet.returncode == 0 and quiet.stdout == "" and quiet.stderr == ""
    noisy = ingest(emu, str(data))
    assert "resuming channel 'c1'" in noisy.stderr and "ingested 0 new rows" in noisy.stdout
    env = env_for(emu)
    before = cli("-v", "ingest", str(data), *PIPE_ARGS, "--channel", "c1", env=env)
    after = cli("ingest", str(data), *PIPE_ARGS, "--channel", "c1", "-v", env=env)
    for run in (before, after):
        assert (
            run.returncode == 0 and "INFO" in run.stderr and "scoped token exchanged" in run.stderr
        )
    dead = env_for(
        emu,
        SNOWFLAKE_URL=f"http://127.0.0.1:{closed_port()}",
        SNOWFLAKE_INITIAL_CONNECT_DEADLINE_SECS="0",  # fail at once: not what is tested here
    )
    failed = cli("ingest", str(data), *PIPE_ARGS, "--channel", "c1", "--json", env=dead)
    doc = json.loads(failed.stdout)
    assert failed.returncode == 69 and doc["ok"] is False and doc["exit_code"] == 69
    assert "cannot reach" in doc["error"]


def test_status_plain_table_json_and_missing_channels(emu: Emulator, tmp_path: Path) -> None:
    assert ingest(emu, str(write_ndjson(tmp_path / "a.ndjson", 20))).returncode == 0
    assert ingest(emu, str(write_ndjson(tmp_path / "b.ndjson", 5)), channel="c2").returncode == 0
    env = env_for(emu)
    out = cli("status", *PIPE_ARGS, "c1", "c2", env=env)  # stdout is a pipe here
    assert out.returncode == 0, out.stderr
    header, *rows = out.stdout.splitlines()
    assert header.split()[:4] == ["channel", "status", "committed", "offset"]
    assert len(rows) == 2 and "│" not in out.stdout and "\x1b" not in out.stdout
    c1 = rows[0].split()
    assert c1[0] == "c1" and c1[1] == "SUCCESS" and c1[3:6] == ["20", "20", "0"]
    assert c1[6:] == ["-", "-", "-"]  # no error: absent values
    some = cli("status", *PIPE_ARGS, "c1", "nope", "c2", "gone", env=env)
    assert some.returncode == 1
    assert [line.split()[0] for line in some.stdout.splitlines()[1:]] == ["c1", "c2"]
    assert "channel 'nope' does not exist on DB.S.P" in some.stderr
    assert "channel 'gone' does not exist on DB.S.P" in some.stderr
    doc = json.loads(cli("status", *PIPE_ARGS, "c1", "nope", "--json", env=env).stdout)
    assert doc["missing"] == ["nope"] and list(doc["channels"]) == ["c1"]
    st = doc["channels"]["c1"]
    assert st["rows_inserted"] == 20 and st["channel_status_code"] == "SUCCESS"
    assert st["last_error_message"] is None and st["last_error_timestamp_ms"] is None


def test_check_json_and_quiet(emu: Emulator) -> None:
    env = env_for(emu)
    doc = json.loads(cli("check", "--json", env=env).stdout)
    assert doc["ok"] is True and doc["exit_code"] == 0 and doc["hint"] is None
    assert [s["name"] for s in doc["steps"]] == [
        "configuration",
        "credential",
        "hostname discovery",
        "token exchange",
        "clock",
    ]
    assert all(s["ok"] and s["elapsed"] >= 0 for s in doc["steps"])
    quiet = cli("check", "-q", env=env)
    assert quiet.returncode == 0 and quiet.stdout == "" and quiet.stderr == ""
    dead = env_for(
        emu,
        SNOWFLAKE_URL=f"http://127.0.0.1:{closed_port()}",
        SNOWFLAKE_INITIAL_CONNECT_DEADLINE_SECS="0",
    )
    out = cli("check", "--json", env=dead)
    doc = json.loads(out.stdout)
    assert out.returncode == 69 and doc["ok"] is False and doc["exit_code"] == 69
    assert doc["steps"][-1]["ok"] is False and "--url / SNOWFLAKE_URL" in doc["steps"][-1]["detail"]
    failed = cli("-q", "check", env=dead)
    assert failed.stdout.startswith("FAIL hostname discovery") and "PASS" not in failed.stdout


def test_pipe_and_channel_from_variables_and_the_profile(emu: Emulator, tmp_path: Path) -> None:
    data = write_ndjson(tmp_path / "a.ndjson", 7)
    names = {
        "SNOWFLAKE_DATABASE": "DB",
        "SNOWFLAKE_SCHEMA": "S",
        "SNOWFLAKE_PIPE": "P",
        "SNOWFLAKE_CHANNEL": "from-env",
    }
    out = cli("ingest", str(data), env=env_for(emu, **names))
    assert out.returncode == 0, out.stderr
    assert "into DB.S.P channel from-env" in out.stdout
    flagged = cli("ingest", str(data), "--channel", "from-flag", env=env_for(emu, **names))
    assert "channel from-flag" in flagged.stdout
    profile = tmp_path / "profile.json"
    profile.write_text(json.dumps({"database": "DB", "schema": "S", "pipe": "P"}))
    status = cli("status", "from-env", "--profile", str(profile), env=env_for(emu))
    assert status.returncode == 0 and status.stdout.splitlines()[1].startswith("from-env")
    missing = cli("status", "c1", "--schema", "S", env=env_for(emu))
    assert missing.returncode == 2
    assert "Missing option '--database' (or SNOWFLAKE_DATABASE)" in missing.stderr


def test_one_name_for_one_thing_sizes_with_units_and_the_flag_in_errors(
    emu: Emulator, tmp_path: Path
) -> None:
    # keygen takes the name the other commands read the passphrase with; the old one still works.
    for flag in ("--private-key-passphrase-env", "--passphrase-env"):
        out = cli(
            "keygen",
            "--out",
            str(tmp_path / flag),
            flag,
            "PASS",
            env={**env_for(emu), "PASS": "pw"},
        )
        assert out.returncode == 0, out.stderr
        assert b"ENCRYPTED" in (tmp_path / flag / "rsa_key.p8").read_bytes()
    unset = cli(
        "keygen",
        "--out",
        str(tmp_path / "k"),
        "--private-key-passphrase-env",
        "NO_SUCH",
        env=env_for(emu),
    )
    assert unset.returncode == 2 and "--private-key-passphrase-env names NO_SUCH" in unset.stderr
    shown = cli("keygen", "--help", env=env_for(emu)).stdout
    assert "--private-key-passphrase-env" in shown and "--passphrase-env" not in shown.replace(
        "--private-key-passphrase-env", ""
    )
    data = write_ndjson(tmp_path / "a.ndjson", 50)
    for size, channel in (("4MiB", "mib"), ("512KB", "kb"), ("2048", "plain")):
        out = ingest(emu, str(data), channel=channel, extra=("--batch-bytes", size))
        assert out.returncode == 0, out.stderr
    for size, said in (
        ("100", "must be at least 1 KiB (1024 bytes), got 100"),
        ("20MiB", "must be at most 16 MiB (16777216 bytes), got 20MiB"),
        ("4 parsecs", "'4 parsecs' is not a size"),
    ):
        out = ingest(emu, str(data), extra=("--batch-bytes", size))
        assert out.returncode == 2 and "'--batch-bytes'" in out.stderr and said in out.stderr
        assert "max_request_bytes" not in out.stderr
    missing = ingest(emu, str(data), extra=("--ca-file", str(tmp_path / "none.pem")))
    assert missing.returncode == 2 and "error: --ca-file: " in missing.stderr, missing.stderr


def test_the_summary_says_what_happened(emu: Emulator, tmp_path: Path) -> None:
    one = write_ndjson(tmp_path / "one.ndjson", 1)
    out = ingest(emu, str(one), channel="one")
    assert re.match(
        r"ingested 1 new row into DB\.S\.P channel one; committed offset \S+:1; "
        r"\d\d bytes in [\d.]+ s \([\d,]+ rows/s, [\d.]+ (bytes|KB)/s\)$",
        out.stdout,
    ), out.stdout
    rerun = ingest(emu, str(one), channel="one")
    assert "nothing new to send, every record of these inputs is committed" in rerun.stdout
    assert json.loads(ingest(emu, str(one), channel="one", extra=("--json",)).stdout)["nothing_new"]
    # A 401, a 429 and a 503 on appends: each retried, and counted by cause.
    for status in (401, 429, 503):
        emu.faults.add(path="/rows$", status=status, count=1)
    data = write_ndjson(tmp_path / "a.ndjson", 40)
    env = env_for(emu, SNOWFLAKE_THROTTLE_BACKOFF_SECS="0.01")
    args = ["ingest", str(data), *PIPE_ARGS, "--channel", "faults", "-vv"]
    out = cli(*args, env=env)
    assert out.returncode == 0, out.stderr
    assert "retries: 1 after 401 (credentials refreshed), 1 after 429 (throttled), 1 after 5xx" in (
        out.stdout
    )
    # -vv: each request at DEBUG, with its endpoint, status, bytes and attempt.
    rows = "/v2/streaming/data/databases/DB/schemas/S/pipes/P/channels/faults/rows"
    for status, attempt in ((401, 1), (429, 2), (503, 3), (200, 4)):
        assert re.search(
            rf"DEBUG   snowpipe_stream.transport POST {rows} -> {status} \(append to channel "
            rf"'faults': \d+ bytes sent for 40 rows, \d+ received; attempt {attempt}\)",
            out.stderr,
        ), out.stderr
