"""OAuth against the real emulator: its token endpoint, short-lived access tokens, refusals."""

from __future__ import annotations

import httpx
import pytest

from snowpipe_stream import AuthenticationError, Client, ClientConfig
from snowpipe_stream.emulator import Emulator
from snowpipe_stream.testing import FakeClock

from ..conftest import KNOWN_SECRETS
from .conftest import ACCOUNT, DB, PIPE, SCHEMA, USER


def _oauth_config(emu: Emulator, **kw: object) -> ClientConfig:
    return ClientConfig.from_sources(
        env={}, account=ACCOUNT, url=emu.url, authorization_type="OAUTH", max_client_lag=0, **kw
    )


@pytest.mark.parametrize("grant", ["refresh_token", "client_credentials"])
def test_short_lived_access_tokens_are_refreshed_without_an_error(
    clock: FakeClock, grant: str
) -> None:
    with Emulator(clock=clock, oauth_token_ttl=60, scoped_token_ttl=30) as emu:
        creds = httpx.post(
            f"{emu.url}/emulator/v1/oauth/clients", json={"account": ACCOUNT, "user": USER}
        ).json()
        KNOWN_SECRETS.update({creds["client_secret"], creds["refresh_token"]})
        extra = {"oauth_refresh_token": creds["refresh_token"]} if grant == "refresh_token" else {}
        config = _oauth_config(
            emu,
            oauth_client_id=creds["client_id"],
            oauth_client_secret=creds["client_secret"],
            **extra,
        )
        with Client("oa", DB, SCHEMA, PIPE, config=config, clock=clock) as client:
            channel, _ = client.open_channel("oa")
            for i in range(1, 31):  # 5 simulated minutes
                channel.append_rows([{"i": i}], str(i), str(i))
                channel.flush()
                clock.advance(10)
            channel.wait_for_commit("30", timeout=30)
            stats = client.stats
        emu_stats = emu.stats()
        assert len(emu.rows(DB, SCHEMA, PIPE, "oa")) == 30
    assert stats.retries_401 == 0
    assert emu_stats["oauth_tokens_rejected"] == 0 and emu_stats["expired_tokens_rejected"] == 0
    # 60 s access tokens refreshed at half their life; one per exchange at most.
    assert 5 <= stats.jwt_mints <= stats.scoped_exchanges


def test_a_revoked_client_is_a_typed_error_after_one_refresh(clock: FakeClock) -> None:
    with Emulator(clock=clock, oauth_token_ttl=600, scoped_token_ttl=30) as emu:
        creds = emu.add_oauth_client(ACCOUNT, USER)
        KNOWN_SECRETS.update({creds["client_secret"], creds["refresh_token"]})
        config = _oauth_config(
            emu, oauth_client_id=creds["client_id"], oauth_client_secret=creds["client_secret"]
        )
        with (
            pytest.raises(AuthenticationError, match="invalid_client") as info,
            Client("oa", DB, SCHEMA, PIPE, config=config, clock=clock) as client,
        ):
            channel, _ = client.open_channel("oa")
            emu.revoke_oauth_client(creds["client_id"])
            clock.advance(60)  # the scoped token expires: the access token is refused
            channel.append_rows([{"i": 1}], "1", "1")
            channel.flush()
        # Refused once on the control host; the refresh itself was refused: no second try.
        assert emu.stats()["oauth_tokens_rejected"] >= 1
    assert creds["client_secret"] not in str(info.value)


def test_a_provider_token_refused_twice_is_a_typed_error(clock: FakeClock) -> None:
    with Emulator(clock=clock) as emu:
        calls: list[int] = []

        def provider() -> str:
            calls.append(1)
            return "not-a-token-the-emulator-issued"

        config = _oauth_config(emu, oauth_token_provider=provider)
        with (
            Client("oa", DB, SCHEMA, PIPE, config=config, clock=clock) as client,
            pytest.raises(AuthenticationError) as info,
        ):
            client.open_channel("oa")
    assert info.value.code == "390303"
    assert len(calls) == 2  # 401 -> refreshed once -> 401 -> error
