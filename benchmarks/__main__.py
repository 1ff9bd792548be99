"""Run every benchmark and print a Markdown report: ``python -m benchmarks [name ...]``."""

from __future__ import annotations

import os
import platform
import sys
import time

from . import bench_client, bench_jwt

BENCHES = {"jwt": bench_jwt.run, "client": bench_client.run}


def main(argv: list[str]) -> int:
    names = argv or list(BENCHES)
    print(f"# snowpipe-stream benchmarks, {time.strftime('%Y-%m-%d')}")
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, {platform.platform()}"
    )
    print()
    for name in names:
        for line in BENCHES[name]():
            print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
