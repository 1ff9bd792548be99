"""Channel names: the real client (sync and async) and the emulator follow the same rules."""

from __future__ import annotations

import asyncio
import json
import re
import socket
from typing import Any

import pytest

from snowpipe_stream import InvalidChannelNameError, PrivateKey
from snowpipe_stream.emulator import Emulator
from snowpipe_stream.emulator import _messages as M
from snowpipe_stream.testing import FakeClock
from tests.clients import open_client
from tests.integration.conftest import DB, PIPE, SCHEMA, make_config
from tests.integration.test_emulator import BASE, DATA, Session

MODES = pytest.mark.parametrize("mode", ["sync", "async"])


def run(mode: str, emu: Emulator, key: PrivateKey, clock: FakeClock, scenario: Any) -> Any:
    async def main() -> Any:
        config = make_config(emu, key)
        async with open_client(mode, "app", DB, SCHEMA, PIPE, config=config, clock=clock) as c:
            return await scenario(c)

    return asyncio.run(main())


def committed_ns(emu: Emulator, channel: str) -> list[int]:
    return [row["n"] for row in emu.rows(DB, SCHEMA, PIPE, channel)]


@MODES
def test_names_differing_in_case_are_one_channel(
    mode: str, emu: Emulator, rsa_key: PrivateKey, clock: FakeClock
) -> None:
    async def scenario(client: Any) -> None:
        channel, status = await client.open_channel("mixed")
        assert status.last_committed_offset_token is None
        await channel.append_rows([{"n": n} for n in (1, 2, 3)], end_offset_token="3")
        assert await channel.wait_for_commit("3", timeout=30) == "3"
        await channel.close()

        channel, status = await client.open_channel("MIXED")
        assert status.last_committed_offset_token == "3"  # the same channel
        await channel.append_rows([{"n": n} for n in (4, 5, 6)], end_offset_token="6")
        assert await channel.wait_for_commit("6", timeout=30) == "6"
        await channel.close()

        statuses = await client.get_channel_statuses(["Mixed", "mixed"])
        assert {k: v.last_committed_offset_token for k, v in statuses.items()} == {
            "Mixed": "6",
            "mixed": "6",
        }

    run(mode, emu, rsa_key, clock, scenario)
    assert committed_ns(emu, "mixed") == [1, 2, 3, 4, 5, 6]  # each row exactly once
    assert committed_ns(emu, "MiXeD") == [1, 2, 3, 4, 5, 6]
    assert emu.stats()["requests"].get("open 200") == 2


BAD_NAMES = [
    ("x" * 65536, "too long"),
    ("..", "'.' and '..'"),
    (".", "'.' and '..'"),
    ("", "must not be empty"),
    ("elastic", "reserved"),
]


@MODES
def test_a_bad_name_is_refused_before_any_request(
    mode: str, emu: Emulator, rsa_key: PrivateKey, clock: FakeClock
) -> None:
    async def scenario(client: Any) -> None:
        for name, rule in BAD_NAMES:
            with pytest.raises(InvalidChannelNameError, match=re.escape(rule)):
                await client.open_channel(name)
            with pytest.raises(InvalidChannelNameError, match=re.escape(rule)):
                await client.drop_channel(name)
            with pytest.raises(InvalidChannelNameError, match=re.escape(rule)):
                await client.get_channel_statuses(["ok", name])

    run(mode, emu, rsa_key, clock, scenario)
    assert emu.stats()["requests"] == {}  # not even the hostname or the token exchange


@MODES
def test_a_name_that_is_not_a_str_is_a_type_error(
    mode: str, emu: Emulator, rsa_key: PrivateKey, clock: FakeClock
) -> None:
    async def scenario(client: Any) -> None:
        with pytest.raises(TypeError, match=r"^name must be a str"):
            await client.open_channel(5)

    run(mode, emu, rsa_key, clock, scenario)
    assert emu.stats()["requests"] == {}


@pytest.fixture
def session(emu: Emulator, rsa_key: PrivateKey, clock: FakeClock) -> Any:
    s = Session(emu, rsa_key, clock)
    yield s
    s.close()


def test_the_emulator_answers_400_to_a_bad_name(session: Session, emu: Emulator) -> None:
    """A name is never normalized away or stored: '..' reaches the emulator, which refuses it."""
    bad = M.INVALID_CHANNEL_NAME[:2]
    # '..', '.', '', 256 characters, reserved, a control character, whitespace, not UTF-8
    for segment in ["%2E%2E", "%2E", "", "e" * 256, "ELASTIC", "a%0Ab", "%20ch", "%ED%A0%80"]:
        resp = session.http.put(f"{BASE}/channels/{segment}", json={})
        assert (resp.status_code, resp.json()["code"]) == bad, segment
        resp = session.http.post(
            f"{DATA}/channels/{segment}/rows", params={"continuationToken": "x"}, content=b"{}\n"
        )
        assert (resp.status_code, resp.json()["code"]) == bad, segment
        resp = session.http.delete(f"{BASE}/channels/{segment}")
        assert (resp.status_code, resp.json()["code"]) == bad, segment
    assert emu.state.channels == {}


def test_the_emulator_refuses_a_bad_name_in_a_status_body(session: Session) -> None:
    resp = session.http.post(f"{BASE}:bulk-channel-status", json={"channel_names": ["ch", ".."]})
    assert resp.status_code == 400
    assert resp.json()["code"] == M.INVALID_CHANNEL_NAME[1]
    assert "'.' and '..'" in resp.json()["message"]


def raw_put(emu: Emulator, path: str, authorization: str) -> tuple[int, dict[str, Any]]:
    """PUT exactly ``path`` over a socket: HTTP clients (httpx too) remove dot segments."""
    host, port = emu.url.removeprefix("http://").split(":")
    head = (
        f"PUT {path} HTTP/1.1\r\nHost: {host}\r\nAccept: application/json\r\n"
        f"Authorization: {authorization}\r\nContent-Type: application/json\r\n"
        "Content-Length: 2\r\nConnection: close\r\n\r\n{}"
    )
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(head.encode())
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    status_line, _, rest = answer.partition(b"\r\n")
    return int(status_line.split()[1]), json.loads(rest.partition(b"\r\n\r\n")[2])


@pytest.mark.parametrize("name", ["..", "."])
def test_a_raw_dot_segment_reaches_the_emulator_as_a_name(
    session: Session, emu: Emulator, name: str
) -> None:
    status, body = raw_put(emu, f"{BASE}/channels/{name}", session.http.headers["Authorization"])
    assert (status, body["code"]) == (400, M.INVALID_CHANNEL_NAME[1])
    assert "'.' and '..'" in body["message"]
    assert emu.state.channels == {}
