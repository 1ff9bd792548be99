"""Start a server command in a subprocess, read its first lines, stop it and check the exit."""

from __future__ import annotations

import contextlib
import signal
import subprocess
from collections.abc import Iterator


@contextlib.contextmanager
def serving(args: list[str], first_lines: int = 1) -> Iterator[list[str]]:
    """Run ``args``; yield its first stdout lines; on exit SIGTERM it and expect exit code 0."""
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    try:
        yield [proc.stdout.readline().strip() for _ in range(first_lines)]
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=10)
        proc.stdout.close()
    assert code == 0
