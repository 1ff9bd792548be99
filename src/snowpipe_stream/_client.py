"""Clients: a :class:`Client` (sync, thread-safe) and an :class:`AsyncClient`.

A client holds one pipe's connection to Snowflake: the configuration, the credentials (a key
-pair JWT manager and the scoped ingest token), the HTTP connection pool, the retry policy and
the counters. Channels are opened from it. A background flusher (a thread, or a task for the
async client) sends rows that have waited longer than ``max_client_lag``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import uuid
from typing import Any

import httpx

from ._channel import AsyncChannel, Channel, ChannelCore
from ._clock import SYSTEM_CLOCK, Clock
from ._config import ClientConfig
from ._exceptions import ConfigError, SnowpipeError
from ._names import check_channel_name
from ._protocol import ChannelStatus, drop_op, parse_bulk_status, status_op
from ._transport import AsyncDriver, Call, Core, Flow, Stats, SyncDriver, T

__all__ = ["AsyncClient", "Client"]

_log = logging.getLogger("snowpipe_stream.channel")


def _log_failure(exc: SnowpipeError) -> None:
    """A call failed for good (after its retries and recoveries): say so once, at ERROR."""
    _log.error("%s: %s", type(exc).__name__, exc)


class _BaseClient:
    def __init__(
        self,
        client_name: str,
        database: str,
        schema: str,
        pipe: str,
        config: ClientConfig | None,
        clock: Clock | None,
        config_kwargs: dict[str, Any],
    ) -> None:
        for label, value in (
            ("client_name", client_name),
            ("database", database),
            ("schema", schema),
            ("pipe", pipe),
        ):
            if not isinstance(value, str) or not value.strip():
                raise ConfigError(f"{label} must be a non-empty string, got {value!r}")
        if config is None:
            config = ClientConfig.from_sources(**config_kwargs)
        elif config_kwargs:
            config = config.replace(**config_kwargs)
        self.client_name = client_name
        self.database, self.schema, self.pipe = database, schema, pipe
        self.config = config
        self._core = Core(config, clock or SYSTEM_CLOCK)

    @property
    def stats(self) -> Stats:
        """A snapshot of this client's counters."""
        return self._core.snapshot_stats()

    def _status_flow(self, names: list[str]) -> Flow[dict[str, ChannelStatus]]:
        resp = yield Call(
            status_op(self.database, self.schema, self.pipe, names, str(uuid.uuid4()))
        )
        return parse_bulk_status(resp.content, names)

    def _drop_flow(self, name: str) -> Flow[None]:
        yield Call(drop_op(self.database, self.schema, self.pipe, name, str(uuid.uuid4())))
        _log.info("channel %s dropped", name)

    def _new_channel_core(self, name: str) -> ChannelCore:
        check_channel_name(name)
        return ChannelCore(self._core, self.database, self.schema, self.pipe, name)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.client_name!r}, "
            f"{self.database}.{self.schema}.{self.pipe}, config={self.config!r})"
        )


class Client(_BaseClient):
    """Streams rows into one pipe. Thread-safe: share one client across threads.

    ``config`` is a :class:`ClientConfig`; without one, keyword arguments and the environment
    build it (``Client("app", "DB", "S", "P", account=..., user=..., private_key_file=...)``).
    ``transport`` and ``clock`` are for tests (``httpx.MockTransport``, ``FakeClock``).
    """

    def __init__(
        self,
        client_name: str,
        database: str,
        schema: str,
        pipe: str,
        config: ClientConfig | None = None,
        *,
        transport: httpx.BaseTransport | None = None,
        clock: Clock | None = None,
        **config_kwargs: Any,
    ) -> None:
        super().__init__(client_name, database, schema, pipe, config, clock, config_kwargs)
        self._driver = SyncDriver(self._core, transport)
        self._channels: dict[str, Channel] = {}
        self._channels_lock = threading.Lock()
        self._stop = threading.Event()
        self._flusher: threading.Thread | None = None
        self._closed = False

    def _run(self, flow: Flow[T]) -> T:
        try:
            return self._driver.run(flow)
        except SnowpipeError as exc:
            _log_failure(exc)
            raise

    def open_channel(
        self, name: str, offset_token: str | None = None
    ) -> tuple[Channel, ChannelStatus]:
        """Open (or reopen) channel ``name``; return it and its status.

        The status's ``last_committed_offset_token`` says where to resume after a restart.
        """
        if self._closed:
            raise ConfigError("the client is closed")
        core = self._new_channel_core(name)
        status = self._run(core.open_flow(offset_token))
        channel = Channel(self, core)
        with self._channels_lock:
            old = self._channels.get(name)
            self._channels[name] = channel
        if old is not None:
            old._core.supersede()
        self._start_flusher()
        return channel, status

    def get_channel_statuses(self, names: list[str]) -> dict[str, ChannelStatus]:
        """Statuses by name (one request); an unknown name raises ``NotFoundError``."""
        return self._run(self._status_flow(list(names)))

    def drop_channel(self, name: str) -> None:
        """Drop ``name`` on the server: its committed offset token and history are reset."""
        with self._channels_lock:
            channel = self._channels.pop(name, None)
        if channel is not None:
            channel._core.closed = True
        self._run(self._drop_flow(name))

    def _forget(self, channel: Channel) -> None:
        with self._channels_lock:
            if self._channels.get(channel.name) is channel:
                del self._channels[channel.name]

    def _start_flusher(self) -> None:
        if self._flusher is None and self.config.max_client_lag > 0:
            self._flusher = threading.Thread(
                target=self._flush_loop,
                daemon=True,
                name=f"snowpipe-stream-flusher-{self.client_name}",
            )
            self._flusher.start()

    def _flush_loop(self) -> None:
        # The tick is real time (it only decides how often to look); whether a row is old
        # enough to send is judged with the injected clock.
        lag = self.config.max_client_lag
        tick = min(max(lag / 4, 0.01), 0.25)
        while not self._stop.wait(tick):
            with self._channels_lock:
                channels = list(self._channels.values())
            now = self._core.clock.monotonic()
            for channel in channels:
                try:
                    channel._flush_if_lagging(now, lag)
                except Exception as exc:  # reported again on the caller's next call
                    _log.warning("background flush of channel %s failed: %s", channel.name, exc)

    def close(self, wait_for_flush: bool = True) -> None:
        """Close every open channel (waiting for its commits), then the connections.

        With ``wait_for_flush=False`` buffered and uncommitted rows are abandoned (after a
        Ctrl-C, say): reopen the channel and resume from its committed offset token.
        """
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        first: SnowpipeError | None = None
        try:
            with self._channels_lock:
                channels = list(self._channels.values())
            for channel in channels if wait_for_flush else ():
                # One channel's failure must not leave the others unflushed.
                try:
                    channel.close()
                except SnowpipeError as exc:
                    first = first or exc
        finally:
            if self._flusher is not None:
                self._flusher.join(timeout=5)
            self._driver.close()
        if first is not None:
            raise first

    def __enter__(self) -> Client:
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is None:
            self.close()
            return
        # Leaving on an error: still release everything, but let the first error show.
        try:
            self.close()
        except Exception as exc:
            _log.warning("closing the client after an error also failed: %s", exc)


class AsyncClient(_BaseClient):
    """The asyncio twin of :class:`Client`."""

    def __init__(
        self,
        client_name: str,
        database: str,
        schema: str,
        pipe: str,
        config: ClientConfig | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Clock | None = None,
        **config_kwargs: Any,
    ) -> None:
        super().__init__(client_name, database, schema, pipe, config, clock, config_kwargs)
        self._driver = AsyncDriver(self._core, transport)
        self._channels: dict[str, AsyncChannel] = {}
        self._flusher: asyncio.Task[None] | None = None
        self._closed = False

    async def _run(self, flow: Flow[T]) -> T:
        try:
            return await self._driver.run(flow)
        except SnowpipeError as exc:
            _log_failure(exc)
            raise

    async def open_channel(
        self, name: str, offset_token: str | None = None
    ) -> tuple[AsyncChannel, ChannelStatus]:
        if self._closed:
            raise ConfigError("the client is closed")
        core = self._new_channel_core(name)
        status = await self._run(core.open_flow(offset_token))
        channel = AsyncChannel(self, core)
        old = self._channels.get(name)
        self._channels[name] = channel
        if old is not None:
            old._core.supersede()
        self._start_flusher()
        return channel, status

    async def get_channel_statuses(self, names: list[str]) -> dict[str, ChannelStatus]:
        return await self._run(self._status_flow(list(names)))

    async def drop_channel(self, name: str) -> None:
        channel = self._channels.pop(name, None)
        if channel is not None:
            channel._core.closed = True
        await self._run(self._drop_flow(name))

    def _forget(self, channel: AsyncChannel) -> None:
        if self._channels.get(channel.name) is channel:
            del self._channels[channel.name]

    def _start_flusher(self) -> None:
        if self._flusher is None and self.config.max_client_lag > 0:
            self._flusher = asyncio.get_running_loop().create_task(self._flush_loop())

    async def _flush_loop(self) -> None:
        lag = self.config.max_client_lag
        tick = min(max(lag / 4, 0.01), 0.25)
        while True:
            await asyncio.sleep(tick)  # real time: see Client._flush_loop
            now = self._core.clock.monotonic()
            for channel in list(self._channels.values()):
                try:
                    await channel._flush_if_lagging(now, lag)
                except Exception as exc:
                    _log.warning("background flush of channel %s failed: %s", channel.name, exc)

    async def aclose(self, wait_for_flush: bool = True) -> None:
        """Close every open channel (waiting for its commits), then the connections."""
        if self._closed:
            return
        self._closed = True
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
        first: SnowpipeError | None = None
        try:
            for channel in list(self._channels.values()) if wait_for_flush else ():
                try:
                    await channel.close()
                except SnowpipeError as exc:
                    first = first or exc
        finally:
            await self._driver.aclose()
        if first is not None:
            raise first

    close = aclose

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is None:
            await self.aclose()
            return
        try:
            await self.aclose()
        except Exception as exc:
            _log.warning("closing the client after an error also failed: %s", exc)
