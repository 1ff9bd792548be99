"""What a user installing the package sees: its licence, its metadata, the command without its
extra."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_declared_licence_is_the_licence_file() -> None:
    meta = metadata("snowpipe-stream")
    assert meta["License-Expression"] == "Apache-2.0"
    assert "LICENSE" in (meta.get_all("License-File") or [])
    text = (ROOT / "LICENSE").read_text()
    assert text.lstrip().startswith("Apache License") and "Version 2.0, January 2004" in text
    classifiers = meta.get_all("Classifier") or []
    assert "Typing :: Typed" in classifiers
    assert any(c.startswith("Programming Language :: Python :: 3.10") for c in classifiers)


def test_the_command_without_its_extra_exits_2_naming_the_install_line() -> None:
    # click hidden as if the [cli] extra were not installed.
    code = (
        "import sys; sys.modules['click'] = None; sys.argv = ['snowpipe-stream', '--help']; "
        "from snowpipe_stream.cli import main; main()"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert out.returncode == 2, out.stderr
    assert "pip install 'snowpipe-stream[cli]'" in out.stderr
    assert "Traceback" not in out.stderr
