"""The example behind `make demo` runs and reports the expected refreshes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_auth_demo_runs() -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "auth_demo.py")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "jwt_exp_secs=10 is outside [30, 3600]; using 30 seconds" in out.stdout
    assert out.stdout.count("reason=margin") == 8
    assert "reason=invalidated" in out.stdout
    assert "BEGIN" not in out.stdout and "eyJ" not in out.stdout
