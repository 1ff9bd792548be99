"""The installed ``snowpipe-stream`` command, run in a subprocess against the emulator."""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from snowpipe_stream import ClientConfig, PrivateKey
from snowpipe_stream.emulator import Emulator
from tests.conftest import KEYS
from tests.processes import serving

EXE = str(Path(sys.executable).parent / "snowpipe-stream")
ACCOUNT, USER = "cli-acct", "cli_user"
PIPE_ARGS = ["--database", "DB", "--schema", "S", "--pipe", "P"]


@pytest.fixture
def emu(rsa_key: PrivateKey) -> Iterator[Emulator]:
    with Emulator(users=[(ACCOUNT, USER, rsa_key)], commit_delay_ms=20) as emulator:
        yield emulator


def env_for(emu: Emulator, key_file: Path = KEYS / "rsa_key.p8", **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SNOWFLAKE_")}
    env.update(
        {
            "SNOWFLAKE_ACCOUNT": ACCOUNT,
            "SNOWFLAKE_USER": USER,
            "SNOWFLAKE_URL": emu.url,
            "SNOWFLAKE_PRIVATE_KEY_PATH": str(key_file),
            **extra,
        }
    )
    return env


def cli(
    *args: str, env: dict[str, str], stdin: bytes | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [EXE, *args],
        env=env,
        capture_output=True,
        text=True,
        input=stdin.decode() if stdin is not None else None,
        timeout=timeout,
        check=False,
    )


def ingest(
    emu: Emulator, *files: str, channel: str = "c1", extra: tuple[str, ...] = (), **kw: Any
) -> subprocess.CompletedProcess[str]:
    return cli("ingest", *files, *PIPE_ARGS, "--channel", channel, *extra, env=env_for(emu), **kw)


def write_ndjson(path: Path, n: int, start: int = 1) -> Path:
    path.write_text(
        "".join(json.dumps({"n": i, "pad": "z" * 40}) + "\n" for i in range(start, start + n))
    )
    return path


def committed(emu: Emulator, channel: str = "c1") -> list[int]:
    return [
        r["n"] if isinstance(r["n"], int) else int(r["n"])
        for r in emu.rows("DB", "S", "P", channel)
    ]


def test_ingest_ndjson_then_rerun_sends_nothing_new(emu: Emulator, tmp_path: Path) -> None:
    data = write_ndjson(tmp_path / "a.ndjson", 500)
    first = ingest(emu, str(data))
    assert first.returncode == 0, first.stderr
    line = first.stdout.strip().splitlines()[-1]
    assert re.fullmatch(
        r"ingested 500 new rows into DB\.S\.P channel c1; committed "
        r"offset a\.ndjson@[0-9a-f]{16}\+1:500; [\d.]+ KB in [\d.]+ s "
        r"\([\d,]+ rows/s, [\d.]+ (KB|MB)/s\)",
        line,
    ), line
    second = ingest(emu, str(data))
    assert second.returncode == 0, second.stderr
    assert "ingested 0 new rows" in second.stdout
    assert "resuming channel 'c1' after record 500 of " in second.stderr
    assert committed(emu) == list(range(1, 501))


def test_ingest_appends_new_records_of_a_growing_input(emu: Emulator, tmp_path: Path) -> None:
    a = write_ndjson(tmp_path / "a.ndjson", 100)
    assert ingest(emu, str(a)).returncode == 0
    b = write_ndjson(tmp_path / "b.ndjson", 50, start=101)
    out = ingest(emu, str(a), str(b))
    assert "ingested 50 new rows" in out.stdout, out.stderr
    assert committed(emu) == list(range(1, 151))


def test_ingest_csv_json_and_stdin(emu: Emulator, tmp_path: Path) -> None:
    with (tmp_path / "rows.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["n", "name"])
        for i in range(1, 11):
            w.writerow([i, f"name, {i}"])
    assert (
        ingest(emu, str(tmp_path / "rows.csv"), extra=("--format", "csv"), channel="csv").returncode
        == 0
    )
    rows = emu.rows("DB", "S", "P", "csv")
    assert rows[0] == {"n": "1", "name": "name, 1"} and len(rows) == 10
    (tmp_path / "rows.json").write_text(json.dumps([{"n": i} for i in range(1, 8)]))
    assert (
        ingest(
            emu, str(tmp_path / "rows.json"), extra=("--format", "json"), channel="json"
        ).returncode
        == 0
    )
    assert committed(emu, "json") == list(range(1, 8))
    out = ingest(
        emu, "-", channel="stdin", stdin=b'{"n": 1}\n{"n": 2}\n', extra=("--input-id", "feed")
    )
    assert out.returncode == 0 and committed(emu, "stdin") == [1, 2]


def test_bad_line_exits_65_with_file_and_line_and_keeps_what_came_before(
    emu: Emulator, tmp_path: Path
) -> None:
    data = tmp_path / "bad.ndjson"
    lines = [json.dumps({"n": i}) for i in range(1, 6)]
    lines.insert(3, "{not json")
    data.write_text("\n".join(lines) + "\n")
    out = ingest(emu, str(data))
    assert out.returncode == 65
    assert f"{data}:4: invalid JSON" in out.stderr
    assert committed(emu) == [1, 2, 3]
    # Fix the line and rerun: it resumes after record 3.
    lines[3] = json.dumps({"n": 4})
    lines[4] = json.dumps({"n": 5})
    del lines[5]
    data.write_text("\n".join(lines) + "\n")
    out = ingest(emu, str(data))
    assert out.returncode == 0, out.stderr
    assert "ingested 2 new rows" in out.stdout
    assert committed(emu) == [1, 2, 3, 4, 5]


def test_killed_run_then_rerun_delivers_every_row_once(emu: Emulator, tmp_path: Path) -> None:
    total = 60_000
    data = write_ndjson(tmp_path / "big.ndjson", total)
    proc = subprocess.Popen(
        [
            EXE,
            "ingest",
            str(data),
            *PIPE_ARGS,
            "--channel",
            "c1",
            "--batch-bytes",
            "20000",
            "--no-progress",
        ],
        env=env_for(emu),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while emu.stats()["rows_committed"] < 5_000 and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    before = emu.stats()["rows_committed"]
    assert 0 < before < total, "the run was not cut short; make the file bigger"
    out = ingest(emu, str(data))
    assert out.returncode == 0, out.stderr
    assert committed(emu) == list(range(1, total + 1))


def test_wrong_key_exits_69_with_the_fingerprint_hint(
    emu: Emulator, tmp_path: Path, other_key: PrivateKey
) -> None:
    key = tmp_path / "other.p8"
    key.write_bytes(other_key.private_key_pem())
    data = write_ndjson(tmp_path / "a.ndjson", 3)
    out = cli("ingest", str(data), *PIPE_ARGS, "--channel", "c1", env=env_for(emu, key))
    assert out.returncode == 69
    assert other_key.fingerprint in out.stderr and "RSA_PUBLIC_KEY_FP" in out.stderr
    checked = cli("check", env=env_for(emu, key))
    assert checked.returncode == 69
    assert f"PASS credential: fingerprint {other_key.fingerprint}" in checked.stdout
    assert "FAIL hostname discovery: discover the ingest host: HTTP 401" in checked.stdout
    assert "DESC USER" in checked.stdout + checked.stderr
    assert "snowpipe-stream check" not in checked.stdout + checked.stderr


def test_config_errors_exit_2(emu: Emulator, tmp_path: Path) -> None:
    out = cli(
        "ingest",
        "x.ndjson",
        *PIPE_ARGS,
        "--channel",
        "c",
        env=env_for(emu, tmp_path / "missing.p8"),
    )
    assert out.returncode == 2 and "does not exist" in out.stderr
    out = cli("check", "--private-key-passphrase-env", "NOPE_NOT_SET", env=env_for(emu))
    assert out.returncode == 2 and "FAIL configuration: " in out.stdout
    assert "NOPE_NOT_SET" in out.stdout
    out = cli("ingest", *PIPE_ARGS, env=env_for(emu))
    assert out.returncode == 2  # click usage error: no files, no channel


def test_unreachable_exits_69(tmp_path: Path, rsa_key: PrivateKey) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SNOWFLAKE_")}
    env.update(
        {
            "SNOWFLAKE_ACCOUNT": ACCOUNT,
            "SNOWFLAKE_USER": USER,
            "SNOWFLAKE_URL": "http://127.0.0.1:9",
            "SNOWFLAKE_MAX_SERVER_RETRIES": "0",
            "SNOWFLAKE_PRIVATE_KEY_PATH": str(KEYS / "rsa_key.p8"),
        }
    )
    out = cli("check", env=env)
    assert out.returncode == 69
    assert "FAIL hostname discovery: discover the ingest host" in out.stdout
    assert "Connection refused" in out.stdout
    assert "gave up after 1 attempt (connect)" in out.stdout
    assert "cannot reach http://127.0.0.1:9" in out.stdout
    assert "Check --url / SNOWFLAKE_URL and that the server is up" in out.stdout


def test_keygen_then_check(emu: Emulator, tmp_path: Path) -> None:
    out = cli(
        "keygen",
        "--out",
        str(tmp_path / "keys"),
        "--user",
        "new_user",
        "--passphrase-env",
        "KEY_PASS",
        env={**os.environ, "KEY_PASS": "s3cret-phrase"},
    )
    assert out.returncode == 0, out.stderr
    private = tmp_path / "keys" / "rsa_key.p8"
    assert private.stat().st_mode & 0o777 == 0o600
    assert b"ENCRYPTED PRIVATE KEY" in private.read_bytes()
    key = PrivateKey.from_file(private, "s3cret-phrase")
    assert f"fingerprint: {key.fingerprint}" in out.stdout
    assert f"ALTER USER NEW_USER SET RSA_PUBLIC_KEY='{key.public_key_body()}';" in out.stdout
    emu.add_user(
        account=ACCOUNT, user="new_user", public_key=(tmp_path / "keys" / "rsa_key.pub").read_text()
    )
    env = env_for(
        emu,
        private,
        SNOWFLAKE_USER="new_user",
        KEY_PASS="s3cret-phrase",
        SNOWFLAKE_JWT_EXP_SECS="10",
    )
    checked = cli("check", "--private-key-passphrase-env", "KEY_PASS", env=env)
    assert checked.returncode == 0, checked.stderr
    assert (
        f"PASS credential: fingerprint {key.fingerprint} (2048-bit RSA, from the key file)"
        in checked.stdout
    )
    assert "account CLI-ACCT and user NEW_USER (as in the JWT claims)" in checked.stdout
    assert "JWT lifetime 30 s (jwt_exp_secs=10 clamped into [30, 3600])" in checked.stdout
    assert "PASS hostname discovery: ingest host" in checked.stdout
    assert "PASS token exchange: scoped token" in checked.stdout
    assert checked.stdout.strip().splitlines()[-1] == "all checks passed"
    assert "eyJ" not in checked.stdout + checked.stderr  # no token without --show-token
    assert "s3cret-phrase" not in checked.stdout + checked.stderr
    shown = cli("check", "--show-token", "--private-key-passphrase-env", "KEY_PASS", env=env)
    assert "scoped token: eyJ" in shown.stdout
    again = cli("keygen", "--out", str(tmp_path / "keys"), env=os.environ.copy())
    assert again.returncode == 2 and "--force" in again.stderr


def test_status_and_drop_channel(emu: Emulator, tmp_path: Path) -> None:
    assert ingest(emu, str(write_ndjson(tmp_path / "a.ndjson", 20))).returncode == 0
    out = cli("status", *PIPE_ARGS, "c1", env=env_for(emu))
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[1].startswith("c1  ") and "SUCCESS" in out.stdout
    assert "row errors" in out.stdout and "error offset bound" in out.stdout
    missing = cli("status", *PIPE_ARGS, "nope", env=env_for(emu))
    assert missing.returncode == 1 and "channel 'nope' does not exist on DB.S.P" in missing.stderr
    token = emu_token(emu)
    # No terminal to ask on and no --yes: refused, with what it would discard.
    refused = cli("drop-channel", *PIPE_ARGS, "c1", env=env_for(emu))
    assert refused.returncode == 2, refused.stderr
    assert f"committed offset token {token!r}" in refused.stderr
    assert "hint: add --yes" in refused.stderr
    assert emu_token(emu) == token  # not dropped
    dropped = cli("drop-channel", *PIPE_ARGS, "c1", "--yes", env=env_for(emu))
    assert dropped.returncode == 0, dropped.stderr
    assert "dropped channel c1 of DB.S.P" in dropped.stdout
    assert f"discarded its committed offset token {token!r}" in dropped.stdout
    assert "sends its inputs from their first record" in dropped.stdout
    assert "ingested 20 new rows" in ingest(emu, str(tmp_path / "a.ndjson")).stdout


def emu_token(emu: Emulator, channel: str = "c1") -> str | None:
    """The channel's committed offset token, read with the library (not the CLI under test)."""
    from snowpipe_stream import Client

    env = env_for(emu)
    config = ClientConfig.from_sources(env=env)
    with Client("t", "DB", "S", "P", config=config) as client:
        token: str | None = client.get_channel_statuses([channel])[
            channel
        ].last_committed_offset_token
    return token


def test_verbose_logs_show_refreshes_but_no_secrets(emu: Emulator, tmp_path: Path) -> None:
    data = write_ndjson(tmp_path / "a.ndjson", 5)
    out = cli("ingest", str(data), *PIPE_ARGS, "--channel", "v", "-vv", env=env_for(emu))
    assert out.returncode == 0, out.stderr
    assert "JWT refreshed (reason=initial" in out.stderr
    assert "scoped token exchanged" in out.stderr
    assert "reusing cached JWT" in out.stderr or "DEBUG" in out.stderr
    assert "eyJ" not in out.stderr and "BEGIN" not in out.stderr


def test_demo_exits_0(tmp_path: Path) -> None:
    out = cli("demo", "--rows", "20000", env=os.environ.copy())
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "jwt_exp_secs=10 is outside [30, 3600]; using 30 seconds" in out.stdout
    assert out.stdout.count("reason=margin") >= 2
    assert "received 401" in out.stdout and "received 429" in out.stdout
    assert "recovered" in out.stdout
    assert "UNSET RSA_PUBLIC_KEY" in out.stdout  # the old key is gone mid-run...
    assert "private key changed (the private key provider)" in out.stdout  # ...the client moved
    assert "read-back matches the input, in order │ yes" in out.stdout
    assert "duplicates" in out.stdout and "OK: every row arrived exactly once" in out.stdout


def test_the_full_demo_stays_under_200_mb() -> None:
    # 200,000 rows, as `make demo` runs it; measured as the peak RSS of the demo's process alone
    # (a fresh parent whose only child it is). It held every row twice and peaked near 480 MB.
    code = (
        "import resource, subprocess, sys; "
        "out = subprocess.run([sys.argv[1], 'demo'], capture_output=True, text=True); "
        "print(out.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, EXE], capture_output=True, text=True, timeout=120, check=False
    )
    status, peak_kib = map(int, out.stdout.split())
    assert status == 0, out.stderr
    assert peak_kib < 200 * 1024, f"demo peaked at {peak_kib / 1024:.0f} MiB"


def test_emulator_command() -> None:
    with serving([EXE, "emulator", "--port", "0"]) as (first,):
        assert first.startswith("emulator listening on http://127.0.0.1:")


def test_a_row_too_large_mid_chunk_stops_without_duplicates(emu: Emulator, tmp_path: Path) -> None:
    data = tmp_path / "big-row.ndjson"
    lines = [json.dumps({"n": i}) for i in range(1, 11)]
    lines[6] = json.dumps({"n": 7, "blob": "x" * 5000})  # over --batch-bytes 4096
    data.write_text("\n".join(lines) + "\n")
    out = ingest(emu, str(data), extra=("--batch-bytes", "4096"))
    assert out.returncode == 65, out.stderr
    assert f"{data}:7:" in out.stderr and "over the 4096-byte request limit" in out.stderr
    assert committed(emu) == [1, 2, 3, 4, 5, 6]  # each exactly once


def test_profile_env_and_flags_precedence(emu: Emulator, tmp_path: Path) -> None:
    profile = tmp_path / "profile.json"
    profile.write_text(
        json.dumps(
            {
                "account": ACCOUNT,
                "user": "nobody",
                "url": emu.url,
                "private_key_file": str(KEYS / "rsa_key.p8"),
                "host": "ignored",
                "port": 443,
            }
        )
    )
    base = {k: v for k, v in os.environ.items() if not k.startswith("SNOWFLAKE_")}
    # The profile's user is wrong: the env's wins over it ...
    ok = cli("check", "--profile", str(profile), env={**base, "SNOWFLAKE_USER": USER})
    assert ok.returncode == 0, ok.stderr
    assert "and user CLI_USER (as in the JWT claims)" in ok.stdout
    # ... and a flag wins over the env.
    flagged = cli(
        "check",
        "--profile",
        str(profile),
        "--user",
        "someone_else",
        env={**base, "SNOWFLAKE_USER": USER},
    )
    assert flagged.returncode == 69 and "and user SOMEONE_ELSE (as" in flagged.stdout
    # python -m snowpipe_stream is the same command.
    module = subprocess.run(
        [
            sys.executable,
            "-m",
            "snowpipe_stream",
            "check",
            "--profile",
            str(profile),
            "--user",
            USER,
        ],
        env=base,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert module.returncode == 0, module.stderr


def test_progress_bar_on_a_terminal(emu: Emulator, tmp_path: Path) -> None:
    import pty

    data = write_ndjson(tmp_path / "a.ndjson", 30_000)
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [EXE, "ingest", str(data), *PIPE_ARGS, "--channel", "tty"],
        env={**env_for(emu), "TERM": "xterm", "COLUMNS": "120"},
        stdout=subprocess.PIPE,
        stderr=slave,
        text=True,
    )
    os.close(slave)
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
    os.close(master)
    assert proc.returncode == 0
    assert b"rows/s" in seen and b"retries" in seen and b"MB" in seen
    assert "ingested 30,000 new rows" in out
    # Without a terminal (every other test) there is no progress output at all.
    plain = ingest(emu, str(data), channel="no-tty")
    assert "rows/s" not in plain.stderr


def test_missing_extras_are_named() -> None:
    code = (
        "import sys; sys.modules['{mod}'] = None; from snowpipe_stream.cli import main; "
        "main(['demo'], prog_name='snowpipe-stream')"
    )
    out = subprocess.run(
        [sys.executable, "-c", code.format(mod="uvicorn")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 2 and "pip install 'snowpipe-stream[emulator]'" in out.stderr
    out = subprocess.run(
        [sys.executable, "-c", code.format(mod="click")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 2 and "pip install 'snowpipe-stream[cli]'" in out.stderr


def _on_a_terminal(args: list[str], env: dict[str, str], answer: bytes) -> tuple[int, str, str]:
    """Run the command with stdin and stderr on a pty; answer its question; (code, out, tty)."""
    import pty
    import select

    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [EXE, *args], env=env, stdin=slave, stdout=subprocess.PIPE, stderr=slave, text=True
    )
    os.close(slave)
    seen, answered = b"", False
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.1)
        if not ready:
            continue
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
        if not answered and b"[y/N]" in seen:
            os.write(master, answer)
            answered = True
    out, _ = proc.communicate(timeout=60)
    os.close(master)
    return proc.returncode, out, seen.decode(errors="replace")


def test_drop_channel_says_what_it_discards_and_asks_on_a_terminal(
    emu: Emulator, tmp_path: Path
) -> None:
    data = write_ndjson(tmp_path / "a.ndjson", 20)
    assert ingest(emu, str(data)).returncode == 0
    token = emu_token(emu)
    args = ["drop-channel", *PIPE_ARGS, "c1"]
    code, out, tty = _on_a_terminal(args, env_for(emu), b"n\n")
    assert code == 130 and out == ""
    assert f"has committed offset token {token!r}" in tty
    assert "sends its inputs again from their first record" in tty
    assert "drop channel c1 of DB.S.P? [y/N]" in tty and "not dropped" in tty
    assert emu_token(emu) == token
    code, out, tty = _on_a_terminal(args, env_for(emu), b"y\n")
    assert code == 0, tty
    assert f"discarded its committed offset token {token!r}" in out
    # What it said: the same ingest sends everything again.
    assert "ingested 20 new rows" in ingest(emu, str(data)).stdout
    assert committed(emu) == list(range(1, 21)) * 2


def test_keygen_never_writes_through_a_link(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("keep me")
    # A link to a file (written through before), or to a name (created through it before).
    for planted, target in (("rsa_key.p8", victim), ("rsa_key.pub", tmp_path / "absent")):
        out_dir = tmp_path / f"keys-{planted}"
        out_dir.mkdir()
        (out_dir / planted).symlink_to(target)
        for force in ((), ("--force",)):
            out = cli("keygen", "--out", str(out_dir), *force, env=os.environ.copy())
            assert out.returncode == 2, (planted, force, out.stderr)
            assert f"{out_dir / planted} is a symbolic link" in out.stderr
            assert victim.read_text() == "keep me"
            assert not (tmp_path / "absent").exists()
            assert sorted(os.listdir(out_dir)) == [planted]  # no half pair, no temp file
            assert (out_dir / planted).is_symlink()


def test_keygen_force_replaces_regular_files(tmp_path: Path) -> None:
    out_dir = tmp_path / "keys"
    assert cli("keygen", "--out", str(out_dir), env=os.environ.copy()).returncode == 0
    first = PrivateKey.from_file(out_dir / "rsa_key.p8").fingerprint
    out = cli("keygen", "--out", str(out_dir), "--force", env=os.environ.copy())
    assert out.returncode == 0, out.stderr
    key = PrivateKey.from_file(out_dir / "rsa_key.p8")
    assert key.fingerprint != first and f"fingerprint: {key.fingerprint}" in out.stdout
    assert (out_dir / "rsa_key.p8").stat().st_mode & 0o777 == 0o600
    assert key.public_key_body() in (out_dir / "rsa_key.pub").read_text().replace("\n", "")
    assert sorted(os.listdir(out_dir)) == ["rsa_key.p8", "rsa_key.pub"]
