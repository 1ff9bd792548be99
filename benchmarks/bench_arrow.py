"""Arrow tables to NDJSON: the library's vectorised converter against the other ways to do it.

A 10-column mixed table (int64, float64, bool, two strings, a decimal, a timestamp with a zone,
a date, binary, a list of int32), converted on one core. Candidates:

- ``snowpipe_stream._arrow.arrow_ndjson``: Arrow compute kernels, column by column (the one
  ``append_arrow`` uses);
- polars' ``write_ndjson`` (Rust), from the same table (polars is optional: skipped without it;
  it cannot write binary, which it is given in hex, and its decimals and timestamps differ);
- ``to_pylist()`` + msgspec (Python objects per value: what a caller does without this API).

pyarrow itself reads JSON but has no JSON writer, so there is no pyarrow path to measure.
"""

from __future__ import annotations

import datetime as dt
import decimal
import io
import os
import time
from collections.abc import Callable
from typing import Any

import msgspec

from snowpipe_stream._arrow import arrow_ndjson, pyarrow

_encoder = msgspec.json.Encoder()


def mixed_table(rows: int) -> Any:
    """A 10-column table of ``rows`` rows, about 200 bytes of NDJSON each, some nulls."""
    pa = pyarrow()
    ids = pa.array(range(rows), pa.int64())
    base = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
    words = ["click", "view", "purchase", 'say "hi"', "path\\to"]
    return pa.table(
        {
            "id": ids,
            "score": pa.array([i * 0.25 for i in range(rows)], pa.float64()),
            "ok": pa.array([i % 3 == 0 for i in range(rows)]),
            "kind": pa.array([words[i % 5] for i in range(rows)]),
            "user": pa.array([None if i % 7 == 0 else f"user-{i % 1000}" for i in range(rows)]),
            "amount": pa.array(
                [decimal.Decimal(i % 100_000).scaleb(-2) for i in range(rows)],
                pa.decimal128(12, 2),
            ),
            "at": pa.array(
                [base + dt.timedelta(milliseconds=i) for i in range(rows)],
                pa.timestamp("ms", "UTC"),
            ),
            "day": pa.array([dt.date(2024, 1, 1 + i % 28) for i in range(rows)], pa.date32()),
            "blob": pa.array([i.to_bytes(4, "big") for i in range(rows)], pa.binary()),
            "tags": pa.array([[i % 10, i % 7] for i in range(rows)], pa.list_(pa.int32())),
        }
    )


def _best(fn: Callable[[], object], repeat: int) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def candidates(table: Any) -> dict[str, Callable[[], bytes]]:
    def ours() -> bytes:
        return arrow_ndjson(table)[0]

    def python_objects() -> bytes:
        rows = table.to_pylist()
        for row in rows:
            row["blob"] = row["blob"].hex()
        return _encoder.encode_lines(rows)

    out: dict[str, Callable[[], bytes]] = {"snowpipe_stream arrow_ndjson (Arrow kernels)": ours}
    # One core, as the others: polars reads this when first imported (a test run may have
    # imported it already; `python -m benchmarks arrow` has not).
    os.environ.setdefault("POLARS_MAX_THREADS", "1")
    try:
        import polars as pl
    except ImportError:
        pass
    else:
        frame = pl.from_arrow(table)

        def polars_ndjson() -> bytes:
            # polars cannot write binary as JSON: hex it first (as Snowflake expects).
            buf = io.BytesIO()
            hexed = frame.with_columns(pl.col("blob").bin.encode("hex"))  # type: ignore[union-attr]
            hexed.write_ndjson(buf)
            return buf.getvalue()

        out["polars write_ndjson (Rust; not Snowflake's JSON)"] = polars_ndjson
    out["to_pylist() + msgspec encode_lines"] = python_objects
    return out


def conversion(rows: int, repeat: int = 3) -> list[str]:
    table = mixed_table(rows)
    lines = [
        f"## Arrow table to NDJSON ({rows:,} rows x 10 mixed columns, one core, best of {repeat})",
        "",
        "| path | rows/s | MB/s of NDJSON |",
        "| --- | ---: | ---: |",
    ]
    for name, fn in candidates(table).items():
        seconds, out = _best(fn, repeat)
        lines.append(f"| {name} | {rows / seconds:,.0f} | {len(out) / seconds / 1e6:,.0f} |")
    return [*lines, ""]


def client_path(key: Any, rows: int, repeat: int = 3) -> list[str]:
    """``append_arrow`` through the client (encoding, batching, zstd) into a Snowflake that
    answers at once, against ``append_rows`` of the same rows as dicts (already built)."""
    from benchmarks.bench_client import _instant_snowflake, make_client

    table = mixed_table(rows)
    dicts = table.to_pylist()
    for row in dicts:
        row["blob"] = row["blob"].hex()  # as append_rows would send it; bytes work too
    lines = [
        f"## append_arrow through the client ({rows:,} rows x 10 columns, zstd, no network, "
        f"best of {repeat})",
        "",
        "| call | rows/s |",
        "| --- | ---: |",
    ]
    calls: dict[str, Callable[[Any], None]] = {
        "`append_arrow(table)`": lambda ch: ch.append_arrow(table),
        "`append_rows(dicts)` (dicts built already)": lambda ch: ch.append_rows(dicts),
    }
    for name, call in calls.items():
        best = float("inf")
        for _ in range(repeat):
            with make_client(key, "zstd", transport=_instant_snowflake()) as client:
                channel, _ = client.open_channel("bench")
                t0 = time.perf_counter()
                call(channel)
                channel.flush()
                best = min(best, time.perf_counter() - t0)
                channel._core.closed = "by the benchmark"  # nothing commits in the mock
        lines.append(f"| {name} | {rows / best:,.0f} |")
    return [*lines, ""]


def run() -> list[str]:
    from snowpipe_stream import PrivateKey

    return conversion(1_000_000) + client_path(PrivateKey.generate(), 1_000_000)
