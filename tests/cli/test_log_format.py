"""--log-format json: the commands' (and the emulator's) log lines as one JSON object per line."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import httpx
import pytest

from snowpipe_stream import PrivateKey
from snowpipe_stream._logfields import FIELDS, log_fields
from snowpipe_stream.cli import main
from snowpipe_stream.cli._demo import run_demo
from snowpipe_stream.emulator import Emulator
from snowpipe_stream.emulator.__main__ import build_parser
from tests.cli.test_cli import EXE, PIPE_ARGS, cli, emu, env_for, write_ndjson
from tests.cli.test_readme import README
from tests.conftest import KEYS, PASSPHRASE, find_secrets

__all__ = ["emu"]  # the fixture, shared with test_cli

TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
#: The encrypted fixture key: its passphrase must not reach a log line either.
AES_KEY = KEYS / "rsa_key_aes.p8"


def json_lines(stderr: str) -> list[dict[str, Any]]:
    """Every line of ``stderr``, each a JSON object with the base keys."""
    lines = stderr.splitlines()
    assert lines, "no log lines"
    docs = []
    for line in lines:
        doc = json.loads(line)  # every line: JSON, and nothing else
        assert isinstance(doc, dict), line
        assert {"time", "level", "logger", "message"} <= set(doc), line
        assert TIME.fullmatch(doc["time"]), line
        docs.append(doc)
    return docs


def ingest_with_faults(
    emu: Emulator, tmp_path: Path, *flags: str, **env: str
) -> subprocess.CompletedProcess[str]:
    """Ingest 40 rows through a 401 and a 429 on the append (each retried once)."""
    emu.faults.add(path="/rows$", status=401, count=1)
    emu.faults.add(path="/rows$", status=429, count=1)
    data = write_ndjson(tmp_path / "a.ndjson", 40)
    return cli(
        "ingest",
        str(data),
        *PIPE_ARGS,
        "--channel",
        "logs",
        "--private-key-passphrase-env",
        "KEY_PASS",
        *flags,
        env=env_for(
            emu,
            key_file=AES_KEY,
            KEY_PASS=PASSPHRASE,
            SNOWFLAKE_THROTTLE_BACKOFF_SECS="0",
            **env,
        ),
    )


def test_ingest_json_logs_carry_the_fields_and_no_secret(
    emu: Emulator, rsa_key: PrivateKey, tmp_path: Path
) -> None:
    out = ingest_with_faults(emu, tmp_path, "-v", "--log-format", "json")
    assert out.returncode == 0, out.stderr
    docs = json_lines(out.stderr)
    assert not find_secrets(out.stderr) and not find_secrets(out.stdout)
    assert PASSPHRASE not in out.stderr

    # The human output is unchanged.
    assert out.stdout.startswith("ingested 40 new rows into DB.S.P channel logs; ")
    assert "retries: 1 after 401 (credentials refreshed), 1 after 429 (throttled)" in out.stdout

    def line(start: str) -> dict[str, Any]:
        (doc,) = (d for d in docs if d["message"].startswith(start))
        return doc

    unauthorized = line("received 401 from append to channel 'logs'")
    throttled = line("received 429 from append to channel 'logs'")
    for doc, status, attempt in ((unauthorized, 401, 1), (throttled, 429, 2)):
        assert doc["level"] == "WARNING" and doc["logger"] == "snowpipe_stream.transport"
        assert doc["channel"] == "logs" and doc["pipe"] == "DB.S.P"
        assert doc["endpoint"] == "append" and doc["status"] == status
        assert doc["attempt"] == attempt
        assert isinstance(doc["request_id"], str) and doc["request_id"]
    # Two attempts of one call: one request id.
    assert unauthorized["request_id"] == throttled["request_id"]
    opened = line("channel logs opened")
    assert (opened["level"], opened["channel"], opened["pipe"]) == ("INFO", "logs", "DB.S.P")
    minted = [d for d in docs if d["message"].startswith("JWT refreshed")]
    assert minted and all(d["fingerprint"] == rsa_key.fingerprint for d in minted)


def test_json_logs_with_the_json_result_and_before_the_command(
    emu: Emulator, tmp_path: Path
) -> None:
    data = write_ndjson(tmp_path / "a.ndjson", 5)
    out = cli(
        "--log-format",
        "json",
        "-vv",
        "ingest",
        str(data),
        *PIPE_ARGS,
        "--channel",
        "c1",
        "--json",
        env=env_for(emu),
    )
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)  # stdout: the one result object
    assert doc["ok"] is True and doc["rows"] == 5
    debug = [d for d in json_lines(out.stderr) if d["level"] == "DEBUG"]
    appends = [d for d in debug if d.get("endpoint") == "append"]
    assert appends and all(d["status"] == 200 and d["attempt"] == 1 for d in appends)
    assert {d.get("endpoint") for d in debug} >= {"hostname", "token", "open", "append", "status"}


def test_the_variable_sets_it_the_flag_wins_and_text_is_the_default(
    emu: Emulator, tmp_path: Path
) -> None:
    data = write_ndjson(tmp_path / "a.ndjson", 5)
    args = ["ingest", str(data), *PIPE_ARGS, "-v"]
    from_env = cli(*args, "--channel", "env", env=env_for(emu, SNOWFLAKE_LOG_FORMAT="json"))
    assert from_env.returncode == 0, from_env.stderr
    assert any(d["message"].startswith("channel env opened") for d in json_lines(from_env.stderr))

    flag = cli(
        *args,
        "--channel",
        "flag",
        "--log-format",
        "text",
        env=env_for(emu, SNOWFLAKE_LOG_FORMAT="json"),
    )
    default = cli(*args, "--channel", "default", env=env_for(emu))
    for run, name in ((flag, "flag"), (default, "default")):
        assert run.returncode == 0, run.stderr
        assert re.search(
            rf"^\S+ \S+ INFO    snowpipe_stream\.channel channel {name} opened ",
            run.stderr,
            re.M,
        ), run.stderr
        assert not any(line.startswith("{") for line in run.stderr.splitlines())

    bad = cli(*args, "--channel", "bad", env=env_for(emu, SNOWFLAKE_LOG_FORMAT="yaml"))
    assert bad.returncode == 2
    assert "error: SNOWFLAKE_LOG_FORMAT='yaml': expected one of text, json" in bad.stderr
    refused = cli(*args, "--channel", "bad", "--log-format", "yaml", env=env_for(emu))
    assert refused.returncode == 2 and "'yaml' is not one of 'text', 'json'" in refused.stderr


def test_every_command_takes_it() -> None:
    group = main
    assert isinstance(group, click.Group)
    for command in [group, *group.commands.values()]:
        options = {opt for param in command.params for opt in param.opts}
        if command.name == "emulator":  # its options are the emulator's own (argparse)
            assert "--log-format" in build_parser().format_help()
            continue
        assert "--log-format" in options, command.name


def _serve_emulator(args: list[str], env: dict[str, str]) -> tuple[str, str]:
    """Start an emulator command, make it log a rejected JWT (the emulator) and a request that
    is not HTTP (uvicorn), stop it: (stdout, stderr)."""
    proc = subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    assert proc.stdout is not None
    try:
        first = proc.stdout.readline()
        url = first.strip().removeprefix("emulator listening on ")
        headers = {"Accept": "application/json", "Authorization": "Bearer not-a-jwt"}
        assert httpx.get(f"{url}/v2/streaming/hostname", headers=headers).status_code == 401
        parts = httpx.URL(url)
        with socket.create_connection((parts.host, parts.port or 80), timeout=10) as sock:
            sock.sendall(b"NOT HTTP\r\n\r\n")
            assert sock.recv(100).startswith(b"HTTP/1.1 400")
    finally:
        proc.send_signal(signal.SIGTERM)
        rest, stderr = proc.communicate(timeout=10)
    assert proc.returncode == 0, stderr
    return first + rest, stderr


def test_the_emulator_logs_json_from_the_flag_or_the_variable() -> None:
    env = {k: v for k, v in os.environ.items() if k != "SNOWFLAKE_LOG_FORMAT"}
    for args, extra in (
        ([EXE, "--log-format", "json", "emulator", "--port", "0", "-v"], {}),
        (
            [sys.executable, "-m", "snowpipe_stream.emulator", "--port", "0"],
            {"SNOWFLAKE_LOG_FORMAT": "json"},
        ),
    ):
        stdout, stderr = _serve_emulator(args, {**env, **extra})
        assert stdout.startswith("emulator listening on http://127.0.0.1:")
        docs = json_lines(stderr)
        rejected = [d for d in docs if d["message"].startswith("JWT rejected on GET ")]
        assert rejected and rejected[0]["level"] == "WARNING", stderr
        assert {d["logger"] for d in docs} == {"snowpipe_stream.emulator", "uvicorn.error"}
        # The hint for an emulator without users spans lines: one JSON line still.
        (hint,) = (d for d in docs if "/emulator/v1/users" in d["message"])
        assert "\n" in hint["message"]
    shown = subprocess.run([EXE, "emulator", "--help"], capture_output=True, text=True, env=env)
    assert "--log-format {text,json}" in shown.stdout


def test_the_demo_writes_its_logs_as_json_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    narrative = io.StringIO()
    assert run_demo(rows=2000, out=narrative, json_logs=True) == 0
    docs = json_lines(capsys.readouterr().err)
    assert any(d["message"].startswith("received 429") and d["status"] == 429 for d in docs)
    assert "OK: every row arrived exactly once" in narrative.getvalue()
    assert "received 429" not in narrative.getvalue()  # the log lines left the narrative


def test_the_readme_logs_section_is_what_the_code_does(capsys: pytest.CaptureFixture[str]) -> None:
    section = README.split("\n## Logs\n", 1)[1].split("\n## ", 1)[0]
    table = re.findall(r"^\| `(\w+)` \|", section, flags=re.M)
    assert tuple(table) == FIELDS
    (example,) = re.findall(r"```json\n(.*?)\n```", section, flags=re.S)
    doc = json.loads(example)
    assert list(doc)[:4] == ["time", "level", "logger", "message"]
    assert list(doc)[4:] == [f for f in FIELDS if f in doc]
    assert TIME.fullmatch(doc["time"])
    (snippet,) = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    library = logging.getLogger("snowpipe_stream")
    handlers, level = library.handlers[:], library.level
    try:
        exec(snippet, {})
        logging.getLogger("snowpipe_stream.channel").info(
            "channel %s opened", "c1", extra=log_fields(channel="c1", pipe="DB.S.P")
        )
    finally:
        library.handlers[:], library.level = handlers, level
    (line,) = json_lines(capsys.readouterr().err)
    assert line["message"] == "channel c1 opened" and line["pipe"] == "DB.S.P"
