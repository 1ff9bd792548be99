"""The emulator for someone who has never run it: its help, its advice when nobody can log in,
its log when a JWT is refused, and the error when its extra is not installed."""

from __future__ import annotations

import logging
import queue
import re
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest

from snowpipe_stream import PrivateKey
from snowpipe_stream.emulator import Emulator
from snowpipe_stream.emulator.__main__ import build_parser
from snowpipe_stream.testing import FakeClock
from tests.integration.conftest import ACCOUNT, USER
from tests.integration.test_emulator import hostname, jwt_for

EXE = str(Path(sys.executable).parent / "snowpipe-stream")


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, timeout=60, check=False)


def test_help_names_the_command_and_explains_every_flag() -> None:
    out = _run(EXE, "emulator", "--help")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "Usage: snowpipe-stream emulator [OPTIONS]"
    assert "Options:" in lines
    options = out.stdout.split("\nOptions:\n", 1)[1]
    for action in build_parser()._actions:
        assert action.help, action.option_strings
        for flag in action.option_strings:
            assert re.search(rf"(^|[ ,]){re.escape(flag)}\b", options, re.M), flag
    # Every option line has its explanation (no bare flags as argparse prints without help).
    for flag in ("--commit-delay-ms", "--scoped-token-ttl", "--pipe", "--read-timeout"):
        assert re.search(rf"^  {flag} \S+ +\S", options, re.M), flag
    # Errors look like the other commands' too.
    bad = _run(EXE, "emulator", "--no-such-flag")
    assert bad.returncode == 2
    assert bad.stderr.startswith("Usage: snowpipe-stream emulator [OPTIONS]")
    assert "Error: unrecognized arguments: --no-such-flag" in bad.stderr


def test_module_help_names_python_dash_m() -> None:
    out = _run(sys.executable, "-m", "snowpipe_stream.emulator", "--help")
    assert out.stdout.startswith("Usage: python -m snowpipe_stream.emulator [OPTIONS]")


@pytest.mark.parametrize("missing", ["starlette", "uvicorn"])
def test_import_without_the_extra_names_the_install_command(missing: str) -> None:
    code = (
        f"import sys; sys.modules[{missing!r}] = None\n"
        "try:\n"
        "    import snowpipe_stream.emulator\n"
        "except ImportError as exc:\n"
        "    print(type(exc).__name__, exc)\n"
    )
    out = _run(sys.executable, "-c", code)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("ImportError ")  # not ModuleNotFoundError: starlette
    assert 'pip install "snowpipe-stream[emulator]"' in out.stdout
    assert missing in out.stdout


def test_without_users_it_says_so_and_how_to_add_one(
    caplog: pytest.LogCaptureFixture, rsa_key: PrivateKey, clock: FakeClock
) -> None:
    caplog.set_level(logging.WARNING)
    with Emulator(clock=clock) as emu:
        hint = [r.getMessage() for r in caplog.records if "no users" in r.getMessage()]
        assert len(hint) == 1
        assert f"{emu.url}/emulator/v1/users" in hint[0]
        assert "--public-key" in hint[0] and "keygen" in hint[0]
        caplog.clear()
        assert hostname(emu, jwt_for(rsa_key, clock)).status_code == 401
        refused = [r.getMessage() for r in caplog.records if "JWT rejected" in r.getMessage()]
        assert refused == [
            "JWT rejected on GET /v2/streaming/hostname: no such user MYORG-ACCT.SVC_USER "
            "(no users are registered)"
        ]
        # Following the advice works: register the key as keygen prints it, then log in.
        body = rsa_key.public_key_body()
        resp = httpx.post(
            f"{emu.url}/emulator/v1/users",
            json={"account": ACCOUNT, "user": USER, "public_key": body},
        )
        assert resp.status_code == 200, resp.text
        assert hostname(emu, jwt_for(rsa_key, clock)).status_code == 200


def test_the_command_prints_the_advice_on_its_console() -> None:
    proc = subprocess.Popen(
        [EXE, "emulator", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stderr is not None
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(x) for x in proc.stderr], daemon=True)
    reader.start()
    try:
        assert proc.stdout.readline().startswith("emulator listening on http://127.0.0.1:")
        first = lines.get(timeout=20)
        assert "WARNING" in first and "no users are registered" in first
        assert "/emulator/v1/users" in lines.get(timeout=20)
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0
        reader.join(timeout=10)
        proc.stdout.close()
        proc.stderr.close()


def test_a_refused_jwt_is_logged_with_the_failed_check_at_default_verbosity(
    caplog: pytest.LogCaptureFixture,
    rsa_key: PrivateKey,
    other_key: PrivateKey,
    clock: FakeClock,
) -> None:
    caplog.set_level(logging.WARNING)
    with Emulator(users=[(ACCOUNT, USER, rsa_key)], clock=clock) as emu:
        resp = hostname(emu, jwt_for(other_key, clock))
        assert resp.json() == {"code": "390144", "message": "JWT token is invalid."}
        resp = hostname(emu, jwt_for(rsa_key, clock, exp=int(clock.time()) - 10))
        assert resp.status_code == 401
    refused = [r.getMessage() for r in caplog.records if "JWT rejected" in r.getMessage()]
    assert refused == [
        "JWT rejected on GET /v2/streaming/hostname: fingerprint matches none of the user's keys",
        "JWT rejected on GET /v2/streaming/hostname: expired",
    ]


def test_a_taken_port_and_a_user_without_a_key_are_clear_errors() -> None:
    with Emulator() as running:
        port = running.url.rsplit(":", 1)[1]
        out = _run(EXE, "emulator", "--port", port)
    assert out.returncode == 2, out.stderr
    assert f"could not listen on 127.0.0.1:{port}; is another program on that port?" in out.stderr
    assert "Traceback" not in out.stderr
    out = _run(EXE, "emulator", "--account", "A", "--user", "U")
    assert out.returncode == 2 and "only with --public-key FILE" in out.stderr, out.stderr
