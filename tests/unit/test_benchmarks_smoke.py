"""The benchmarks still run (on tiny inputs): `make bench` is not part of `make test`, so a
change that breaks a benchmark would otherwise go unseen until someone measures."""

from __future__ import annotations

from pathlib import Path

from benchmarks import bench_client, bench_e2e

from snowpipe_stream import PrivateKey


def test_client_and_emulator_benchmarks_run(rsa_key: PrivateKey) -> None:
    rows = bench_client.events(2000)
    table = bench_client.per_row_overhead(rsa_key, rows)
    assert any(line.startswith("| `append_row(token)`") for line in table)
    ingest = bench_client.emulator_ingest(rsa_key, rows)
    assert any("MB/s" in line for line in ingest)


def test_end_to_end_benchmark_runs(rsa_key: PrivateKey) -> None:
    for tls in (False, True):
        assert bench_e2e._run(rsa_key, bench_client.events(2000), 2, "zstd", tls) > 0


def test_ingest_benchmark_runs(rsa_key: PrivateKey, tmp_path: Path) -> None:
    lines = bench_e2e.ingest_rss(tmp_path, rsa_key, 1)
    assert any("peak RSS" in line for line in lines)
