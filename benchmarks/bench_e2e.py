"""End to end into the emulator: channels x compression x HTTP/TLS, 1M rows to commit, chaos."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
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
SDK_SCRIPT = ROOT / "tests" / "integration" / "sdk" / "run_official_sdk.py"


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


def _sdk_rows(n: int) -> list[dict[str, Any]]:
    """The rows run_official_sdk.py builds: about 200 bytes each."""
    pad = "x" * 150
    return [{"n": i, "source": "official-sdk", "pad": pad} for i in range(1, n + 1)]


def _run_sdk(key: PrivateKey, n: int, tmp: Path) -> float:
    """Snowflake's SDK in a subprocess on its own emulator (TLS); its first append to commit."""
    key_file = tmp / "sdk.p8"
    key_file.write_bytes(key.private_key_pem())
    with Emulator(users=[("sdkorg-acct", "sdk_user", key)], tls=True) as emu:
        assert emu.ca_path is not None
        args = [emu.url, "sdkorg-acct", "sdk_user", str(key_file), str(n), str(tmp / "sdk.json")]
        out = subprocess.run(
            [sys.executable, str(SDK_SCRIPT), *args, "chunks"],
            env={**os.environ, "SSL_CERT_FILE": str(emu.ca_path)},
            capture_output=True,
            text=True,
            check=False,
        )
        if out.returncode != 0:
            raise RuntimeError(out.stderr[-2000:] + out.stdout[-2000:])
        result = json.loads((tmp / "sdk.json").read_text())
        assert result["rows_inserted"] == n, result
        assert len(emu.rows("DB", "SCHEMA", "PIPE", "sdk-channel")) == n
        appends = emu.stats()["requests"].get("append 200", 0)
    print(f"  official SDK: {result['seconds']:.2f} s, {appends} appends", flush=True)
    return float(result["seconds"])


def official_sdk(key: PrivateKey) -> list[str]:
    """The same rows through Snowflake's official SDK and ours, alternating: median of 3."""
    try:
        import snowflake.ingest.streaming  # noqa: F401
    except ImportError:
        return ["## Snowflake's official SDK beside ours", "", "(snowpipe-streaming missing)", ""]
    n = int(os.environ.get("SNOWPIPE_SDK_ROWS", "1000000"))
    rows = _sdk_rows(n)
    nbytes = len(msgspec.json.Encoder().encode_lines(rows))
    ours: list[float] = []
    theirs: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(3):
            ours.append(_run(key, rows, 1, "zstd", True))
            print(f"  ours: {ours[-1]:.2f} s", flush=True)
            theirs.append(_run_sdk(key, n, Path(tmp)))
    o, t = statistics.median(ours), statistics.median(theirs)
    return [
        "## Snowflake's official SDK beside ours",
        "",
        f"{n:,} rows of ~{nbytes // n} bytes ({nbytes / 1e6:.0f} MB of NDJSON), one channel, "
        "each client on its own emulator over TLS (commit delay 200 ms), appended 10,000 rows "
        "a call, first append to confirmed commit; runs alternate, median of 3. The SDK "
        "(`snowpipe-streaming`, Rust core) runs in a subprocess with only its two rowset-mode "
        "properties set (`python -m benchmarks sdk`; `SNOWPIPE_SDK_ROWS` sets the size).",
        "",
        "| client | median s | rows/s | MB/s | runs (s) |",
        "|---|---|---|---|---|",
        f"| snowpipe-stream | {o:.2f} | {n / o:,.0f} | {nbytes / o / 1e6:.1f} | "
        f"{', '.join(f'{x:.2f}' for x in ours)} |",
        f"| official SDK | {t:.2f} | {n / t:,.0f} | {nbytes / t / 1e6:.1f} | "
        f"{', '.join(f'{x:.2f}' for x in theirs)} |",
        "",
        f"Ratio (SDK time / ours): {t / o:.2f}. The SDK checks commits once a second, so its "
        "times are rounded up to its next status poll.",
        "",
    ]


OUR_SCRIPT = Path(__file__).resolve().parent / "run_ours.py"


def _client_process(script: Path, key: PrivateKey, n: int, tmp: Path) -> dict[str, float]:
    """One client in its own process against its own emulator (TLS): its result, with
    ``total_cpu``, the whole process's CPU (start-up, imports and building the rows too)."""
    key_file = tmp / "client.p8"
    key_file.write_bytes(key.private_key_pem())
    with Emulator(users=[("cpuorg-acct", "cpu_user", key)], tls=True) as emu:
        assert emu.ca_path is not None
        args = [emu.url, "cpuorg-acct", "cpu_user", str(key_file), str(n), str(tmp / "r.json")]
        extra = ["chunks"] if script == SDK_SCRIPT else []
        proc = subprocess.Popen(
            [sys.executable, str(script), *args, *extra],
            env={**os.environ, "SSL_CERT_FILE": str(emu.ca_path)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        assert proc.stderr is not None
        err = proc.stderr.read()
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        proc.stderr.close()
        if proc.returncode != 0:
            raise RuntimeError(err.decode()[-2000:])
        result = json.loads((tmp / "r.json").read_text())
        assert result["rows_inserted"] == n, result
    result["total_cpu"] = usage.ru_utime + usage.ru_stime
    return dict(result)


def cpu_vs_sdk(key: PrivateKey) -> list[str]:
    """Client CPU for the same rows: ours and Snowflake's SDK, each in its own process."""
    try:
        import snowflake.ingest.streaming  # noqa: F401
    except ImportError:
        return ["## Client CPU beside the official SDK", "", "(snowpipe-streaming missing)", ""]
    n = int(os.environ.get("SNOWPIPE_SDK_ROWS", "1000000"))
    runs: dict[str, list[dict[str, float]]] = {"ours": [], "sdk": []}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(3):
            runs["ours"].append(_client_process(OUR_SCRIPT, key, n, Path(tmp)))
            runs["sdk"].append(_client_process(SDK_SCRIPT, key, n, Path(tmp)))
    med = {
        who: {f: statistics.median(r[f] for r in rs) for f in ("seconds", "cpu", "total_cpu")}
        for who, rs in runs.items()
    }
    o, t = med["ours"], med["sdk"]
    return [
        "## Client CPU beside the official SDK",
        "",
        f"{n:,} rows of ~200 bytes, one channel; each client in a process of its own (the rows "
        "built first, appended 10,000 a call) against its own emulator over TLS in the "
        "benchmark's process; runs alternate, median of 3 (`python -m benchmarks cpu`). "
        "*CPU, append to commit* is the client process's CPU time, every thread, from the "
        "first append to the confirmed commit; *whole process* adds start-up, imports and "
        "building the rows.",
        "",
        "| client | append to commit s | CPU, append to commit s | CPU, whole process s |",
        "|---|---|---|---|",
        f"| snowpipe-stream | {o['seconds']:.2f} | {o['cpu']:.2f} | {o['total_cpu']:.2f} |",
        f"| official SDK | {t['seconds']:.2f} | {t['cpu']:.2f} | {t['total_cpu']:.2f} |",
        "",
        f"Ratio (ours / SDK): time {o['seconds'] / t['seconds']:.2f}, CPU append to commit "
        f"{o['cpu'] / t['cpu']:.2f}, CPU whole process {o['total_cpu'] / t['total_cpu']:.2f}.",
        "",
    ]


def ingest_rss(
    tmp: Path, key: PrivateKey, size_mb: int, spreads: tuple[int, ...] = (1, 2, 4)
) -> list[str]:
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
    from . import bench_inputs  # one way to run and measure `ingest`

    rows = []
    summaries = []
    for shards in spreads:
        rss_mb, elapsed, summary = bench_inputs.measure(
            key, tmp, data, "big", "--channels", str(shards)
        )
        cpu = bench_inputs.LAST_CPU
        rows.append(
            f"| {shards} | {elapsed:.1f} | {written / elapsed / 1e6:.0f} | {rss_mb:.0f} | "
            f"{cpu:.1f} ({cpu / elapsed:.0%} of a core) |"
        )
        summaries.append(f"    {summary}")
    data.unlink()
    return [
        "## `snowpipe-stream ingest` of a large NDJSON file",
        "",
        f"{written / 1e6:,.0f} MB file, into the emulator in this process (plain HTTP), `ingest` "
        "in its own; time including start-up; CPU is the `ingest` process's user + system.",
        "",
        "| --channels | seconds | MB/s | peak RSS MB | ingest CPU s |",
        "|---|---|---|---|---|",
        *rows,
        "",
        *summaries,
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


def run_sdk() -> list[str]:
    return official_sdk(PrivateKey.generate())


def run() -> list[str]:
    key = PrivateKey.generate()
    lines = matrix(key) + million(key) + official_sdk(key) + cpu_vs_sdk(key)
    size = int(os.environ.get("SNOWPIPE_BENCH_FILE_MB", "1000"))
    with tempfile.TemporaryDirectory() as tmp:
        lines += ingest_rss(Path(tmp), key, size)
    lines += chaos(int(os.environ.get("SNOWPIPE_CHAOS_ROWS", "1000000")))
    return lines
