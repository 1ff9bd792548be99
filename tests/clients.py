"""Run one async-written scenario against both the sync Client and the AsyncClient."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from snowpipe_stream import AsyncClient, Channel, Client


class AsyncView:
    """Presents a sync Client or Channel with coroutine methods, as the async API has them."""

    def __init__(self, target: Any) -> None:
        self._target = target

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._target, name)
        if not callable(attr):
            return attr

        async def call(*args: Any, **kwargs: Any) -> Any:
            result = attr(*args, **kwargs)
            if isinstance(result, tuple) and result and isinstance(result[0], Channel):
                return (AsyncView(result[0]), *result[1:])
            return result

        return call


@contextlib.asynccontextmanager
async def open_client(
    mode: str, *args: Any, transport: Any = None, async_transport: Any = None, **kwargs: Any
) -> AsyncIterator[Any]:
    """``async with open_client("sync"|"async", "app", "DB", "S", "P", ...) as client``."""
    if mode == "sync":
        client = Client(*args, transport=transport, **kwargs)
        try:
            yield AsyncView(client)
        finally:
            client.close()
    else:
        aclient = AsyncClient(*args, transport=async_transport, **kwargs)
        try:
            yield aclient
        finally:
            await aclient.aclose()


def run_on_fake(
    mode: str,
    fake: Any,
    clock: Any,
    key: Any,
    scenario: Callable[[Any], Awaitable[Any]],
    metrics: Any = None,
    **cfg: Any,
) -> Any:
    """Run ``scenario(client)`` on a client of ``mode`` talking to a FakeSnowflake (recording
    into ``metrics`` when given)."""
    from snowpipe_stream import ClientConfig
    from tests.fakes import CONTROL

    async def main() -> Any:
        settings: dict[str, Any] = {
            "account": "myorg-acct",
            "user": "svc",
            "url": CONTROL,
            "max_client_lag": 0,
            **cfg,
        }
        if "jwt" not in settings:
            settings["private_key"] = key
        config = ClientConfig.from_sources(env={}, **settings)
        async with open_client(
            mode,
            "app",
            "DB",
            "SCHEMA",
            "PIPE",
            config=config,
            clock=clock,
            transport=fake.mock(),
            async_transport=fake.async_mock(),
            metrics=metrics,
        ) as c:
            return await scenario(c)

    return asyncio.run(main())


def run_on_emulator(
    mode: str,
    emu: Any,
    key: Any,
    clock: Any,
    scenario: Callable[[Any], Awaitable[Any]],
    **cfg: Any,
) -> Any:
    """Run ``scenario(client)`` on a client of ``mode`` talking to the emulator ``emu``."""
    from tests.integration.conftest import DB, PIPE, SCHEMA, make_config

    async def main() -> Any:
        config = make_config(emu, key, **cfg)
        async with open_client(mode, "app", DB, SCHEMA, PIPE, config=config, clock=clock) as c:
            return await scenario(c)

    return asyncio.run(main())
