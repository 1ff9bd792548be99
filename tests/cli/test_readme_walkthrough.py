"""The README's walkthrough from nothing runs as written: emulator, keygen, register, quickstart."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def walkthrough() -> str:
    section = README.split("From nothing to rows committed", 1)[1]
    match = re.search(r"```sh\n(.*?)```", section, flags=re.S)
    assert match is not None
    return match.group(1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_walkthrough_from_nothing_runs(tmp_path: Path) -> None:
    script = walkthrough()
    assert "snowpipe-stream emulator" in script and "keygen" in script
    assert "/emulator/v1/users" in script and "SNOWFLAKE_URL" in script
    script = script.replace("8080", str(free_port()))
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    env = {key: value for key, value in os.environ.items() if not key.startswith("SNOWFLAKE_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    out = subprocess.run(
        ["bash", "-c", "set -euo pipefail\ntrap 'kill $! 2>/dev/null' EXIT\n" + script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.rstrip().endswith("}committed up to 1000"), out.stdout
    assert '"fingerprint"' in out.stdout
