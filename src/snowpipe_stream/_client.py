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
from collections.abc import Iterator
from typing import Any

import httpx

from ._batching import check_token
from ._channel import AsyncChannel, Channel, ChannelCore
from ._clock import SYSTEM_CLOCK, Clock
from ._config import ClientConfig
from ._constants import DEFAULT_EXIT_CLOSE_TIMEOUT_SECS
from ._exceptions import ClosedError, ConfigError, SnowpipeError
from ._logfields import log_fields
from ._metrics import NOOP, Metrics
from ._names import channel_key, check_channel_name
from ._protocol import ChannelStatus, drop_op, parse_bulk_status, pipe_name, status_op
from ._sharded import AsyncShardedChannel, ShardedChannel, aopen_sharded, open_sharded
from ._transport import AsyncDriver, Call, Core, Flow, Stats, SyncDriver, T

__all__ = ["AsyncClient", "Client", "abandon_on_error"]

_log = logging.getLogger("snowpipe_stream.channel")


def _log_failure(exc: SnowpipeError) -> None:
    """A call failed for good (after its retries and recoveries): say so once, at ERROR (with
    the channel, the request id and the status when the error knows them)."""
    extra = log_fields(
        channel=getattr(exc, "channel", None) or None,
        request_id=getattr(exc, "request_id", None) or None,
        status=getattr(exc, "status_code", None),
    )
    _log.error("%s: %s", type(exc).__name__, exc, extra=extra)


class _BaseClient:
    def __init__(
        self,
        client_name: str,
        database: str,
        schema: str,
        pipe: str,
        config: ClientConfig | None,
        clock: Clock | None,
        metrics: Metrics | None,
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
        if metrics is not None and not isinstance(metrics, Metrics):
            raise TypeError(
                f"metrics must be a snowpipe_stream.Metrics (PrometheusMetrics(), "
                f"OpenTelemetryMetrics(), ...), got {type(metrics).__name__}"
            )
        self._core = Core(config, clock or SYSTEM_CLOCK, metrics or NOOP)
        self._closed = False

    @property
    def stats(self) -> Stats:
        """A snapshot of this client's counters."""
        return self._core.snapshot_stats()

    @property
    def clock_skew_secs(self) -> float | None:
        """How far this machine's clock is ahead of Snowflake's (negative: behind), measured
        from the ``Date`` of its answers (about half a second of precision); None before the
        first answer. Token refreshes are already scheduled on Snowflake's clock."""
        return self._core.skew.local_ahead_secs()

    def _status_flow(
        self, names: list[str], missing_ok: bool = False
    ) -> Flow[dict[str, ChannelStatus]]:
        resp = yield Call(
            status_op(self.database, self.schema, self.pipe, names, str(uuid.uuid4()))
        )
        return parse_bulk_status(resp.content, names, missing_ok)

    def _drop_flow(self, name: str) -> Flow[None]:
        yield Call(drop_op(self.database, self.schema, self.pipe, name, str(uuid.uuid4())))
        _log.info(
            "channel %s dropped",
            name,
            extra=log_fields(channel=name, pipe=pipe_name(self.database, self.schema, self.pipe)),
        )

    def _new_channel_core(self, name: str, send_lock: Any) -> ChannelCore:
        check_channel_name(name)
        return ChannelCore(self._core, self.database, self.schema, self.pipe, name, send_lock)

    def _check_open(self) -> None:
        if self._closed:
            raise ClosedError(f"client {self.client_name!r} is closed; create a new one")

    @staticmethod
    def _names(names: object) -> list[str]:
        if isinstance(names, str) or not isinstance(names, list | tuple | set | frozenset):
            raise TypeError(
                f"names must be a list of channel names, got {type(names).__name__} "
                f"{names!r:.80}"
                + (f"; for one channel pass [{names!r:.40}]" if isinstance(names, str) else "")
            )
        out = list(names)
        for name in out:
            if not isinstance(name, str):
                raise TypeError(f"names must hold str channel names, got {type(name).__name__}")
        return out

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.client_name!r}, "
            f"{self.database}.{self.schema}.{self.pipe}, config={self.config!r})"
        )


#: How often (real time) the commit watcher looks at the channels that have listeners.
WATCH_TICK_SECS = 0.05
#: How long a channel's close waits for the watcher to deliver its last events.
DRAIN_TIMEOUT_SECS = 5.0


class Client(_BaseClient):
    """Streams rows into one pipe. Thread-safe: share one client across threads.

    ``config`` is a :class:`ClientConfig`; without one, keyword arguments and the environment
    build it (``Client("app", "DB", "S", "P", account=..., user=..., private_key_file=...)``).
    ``metrics`` records what the client does (:class:`PrometheusMetrics`,
    :class:`OpenTelemetryMetrics`; nothing by default). ``transport`` and ``clock`` are for
    tests (``httpx.MockTransport``, ``FakeClock``).
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
        metrics: Metrics | None = None,
        **config_kwargs: Any,
    ) -> None:
        super().__init__(client_name, database, schema, pipe, config, clock, metrics, config_kwargs)
        self._driver = SyncDriver(self._core, transport)
        self._channels: dict[str, Channel] = {}
        #: Channels replaced by a newer open_channel, or dropped, that still held rows.
        self._retired: list[Channel] = []
        self._channels_lock = threading.Lock()
        self._stop = threading.Event()
        self._flusher: threading.Thread | None = None
        self._closed = False
        #: The background thread that watches commits for on_commit / on_error_rows.
        self._watcher: threading.Thread | None = None
        self._watch_wake = threading.Event()
        self._watch_stop = False
        self._drains: list[tuple[Channel, threading.Event]] = []
        self._watch_lock = threading.Lock()

    def _run(self, flow: Flow[T], step_lock: threading.Lock | None = None) -> T:
        try:
            return self._driver.run(flow, step_lock)
        except SnowpipeError as exc:
            _log_failure(exc)
            raise

    def open_channel(
        self, name: str, offset_token: str | None = None
    ) -> tuple[Channel, ChannelStatus]:
        """Open (or reopen) channel ``name``; return it and its status.

        The status's ``last_committed_offset_token`` says where to resume after a restart.
        Opening a channel this client holds already replaces the old :class:`Channel`: rows it
        held that are not committed make its ``close()`` (and this client's) raise.
        """
        self._check_open()
        offset_token = check_token(offset_token, "offset_token")
        core = self._new_channel_core(name, threading.Lock())
        status = self._run(core.open_flow(offset_token))
        channel = Channel(self, core)
        with self._channels_lock:
            old = self._channels.get(channel_key(name))
            self._channels[channel_key(name)] = channel
        if old is not None:
            with old._state:
                old._core.supersede(status.last_committed_offset_token)
            if old._core.failed is not None:
                self._retired.append(old)
        self._start_flusher()
        return channel, status

    def open_sharded_channel(
        self, name: str, *, channels: int, key: str | None = None
    ) -> ShardedChannel:
        """Open ``channels`` channels (``name-1`` .. ``name-N``; ``name`` itself for one) to
        write numbered records over, exactly once across restarts: a :class:`ShardedChannel`.

        Record ``n`` (from 1) goes to the channel that owns it (stripes of 1,000 records dealt
        in turn) with the offset token ``KEY/N:n`` (``key`` default ``"records"``). Its
        :attr:`~ShardedChannel.resume_from` says where to start giving records again after a
        restart; records their channel has committed already are skipped.

        First, one status request over every name a sharded channel of ``name`` could use
        (``name``, ``name-1`` .. ``name-64``): when one holds records of this key dealt over
        another number of channels, or one of these channels holds another writer's token,
        :class:`ShardingMismatchError` is raised and no channel is opened.
        """
        self._check_open()
        return open_sharded(self, name, channels, key)

    def get_channel_statuses(
        self, names: list[str], *, missing_ok: bool = False
    ) -> dict[str, ChannelStatus]:
        """Statuses by name (one request). A name Snowflake does not know raises
        ``NotFoundError``; with ``missing_ok=True`` it is left out of the answer instead."""
        self._check_open()
        return self._run(self._status_flow(self._names(names), missing_ok))

    def drop_channel(self, name: str) -> None:
        """Drop ``name`` on the server: its committed offset token and history are reset.

        A channel of this client with that name stops; rows it held that were not committed
        make its ``close()`` raise (:class:`ChannelDroppedError`).
        """
        self._check_open()
        with self._channels_lock:
            channel = self._channels.pop(channel_key(name), None) if isinstance(name, str) else None
        if channel is not None:
            with channel._state:
                _retire_dropped(channel._core)
            if channel._core.failed is not None:
                self._retired.append(channel)
        self._run(self._drop_flow(name))

    def _forget(self, channel: Channel) -> None:
        with self._channels_lock:
            if self._channels.get(channel_key(channel.name)) is channel:
                del self._channels[channel_key(channel.name)]
            if channel in self._retired:
                self._retired.remove(channel)

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
                    _log.warning(
                        "background flush of channel %s failed: %s",
                        channel.name,
                        exc,
                        extra=channel._core.log_fields(),
                    )

    def _start_watcher(self) -> None:
        with self._watch_lock:
            if self._watcher is None:
                self._watcher = threading.Thread(
                    target=self._watch_loop,
                    daemon=True,
                    name=f"snowpipe-stream-watcher-{self.client_name}",
                )
                self._watcher.start()

    def _watch_loop(self) -> None:
        # Real-time ticks decide how often to look; whether to ask for a status is judged on
        # the injected clock (ChannelCore.poll_due). One thread makes every callback: in order.
        while not self._watch_stop:
            self._watch_wake.wait(WATCH_TICK_SECS)
            self._watch_wake.clear()
            with self._watch_lock:
                drains, self._drains = self._drains, []
            for channel, done in drains:
                channel._deliver()
                done.set()
            with self._channels_lock:
                channels = [c for c in self._channels.values() if c._core.listening]
            now = self._core.clock.monotonic()
            for channel in channels:
                if channel._core.poll_due(now):
                    try:
                        channel._run(channel._core.poll_flow())
                    except Exception as exc:  # the caller's next call reports it
                        _log.debug("watching channel %s: %s", channel.name, exc)
                channel._deliver()

    def _drain_events(self, channel: Channel) -> None:
        """Have the watcher deliver what ``channel`` has queued, and wait for it (bounded)."""
        if not channel._core.events:
            return
        watcher = self._watcher
        if watcher is None or watcher is threading.current_thread() or not watcher.is_alive():
            channel._deliver()
            return
        done = threading.Event()
        with self._watch_lock:
            self._drains.append((channel, done))
        self._watch_wake.set()
        done.wait(DRAIN_TIMEOUT_SECS)

    def close(self, wait_for_flush: bool = True, timeout: float | None = None) -> None:
        """Close every channel (waiting for its commits), then the connections.

        Raises the first error of a channel whose appended rows are not all committed (the
        other channels are still closed). ``timeout`` bounds the whole wait (default: each
        channel's own, 5 minutes). With ``wait_for_flush=False`` buffered and uncommitted rows
        are abandoned (after a Ctrl-C, say), with a warning that says how many: reopen the
        channel and resume from its committed offset token.
        """
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        if self._flusher is not None:
            self._flusher.join(timeout=5)
        first: SnowpipeError | None = None
        clock = self._core.clock
        deadline = None if timeout is None else clock.monotonic() + timeout
        try:
            with self._channels_lock:
                channels = [*self._channels.values(), *self._retired]
            for channel in channels:
                if not wait_for_flush:
                    with channel._state:
                        channel._core.abandon("abandoned by client.close(wait_for_flush=False)")
                    continue
                # One channel's failure must not leave the others unflushed.
                try:
                    left = None if deadline is None else max(deadline - clock.monotonic(), 0.0)
                    channel.close(timeout=left)
                except SnowpipeError as exc:
                    first = first or exc
        finally:
            for channel in channels:
                channel._core.closed = channel._core.closed or "with its client"
                channel._stop_listening()
            self._watch_stop = True
            self._watch_wake.set()
            if self._watcher is not None and self._watcher is not threading.current_thread():
                self._watcher.join(timeout=5)
            self._driver.close()
        if first is not None:
            raise first

    def __enter__(self) -> Client:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *rest: object) -> None:
        if exc_type is None:
            self.close()
            return
        if not issubclass(exc_type, Exception):
            # Ctrl-C (or a SystemExit): do not wait for commits; say what is uncommitted.
            self.close(wait_for_flush=False)
            return
        # Leaving on an error: a short, bounded close; the error leaving the block is the one
        # to see, this one is logged.
        try:
            self.close(timeout=DEFAULT_EXIT_CLOSE_TIMEOUT_SECS)
        except Exception as exc:
            _log.warning("closing the client after an error also failed: %s", exc)


def _retire_dropped(core: ChannelCore) -> None:
    """This client dropped the channel ``core`` writes to."""
    if core.failed is None and not core.closed:
        if core.pending_rows:
            core.fail("dropped", "was dropped by client.drop_channel()")
        else:
            core.closed = "dropped"


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
        metrics: Metrics | None = None,
        **config_kwargs: Any,
    ) -> None:
        super().__init__(client_name, database, schema, pipe, config, clock, metrics, config_kwargs)
        self._driver = AsyncDriver(self._core, transport)
        self._channels: dict[str, AsyncChannel] = {}
        self._retired: list[AsyncChannel] = []
        self._flusher: asyncio.Task[None] | None = None
        self._watcher: asyncio.Task[None] | None = None
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
        self._check_open()
        offset_token = check_token(offset_token, "offset_token")
        core = self._new_channel_core(name, asyncio.Lock())
        status = await self._run(core.open_flow(offset_token))
        channel = AsyncChannel(self, core)
        old = self._channels.get(channel_key(name))
        self._channels[channel_key(name)] = channel
        if old is not None:
            old._core.supersede(status.last_committed_offset_token)
            if old._core.failed is not None:
                self._retired.append(old)
        self._start_flusher()
        return channel, status

    async def open_sharded_channel(
        self, name: str, *, channels: int, key: str | None = None
    ) -> AsyncShardedChannel:
        """As :meth:`Client.open_sharded_channel`: an :class:`AsyncShardedChannel`."""
        self._check_open()
        return await aopen_sharded(self, name, channels, key)

    async def get_channel_statuses(
        self, names: list[str], *, missing_ok: bool = False
    ) -> dict[str, ChannelStatus]:
        """As :meth:`Client.get_channel_statuses`."""
        self._check_open()
        return await self._run(self._status_flow(self._names(names), missing_ok))

    async def drop_channel(self, name: str) -> None:
        self._check_open()
        channel = self._channels.pop(channel_key(name), None) if isinstance(name, str) else None
        if channel is not None:
            _retire_dropped(channel._core)
            if channel._core.failed is not None:
                self._retired.append(channel)
        await self._run(self._drop_flow(name))

    def _forget(self, channel: AsyncChannel) -> None:
        if self._channels.get(channel_key(channel.name)) is channel:
            del self._channels[channel_key(channel.name)]
        if channel in self._retired:
            self._retired.remove(channel)

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
                    _log.warning(
                        "background flush of channel %s failed: %s",
                        channel.name,
                        exc,
                        extra=channel._core.log_fields(),
                    )

    def _start_watcher(self) -> None:
        if self._watcher is None:
            self._watcher = asyncio.get_running_loop().create_task(self._watch_loop())

    async def _watch_loop(self) -> None:
        while True:
            await asyncio.sleep(WATCH_TICK_SECS)  # real time: see Client._watch_loop
            now = self._core.clock.monotonic()
            for channel in [c for c in self._channels.values() if c._core.listening]:
                if channel._core.poll_due(now):
                    try:
                        await self._run(channel._core.poll_flow())
                    except Exception as exc:
                        _log.debug("watching channel %s: %s", channel.name, exc)
                channel._deliver()

    async def aclose(self, wait_for_flush: bool = True, timeout: float | None = None) -> None:
        """Close every channel (waiting for its commits), then the connections; see
        :meth:`Client.close`."""
        if self._closed:
            return
        self._closed = True
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
        first: SnowpipeError | None = None
        clock = self._core.clock
        deadline = None if timeout is None else clock.monotonic() + timeout
        channels = [*self._channels.values(), *self._retired]
        try:
            for channel in channels:
                if not wait_for_flush:
                    channel._core.abandon("abandoned by client.close(wait_for_flush=False)")
                    continue
                try:
                    left = None if deadline is None else max(deadline - clock.monotonic(), 0.0)
                    await channel.close(timeout=left)
                except SnowpipeError as exc:
                    first = first or exc
        finally:
            for channel in channels:
                channel._core.closed = channel._core.closed or "with its client"
                channel._stop_listening()
            if self._watcher is not None:
                self._watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._watcher
            await self._driver.aclose()
        if first is not None:
            raise first

    close = aclose

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, *rest: object) -> None:
        if exc_type is None:
            await self.aclose()
            return
        if not issubclass(exc_type, Exception):
            await self.aclose(wait_for_flush=False)
            return
        try:
            await self.aclose(timeout=DEFAULT_EXIT_CLOSE_TIMEOUT_SECS)
        except Exception as exc:
            _log.warning("closing the client after an error also failed: %s", exc)


@contextlib.contextmanager
def abandon_on_error(client: Client) -> Iterator[Client]:
    """``client``, closed on success as usual (waiting for its commits), and closed without
    sending or waiting for anything when the block fails in any way: for a job that resumes
    from its channels' committed tokens when run again (the CLI's ``ingest``, a Spark task),
    where flushing on the way out would only delay the exit or, for a task that Spark runs
    again, race its own retry for the channel. ``Client``'s own ``with`` flushes on an error
    (bounded), as a program that does not resume expects."""
    try:
        yield client
    except BaseException:
        client.close(wait_for_flush=False)
        raise
    client.close()
