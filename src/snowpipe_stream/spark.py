"""Write Spark DataFrames into Snowflake through Snowpipe Streaming, exactly once.

A PySpark Python Data Source (Spark 4), registered as ``snowpipe_stream``::

    from snowpipe_stream.spark import register
    register(spark)
    (df.write.format("snowpipe_stream")
        .option("database", "DB").option("schema", "PUBLIC").option("pipe", "EVENTS-STREAMING")
        .option("channel_prefix", "orders").mode("append").save())
    (df.writeStream.format("snowpipe_stream").options(**same)
        .option("checkpointLocation", "/chk/orders").start())

Each task writes its partition through the channel ``<channel_prefix>-<partition id>`` with
:func:`snowpipe_stream.write_unit`: row ``n`` of the partition goes with the offset token
``<write id>:<sequence>:<n>``, the write id being the streaming query's id (stable across
restarts from its checkpoint) or, for a batch write, the ``write_id`` option or an id made when
the write is planned (so retried tasks of the job share it); the sequence is the micro-batch
id (0 for a batch write). A retried task, a lost executor, or a query restarted from its
checkpoint reopens the channel, reads the committed token and sends only what is missing. A
task returns only once its rows are committed, and the driver's ``commit`` checks every
partition's channel again before the batch (or micro-batch) counts as written. ``abort`` logs
what each partition's channel had committed.

The contract: a replayed micro-batch yields the same rows in the same partitions in the same
order (Spark's replayable sources with a deterministic plan do; sort within partitions if the
plan may reorder), and no other writer uses the channels of the prefix at the same time.

Credentials: every executor builds its own client and mints its own JWTs. Options name where
the key is — ``private_key_file`` (a path every executor can read) or ``private_key_env`` (the
name of an environment variable holding the PEM on the executors) — never the key itself:
options are part of Spark's plan, its UI and its event log, so an option holding a secret
(``private_key``, a passphrase, a token) is refused. Any other :class:`ClientConfig` key can be
an option (``account``, ``user``, ``url``, ``role``, ``compression``, ...); what the options do
not give comes from the executors' ``SNOWFLAKE_*`` environment, as for every client.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

try:
    import pyspark.sql.datasource as _datasource
    from pyspark import TaskContext
    from pyspark.sql.datasource import (
        DataSource,
        DataSourceStreamWriter,
        DataSourceWriter,
        WriterCommitMessage,
    )
    from pyspark.sql.types import (
        ArrayType,
        DataType,
        MapType,
        StructType,
        TimestampType,
    )
except ImportError as exc:  # pragma: no cover - the extra is installed by the dev extra
    raise ImportError(
        'snowpipe_stream.spark needs PySpark 4 and pyarrow: pip install "snowpipe-stream[spark]"'
    ) from exc
from ._client import Client, abandon_on_error
from ._config import _CALLABLE_KEYS, SECRET_SETTINGS, ClientConfig, setting_names
from ._exceptions import ConfigError, SnowpipeError
from ._names import check_channel_name
from ._resume import (
    ALL,
    DEFAULT_CHUNK_ROWS,
    DEFAULT_COMMIT_TIMEOUT_SECS,
    UnitResult,
    check_write_id,
    committed_rows,
    write_unit,
    write_unit_arrow,
)

# Spark 4.0 has an Arrow writer for batch writes, 4.1 for streaming writes too.
_ArrowWriterBase: Any = getattr(_datasource, "DataSourceArrowWriter", None)
_StreamArrowWriterBase: Any = getattr(_datasource, "DataSourceStreamArrowWriter", None)

__all__ = ["NAME", "PartitionCommit", "SinkOptions", "SnowpipeStreamDataSource", "register"]

_log = logging.getLogger("snowpipe_stream.spark")

#: The format name: ``df.write.format("snowpipe_stream")``.
NAME = "snowpipe_stream"

#: Option names that would hold secrets: refused (options are in the plan). ClientConfig's own
#: secret settings, and a few names people try.
_SECRET_KEYS = SECRET_SETTINGS | {"oauth_token", "password", "token"}
#: Secrets an option may name the environment variable of (``private_key_env`` = "MY_VAR").
_SECRET_ENV_KEYS = (
    "private_key",
    "private_key_passphrase",
    "personal_access_token",
    "oauth_client_secret",
    "oauth_refresh_token",
)
#: The sink's own options.
_SINK_KEYS = frozenset(
    {
        "database",
        "schema",
        "pipe",
        "channel_prefix",
        "write_id",
        "commit_timeout",
        "chunk_rows",
        "profile",
        *(f"{key}_env" for key in _SECRET_ENV_KEYS),
    }
)
#: Options Spark itself may pass along to a sink.
_SPARK_KEYS = frozenset({"path", "checkpointlocation", "queryname"})


def register(spark: Any) -> None:
    """Register the data source with a SparkSession (once per session)."""
    spark.dataSource.register(SnowpipeStreamDataSource)


@dataclass(frozen=True)
class SinkOptions:
    """The sink's options, checked on the driver when the write is planned."""

    database: str
    schema: str
    pipe: str
    channel_prefix: str
    write_id: str | None = None
    commit_timeout: float = DEFAULT_COMMIT_TIMEOUT_SECS
    chunk_rows: int = DEFAULT_CHUNK_ROWS
    profile: str | None = None
    #: Secret setting -> the environment variable (on the executors) that holds it.
    secret_envs: Mapping[str, str] = field(default_factory=dict)
    #: Other ClientConfig keys given as options (no secrets: refused when parsed).
    settings: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, options: Mapping[str, str]) -> SinkOptions:
        opts = {str(k).lower(): str(v) for k, v in options.items()}
        secrets = sorted(k for k in opts if k in _SECRET_KEYS)
        if secrets:
            raise ConfigError(
                f"option {secrets[0]!r} would put a secret into Spark's plan, UI and event log; "
                "give private_key_file (a path on the executors) or private_key_env (the name of "
                "an environment variable set on the executors) instead"
            )
        client_keys = setting_names() - _SECRET_KEYS - _CALLABLE_KEYS
        unknown = sorted(set(opts) - _SINK_KEYS - _SPARK_KEYS - client_keys)
        if unknown:
            raise ConfigError(
                f"unknown option(s) {', '.join(unknown)} for format {NAME!r}; the sink's options "
                f"are {', '.join(sorted(_SINK_KEYS))}, plus client settings "
                "(account, user, url, role, private_key_file, ...)"
            )
        missing = [k for k in ("database", "schema", "pipe", "channel_prefix") if not opts.get(k)]
        if missing:
            raise ConfigError(
                f"option(s) {', '.join(missing)} missing: .option({missing[0]!r}, ...) names "
                "where the rows go"
                + (" and how channels are named" if "channel_prefix" in missing else "")
            )
        prefix = opts["channel_prefix"]
        check_channel_name(f"{prefix}-0", "channel_prefix")
        write_id = opts.get("write_id") or None
        if write_id is not None:
            try:
                check_write_id(write_id)
            except ValueError as exc:
                raise ConfigError(f"option write_id: {exc}") from None
        return cls(
            database=opts["database"],
            schema=opts["schema"],
            pipe=opts["pipe"],
            channel_prefix=prefix,
            write_id=write_id,
            commit_timeout=_number(opts, "commit_timeout", DEFAULT_COMMIT_TIMEOUT_SECS, float),
            chunk_rows=int(_number(opts, "chunk_rows", DEFAULT_CHUNK_ROWS, int)),
            profile=opts.get("profile") or None,
            secret_envs={k: opts[f"{k}_env"] for k in _SECRET_ENV_KEYS if opts.get(f"{k}_env")},
            settings={k: v for k, v in opts.items() if k in client_keys},
        )

    def channel(self, partition: int) -> str:
        return f"{self.channel_prefix}-{partition}"

    def config(self, env: Mapping[str, str] | None = None) -> ClientConfig:
        """The client settings, on the machine that runs this (driver or executor)."""
        env = os.environ if env is None else env
        secrets: dict[str, str] = {}
        for key, option in self.secret_envs.items():
            value = env.get(option)
            if not value:
                raise ConfigError(
                    f"{key.replace('_', ' ')}: the environment variable {option!r} named by "
                    f"option {key}_env is not set on this {_where()}"
                )
            secrets[key] = value
        # A partition's writer encodes its next request while one is out (an option
        # send_in_background=false turns it off).
        settings = {"send_in_background": True, **self.settings}
        return ClientConfig.from_sources(profile_path=self.profile, env=env, **settings, **secrets)

    def client(self, env: Mapping[str, str] | None = None) -> Client:
        return Client("spark", self.database, self.schema, self.pipe, config=self.config(env))


def _number(opts: Mapping[str, str], key: str, default: float, kind: type) -> float:
    raw = opts.get(key)
    if raw is None or raw == "":
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise ConfigError(f"option {key} must be a number, got {raw!r}") from None
    if value <= 0:
        raise ConfigError(f"option {key} must be more than 0, got {raw!r}")
    return float(value)


def _where() -> str:
    return "executor" if TaskContext.get() is not None else "driver"


# --- rows -------------------------------------------------------------------------------------


def _converter(dt: DataType) -> Callable[[Any], Any] | None:
    """A function making one Spark value JSON-ready for Snowflake, or None when it is already.

    Timestamps (Spark's TIMESTAMP, with local time zone semantics) reach Python as naive local
    times: they are given the worker's zone, so the instant survives (ISO 8601 with an offset).
    TIMESTAMP_NTZ values stay naive. Structs become objects, map keys strings.
    """
    if isinstance(dt, TimestampType):
        return lambda v: None if v is None else v.astimezone()
    if isinstance(dt, StructType):
        return _row_converter(dt)
    if isinstance(dt, ArrayType):
        inner = _converter(dt.elementType)
        if inner is None:
            return None
        return lambda v: None if v is None else [None if x is None else inner(x) for x in v]
    if isinstance(dt, MapType):
        value = _converter(dt.valueType) or (lambda x: x)
        return lambda v: (
            None if v is None else {str(k): (None if x is None else value(x)) for k, x in v.items()}
        )
    if type(dt).__name__ == "VariantType":  # Spark 4's VARIANT: its JSON, parsed
        import json

        return lambda v: None if v is None else json.loads(v.toJson())
    return None


def _row_converter(schema: StructType) -> Callable[[Any], dict[str, Any]]:
    names = [f.name for f in schema.fields]
    converters = [_converter(f.dataType) for f in schema.fields]
    if not any(converters):
        return lambda row: None if row is None else dict(zip(names, row, strict=True))  # type: ignore[return-value]
    pairs = list(zip(names, converters, strict=True))

    def convert(row: Any) -> dict[str, Any]:
        if row is None:
            return None  # type: ignore[return-value]
        return {
            name: (value if conv is None or value is None else conv(value))
            for (name, conv), value in zip(pairs, row, strict=True)
        }

    return convert


# --- commit messages --------------------------------------------------------------------------


@dataclass(frozen=True)
class PartitionCommit(WriterCommitMessage):
    """A task's commit message: its partition and what its unit write did."""

    partition: int
    result: UnitResult


def _write_partition(
    options: SinkOptions,
    schema: StructType,
    data: Iterator[Any],
    write_id: str,
    sequence: int,
    arrow: bool = False,
) -> PartitionCommit:
    """One task: its partition (Rows, or Arrow record batches) through its channel, once."""
    context = TaskContext.get()
    partition = context.partitionId() if context is not None else 0
    # A failed task sends nothing more: Spark runs it again, and the retry resumes from the
    # channel's committed token (flushing here would race the retry for the channel).
    with abandon_on_error(options.client()) as client:
        if arrow:
            result = write_unit_arrow(
                client,
                options.channel(partition),
                data,
                write_id,
                sequence,
                timeout=options.commit_timeout,
            )
        else:
            convert = _row_converter(schema)
            result = write_unit(
                client,
                options.channel(partition),
                (convert(row) for row in data),
                write_id,
                sequence,
                chunk_rows=options.chunk_rows,
                timeout=options.commit_timeout,
            )
    _log.info(
        "partition %d: %d rows sent, %d committed before, channel %s at %s",
        partition,
        result.rows_sent,
        result.rows_skipped,
        result.channel,
        result.committed_token,
    )
    return PartitionCommit(partition, result)


def _ours(messages: list[WriterCommitMessage | None]) -> list[PartitionCommit | None]:
    return [m if isinstance(m, PartitionCommit) else None for m in messages]


def _confirm(
    options: SinkOptions, messages: list[PartitionCommit | None], write_id: str, sequence: int
) -> None:
    """On the driver: every partition's channel has committed all of its rows, or raise."""
    done = [m for m in messages if m is not None]
    if len(done) != len(messages):
        raise SnowpipeError(
            f"{len(messages) - len(done)} of {len(messages)} partitions sent no commit message"
        )
    if not done:
        return
    with options.client() as client:
        statuses = client.get_channel_statuses([m.result.channel for m in done])
    short = []
    for m in done:
        token = statuses[m.result.channel].last_committed_offset_token
        have = committed_rows(token, write_id, sequence)
        if have != ALL and have < m.result.rows_seen:
            short.append(f"{m.result.channel} at {token!r} (wants {m.result.rows_seen} rows)")
    if short:
        raise SnowpipeError(
            f"write {write_id}:{sequence} is not committed on every channel: {', '.join(short)}"
        )
    _log.info(
        "write %s:%d committed: %d rows sent on %d channels (%d were in already)",
        write_id,
        sequence,
        sum(m.result.rows_sent for m in done),
        len(done),
        sum(m.result.rows_skipped for m in done),
    )


def _report(options: SinkOptions, messages: list[PartitionCommit | None], what: str) -> None:
    """On abort: log what each partition's channel has committed (never raises)."""
    channels = [options.channel(i) for i in range(len(messages))]
    try:
        with options.client() as client:
            # A partition whose task never ran (Spark gave up first) has no channel.
            statuses = client.get_channel_statuses(channels, missing_ok=True)
    except Exception as exc:  # abort must not hide the failure that caused it
        _log.warning("%s aborted; the channels' statuses could not be read: %s", what, exc)
        return
    for i, name in enumerate(channels):
        status = statuses.get(name)
        token = status.last_committed_offset_token if status is not None else None
        _log.warning(
            "%s aborted: partition %d (channel %s) %s; committed offset token %r",
            what,
            i,
            name,
            "finished"
            if messages[i] is not None
            else "did not finish"
            if status is not None
            else "did not start (its channel was never opened)",
            token,
        )


# --- the data source --------------------------------------------------------------------------


class SnowpipeBatchWriter(DataSourceWriter):
    """A batch write through Spark Rows (for schemas Arrow cannot carry as JSON: VARIANT)."""

    arrow = False

    def __init__(self, options: SinkOptions, schema: StructType) -> None:
        self.options = options
        self.schema = schema
        #: Made once, when the write is planned: every task and retry of this job shares it.
        self.write_id = options.write_id or f"spark-{uuid.uuid4().hex}"

    def write(self, iterator: Iterator[Any]) -> PartitionCommit:
        return _write_partition(
            self.options, self.schema, iterator, self.write_id, 0, arrow=self.arrow
        )

    def commit(self, messages: list[WriterCommitMessage | None]) -> None:
        _confirm(self.options, _ours(messages), self.write_id, 0)

    def abort(self, messages: list[WriterCommitMessage | None]) -> None:
        _report(self.options, _ours(messages), f"write {self.write_id}")


class SnowpipeStreamWriter(DataSourceStreamWriter):
    """A streaming write through Spark Rows (Spark 4.0, or a schema with VARIANT)."""

    arrow = False

    def __init__(self, options: SinkOptions, schema: StructType) -> None:
        self.options = options
        self.schema = schema

    def write(self, iterator: Iterator[Any]) -> PartitionCommit:
        context = TaskContext.get()
        query = context.getLocalProperty("sql.streaming.queryId") if context else None
        batch = context.getLocalProperty("streaming.sql.batchId") if context else None
        if not query or batch is None:
            raise SnowpipeError(
                "the streaming sink runs without Spark's query id or batch id on the task"
            )
        return _write_partition(
            self.options, self.schema, iterator, query, int(batch), arrow=self.arrow
        )

    def commit(self, messages: list[WriterCommitMessage | None], batchId: int) -> None:
        ours = _ours(messages)
        done = [m for m in ours if m is not None]
        if done:
            _confirm(self.options, ours, done[0].result.write_id, batchId)

    def abort(self, messages: list[WriterCommitMessage | None], batchId: int) -> None:
        _report(self.options, _ours(messages), f"micro-batch {batchId}")


class SnowpipeStreamDataSource(DataSource):
    """``format("snowpipe_stream")``: appends to a Snowflake pipe, exactly once per row."""

    @classmethod
    def name(cls) -> str:
        return NAME

    def _sink(self, overwrite: bool) -> SinkOptions:
        if overwrite:
            raise ConfigError(
                "Snowpipe Streaming only appends: use mode('append') (truncate the table in "
                "Snowflake first if you mean to replace it)"
            )
        return SinkOptions.parse(self.options)

    def writer(self, schema: StructType, overwrite: bool) -> SnowpipeBatchWriter:
        sink = self._sink(overwrite)
        if _ArrowBatchWriter is not None and _arrow_carries(schema):
            return _ArrowBatchWriter(sink, schema)  # type: ignore[no-any-return]
        return SnowpipeBatchWriter(sink, schema)

    def streamWriter(self, schema: StructType, overwrite: bool) -> SnowpipeStreamWriter:
        sink = self._sink(overwrite)
        if _ArrowStreamWriter is not None and _arrow_carries(schema):
            return _ArrowStreamWriter(sink, schema)  # type: ignore[no-any-return]
        return SnowpipeStreamWriter(sink, schema)


def _arrow_carries(dt: DataType) -> bool:
    """Whether Spark's Arrow form of ``dt`` converts to the JSON Snowflake expects (VARIANT
    arrives as a struct of two binaries: it goes through Rows instead)."""
    if type(dt).__name__ == "VariantType":
        return False
    if isinstance(dt, StructType):
        return all(_arrow_carries(f.dataType) for f in dt.fields)
    if isinstance(dt, ArrayType):
        return _arrow_carries(dt.elementType)
    if isinstance(dt, MapType):
        return _arrow_carries(dt.keyType) and _arrow_carries(dt.valueType)
    return True


# The fast path: Spark hands each task Arrow record batches, converted column by column
# (snowpipe_stream._arrow), not a Python Row per row.
_ArrowBatchWriter: Any = None
_ArrowStreamWriter: Any = None
if _ArrowWriterBase is not None:

    class _ArrowBatchWriter(SnowpipeBatchWriter, _ArrowWriterBase):  # type: ignore[no-redef,misc]
        arrow = True


if _StreamArrowWriterBase is not None:

    class _ArrowStreamWriter(SnowpipeStreamWriter, _StreamArrowWriterBase):  # type: ignore[no-redef,misc]
        arrow = True
