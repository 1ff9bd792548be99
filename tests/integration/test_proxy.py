"""Loopback traffic never goes through a proxy named by HTTP_PROXY / HTTPS_PROXY / ALL_PROXY.

A recording "proxy" on 127.0.0.1 answers 502 to anything and remembers what it got. With the
proxy variables pointing at it, the real client streams to the real emulator on 127.0.0.1 and
the rows commit while the proxy sees nothing: the JWT and the scoped token stay on this machine.
A remote host still goes through the proxy (the variables are in effect in these tests).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import socketserver
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from snowpipe_stream import ClientConfig, PrivateKey, ServerError
from snowpipe_stream.emulator import Emulator
from snowpipe_stream.testing import FakeClock
from tests.clients import open_client
from tests.integration.conftest import ACCOUNT, DB, PIPE, SCHEMA, USER, make_config

pytestmark = pytest.mark.parametrize("mode", ["sync", "async"])


class RecordingProxy(socketserver.ThreadingTCPServer):
    """Reads one request head per connection, records it, answers 502 and hangs up."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _ProxyHandler)
        self.seen: list[bytes] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _ProxyHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        server = self.server
        assert isinstance(server, RecordingProxy)
        conn: socket.socket = self.request
        conn.settimeout(5)
        head = b""
        with contextlib.suppress(OSError):
            while b"\r\n\r\n" not in head and len(head) < 65536:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                head += chunk
        server.seen.append(head)
        with contextlib.suppress(OSError):
            conn.sendall(
                b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            )


@pytest.fixture
def proxy(monkeypatch: pytest.MonkeyPatch) -> Iterator[RecordingProxy]:
    server = RecordingProxy()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    # Lower-case variables win over upper-case ones, NO_PROXY would exempt hosts, and
    # REQUEST_METHOD makes urllib ignore HTTP_PROXY: clear them all, then name the proxy.
    for var in ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "NO_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.delenv("REQUEST_METHOD", raising=False)
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.setenv(var, server.url)
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


async def stream(client: Any) -> None:
    channel, _ = await client.open_channel("via-loopback")
    await channel.append_rows([{"n": i} for i in range(1, 51)], "1", "50")
    assert await channel.wait_for_commit("50", timeout=30) == "50"
    await channel.close()


def test_loopback_bypasses_the_proxy(
    mode: str, emu: Emulator, rsa_key: PrivateKey, clock: FakeClock, proxy: RecordingProxy
) -> None:
    assert emu.url.startswith("http://127.0.0.1:")

    async def main() -> None:
        config = make_config(emu, rsa_key)
        async with open_client(mode, "app", DB, SCHEMA, PIPE, config=config, clock=clock) as c:
            await stream(c)

    asyncio.run(main())
    assert [r["n"] for r in emu.rows(DB, SCHEMA, PIPE, "via-loopback")] == list(range(1, 51))
    assert proxy.seen == []


def test_a_remote_host_still_goes_through_the_proxy(
    mode: str, rsa_key: PrivateKey, clock: FakeClock, proxy: RecordingProxy
) -> None:
    config = ClientConfig.from_sources(
        env={},
        account=ACCOUNT,
        user=USER,
        private_key=rsa_key,
        url="http://snowflake.invalid",
        allow_insecure_http=True,
        max_server_retries=0,
        max_client_lag=0,
    )

    async def main() -> None:
        async with open_client(mode, "app", DB, SCHEMA, PIPE, config=config, clock=clock) as c:
            with pytest.raises(ServerError, match="502"):
                await c.open_channel("ch")

    asyncio.run(main())
    assert len(proxy.seen) == 1
    assert proxy.seen[0].startswith(b"GET http://snowflake.invalid/v2/streaming/hostname")
