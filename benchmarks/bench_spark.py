"""The Spark sink: rows/s of a batch write with 1, 2 and 4 partitions (local[N], emulator).

Spark runs ``local[2]`` on this machine's cores; each partition is a task writing its own
channel from its own Python worker. Rows look like the other benchmarks' events (~200 bytes
of JSON). Time is from ``save()`` to its return, which is after every partition's commit.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

from snowpipe_stream import PrivateKey
from snowpipe_stream.emulator import Emulator

KEY_ENV = "SNOWPIPE_BENCH_SPARK_KEY"
ACCOUNT, USER = "bench-acct", "bench_user"


def events(spark: Any, n: int, partitions: int) -> Any:
    from pyspark.sql import functions as F

    i = F.col("id")
    return spark.range(0, n, numPartitions=partitions).select(
        F.sha2(i.cast("string"), 256).substr(1, 32).alias("event_id"),
        F.timestamp_seconds(F.lit(1_795_000_000) + i).alias("ts"),
        (i * 7919 % 1_000_000).alias("user_id"),
        F.element_at(
            F.array(*[F.lit(k) for k in ("page_view", "click", "add_to_cart", "purchase")]),
            (i % 4 + 1).cast("int"),
        ).alias("kind"),
        F.concat(
            F.lit("https://shop.example.com/p/"), (i % 100_000).cast("string"), F.lit("?ref=home")
        ).alias("url"),
        ((i % 50_000) / 100).cast("double").alias("amount"),
        (i % 7 != 0).alias("ok"),
        F.array(F.lit("web"), F.lit("mobile")).alias("tags"),
    )


def measure(
    spark: Any,
    emu: Emulator,
    n: int,
    partitions: list[int],
    key_env: str = KEY_ENV,
    account: str = ACCOUNT,
    user: str = USER,
) -> list[tuple[int, float]]:
    """``(partitions, seconds)`` of one batch write of ``n`` rows each (the key in the
    executors' environment variable ``key_env``)."""
    out = []
    for parts in partitions:
        df = events(spark, n, parts)
        start = time.perf_counter()
        (
            df.write.format("snowpipe_stream")
            .option("database", "BENCH")
            .option("schema", "PUBLIC")
            .option("pipe", "EVENTS")
            .option("channel_prefix", f"bench-{parts}-{time.monotonic_ns()}")
            .option("private_key_env", key_env)
            .option("account", account)
            .option("user", user)
            .option("url", emu.url)
            .mode("append")
            .save()
        )
        out.append((parts, time.perf_counter() - start))
    return out


def run() -> list[str]:
    from pyspark.sql import SparkSession

    from snowpipe_stream.spark import register

    n = int(os.environ.get("SNOWPIPE_SPARK_ROWS", "1000000"))
    key = PrivateKey.generate()
    os.environ[KEY_ENV] = key.private_key_pem().decode()
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    with Emulator(users=[(ACCOUNT, USER, key)]) as emu:
        spark = (
            SparkSession.builder.master("local[2]")
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .getOrCreate()
        )
        spark.sparkContext.setLogLevel("ERROR")
        register(spark)
        try:
            measure(spark, emu, 10_000, [2])  # warm the Python workers
            results = measure(spark, emu, n, [1, 2, 4])
            size = row_size(spark)
        finally:
            spark.stop()
        committed = emu.stats()["rows_committed"]
    lines = [
        "## Spark batch write",
        "",
        f"{n:,} rows of ~{size:.0f} bytes of JSON, `local[2]` (this machine's cores), one "
        "channel per partition, into the emulator (plain HTTP, commit delay 200 ms); time from "
        "`save()` to its return, after every partition's commit.",
        "",
        "| partitions | seconds | rows/s |",
        "|---|---|---|",
    ]
    lines += [f"| {p} | {s:.1f} | {n / s:,.0f} |" for p, s in results]
    lines += ["", f"rows committed in all: {committed:,}", ""]
    return lines


def row_size(spark: Any) -> int:
    """Bytes of one event as the sink encodes it."""
    from snowpipe_stream._ndjson import encode_row
    from snowpipe_stream.spark import _row_converter

    df = events(spark, 1, 1)
    return len(encode_row(_row_converter(df.schema)(df.collect()[0])))


__all__ = ["measure", "run"]

if __name__ == "__main__":  # pragma: no cover
    print("\n".join(run()))
