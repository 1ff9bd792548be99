"""No private key, passphrase or token in any repr, str or error message.

(The autouse fixture in tests/conftest.py already fails any test whose log records hold one.)
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from snowpipe_stream import (
    AsyncClient,
    AuthenticationError,
    ChannelInvalidatedError,
    Client,
    ClientConfig,
    JwtManager,
    PrivateKey,
    PrivateKeyError,
    SnowpipeError,
)
from snowpipe_stream._jwt import mint_jwt
from snowpipe_stream.testing import FakeClock
from tests.conftest import KEYS, PASSPHRASE, find_secrets
from tests.fakes import CONTROL, FakeSnowflake, Scripted

ENCRYPTED_PEM = (KEYS / "rsa_key_aes.p8").read_text()


def clean(*objects: object, extra: tuple[str, ...] = ()) -> None:
    for obj in objects:
        for text in (repr(obj), str(obj)):
            assert find_secrets(text) == [], text
            assert "MII" not in text, text  # base64 of DER key material
            for secret in extra:
                assert secret not in text, text


def test_reprs_of_every_public_object(rsa_key: PrivateKey) -> None:
    clock = FakeClock()
    fake = FakeSnowflake(scoped_key=PrivateKey.generate())
    config = ClientConfig(
        account="a",
        user="u",
        private_key=ENCRYPTED_PEM,
        private_key_passphrase=PASSPHRASE,
        url=CONTROL,
    )
    jm = JwtManager("a", "u", rsa_key, clock=clock)
    token = jm.get_token()
    with Client(
        "app", "DB", "S", "P", config=config, transport=fake.mock(), clock=clock, max_client_lag=0
    ) as client:
        channel, status = client.open_channel("ch")
        channel.append_row({"a": 1})
        channel.flush()
        scoped = fake.calls("append")[0].headers["Authorization"][7:]
        clean(
            client,
            channel,
            status,
            client.stats,
            config,
            config.key,
            jm,
            rsa_key,
            extra=(token, scoped, PASSPHRASE),
        )

    async def async_side() -> Any:
        async with AsyncClient(
            "app",
            "DB",
            "S",
            "P",
            config=config,
            transport=fake.async_mock(),
            clock=clock,
            max_client_lag=0,
        ) as aclient:
            achannel, _ = await aclient.open_channel("ach")
            clean(aclient, achannel, extra=(PASSPHRASE,))

    asyncio.run(async_side())


def test_supplied_jwt_is_redacted(rsa_key: PrivateKey) -> None:
    token, _ = mint_jwt(rsa_key, account="a", user="u", now=2e9, lifetime_secs=600)
    with pytest.warns(DeprecationWarning) as warned:
        config = ClientConfig(account="a", user="u", jwt=token)
    clean(config, *[w.message for w in warned], extra=(token,))


def _errors(rsa_key: PrivateKey) -> list[SnowpipeError]:
    errors: list[SnowpipeError] = []
    clock = FakeClock()
    try:
        PrivateKey.from_pem(ENCRYPTED_PEM, "not-the-passphrase")
    except PrivateKeyError as exc:
        errors.append(exc)
    try:
        ClientConfig.from_sources(
            env={
                "SNOWFLAKE_PRIVATE_KEY": ENCRYPTED_PEM,
                "SNOWFLAKE_PRIVATE_KEY_PASSPHRASE": "wrong-" + PASSPHRASE,
            },
            account="a",
            user="u",
        )
    except PrivateKeyError as exc:
        errors.append(exc)
    fake = FakeSnowflake().then(
        "append", Scripted(401, {"code": "390303"}), Scripted(401, {"code": "390303"})
    )
    with Client(
        "app",
        "DB",
        "S",
        "P",
        account="a",
        user="u",
        private_key=rsa_key,
        url=CONTROL,
        transport=fake.mock(),
        clock=clock,
        max_client_lag=0,
    ) as client:
        channel, _ = client.open_channel("ch")
        channel.append_row({"a": 1})
        try:
            channel.flush()
        except AuthenticationError as exc:
            errors.append(exc)
        fake.status_code["ch"] = "ERR_TABLE_DOES_NOT_EXIST_NOT_AUTHORIZED"
        try:
            channel.wait_for_commit("1", timeout=5)
        except ChannelInvalidatedError as exc:
            errors.append(exc)
        try:
            client.close()  # the row is not committed: close says so
        except ChannelInvalidatedError as exc:
            errors.append(exc)
        bearers = {r.headers["Authorization"] for r in fake.requests}
    for err in errors:
        clean(err, extra=(PASSPHRASE, *bearers, *(b[7:] for b in bearers)))
    return errors


def test_error_messages(rsa_key: PrivateKey) -> None:
    errors = _errors(rsa_key)
    assert [type(e).__name__ for e in errors] == [
        "PrivateKeyError",
        "PrivateKeyError",
        "AuthenticationError",
        "ChannelInvalidatedError",
        "ChannelInvalidatedError",
    ]


PAT_SECRET = "ver:1-hint:99-pat-secret-that-must-not-leak"


def test_pat_settings_credential_and_errors_hide_the_token(tmp_path: Any) -> None:
    """The PAT (a string or a file) never shows in a repr, an error or a log record."""
    from snowpipe_stream._authorization import build_credential
    from tests.conftest import KNOWN_SECRETS

    KNOWN_SECRETS.add(PAT_SECRET)
    clock = FakeClock()
    config = ClientConfig(
        account="a", url=CONTROL, authorization_type="PAT", personal_access_token=PAT_SECRET
    )
    pat_file = tmp_path / "pat.txt"
    pat_file.write_text(PAT_SECRET)
    file_config = ClientConfig(account="a", url=CONTROL, personal_access_token_file=str(pat_file))
    fake = FakeSnowflake().then(
        "hostname", Scripted(401, {"code": "394400"}), Scripted(401, {"code": "394400"})
    )
    errors: list[SnowpipeError] = []
    with Client("app", "DB", "S", "P", config=config, transport=fake.mock(), clock=clock) as client:
        try:
            client.open_channel("ch")
        except AuthenticationError as exc:
            errors.append(exc)
        sent = {r.headers["X-Snowflake-Authorization-Token-Type"] for r in fake.requests}
        clean(client, extra=(PAT_SECRET,))
    assert sent == {"PROGRAMMATIC_ACCESS_TOKEN"}
    assert len(errors) == 1 and "ROTATE PAT" in str(errors[0])
    clean(
        config,
        file_config,
        build_credential(config, clock),
        build_credential(file_config, clock),
        *errors,
        extra=(PAT_SECRET,),
    )


def test_oauth_secrets_stay_out_of_reprs_and_refusals() -> None:
    import httpx

    from snowpipe_stream._authorization import build_credential
    from snowpipe_stream._oauth import OAuthCredential
    from tests.conftest import KNOWN_SECRETS

    secret, refresh = "oauth-client-secret-do-not-leak", "oauth-refresh-token-do-not-leak"
    KNOWN_SECRETS.update({secret, refresh})
    config = ClientConfig(
        account="a",
        url=CONTROL,
        authorization_type="OAUTH",
        oauth_client_id="cid",
        oauth_client_secret=secret,
        oauth_refresh_token=refresh,
    )
    refused = OAuthCredential(
        clock=FakeClock(),
        refresh_margin_secs=30,
        token_url=config.oauth_token_url,
        client_id="cid",
        client_secret=secret,
        refresh_token=refresh,
        transport=httpx.MockTransport(lambda r: httpx.Response(401, json={"error": "x"})),
    )
    with pytest.raises(AuthenticationError) as info:
        refused.get_token()
    clean(
        config, build_credential(config, FakeClock()), refused, info.value, extra=(secret, refresh)
    )
