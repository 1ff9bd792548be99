"""What the README shows works: its examples run, its commands exist."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from snowpipe_stream import PrivateKey
from snowpipe_stream.emulator import Emulator
from tests.conftest import KEYS

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
EXE = str(Path(sys.executable).parent / "snowpipe-stream")


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README, flags=re.S)


def example_in_readme(name: str) -> bool:
    """Whether examples/NAME, its docstring aside, is one of the README's python blocks."""
    body = (ROOT / "examples" / name).read_text().split('"""', 2)[2].strip()
    return any(body == block.strip() for block in python_blocks())


def run_example(emu: Emulator, name: str) -> str:
    """Run examples/NAME against ``emu`` as the README's reader would; its stdout."""
    env = {
        **os.environ,
        "SNOWFLAKE_ACCOUNT": "myorg-myacct",
        "SNOWFLAKE_USER": "svc",
        "SNOWFLAKE_URL": emu.url,
        "SNOWFLAKE_PRIVATE_KEY_PATH": str(KEYS / "rsa_key.p8"),
    }
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / name)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_readme_examples_are_the_example_files() -> None:
    for name in ("quickstart.py", "quickstart_async.py", "emulator_test.py"):
        assert example_in_readme(name), name


def test_examples_run_against_the_emulator(rsa_key: PrivateKey) -> None:
    with Emulator(users=[("myorg-myacct", "svc", rsa_key)]) as emu:
        for name, channel in (("quickstart.py", "events-1"), ("quickstart_async.py", "events-2")):
            for run in (1, 2):  # the second run resumes after the first
                assert run_example(emu, name) == f"committed up to {1000 * run}"
            rows = emu.rows("MY_DB", "PUBLIC", "EVENTS-STREAMING", channel)
            assert [r["id"] for r in rows] == list(range(1, 2001))


def test_emulator_example_runs() -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "emulator_test.py")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "2 back-offs; 100 rows committed"


def test_every_command_in_the_readme_exists() -> None:
    shell = "\n".join(re.findall(r"```sh\n(.*?)```", README, flags=re.S))
    commands = set(re.findall(r"^snowpipe-stream ([a-z-]+)", shell, flags=re.M))
    assert {"ingest", "status", "drop-channel", "keygen", "check", "emulator", "demo"} <= commands
    for command in sorted(commands):
        out = subprocess.run(
            [EXE, command, "--help"], capture_output=True, text=True, timeout=30, check=False
        )
        assert out.returncode == 0, (command, out.stderr)
    assert "make demo" in README and "make test" in README
