"""A request (and its body, up to ``max_request_bytes``) is freed once its answer is read.

httpx ties a response and its stream in a reference cycle, and a response holds its request:
left alone, every request body lives until the cyclic GC runs, which a client that makes few
Python objects (``ingest`` checks whole blocks of lines) seldom triggers: 117 requests (372 MB)
were found alive in one ``ingest --compression none`` run. The drivers break the cycle.
"""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from snowpipe_stream import AsyncClient, Client, PrivateKey
from snowpipe_stream.emulator import Emulator
from snowpipe_stream.testing import FakeClock
from tests.integration.conftest import ACCOUNT, DB, PIPE, SCHEMA, USER, make_config

ROWS = b"".join(b'{"n":%d,"pad":"%s"}\n' % (n, b"p" * 80) for n in range(1, 401))


class Watching(httpx.HTTPTransport):
    """The real transport; keeps a weak reference to every append request."""

    def __init__(self) -> None:
        super().__init__()
        self.appends: list[weakref.ref[httpx.Request]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/rows"):
            self.appends.append(weakref.ref(request))
        return super().handle_request(request)


class AsyncWatching(httpx.AsyncHTTPTransport):
    def __init__(self) -> None:
        super().__init__()
        self.appends: list[weakref.ref[httpx.Request]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/rows"):
            self.appends.append(weakref.ref(request))
        return await super().handle_async_request(request)


@pytest.fixture
def no_gc() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@pytest.mark.parametrize("background", [False, True])
def test_append_requests_are_freed_without_the_cyclic_gc(
    rsa_key: PrivateKey, clock: FakeClock, no_gc: None, background: bool
) -> None:
    transport = Watching()
    with Emulator(users=[(ACCOUNT, USER, rsa_key)], clock=clock, commit_delay_ms=0) as emu:
        config = make_config(emu, rsa_key, max_request_bytes=8192, send_in_background=background)
        client = Client("app", DB, SCHEMA, PIPE, config=config, clock=clock, transport=transport)
        with client:
            channel, _ = client.open_channel("freed")
            for k in range(10):
                channel.append_ndjson(ROWS, None, str(k))
            assert channel.wait_for_commit("9", timeout=60) == "9"
            alive = [ref for ref in transport.appends if ref() is not None]
            assert len(transport.appends) >= 40
            assert alive == [], f"{len(alive)} of {len(transport.appends)} requests alive"


def test_async_append_requests_are_freed_without_the_cyclic_gc(
    rsa_key: PrivateKey, clock: FakeClock, no_gc: None
) -> None:
    transport = AsyncWatching()

    async def main(emu: Emulator) -> Any:
        config = make_config(emu, rsa_key, max_request_bytes=8192)
        async with AsyncClient(
            "app", DB, SCHEMA, PIPE, config=config, clock=clock, transport=transport
        ) as client:
            channel, _ = await client.open_channel("freed")
            for k in range(10):
                await channel.append_ndjson(ROWS, None, str(k))
            assert await channel.wait_for_commit("9", timeout=60) == "9"
            return [ref for ref in transport.appends if ref() is not None]

    with Emulator(users=[(ACCOUNT, USER, rsa_key)], clock=clock, commit_delay_ms=0) as emu:
        alive = asyncio.run(main(emu))
    assert len(transport.appends) >= 40
    assert alive == []
