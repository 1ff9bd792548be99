"""`snowpipe-stream ingest` of large inputs in other formats: peak RSS and throughput.

A JSON array is streamed (``cli/_jsonarray``), so its peak RSS should not grow with the file;
the issue's goal: a 1 GB array within 150 MB. ``python -m benchmarks inputs``; the size is
``SNOWPIPE_BENCH_ARRAY_MB`` (default 200). Also a gzipped NDJSON file of the same rows.
"""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import msgspec

from snowpipe_stream import PrivateKey
from snowpipe_stream.cli._events import events
from snowpipe_stream.emulator import Emulator

DB, SCHEMA, PIPE = "DB", "S", "P"


def write_array(path: Path, size_mb: int) -> int:
    """A JSON array of about ``size_mb`` MB on one line; its size in bytes."""
    enc = msgspec.json.Encoder()
    block = enc.encode(events(min(20_000, size_mb * 4000)))[1:-1]  # the elements only
    written = 0
    with path.open("wb") as f:
        f.write(b"[")
        n = 0
        while written < size_mb * 1_000_000:
            if n:
                f.write(b",")
            f.write(block.replace(b'"ok"', b'"o%d"' % (n % 10)))
            written += len(block) + 1
            n += 1
        f.write(b"]")
    return path.stat().st_size


#: CPU seconds of the last measured ``ingest`` process.
LAST_CPU = 0.0


def measure(
    key: PrivateKey, tmp: Path, data: Path, channel: str, *args: str
) -> tuple[float, float, str]:
    """Peak RSS (MB) and seconds of one ingest of ``data`` (with ``args``), and its summary
    line; the CPU seconds (user + system) of the ``ingest`` process are in ``LAST_CPU``."""
    global LAST_CPU
    key_file = tmp / "k.p8"
    key_file.write_bytes(key.private_key_pem())
    exe = str(Path(sys.executable).parent / "snowpipe-stream")
    with Emulator(users=[("acct", "u", key)]) as emu:
        env = {
            **os.environ,
            "SNOWFLAKE_ACCOUNT": "acct",
            "SNOWFLAKE_USER": "u",
            "SNOWFLAKE_URL": emu.url,
            "SNOWFLAKE_PRIVATE_KEY_PATH": str(key_file),
        }
        t0 = time.perf_counter()
        out = subprocess.run(
            [
                sys.executable,
                "-c",
                "import resource, subprocess, sys; "
                "r = subprocess.run(sys.argv[1:]).returncode; "
                "u = resource.getrusage(resource.RUSAGE_CHILDREN); "
                "print(u.ru_utime + u.ru_stime); print(u.ru_maxrss); "
                "sys.exit(r)",
                exe,
                "ingest",
                str(data),
                *("--database", DB, "--schema", SCHEMA, "--pipe", PIPE),
                *("--channel", channel, "--no-progress"),
                *args,
            ],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        elapsed = time.perf_counter() - t0
    if out.returncode != 0:
        raise RuntimeError(out.stderr)
    lines = out.stdout.strip().splitlines()
    LAST_CPU = float(lines[-2])
    return int(lines[-1]) / 1024, elapsed, lines[-3]


def inputs(key: PrivateKey, tmp: Path, size_mb: int, gz_rows: int = 200_000) -> list[str]:
    array = tmp / "big.json"
    size = write_array(array, size_mb)
    rss, secs, summary = measure(key, tmp, array, "array")
    lines = [
        "## `snowpipe-stream ingest` of a large JSON array and a gzipped file",
        "",
        "| input | size | peak RSS | time (incl. start-up) |",
        "|---|---|---|---|",
        f"| JSON array, one line | {size / 1e6:,.0f} MB | {rss:.0f} MB | {secs:.1f} s "
        f"({size / secs / 1e6:.0f} MB/s) |",
    ]
    gz = tmp / "big.ndjson.gz"
    with gzip.open(gz, "wb", compresslevel=1) as f:
        f.write(msgspec.json.Encoder().encode_lines(events(gz_rows)))
    rss, secs, gz_summary = measure(key, tmp, gz, "gz")
    lines += [
        f"| NDJSON, gzip | {gz.stat().st_size / 1e6:,.1f} MB ({gz_rows:,} rows) | {rss:.0f} MB "
        f"| {secs:.1f} s |",
        "",
        f"    {summary}",
        f"    {gz_summary}",
        "",
    ]
    array.unlink()
    return lines


def run() -> list[str]:
    with tempfile.TemporaryDirectory() as tmp:
        return inputs(
            PrivateKey.generate(), Path(tmp), int(os.environ.get("SNOWPIPE_BENCH_ARRAY_MB", "200"))
        )
