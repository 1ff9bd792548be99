"""A client authenticated by a programmatic access token, against the real emulator."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

from snowpipe_stream import AuthenticationError, Client, ClientConfig
from snowpipe_stream.emulator import Emulator
from snowpipe_stream.testing import FakeClock

from ..conftest import KNOWN_SECRETS
from .conftest import ACCOUNT, DB, PIPE, SCHEMA, USER

DAY = 86_400.0


def _pat_config(emu: Emulator, **kw: object) -> ClientConfig:
    return ClientConfig.from_sources(
        env={},
        account=ACCOUNT,
        url=emu.url,
        authorization_type="PAT",
        max_client_lag=0,
        **kw,
    )


def _write(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def test_rows_stream_with_a_pat_issued_over_http(clock: FakeClock) -> None:
    with Emulator(clock=clock, strict_wire=True) as emu:
        answer = httpx.post(
            f"{emu.url}/emulator/v1/users/{ACCOUNT}/{USER}/pats",
            json={"name": "ingest", "days_to_expiry": 30},
        ).json()
        KNOWN_SECRETS.add(answer["token"])
        assert answer["expires_at"] == int(clock.time()) + 30 * DAY
        config = _pat_config(emu, personal_access_token=answer["token"])
        with Client("pat", DB, SCHEMA, PIPE, config=config, clock=clock) as client:
            channel, _ = client.open_channel("pat")
            channel.append_rows([{"n": 1}, {"n": 2}], "1", "2")
            channel.wait_for_commit("2", timeout=30)
        assert [r["n"] for r in emu.rows(DB, SCHEMA, PIPE, "pat")] == [1, 2]
        assert emu.stats()["pats_rejected"] == 0


@pytest.mark.parametrize("how", ["revoked", "expired"])
def test_a_revoked_or_expired_pat_is_a_typed_error_with_the_fix(clock: FakeClock, how: str) -> None:
    with Emulator(clock=clock) as emu:
        token = emu.add_pat(ACCOUNT, USER, "ingest", days_to_expiry=1)
        KNOWN_SECRETS.add(token)
        if how == "revoked":
            deleted = httpx.delete(f"{emu.url}/emulator/v1/users/{ACCOUNT}/{USER}/pats/ingest")
            assert deleted.status_code == 200
        else:
            clock.advance(DAY + 1)
        config = _pat_config(emu, personal_access_token=token)
        with (
            Client("pat", DB, SCHEMA, PIPE, config=config, clock=clock) as client,
            pytest.raises(AuthenticationError) as info,
        ):
            client.open_channel("pat")
        assert emu.stats()["pats_rejected"] == 2  # the request and its one retry
    err = info.value
    assert err.code == "394400"
    assert "ROTATE PAT" in str(err) and token not in str(err)
    if how == "expired":
        assert "expired at" in str(err)


def test_a_pat_rotated_through_its_file_goes_on_without_an_error(
    tmp_path: Path, clock: FakeClock
) -> None:
    path = tmp_path / "pat.txt"
    with Emulator(clock=clock, scoped_token_ttl=600) as emu:
        first = emu.add_pat(ACCOUNT, USER, "one", days_to_expiry=2)
        KNOWN_SECRETS.add(first)
        _write(path, first)
        config = _pat_config(emu, personal_access_token_file=str(path))
        with Client("pat", DB, SCHEMA, PIPE, config=config, clock=clock) as client:
            channel, _ = client.open_channel("pat")
            channel.append_rows([{"n": 1}], "1", "1")
            channel.flush()
            second = emu.add_pat(ACCOUNT, USER, "two", days_to_expiry=30)
            KNOWN_SECRETS.add(second)
            _write(path, second)
            emu.revoke_pat(ACCOUNT, USER, "one")
            clock.advance(700)  # the scoped token expires: the next exchange uses the file
            channel.append_rows([{"n": 2}], "2", "2")
            channel.wait_for_commit("2", timeout=30)
            stats = client.stats
        assert emu.stats()["pats_rejected"] == 0
        rows = emu.rows(DB, SCHEMA, PIPE, "pat")
    assert stats.retries_401 == 0 and stats.scoped_exchanges == 2
    assert [r["n"] for r in rows] == [1, 2]


def test_the_async_client_streams_with_a_pat_file(tmp_path: Path, clock: FakeClock) -> None:
    import asyncio

    from snowpipe_stream import AsyncClient

    path = tmp_path / "pat.txt"
    with Emulator(clock=clock) as emu:
        token = emu.add_pat(ACCOUNT, USER, "async")
        KNOWN_SECRETS.add(token)
        _write(path, token)
        config = _pat_config(emu, personal_access_token_file=str(path))

        async def stream() -> None:
            async with AsyncClient("pat", DB, SCHEMA, PIPE, config=config, clock=clock) as client:
                channel, _ = await client.open_channel("apat")
                await channel.append_rows([{"n": 1}], "1", "1")
                await channel.wait_for_commit("1", timeout=30)

        asyncio.run(stream())
        assert [r["n"] for r in emu.rows(DB, SCHEMA, PIPE, "apat")] == [1]
