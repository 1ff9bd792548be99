"""get_channel_statuses(names, missing_ok=True): one request, the channels that exist, sync and
async, against the emulator; without it a missing channel raises NotFoundError."""

from __future__ import annotations

import asyncio

import pytest

from snowpipe_stream import AsyncClient, Client, NotFoundError, PrivateKey
from snowpipe_stream.emulator import Emulator
from snowpipe_stream.testing import FakeClock
from tests.integration.conftest import DB, PIPE, SCHEMA, make_config


def test_missing_channels_are_left_out_or_raise(
    emu: Emulator, rsa_key: PrivateKey, clock: FakeClock
) -> None:
    with Client("st", DB, SCHEMA, PIPE, config=make_config(emu, rsa_key), clock=clock) as client:
        client.open_channel("here")
        before = emu.stats()["requests"].get("status 200", 0)
        found = client.get_channel_statuses(["here", "gone", "HERE"], missing_ok=True)
        assert list(found) == ["here", "HERE"]  # names resolve case-insensitively
        assert emu.stats()["requests"].get("status 200", 0) == before + 1
        with pytest.raises(NotFoundError, match="'gone' does not exist"):
            client.get_channel_statuses(["here", "gone"])

    async def run() -> list[str]:
        config = make_config(emu, rsa_key)
        async with AsyncClient("st2", DB, SCHEMA, PIPE, config=config, clock=clock) as client:
            return list(await client.get_channel_statuses(["gone", "here"], missing_ok=True))

    assert asyncio.run(run()) == ["here"]
