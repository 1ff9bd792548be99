"""``ingest --format parquet|arrow``: the installed command against the emulator.

Record ``n`` is row ``n`` of the file across its row groups, so a rerun resumes after the
committed row exactly as for NDJSON lines.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from snowpipe_stream.cli._columnar import COLUMNAR_FORMATS, _parquet
from snowpipe_stream.cli._readers import BadInput, Source, read_records
from snowpipe_stream.emulator import Emulator
from tests.cli.test_cli import EXE, PIPE_ARGS, committed, emu, env_for, ingest

__all__ = ["emu"]  # the fixture, shared with test_cli

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")


def table(n: int, start: int = 1) -> Any:
    return pa.table(
        {
            "n": pa.array(range(start, start + n), pa.int64()),
            "score": pa.array([i / 4 for i in range(n)], pa.float64()),
            "amount": pa.array([Decimal(i).scaleb(-2) for i in range(n)], pa.decimal128(9, 2)),
            "at": pa.array(
                [dt.datetime(2024, 1, 1) + dt.timedelta(seconds=i) for i in range(n)],
                pa.timestamp("ms"),
            ),
            "tags": pa.array([[i % 3] for i in range(n)], pa.list_(pa.int8())),
        }
    )


def test_parquet_in_row_groups_then_a_rerun_sends_nothing_new(
    emu: Emulator, tmp_path: Path
) -> None:
    path = tmp_path / "events.parquet"
    data = table(1000)
    pq.write_table(data, path, row_group_size=300)  # 4 row groups
    assert pq.ParquetFile(path).num_row_groups == 4
    out = ingest(emu, str(path), extra=("--format", "parquet"))
    assert out.returncode == 0, out.stderr
    assert "ingested 1,000 new rows" in out.stdout
    assert "committed offset events.parquet@" in out.stdout and ":1000;" in out.stdout
    rows = emu.rows("DB", "S", "P", "c1")
    assert rows[1] == {
        "n": 2,
        "score": 0.25,
        "amount": 0.01,
        "at": "2024-01-01T00:00:01.000",
        "tags": [1],
    }
    assert committed(emu) == list(range(1, 1001))
    again = ingest(emu, str(path), extra=("--format", "parquet"))
    assert again.returncode == 0 and "ingested 0 new rows" in again.stdout, again.stderr


def test_a_bad_row_stops_at_its_number_and_the_fixed_file_resumes_after_it(
    emu: Emulator, tmp_path: Path
) -> None:
    path = tmp_path / "scores.parquet"
    data = table(700)
    scores = data.column("score").to_pylist()
    scores[449] = float("nan")  # row 450, in the second row group
    bad = data.set_column(1, "score", pa.array(scores, pa.float64()))
    pq.write_table(bad, path, row_group_size=400)
    out = ingest(emu, str(path), extra=("--format", "parquet"))
    assert out.returncode == 65, out.stderr
    assert f"{path}:450: column 'score' is nan" in out.stderr
    assert committed(emu) == list(range(1, 450))  # what came before it is in
    pq.write_table(data, path, row_group_size=400)  # fixed: the same first records
    out = ingest(emu, str(path), extra=("--format", "parquet"))
    assert out.returncode == 0, out.stderr
    assert f"resuming channel 'c1' after record 449 of {path}" in out.stderr
    assert "ingested 251 new rows" in out.stdout
    assert committed(emu) == list(range(1, 701))  # each row once


def test_arrow_ipc_file_and_stream_and_binary_columns(emu: Emulator, tmp_path: Path) -> None:
    path = tmp_path / "events.arrow"
    data = table(50).append_column("raw", pa.array([bytes([i]) for i in range(50)]))
    with pa.ipc.new_file(path, data.schema) as writer:  # Feather v2
        for batch in data.to_batches(max_chunksize=20):
            writer.write_batch(batch)
    out = ingest(emu, str(path), channel="file", extra=("--format", "arrow"))
    assert out.returncode == 0, out.stderr
    rows = emu.rows("DB", "S", "P", "file")
    assert [r["n"] for r in rows] == list(range(1, 51))
    assert rows[10]["raw"] == "0a"  # bytes as the pipe says (HEX), by append_rows
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, data.schema) as writer:
        writer.write_table(data)
    done = subprocess.run(
        [
            EXE,
            "ingest",
            "-",
            *PIPE_ARGS,
            "--channel",
            "stream",
            "--format",
            "arrow",
            "--input-id",
            "feed",
        ],
        env=env_for(emu),
        input=sink.getvalue().to_pybytes(),
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert committed(emu, "stream") == list(range(1, 51))


def test_parquet_from_a_pipe_and_broken_files_are_refused_with_advice(tmp_path: Path) -> None:
    """The reader itself, in process (the command's exit 65 for a BadInput is test_cli's)."""
    read, write = os.pipe()
    os.write(write, b"PAR1")
    os.close(write)
    with open(read, "rb") as pipe, pytest.raises(BadInput, match="cannot come from a pipe"):
        next(_parquet("<stdin>", pipe))
    (tmp_path / "not.parquet").write_bytes(b"not parquet at all")
    source = Source(
        str(tmp_path / "not.parquet"),
        "not.parquet",
        "not.parquet",
        stream=False,
        format=COLUMNAR_FORMATS["parquet"],
    )
    with pytest.raises(BadInput, match=r"not.parquet: invalid Parquet"):
        list(read_records(source))
    (tmp_path / "not.arrow").write_bytes(b"ARROW1 but not really")
    source = Source(
        str(tmp_path / "not.arrow"),
        "not.arrow",
        "not.arrow",
        stream=False,
        format=COLUMNAR_FORMATS["arrow"],
    )
    with pytest.raises(BadInput, match=r"not.arrow: invalid Arrow IPC data"):
        list(read_records(source))


def test_parquet_and_arrow_files_are_known_by_their_extension() -> None:
    from snowpipe_stream.cli._readers import InputOptions, detect

    for name, fmt in (("a.parquet", "parquet"), ("b.arrow", "arrow"), ("c.feather", "arrow")):
        found, guessed, compression = detect(name, InputOptions())
        assert (found.name, guessed, compression) == (fmt, False, None), name
    assert detect("d.parquet", InputOptions(fmt="ndjson"))[0].name == "ndjson"  # --format wins
