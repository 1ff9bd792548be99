"""The benchmarks still run (on tiny inputs): `make bench` is not part of `make test`, so a
change that breaks a benchmark would otherwise go unseen until someone measures."""

from __future__ import annotations

from pathlib import Path

from benchmarks import bench_arrow, bench_client, bench_e2e

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
    lines = bench_e2e.ingest_rss(tmp_path, rsa_key, 1, spreads=(2,))
    assert any("peak RSS" in line for line in lines)


def test_arrow_benchmark_runs_and_its_candidates_agree_on_the_rows(rsa_key: PrivateKey) -> None:
    import msgspec

    table = bench_arrow.mixed_table(50)
    outputs = {name: fn() for name, fn in bench_arrow.candidates(table).items()}
    decoded = {
        name: msgspec.json.decode(b"[" + out.replace(b"\n", b",")[:-1] + b"]")
        for name, out in outputs.items()
    }
    assert all(len(rows) == 50 for rows in decoded.values())
    ours = decoded["snowpipe_stream arrow_ndjson (Arrow kernels)"]
    python = decoded["to_pylist() + msgspec encode_lines"]
    # Same values (their texts differ: decimals as numbers, timestamps with +00:00 or Z).
    assert [r["id"] for r in ours] == [r["id"] for r in python]
    assert [r["blob"] for r in ours] == [r["blob"] for r in python]
    assert [r["kind"] for r in ours] == [r["kind"] for r in python]
    assert any("rows/s" in line for line in bench_arrow.conversion(200, repeat=1))
    assert any("append_arrow" in line for line in bench_arrow.client_path(rsa_key, 200, 1))


def test_our_client_process_of_the_cpu_benchmark_runs(rsa_key: PrivateKey, tmp_path: Path) -> None:
    result = bench_e2e._client_process(bench_e2e.OUR_SCRIPT, rsa_key, 20_000, tmp_path)
    assert result["rows_inserted"] == 20_000
    assert 0 < result["cpu"] <= result["total_cpu"]
