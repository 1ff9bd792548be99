"""End to end into the emulator: channels x compression x HTTP/TLS, 1M rows to commit, chaos."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import msgspec

from snowpipe_stream import Client, PrivateKey
from snowpipe_stream.cli._events import events
from snowpipe_stream.emulator import Emulator

from . import bench_client

DB, SCHEMA, PIPE = "DB", "S", "P"
ROOT = Path(__file__).resolve().parents[1]


def _stream(client: Client, name: str, rows: list[dict[str, Any]]) -> None:
    channel, _ = client.open_channel(name)
    for i in range(0, len(rows), 10_000):
        chunk = rows[i : i + 10_000]
        channel.append_rows(chunk, str(i + 1), str(i + len(chunk)))
    channel.wait_for_commit(str(len(rows)), timeout=600)


def _run(
    key: PrivateKey, rows: list[dict[str, Any]], channels: int, compression: str, tls: bool
) -> float:
    per = len(rows) // channels
    with Emulator(users=[("acct", "u", key)], tls=tls) as emu:
        verify = {} if emu.ca_path is None else {"SSL_CERT_FILE": str(emu.ca_path)}
        old = {k: os.environ.get(k) for k in verify}
        os.environ.update(verify)
        try:
            with bench_client.make_client(key, compression, url=emu.url) as client:
                t0 = time.perf_counter()
                threads = [
                    threading.Thread(
                        target=_stream, args=(client, f"c{c}", rows[c * per : (c + 1) * per])
                    )
                    for c in range(channels)
                ]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
                elapsed = time.perf_counter() - t0
        finally:
            for k, v in old.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        assert len(emu.rows(DB, SCHEMA, PIPE)) == per * channels
    return elapsed


def matrix(key: PrivateKey) -> list[str]:
    rows = events(200_000)
    nbytes = len(msgspec.json.Encoder().encode_lines(rows))
    lines = [
        "## End to end into the emulator (one process, loopback)",
        "",
        f"200,000 rows of ~{nbytes // len(rows)} bytes ({nbytes / 1e6:.0f} MB of NDJSON), "
        "time from the first append to the confirmed commit of every channel.",
        "",
        "| channels | compression | transport | seconds | rows/s | MB/s |",
        "|---|---|---|---|---|---|",
    ]
    for tls in (False, True):
        for channels in (1, 4):
            for compression in ("zstd", "none"):
                dt = _run(key, rows, channels, compression, tls)
                lines.append(
                    f"| {channels} | {compression} | {'TLS' if tls else 'HTTP'} | "
                    f"{dt:.2f} | {len(rows) / dt:,.0f} | {nbytes / dt / 1e6:.1f} |"
                )
    lines.append("")
    return lines


def million(key: PrivateKey) -> list[str]:
    rows = events(1_000_000)
    best = min(_run(key, rows, 1, "zstd", False) for _ in range(3))
    return [
        "## 1,000,000 rows, one channel, first append to confirmed commit",
        "",
        f"best of 3: {best:.2f} s ({1_000_000 / best:,.0f} rows/s), zstd, plain HTTP, "
        "emulator commit delay 200 ms.",
        "",
    ]


def ingest_rss(tmp: Path, key: PrivateKey, size_mb: int) -> list[str]:
    """Peak RSS and MB/s of `snowpipe-stream ingest` on a generated NDJSON file."""
    data = tmp / "big.ndjson"
    enc = msgspec.json.Encoder()
    written = 0
    with data.open("wb") as f:
        block = enc.encode_lines(events(50_000))
        n = 0
        while written < size_mb * 1_000_000:
            # Vary the rows so the file does not compress to nothing.
            f.write(block.replace(b'"ok"', b'"o%d"' % (n % 10)))
            written += len(block)
            n += 1
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
                "/usr/bin/env",
                "python3",
                "-c",
                "import resource, subprocess, sys; "
                "r = subprocess.run(sys.argv[1:]).returncode; "
                "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); "
                "sys.exit(r)",
                exe,
                "ingest",
                str(data),
                "--database",
                DB,
                "--schema",
                SCHEMA,
                "--pipe",
                PIPE,
                "--channel",
                "big",
                "--no-progress",
            ],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        elapsed = time.perf_counter() - t0
        if out.returncode != 0:
            raise RuntimeError(out.stderr)
        rss_mb = int(out.stdout.strip().splitlines()[-1]) / 1024
        summary = out.stdout.strip().splitlines()[-2]
    data.unlink()
    return [
        "## `snowpipe-stream ingest` of a large NDJSON file",
        "",
        f"{written / 1e6:,.0f} MB file: peak RSS {rss_mb:.0f} MB, {elapsed:.1f} s "
        f"({written / elapsed / 1e6:.0f} MB/s) including start-up.",
        "",
        f"    {summary}",
        "",
    ]


def chaos(rows: int) -> list[str]:
    t0 = time.perf_counter()
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            str(ROOT / "tests" / "reliability" / "test_chaos.py"),
        ],
        env={**os.environ, "SNOWPIPE_CHAOS_ROWS": str(rows)},
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    last = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else out.stderr[-200:]
    return [
        "## Chaos at scale",
        "",
        f"`SNOWPIPE_CHAOS_ROWS={rows} pytest tests/reliability/test_chaos.py` (3 seeds, 4 "
        f"channels, ~6.5% faults on every endpoint, soft limits): {last} "
        f"({time.perf_counter() - t0:.0f} s).",
        "",
    ]


def run() -> list[str]:
    import tempfile

    key = PrivateKey.generate()
    lines = matrix(key) + million(key)
    size = int(os.environ.get("SNOWPIPE_BENCH_FILE_MB", "1000"))
    with tempfile.TemporaryDirectory() as tmp:
        lines += ingest_rss(Path(tmp), key, size)
    lines += chaos(int(os.environ.get("SNOWPIPE_CHAOS_ROWS", "1000000")))
    return lines
