"""The emulator as a server: scoped tokens bound to their host, the ingest host it announces,
and connections that stall (read and keep-alive timeouts, a connection limit).

Raw HTTP reaches the emulator under another name by setting the ``Host`` header; the real
client reaches it as ``localhost`` (bound to 127.0.0.1), over plain HTTP and TLS.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from snowpipe_stream import PrivateKey
from snowpipe_stream.emulator import Emulator
from snowpipe_stream.emulator import _messages as M
from snowpipe_stream.testing import FakeClock
from tests.clients import run_on_emulator
from tests.integration.conftest import ACCOUNT, DB, PIPE, SCHEMA, USER
from tests.integration.test_emulator import BASE, JSON, jwt_for

GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


def scoped_token(emu: Emulator, key: PrivateKey, clock: FakeClock, scope: str | None) -> str:
    form = {"grant_type": GRANT, **({"scope": scope} if scope is not None else {})}
    resp = httpx.post(
        f"{emu.url}/oauth/token",
        headers={**JSON, "Authorization": f"Bearer {jwt_for(key, clock)}"},
        data=form,
    )
    assert resp.status_code == 200, resp.text
    return resp.text


def open_channel(emu: Emulator, token: str, host: str | None = None) -> httpx.Response:
    headers = {**JSON, "Authorization": f"Bearer {token}"}
    if host is not None:
        headers["Host"] = host
    return httpx.put(f"{emu.url}{BASE}/channels/ch", headers=headers, json={})


def hostname_as(emu: Emulator, key: PrivateKey, clock: FakeClock, host: str | None) -> str:
    headers = {**JSON, "Authorization": f"Bearer {jwt_for(key, clock)}"}
    if host is not None:
        headers["Host"] = host
    resp = httpx.get(f"{emu.url}/v2/streaming/hostname", headers=headers)
    assert resp.status_code == 200, resp.text
    return resp.text


# --- scoped tokens are bound to the host they were asked for ---------------------------------


def test_scoped_token_works_only_at_the_host_of_its_scope(
    emu: Emulator, rsa_key: PrivateKey, clock: FakeClock
) -> None:
    token = scoped_token(emu, rsa_key, clock, "127.0.0.1")
    assert open_channel(emu, token).status_code == 200
    for elsewhere in ("localhost", f"localhost:{emu.port}", "ingest.example.com"):
        resp = open_channel(emu, token, host=elsewhere)
        assert resp.status_code == 401, elsewhere
        assert resp.json()["code"] == M.SCOPED_TOKEN_INVALID[1]
    assert emu.stats()["scoped_tokens_rejected"] == 3

    other = scoped_token(emu, rsa_key, clock, "ingest.example.com")
    assert open_channel(emu, other).status_code == 401
    assert open_channel(emu, other, host=f"ingest.example.com:{emu.port}").status_code == 200


def test_scope_may_carry_a_role_and_is_normalized_like_the_client_does(
    emu: Emulator, rsa_key: PrivateKey, clock: FakeClock
) -> None:
    with_role = scoped_token(emu, rsa_key, clock, "127.0.0.1 session:role:INGEST")
    assert open_channel(emu, with_role).status_code == 200
    # Clients turn "_" into "-" and lower-case the host before asking and calling.
    spelled = scoped_token(emu, rsa_key, clock, "My_Ingest.Example")
    assert open_channel(emu, spelled, host="my-ingest.example").status_code == 200


def test_scope_defaults_to_the_host_reached(
    emu: Emulator, rsa_key: PrivateKey, clock: FakeClock
) -> None:
    token = scoped_token(emu, rsa_key, clock, None)
    assert open_channel(emu, token).status_code == 200
    assert open_channel(emu, token, host="localhost").status_code == 401


def test_an_expired_token_at_the_wrong_host_is_refused_as_invalid_then_expired(
    emu: Emulator, rsa_key: PrivateKey, clock: FakeClock
) -> None:
    token = scoped_token(emu, rsa_key, clock, "127.0.0.1")
    clock.advance(3601)
    assert open_channel(emu, token).json()["code"] == M.SCOPED_TOKEN_EXPIRED[1]
    assert open_channel(emu, token, host="localhost").json()["code"] == M.SCOPED_TOKEN_INVALID[1]


# --- the announced ingest host ---------------------------------------------------------------


def test_hostname_answers_the_host_the_client_reached(
    emu: Emulator, rsa_key: PrivateKey, clock: FakeClock
) -> None:
    assert hostname_as(emu, rsa_key, clock, None) == "127.0.0.1"
    assert hostname_as(emu, rsa_key, clock, f"localhost:{emu.port}") == "localhost"
    assert hostname_as(emu, rsa_key, clock, "Emulator.LAN") == "emulator.lan"
    assert hostname_as(emu, rsa_key, clock, f"[::1]:{emu.port}") == "::1"
    # A Host header that names no host falls back to the bound address.
    for bad in ("a b", "x/y", "[::1", "host:port", "-bad.example", "a@b"):
        assert hostname_as(emu, rsa_key, clock, bad) == "127.0.0.1", bad


def test_advertise_host_wins_over_the_host_reached(rsa_key: PrivateKey, clock: FakeClock) -> None:
    with Emulator(users=[(ACCOUNT, USER, rsa_key)], clock=clock, advertise_host="localhost") as emu:
        assert emu.url == f"http://localhost:{emu.port}"
        assert hostname_as(emu, rsa_key, clock, "127.0.0.1") == "localhost"
    with pytest.raises(ValueError, match="advertise_host"):
        Emulator(advertise_host="http://x:1")


def test_another_loopback_address_is_announced_as_reached(
    rsa_key: PrivateKey, clock: FakeClock
) -> None:
    with Emulator(users=[(ACCOUNT, USER, rsa_key)], clock=clock, host="127.0.0.2") as emu:
        assert hostname_as(emu, rsa_key, clock, None) == "127.0.0.2"
        assert hostname_as(emu, rsa_key, clock, "127.0.0.2") == "127.0.0.2"


async def _ingest(client: Any) -> Any:
    ch, _ = await client.open_channel("ch")
    await ch.append_rows(
        [{"n": i} for i in range(20)], start_offset_token="1", end_offset_token="20"
    )
    await ch.flush()
    await ch.wait_for_commit("20", timeout=30)
    await ch.close()
    return client.stats


@pytest.mark.parametrize("tls", [False, True], ids=["http", "https"])
def test_the_client_reached_as_localhost_ingests_end_to_end(
    rsa_key: PrivateKey, clock: FakeClock, tls: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Emulator(users=[(ACCOUNT, USER, rsa_key)], clock=clock, tls=tls) as emu:
        if emu.ca_path is not None:
            monkeypatch.setenv("SSL_CERT_FILE", str(emu.ca_path))
        emu.url = emu.url.replace("127.0.0.1", "localhost")
        run_on_emulator("sync", emu, rsa_key, clock, _ingest)
        assert [r["n"] for r in emu.rows(DB, SCHEMA, PIPE)] == list(range(20))
        stats = emu.stats()
        assert stats["scoped_tokens_rejected"] == 0
        assert stats["requests"]["hostname 200"] == 1


# --- stalled connections ---------------------------------------------------------------------

SHORT = 0.3
BOUND = 5.0


@pytest.fixture
def quick(rsa_key: PrivateKey, clock: FakeClock) -> Iterator[Emulator]:
    with Emulator(
        users=[(ACCOUNT, USER, rsa_key)],
        clock=clock,
        read_timeout=SHORT,
        keep_alive_timeout=SHORT,
        max_connections=2,
    ) as emulator:
        yield emulator


def _connect(emu: Emulator) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", emu.port), timeout=BOUND)
    sock.settimeout(BOUND)
    return sock


def _seconds_until_closed(sock: socket.socket) -> float:
    """Read until the server closes; the time it took (fails past BOUND)."""
    start = time.monotonic()
    with sock:
        while sock.recv(65536):
            pass
    return time.monotonic() - start


def test_half_a_request_head_is_closed_after_the_read_timeout(quick: Emulator) -> None:
    sock = _connect(quick)
    sock.sendall(b"PUT " + BASE.encode() + b"/channels/ch HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    waited = _seconds_until_closed(sock)
    assert SHORT * 0.8 <= waited < BOUND


def test_a_silent_connection_is_closed_after_the_read_timeout(quick: Emulator) -> None:
    assert _seconds_until_closed(_connect(quick)) < BOUND


def test_half_a_body_is_closed_after_the_read_timeout(quick: Emulator) -> None:
    sock = _connect(quick)
    sock.sendall(
        b"PUT " + BASE.encode() + b"/channels/ch HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b'Accept: application/json\r\nContent-Length: 100\r\n\r\n{"offset'
    )
    assert _seconds_until_closed(sock) < BOUND


def test_trickling_a_head_does_not_extend_its_deadline(quick: Emulator) -> None:
    """One byte every SHORT/3 s never idles for SHORT s, yet the head must be whole in SHORT s."""
    sock = _connect(quick)
    start = time.monotonic()
    closed = False
    for byte in b"GET /emulator/v1/stats HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 100:
        try:
            sock.sendall(bytes([byte]))
        except OSError:
            closed = True
            break
        sock.settimeout(SHORT / 3)
        try:
            if sock.recv(1) == b"":
                closed = True
                break
        except TimeoutError:
            pass
        if time.monotonic() - start > BOUND:
            break
    sock.close()
    assert closed
    assert time.monotonic() - start < SHORT * 4


def test_an_idle_keep_alive_connection_is_closed(quick: Emulator) -> None:
    sock = _connect(quick)
    sock.sendall(b"GET /emulator/v1/stats HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    first = sock.recv(65536)
    assert first.startswith(b"HTTP/1.1 200")
    assert _seconds_until_closed(sock) < BOUND


def test_requests_past_the_connection_limit_get_503(quick: Emulator) -> None:
    held = _connect(quick)
    try:
        # One held connection and this request: two, within the limit.
        assert httpx.get(f"{quick.url}/emulator/v1/stats").status_code == 200
        also_held = _connect(quick)
        try:
            assert httpx.get(f"{quick.url}/emulator/v1/stats").status_code == 503
        finally:
            also_held.close()
    finally:
        held.close()


def test_a_complete_slow_request_is_served(quick: Emulator) -> None:
    """Pauses shorter than the read timeout inside a body are fine."""
    sock = _connect(quick)
    sock.sendall(
        b"POST /emulator/v1/faults HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\nContent-Length: 2\r\n\r\n["
    )
    time.sleep(SHORT / 2)
    sock.sendall(b"]")
    with sock:
        assert sock.recv(65536).startswith(b"HTTP/1.1 200")
