"""Type-checked use of the public API (mypy --strict checks this file in `make test`).

Not run: it pins the names and types other code relies on, so a change that breaks a caller's
types fails the type check.
"""

from __future__ import annotations

import asyncio
import logging
import os

import polars
import pyarrow
from opentelemetry import metrics as otel
from prometheus_client import CollectorRegistry

from snowpipe_stream import (
    AsyncChannel,
    AsyncClient,
    AsyncShardedChannel,
    AuthenticationError,
    Channel,
    ChannelDroppedError,
    ChannelInvalidatedError,
    ChannelStatus,
    Client,
    ClientConfig,
    ClosedError,
    CommitProgress,
    DiagnosticStep,
    ErrorRows,
    JsonFormatter,
    JwtManager,
    Metrics,
    OffsetTokenError,
    OpenTelemetryMetrics,
    PrivateKey,
    PrometheusMetrics,
    ReplayMismatchError,
    ShardedChannel,
    ShardingMismatchError,
    SnowpipeError,
    UnitResult,
    awrite_unit,
    diagnose,
    write_unit,
)
from snowpipe_stream.testing import FakeClock


def sync_usage(config: ClientConfig) -> str | None:
    with Client("app", "DB", "S", "P", config=config) as client:
        opened: tuple[Channel, ChannelStatus] = client.open_channel("ch", offset_token=None)
        channel, status = opened
        channel.append_row({"id": 1}, offset_token="1")
        channel.append_rows([{"id": 2}, {"id": 3}], start_offset_token="2", end_offset_token="3")
        channel.append_arrow(
            pyarrow.table({"id": [4]}), start_offset_token="4", end_offset_token="4"
        )
        channel.append_dataframe(polars.DataFrame({"id": [5]}), "5", "5")
        channel.flush()
        committed: str | None = channel.wait_for_commit("3", timeout=60)
        channel.wait_for_commit(lambda token: token is not None, timeout=1.5)
        statuses: dict[str, ChannelStatus] = client.get_channel_statuses(["ch"])
        rows: int = statuses["ch"].rows_inserted + client.stats.rows_appended
        del rows
        channel.close(drop=False, timeout=300)
        client.drop_channel("ch")
        return committed or status.last_committed_offset_token


async def async_usage(config: ClientConfig) -> str | None:
    async with AsyncClient("app", "DB", "S", "P", config=config) as client:
        channel: AsyncChannel
        channel, _ = await client.open_channel("ch")
        await channel.append_row({"id": 1})
        await channel.append_rows([{"id": 2}], "2", "2")
        await channel.append_arrow(pyarrow.table({"id": [3]}).to_batches(), "3", "3")
        await channel.append_dataframe(polars.DataFrame({"id": [4]}), end_offset_token="4")
        token = await channel.get_latest_committed_offset_token()
        await channel.close()
        return token


def unit_usage(config: ClientConfig) -> int:
    with Client("app", "DB", "S", "P", config=config) as client:
        try:
            result: UnitResult = write_unit(
                client, "part-3", iter([{"id": 1}]), "job-7", 2, chunk_rows=500, timeout=60.0
            )
        except ReplayMismatchError:
            raise
        return result.rows_sent + result.rows_skipped


async def async_unit_usage(config: ClientConfig) -> str | None:
    async with AsyncClient("app", "DB", "S", "P", config=config) as client:
        result = await awrite_unit(client, "part-3", [{"id": 1}], "job-7")
        return result.committed_token


def sharded_usage(client: Client) -> int:
    try:
        sharded: ShardedChannel = client.open_sharded_channel("events", channels=4, key="orders")
    except ShardingMismatchError as exc:
        written: int | None = exc.written_with
        return (written or 0) + exc.channels + len(exc.channel + exc.committed)
    with sharded:
        start: int = sharded.resume_from
        sharded.append_row({"id": start}, start)
        sharded.append_rows([{"id": start + 1}], first_number=start + 1)
        sharded.append_ndjson(b'{"id": 0}\n', first_number=start + 2)
        sharded.flush()
        sharded.wait_for_commit(start + 1, timeout=60)
        done: int = sharded.wait_for_commit()
        channels: tuple[Channel, ...] = sharded.channels
        tokens: dict[str, str | None] = sharded.committed_offset_tokens
        last: int | None = sharded.last_number
        del channels, tokens, last
    sharded.close(drop=False, timeout=300)
    return done


async def async_sharded_usage(client: AsyncClient) -> int:
    sharded: AsyncShardedChannel = await client.open_sharded_channel("events", channels=2)
    async with sharded:
        await sharded.append_row({"id": 1}, 1)
        await sharded.append_rows([{"id": 2}], 2)
        await sharded.append_ndjson(b'{"id": 3}\n', 3)
        await sharded.flush()
        channels: tuple[AsyncChannel, ...] = sharded.channels
        del channels
        return await sharded.wait_for_commit(3, timeout=60)


def callback_usage(channel: Channel) -> None:
    def progress(p: CommitProgress) -> None:
        token: str | None = p.token
        rows: int = p.rows
        del token, rows

    def rejected(e: ErrorRows) -> None:
        message: str | None = e.last_error_message
        del message

    channel.on_commit(progress)
    channel.on_error_rows(rejected)


async def async_callback_usage(channel: AsyncChannel) -> int:
    total = 0
    async for p in channel.commits():
        total += p.rows
    return total


def auth_usage() -> str:
    key = PrivateKey.from_file(os.environ["KEY"], passphrase=None)
    jm = JwtManager(
        "myorg-acct", "svc", key, lifetime_secs=3540, refresh_margin_secs=30, clock=FakeClock()
    )
    token: str = jm.get_token()
    jm.invalidate()
    expires: float | None = jm.expires_at
    del expires
    cfg = ClientConfig.from_sources(profile_path=None, env=os.environ, private_key=key)
    try:
        sync_usage(cfg)
        asyncio.run(async_usage(cfg))
    except AuthenticationError as exc:
        return f"{exc.status_code} {exc.code} {exc.request_id}"
    except SnowpipeError:
        return key.fingerprint
    return token


def exactly_once_usage(client: Client, channel: Channel) -> str:
    try:
        channel.append_row({"id": 1}, "1")
        client.close(wait_for_flush=True, timeout=10.0)
    except OffsetTokenError as exc:
        value_error: ValueError = exc
        return str(value_error)
    except ChannelDroppedError as exc:
        return exc.reason
    except ChannelInvalidatedError as exc:
        rows: int = exc.uncommitted_rows
        span: tuple[str | None, str | None] = exc.uncommitted_range
        last: str | None = exc.last_committed
        return f"{exc.reason} {rows} {span} {last}"
    except ClosedError as exc:
        runtime_error: RuntimeError = exc
        return str(runtime_error)
    return ""


def diagnosis_usage(config: ClientConfig) -> bool:
    steps: list[DiagnosticStep] = diagnose(config, clock=FakeClock())
    for step in steps:
        name: str = step.name
        detail: str = step.detail
        elapsed: float = step.elapsed
        error: SnowpipeError | None = step.error
        del name, detail, elapsed, error
    return all(step.ok for step in steps)


class CountingMetrics(Metrics):
    """A caller's own recorder: the base class's methods are the hooks to override."""

    def __init__(self) -> None:
        self.rows = 0

    def committed(
        self, pipe: str, channel: str, rows: int, nbytes: int, seconds: float | None
    ) -> None:
        self.rows += rows


def metrics_usage(config: ClientConfig) -> None:
    prometheus = PrometheusMetrics(CollectorRegistry())
    PrometheusMetrics()  # the default registry
    telemetry = OpenTelemetryMetrics(otel.get_meter("app"))
    OpenTelemetryMetrics()
    with Client("app", "DB", "S", "P", config=config, metrics=prometheus) as client:
        client.open_channel("ch")
    asyncio.run(_async_metrics(config, telemetry))
    Client("app", "DB", "S", "P", config=config, metrics=CountingMetrics()).close()


async def _async_metrics(config: ClientConfig, metrics: Metrics) -> None:
    async with AsyncClient("app", "DB", "S", "P", config=config, metrics=metrics):
        pass


def json_logs_usage() -> logging.Handler:
    handler = logging.StreamHandler()
    formatter: logging.Formatter = JsonFormatter()
    handler.setFormatter(formatter)
    logging.getLogger("snowpipe_stream").addHandler(handler)
    return handler
