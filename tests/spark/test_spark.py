"""The Spark sink on a real local[2] Spark (Java 17) against the emulator over loopback.

One SparkSession for the module (starting the JVM costs seconds). Executors are Python workers
in their own processes: they build their own clients from the options and the environment, as
on a cluster.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import LongType

from snowpipe_stream import ConfigError, PrivateKey
from snowpipe_stream.emulator import Emulator
from snowpipe_stream.spark import SinkOptions, SnowpipeStreamDataSource, register
from tests.conftest import KEYS

ACCOUNT, USER = "spark-acct", "spark_user"
DB, SCHEMA, PIPE = "DB", "PUBLIC", "EVENTS"
KEY_ENV = "SNOWPIPE_TEST_SPARK_KEY"
PEM = (KEYS / "rsa_key.p8").read_text()


@pytest.fixture(scope="module")
def emu() -> Iterator[Emulator]:
    key = PrivateKey.from_pem(PEM.encode())
    with Emulator(users=[(ACCOUNT, USER, key)]) as emulator:
        yield emulator


@pytest.fixture(scope="module")
def spark(emu: Emulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SparkSession]:
    # The executors (forked Python workers) inherit this environment: the key travels in an
    # environment variable, never in an option.
    saved = dict(os.environ)
    os.environ.update(
        {
            "PYSPARK_PYTHON": sys.executable,
            "PYSPARK_DRIVER_PYTHON": sys.executable,
            KEY_ENV: PEM,
            "SNOWFLAKE_ACCOUNT": ACCOUNT,
            "SNOWFLAKE_USER": USER,
            "SNOWFLAKE_URL": emu.url,
            "TZ": "UTC",
        }
    )
    events = tmp_path_factory.mktemp("eventlog")
    session = (
        SparkSession.builder.master("local[2,3]")  # 2 cores, a task may run 3 times
        .appName("snowpipe-stream-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "3")
        .config("spark.eventLog.enabled", "true")
        .config("spark.eventLog.dir", str(events))
        .config("spark.eventLog.compress", "false")  # read by the secret check
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.driver.extraJavaOptions", "-Duser.timezone=UTC")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("OFF")  # the failures the tests cause are expected
    register(session)
    session.conf.set("test.eventlog.dir", str(events))
    try:
        yield session
    finally:
        session.stop()
        os.environ.clear()
        os.environ.update(saved)


def sink(df: DataFrame, prefix: str, **extra: str) -> Any:
    writer = (
        df.write.format("snowpipe_stream")
        .option("database", DB)
        .option("schema", SCHEMA)
        .option("pipe", PIPE)
        .option("channel_prefix", prefix)
        .option("private_key_env", KEY_ENV)
        .option("max_client_lag", "0.05")
    )
    for k, v in extra.items():
        writer = writer.option(k, v)
    return writer.mode("append")


def landed(emu: Emulator, prefix: str, partitions: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for p in range(partitions):
        rows.extend(emu.iter_rows(DB, SCHEMA, PIPE, f"{prefix}-{p}"))
    return rows


def test_a_batch_write_lands_every_row_once_with_its_values_converted(
    spark: SparkSession, emu: Emulator
) -> None:
    n = 3_000
    df = spark.range(0, n, numPartitions=3).select(
        F.col("id"),
        F.concat(F.lit("name-"), F.col("id").cast("string")).alias("name"),
        (F.col("id") / 4).cast("decimal(12,2)").alias("amount"),
        F.lit("2024-02-29").cast("date").alias("day"),
        F.lit("2024-02-29 12:34:56.789").cast("timestamp").alias("at"),
        F.lit("2024-02-29 12:34:56.789").cast("timestamp_ntz").alias("at_ntz"),
        F.array(F.col("id"), F.col("id") + 1).alias("pair"),
        F.create_map(F.lit("k"), F.col("id")).alias("m"),
        F.struct(F.col("id").alias("x"), F.lit(None).cast("string").alias("y")).alias("st"),
        F.lit(b"\x00\xff").cast("binary").alias("raw"),
        (F.col("id") % 2 == 0).alias("even"),
    )
    sink(df, "batch").save()
    rows = landed(emu, "batch", 3)
    assert sorted(r["id"] for r in rows) == list(range(n))
    assert next(r for r in rows if r["id"] == 5) == {
        "id": 5,
        "name": "name-5",
        "amount": 1.25,  # exact: the decimal's digits, as a JSON number (as text past 15)
        "day": "2024-02-29",
        "at": "2024-02-29T12:34:56.789000+00:00",  # TIMESTAMP is an instant: with its zone
        "at_ntz": "2024-02-29T12:34:56.789000",  # TIMESTAMP_NTZ has none
        "pair": [5, 6],
        "m": {"k": 5},
        "st": {"x": 5, "y": None},
        "raw": "00ff",  # the pipe's BINARY_INPUT_FORMAT (HEX here), learned by each executor
        "even": False,
    }
    # The key went to the executors through their environment: it is in no plan and no log.
    body = "".join(PEM.strip().splitlines()[1:-1])[:64]
    explained = df._jdf.queryExecution().toString()
    assert body not in explained and "PRIVATE KEY" not in explained
    logs = "".join(
        p.read_text(errors="replace") for p in Path(event_dir(spark)).rglob("*") if p.is_file()
    )
    assert "AppendData snowpipe_stream" in logs  # the write's plan is in the event log...
    assert body not in logs and "PRIVATE KEY" not in logs  # ...but not the key


def test_a_variant_column_goes_as_its_json(spark: SparkSession, emu: Emulator) -> None:
    # Arrow carries VARIANT as two binaries: such a schema is written through Spark Rows.
    df = spark.range(0, 3, numPartitions=1).select(
        "id", F.parse_json(F.lit('{"a": [1, 2.5, null], "b": "x"}')).alias("v")
    )
    sink(df, "variant").save()
    assert [r["v"] for r in landed(emu, "variant", 1)] == [{"a": [1, 2.5, None], "b": "x"}] * 3


def test_a_million_rows_over_eight_partitions_land_once_in_order(
    spark: SparkSession, emu: Emulator
) -> None:
    n = 1_000_000
    df = spark.range(0, n, numPartitions=8).select(
        "id", F.concat(F.lit("row-"), F.col("id").cast("string")).alias("s")
    )
    sink(df, "big").save()
    seen = bytearray(n)
    count = 0
    for p in range(8):
        last = -1
        for row in emu.iter_rows(DB, SCHEMA, PIPE, f"big-{p}"):
            assert row["id"] > last  # in order within the channel
            last = row["id"]
            seen[row["id"]] += 1
            count += 1
    assert count == n and seen.count(1) == n


def test_tasks_that_outlive_their_scoped_tokens_renew_them_and_spark_never_knows(
    spark: SparkSession, emu: Emulator
) -> None:
    # Scoped tokens live 1 s and Snowflake (the emulator) takes 2.5 s to commit: every task's
    # token expires while it waits for its commit, and its client renews it by itself.
    before = emu.stats()["scoped_tokens_issued"]
    emu.authority.ttl, emu.state.commit_delay = 1, 2.5
    try:
        sink(spark.range(0, 20_000, numPartitions=2), "expiry").save()
    finally:
        emu.authority.ttl, emu.state.commit_delay = 3600, 0.2
    assert sorted(r["id"] for r in landed(emu, "expiry", 2)) == list(range(20_000))
    # One per task and one for the driver's check; the renewals come on top.
    assert emu.stats()["scoped_tokens_issued"] - before > 3


def test_the_spark_benchmark_runs(spark: SparkSession, emu: Emulator) -> None:
    # `make bench` is not part of `make test`: its Spark part runs here on a tiny input.
    from benchmarks import bench_spark

    results = bench_spark.measure(spark, emu, 2_000, [1, 2], KEY_ENV, ACCOUNT, USER)
    assert [p for p, _ in results] == [1, 2] and all(s > 0 for _, s in results)
    assert 150 < bench_spark.row_size(spark) < 300


def event_dir(spark: SparkSession) -> str:
    return spark.conf.get("test.eventlog.dir") or ""


def test_a_failed_task_is_retried_and_its_partition_still_lands_once(
    spark: SparkSession, emu: Emulator
) -> None:
    # Each partition's first attempt dies after 7,000 of its 10,000 rows, with some of them
    # sent (and committed); the retry reads its channel's committed token and sends the rest.
    @F.udf(returnType=LongType(), useArrow=False)
    def flaky(i: int) -> int:
        from pyspark import TaskContext

        context = TaskContext.get()
        if context is not None and context.attemptNumber() == 0 and i % 10_000 == 7_000:
            raise RuntimeError(f"executor lost at row {i}")
        return i

    opens_before = emu.stats()["requests"].get("open 200", 0)
    df = spark.range(0, 30_000, numPartitions=3).select(flaky("id").alias("id"))
    sink(df, "retry", chunk_rows="1000", max_request_bytes="16384").save()
    ids = sorted(r["id"] for r in landed(emu, "retry", 3))
    assert ids == list(range(30_000))
    # 3 first attempts + 3 retries opened channels (the driver's check opens none). About
    # one run in four, under load, one more attempt opens a channel (a retry's appends are
    # answered STALE_CONTINUATION_TOKEN_SEQUENCER and Spark runs a third attempt): the rows
    # still land once, which is what the assertion above proves.
    assert 6 <= emu.stats()["requests"].get("open 200", 0) - opens_before <= 9


def test_an_aborted_write_leaves_whole_rows_and_its_report_names_each_channels_token(
    spark: SparkSession, emu: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    # Partition 1 fails on every attempt: Spark aborts the write. What its channels hold is
    # whole rows, never a duplicate, and the abort report names each channel's committed token
    # (Spark runs abort in a worker process; here it is called in-process to read its log).
    @F.udf(returnType=LongType(), useArrow=False)
    def doomed(i: int) -> int:
        if i == 1_500:
            raise RuntimeError("bad record 1500")
        return i

    df = spark.range(0, 3_000, numPartitions=3).select(doomed("id").alias("id"))
    with pytest.raises(Exception, match="bad record 1500"):
        sink(df, "abort", chunk_rows="100", max_request_bytes="2048").save()
    ids = [r["id"] for r in landed(emu, "abort", 3)]
    assert len(ids) == len(set(ids)) and 1_500 not in ids
    assert not any(1_500 <= i < 2_000 for i in ids)  # partition 1 never got past row 500

    options = {
        "database": DB,
        "schema": SCHEMA,
        "pipe": PIPE,
        "channel_prefix": "abort",
        "private_key_env": KEY_ENV,
    }
    writer = SnowpipeStreamDataSource(options).writer(df.schema, False)
    with caplog.at_level("WARNING", logger="snowpipe_stream.spark"):
        writer.abort([None, None, None])
    lines = [r.getMessage() for r in caplog.records]
    for p in range(3):
        rows = list(emu.iter_rows(DB, SCHEMA, PIPE, f"abort-{p}"))
        (line,) = [x for x in lines if f"partition {p} (channel abort-{p})" in x]
        assert line.endswith(f":0:{len(rows)}'" if rows else "None"), line
    # A partition whose task never started (Spark gave up first) has no channel: reported so,
    # and the others are still reported.
    never = SnowpipeStreamDataSource({**options, "channel_prefix": "never"}).writer(
        df.schema, False
    )
    caplog.clear()
    with caplog.at_level("WARNING", logger="snowpipe_stream.spark"):
        never.abort([None, None])
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2 and all(
        "did not start (its channel was never opened); committed offset token None" in x
        for x in lines
    ), lines


def test_options_that_would_carry_a_secret_or_overwrite_are_refused(spark: SparkSession) -> None:
    df = spark.range(3)
    with pytest.raises(Exception, match="would put a secret into Spark's plan"):
        sink(df, "x", private_key=PEM).save()
    with pytest.raises(Exception, match="only appends"):
        sink(df, "x").mode("overwrite").save()
    with pytest.raises(ConfigError, match=r"unknown option.*chanel_prefix"):
        SinkOptions.parse(
            {
                "database": "d",
                "schema": "s",
                "pipe": "p",
                "channel_prefix": "c",
                "chanel_prefix": "x",
            }
        )
    with pytest.raises(ConfigError, match="channel_prefix"):
        SinkOptions.parse({"database": "d", "schema": "s", "pipe": "p"})


def write_json(directory: Path, name: str, ids: range) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_text("".join(json.dumps({"id": i}) + "\n" for i in ids))


def test_a_streaming_query_replaying_a_micro_batch_after_a_crash_writes_it_once(
    spark: SparkSession, emu: Emulator, tmp_path: Path
) -> None:
    source, checkpoint = tmp_path / "in", tmp_path / "chk"

    @F.udf(returnType=LongType(), useArrow=False)
    def flaky(i: int) -> int:
        from pyspark import TaskContext

        context = TaskContext.get()
        if context is not None and context.attemptNumber() == 0 and i in (1_500, 4_000, 6_500):
            raise RuntimeError(f"executor lost at row {i}")  # once per partition, mid-batch
        return i

    def run() -> None:
        stream = (
            spark.readStream.schema("id LONG").json(str(source)).select(flaky("id").alias("id"))
        )
        query = (
            stream.writeStream.format("snowpipe_stream")
            .option("database", DB)
            .option("schema", SCHEMA)
            .option("pipe", PIPE)
            .option("channel_prefix", "stream")
            .option("private_key_env", KEY_ENV)
            .option("max_client_lag", "0.05")
            .option("checkpointLocation", str(checkpoint))
            .trigger(availableNow=True)
            .start()
        )
        query.awaitTermination(120)
        assert query.exception() is None

    write_json(source, "a.json", range(3_000))
    run()  # micro-batch 0
    write_json(source, "b.json", range(3_000, 5_000))
    write_json(source, "c.json", range(5_000, 8_000))
    run()  # micro-batch 1: two files, two partitions
    # A crash after the sink committed micro-batch 1 but before Spark recorded it: Spark
    # replays it on restart. The sink finds its rows committed and sends none of them again.
    commits = sorted((checkpoint / "commits").iterdir(), key=lambda p: p.name)
    assert [p.name for p in commits if not p.name.startswith(".")] == ["0", "1"]
    (checkpoint / "commits" / "1").unlink()
    (checkpoint / "commits" / ".1.crc").unlink(missing_ok=True)
    requests_before = emu.stats()["requests"].get("append 200", 0)
    run()
    assert emu.stats()["requests"].get("append 200", 0) == requests_before
    per_channel = [
        [r["id"] for r in emu.iter_rows(DB, SCHEMA, PIPE, f"stream-{p}")] for p in range(3)
    ]
    assert all(ids == sorted(ids) for ids in per_channel)  # in order within each channel
    assert sorted(i for ids in per_channel for i in ids) == list(range(8_000))


def test_partitions_send_in_the_background_unless_the_option_says_not() -> None:
    base = {"database": "d", "schema": "s", "pipe": "p", "channel_prefix": "c"}
    key = str(KEYS / "rsa_key.p8")
    env = {"SNOWFLAKE_ACCOUNT": "a", "SNOWFLAKE_USER": "u", "SNOWFLAKE_PRIVATE_KEY_PATH": key}
    assert SinkOptions.parse(base).config(env).send_in_background is True
    off = SinkOptions.parse({**base, "send_in_background": "false"}).config(env)
    assert off.send_in_background is False
