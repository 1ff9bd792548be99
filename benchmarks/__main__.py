"""Run the benchmarks; print a Markdown report and write it to docs/benchmarks.md.

``python -m benchmarks [jwt] [client] [arrow] [e2e] [sdk] [cpu] [inputs] [spark]`` (``make
bench`` runs all but sdk and cpu; e2e includes them). Sizes: ``SNOWPIPE_SPARK_ROWS`` (default
1,000,000) for the Spark write, ``SNOWPIPE_BENCH_FILE_MB`` (default 1000) for the ingest file,
``SNOWPIPE_CHAOS_ROWS`` (default 1,000,000) for the chaos run, ``SNOWPIPE_BENCH_ARRAY_MB``
(default 200) for the JSON array of ``inputs``, ``SNOWPIPE_SDK_ROWS`` (default 1,000,000) for
the comparisons with the official SDK.
"""

from __future__ import annotations

import os
import platform
import sys
import time
from pathlib import Path

from snowpipe_stream import PrivateKey

from . import bench_arrow, bench_client, bench_e2e, bench_inputs, bench_jwt, bench_spark

BENCHES = {
    "jwt": bench_jwt.run,
    "client": bench_client.run,
    "arrow": bench_arrow.run,
    "e2e": bench_e2e.run,
    "sdk": bench_e2e.run_sdk,
    "cpu": lambda: bench_e2e.cpu_vs_sdk(PrivateKey.generate()),
    "spark": bench_spark.run,
    "inputs": bench_inputs.run,
}
REPORT = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"


def main(argv: list[str]) -> int:
    names = argv or [n for n in BENCHES if n not in ("sdk", "cpu")]
    unknown = [n for n in names if n not in BENCHES]
    if unknown:
        print(f"unknown benchmark(s) {unknown}; choose from {list(BENCHES)}", file=sys.stderr)
        return 2
    lines = [
        "# snowpipe-stream benchmarks",
        "",
        f"Measured {time.strftime('%Y-%m-%d')} on {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()} ({platform.platform()}), with "
        f"`python -m benchmarks {' '.join(names)}` (`make bench` runs all).",
        "",
    ]
    print("\n".join(lines), flush=True)
    for name in names:
        part = BENCHES[name]()
        print("\n".join(part), flush=True)
        lines += part
    if not argv:
        REPORT.parent.mkdir(exist_ok=True)
        REPORT.write_text("\n".join(lines) + "\n")
        print(f"(written to {REPORT})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
