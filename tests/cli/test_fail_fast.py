"""The installed command against servers it cannot use: it says where and what, in seconds.

A closed port, a certificate from a CA the client does not trust, https to an http server,
http to an https server, a host name that does not exist: each ends within seconds (before:
14 s of retries) with exit 69 and a message naming the URL and the flag that sets it.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from snowpipe_stream import PrivateKey
from snowpipe_stream.emulator import Emulator
from tests.cli.test_cli import ACCOUNT, EXE, PIPE_ARGS, USER, cli, env_for
from tests.integration.test_fail_fast import closed_port

#: The issue asks for 5 s each; seven processes started at once on a loaded machine take longer
#: to start Python, so this is a guard against retries (which took 14 s), not a measurement.
GUARD_SECS = 10.0


@pytest.fixture(scope="module")
def servers(rsa_key: PrivateKey) -> Iterator[tuple[Emulator, Emulator]]:
    with (
        Emulator(users=[(ACCOUNT, USER, rsa_key)]) as plain,
        Emulator(users=[(ACCOUNT, USER, rsa_key)], tls=True) as tls,
    ):
        yield plain, tls


def start(command: str, emu: Emulator, url: str, tmp_path: Path) -> subprocess.Popen[str]:
    env = env_for(emu, SNOWFLAKE_URL=url)
    for var in ("SSL_CERT_FILE", "SSL_CERT_DIR"):
        env.pop(var, None)
    data = tmp_path / "a.ndjson"
    data.write_text(json.dumps({"n": 1}) + "\n")
    args = ["ingest", str(data), *PIPE_ARGS, "--channel", "c"] if command == "ingest" else [command]
    return subprocess.Popen(
        [EXE, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def cases(plain: Emulator, tls: Emulator) -> dict[str, tuple[str, str]]:
    """Name: (URL, what the message must say)."""
    port = closed_port()
    return {
        "closed port": (f"http://127.0.0.1:{port}", f"cannot reach http://127.0.0.1:{port}"),
        "untrusted CA": (tls.url, f"the TLS certificate of {tls.url} is not trusted"),
        "https to http": (plain.url.replace("http:", "https:"), "an http:// server?"),
        "http to https": (tls.url.replace("https:", "http:"), "cannot reach http://127.0.0.1"),
        "no such host": ("https://snowpipe-cli.invalid", "host snowpipe-cli.invalid not found"),
    }


def test_every_dead_url_fails_in_seconds_naming_the_url_and_the_flag(
    servers: tuple[Emulator, Emulator], tmp_path: Path
) -> None:
    # All at once (each its own process): the test takes as long as the slowest case.
    runs = [
        (command, name, said, start(command, servers[0], url, tmp_path))
        for name, (url, said) in cases(*servers).items()
        for command in ("ingest", "check")
        if command == "ingest" or name in ("closed port", "untrusted CA")
    ]
    started = time.monotonic()
    try:
        for command, name, said, proc in runs:
            stdout, stderr = proc.communicate(timeout=60)
            elapsed, out = time.monotonic() - started, stdout + stderr
            assert proc.returncode == 69, (command, name, out)
            assert elapsed < GUARD_SECS, (command, name, elapsed)
            assert said in out, (command, name, out)
            assert "--url / SNOWFLAKE_URL" in out or "--ca-file" in out or "SSL_CERT_FILE" in out
            assert "ClientConfig" not in out and "Traceback" not in out, (command, name, out)
    finally:
        # A failed case must not leave the others' processes and pipes behind (their pipes,
        # collected later, would fail whichever test runs then with a ResourceWarning).
        for *_, proc in runs:
            if proc.returncode is None:
                proc.kill()
                proc.communicate()


def test_ca_file_and_its_variable_trust_a_private_ca(
    servers: tuple[Emulator, Emulator], tmp_path: Path
) -> None:
    plain, tls = servers
    assert tls.ca_path is not None
    env = env_for(plain, SNOWFLAKE_URL=tls.url)
    env.pop("SSL_CERT_FILE", None)
    untrusted = cli("check", env=env)
    assert untrusted.returncode == 69
    assert (
        "give its certificate in --ca-file / SNOWFLAKE_CA_FILE (or SSL_CERT_FILE)"
        in untrusted.stdout
    )
    flag = cli("check", "--ca-file", str(tls.ca_path), env=env)
    assert flag.returncode == 0, flag.stderr
    variable = cli("check", env={**env, "SNOWFLAKE_CA_FILE": str(tls.ca_path)})
    assert variable.returncode == 0, variable.stderr
    missing = cli("check", "--ca-file", str(tmp_path / "ca.pem"), env=env)
    assert missing.returncode == 2 and "does not exist" in missing.stdout


def test_check_prints_one_line_per_step_and_never_advises_itself(
    servers: tuple[Emulator, Emulator], tmp_path: Path
) -> None:
    plain, _ = servers
    ok = cli("check", env=env_for(plain))
    lines = ok.stdout.strip().splitlines()
    assert ok.returncode == 0 and len(lines) == 6, ok.stdout
    assert [line.split(":")[0] for line in lines[:5]] == [
        "PASS configuration",
        "PASS credential",
        "PASS hostname discovery",
        "PASS token exchange",
        "PASS clock",
    ]
    assert all(re.search(r"\(\d+\.\d\d s\)$", line) for line in lines[:5])
    url = f"http://127.0.0.1:{closed_port()}"
    # How long it takes is the test above; here, no retry: what it prints.
    dead = cli(
        "check", env=env_for(plain, SNOWFLAKE_URL=url, SNOWFLAKE_INITIAL_CONNECT_DEADLINE_SECS="0")
    )
    lines = dead.stdout.strip().splitlines()
    assert dead.returncode == 69 and len(lines) == 3, dead.stdout
    assert lines[2].startswith(
        f"FAIL hostname discovery: discover the ingest host: cannot reach {url}"
    )
    assert "snowpipe-stream check" not in dead.stdout + dead.stderr
