"""The seed's 401/429 contract and the retry policy, through the real client over MockTransport.

Every scenario runs on the sync Client and on the AsyncClient; time is a FakeClock, so the
2 s back-offs are recorded, not slept.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from snowpipe_stream import (
    APIConnectionError,
    AuthenticationError,
    NotFoundError,
    PermissionDeniedError,
    PrivateKey,
    ServerError,
    ThrottledError,
)
from snowpipe_stream._jwt import mint_jwt
from snowpipe_stream.testing import FakeClock
from tests.clients import run_on_fake
from tests.fakes import CONTROL, FakeSnowflake, Scripted

pytestmark = pytest.mark.parametrize("mode", ["sync", "async"])


run = run_on_fake


async def open_and_append(client: Any) -> Any:
    channel, _ = await client.open_channel("ch1")
    await channel.append_row({"id": 1}, offset_token="1")
    await channel.flush()
    return channel


def bearer(request: Any) -> str:
    return str(request.headers["Authorization"])


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


# --- 401 ---------------------------------------------------------------------------------------


def test_401_then_200_on_append(
    mode: str, rsa_key: PrivateKey, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    fake = FakeSnowflake().then("append", Scripted(401, {"code": "390303", "message": "expired"}))
    run(mode, fake, clock, rsa_key, open_and_append)
    appends = fake.calls("append")
    assert len(appends) == 2
    assert bearer(appends[0]) != bearer(appends[1])
    assert len(fake.calls("token")) == 2  # the scoped token was exchanged anew
    assert any(
        "received 401" in w and "refreshing credentials and retrying" in w
        for w in warnings_of(caplog)
    )
    assert fake.rows["ch1"] == [{"id": 1}]
    assert clock.sleeps == []


def test_401_then_200_on_control_host_uses_a_new_jwt(
    mode: str, rsa_key: PrivateKey, clock: FakeClock
) -> None:
    fake = FakeSnowflake().then(
        "hostname", Scripted(401, {"code": "390144", "message": "JWT token is invalid."})
    )
    run(mode, fake, clock, rsa_key, open_and_append)
    calls = fake.calls("hostname")
    assert len(calls) == 2
    assert bearer(calls[0]) != bearer(calls[1])  # differs within the same second (jti)


def test_401_twice_is_an_authentication_error(
    mode: str, rsa_key: PrivateKey, clock: FakeClock
) -> None:
    body = {"code": "390144", "message": "JWT token is invalid."}
    fake = FakeSnowflake().then("token", Scripted(401, body), Scripted(401, body))
    with pytest.raises(AuthenticationError) as info:
        run(mode, fake, clock, rsa_key, open_and_append)
    assert len(fake.calls("token")) == 2
    err = info.value
    assert err.status_code == 401 and err.code == "390144"
    assert err.error_message == "JWT token is invalid."
    assert rsa_key.fingerprint in str(err) and "RSA_PUBLIC_KEY_FP" in str(err)


def test_401_without_retry_when_disabled(mode: str, rsa_key: PrivateKey, clock: FakeClock) -> None:
    fake = FakeSnowflake().then("hostname", Scripted(401, {"code": "390144"}))
    with pytest.raises(AuthenticationError):
        run(mode, fake, clock, rsa_key, open_and_append, retry_on_unauthorized=False)
    assert len(fake.calls("hostname")) == 1


def test_401_with_a_supplied_jwt_fails_at_once(
    mode: str, rsa_key: PrivateKey, clock: FakeClock
) -> None:
    token, _ = mint_jwt(
        rsa_key, account="myorg-acct", user="svc", now=clock.time(), lifetime_secs=3600
    )
    fake = FakeSnowflake().then("hostname", Scripted(401, {"code": "390144"}))
    with (
        pytest.warns(DeprecationWarning),
        pytest.raises(AuthenticationError, match="supply the private key"),
    ):
        run(mode, fake, clock, rsa_key, open_and_append, jwt=token)
    assert len(fake.calls("hostname")) == 1


# --- 429 ---------------------------------------------------------------------------------------


def test_429_then_200_sleeps_two_seconds(
    mode: str, rsa_key: PrivateKey, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    fake = FakeSnowflake().then("append", Scripted(429, {"code": "THROTTLED"}))
    run(mode, fake, clock, rsa_key, open_and_append)
    assert len(fake.calls("append")) == 2
    assert clock.sleeps == [2.0]
    assert any(
        "received 429" in w and "backing off 2.0 s (attempt 1 of 5)" in w
        for w in warnings_of(caplog)
    )


def test_429_with_larger_retry_after(mode: str, rsa_key: PrivateKey, clock: FakeClock) -> None:
    fake = FakeSnowflake().then("open", Scripted(429, headers={"Retry-After": "5"}))
    run(mode, fake, clock, rsa_key, open_and_append)
    assert clock.sleeps == [5.0]
    assert len(fake.calls("open")) == 2


def test_429_retry_after_is_capped(mode: str, rsa_key: PrivateKey, clock: FakeClock) -> None:
    fake = FakeSnowflake().then(
        "open",
        Scripted(429, headers={"Retry-After": "3600"}),
        Scripted(429, headers={"Retry-After": "1"}),
    )
    run(mode, fake, clock, rsa_key, open_and_append)
    assert clock.sleeps == [60.0, 2.0]  # capped; a smaller hint never shortens the 2 s


def test_429_forever_is_a_throttled_error(mode: str, rsa_key: PrivateKey, clock: FakeClock) -> None:
    fake = FakeSnowflake().then("open", *[Scripted(429)] * 10)
    with pytest.raises(ThrottledError) as info:
        run(mode, fake, clock, rsa_key, open_and_append, max_throttle_retries=3)
    assert len(fake.calls("open")) == 4
    assert clock.sleeps == [2.0, 2.0, 2.0]
    assert info.value.status_code == 429


def test_token_aged_while_backing_off_is_refreshed(
    mode: str, rsa_key: PrivateKey, clock: FakeClock
) -> None:
    # JWT lifetime 30 s (margin 15 s): three 10 s back-offs age it past the margin, so the
    # retry carries a newly minted JWT.
    fake = FakeSnowflake().then("hostname", *[Scripted(429, headers={"Retry-After": "10"})] * 3)
    run(mode, fake, clock, rsa_key, open_and_append, jwt_exp_secs=30)
    calls = fake.calls("hostname")
    assert len(calls) == 4
    assert bearer(calls[0]) == bearer(calls[1]) != bearer(calls[3])


# --- 5xx and connection errors ---------------------------------------------------------------


def test_503_twice_then_200(mode: str, rsa_key: PrivateKey, clock: FakeClock) -> None:
    fake = FakeSnowflake().then("open", Scripted(503), Scripted(503))
    run(mode, fake, clock, rsa_key, open_and_append)
    assert len(fake.calls("open")) == 3
    assert len(clock.sleeps) == 2
    assert 0.25 <= clock.sleeps[0] <= 0.5 and 0.5 <= clock.sleeps[1] <= 1.0  # doubling, jitter


def test_retry_body_code_is_retried(mode: str, rsa_key: PrivateKey, clock: FakeClock) -> None:
    fake = FakeSnowflake().then("status", Scripted(400, "ERR_GENERAL_EXCEPTION_RETRY_REQUEST"))

    async def scenario(client: Any) -> Any:
        await client.open_channel("ch1")
        return await client.get_channel_statuses(["ch1"])

    statuses = run(mode, fake, clock, rsa_key, scenario)
    assert statuses["ch1"].is_valid
    assert len(fake.calls("status")) == 2


def test_5xx_forever_is_a_server_error(mode: str, rsa_key: PrivateKey, clock: FakeClock) -> None:
    fake = FakeSnowflake().then("open", *[Scripted(500)] * 10)
    with pytest.raises(ServerError):
        run(mode, fake, clock, rsa_key, open_and_append, max_server_retries=2)
    assert len(fake.calls("open")) == 3


def test_connection_errors_are_retried_then_raised(
    mode: str, rsa_key: PrivateKey, clock: FakeClock
) -> None:
    fake = FakeSnowflake().then("hostname", *[Scripted(0, action="drop")] * 10)
    with pytest.raises(APIConnectionError, match="discover the ingest host"):
        run(mode, fake, clock, rsa_key, open_and_append, max_server_retries=2)
    assert len(fake.calls("hostname")) == 3


def test_connection_errors_before_any_success_give_up_within_the_initial_deadline(
    mode: str, rsa_key: PrivateKey, clock: FakeClock
) -> None:
    fake = FakeSnowflake().then("hostname", *[Scripted(0, action="drop")] * 10)
    with pytest.raises(APIConnectionError, match="before any successful request") as info:
        run(mode, fake, clock, rsa_key, open_and_append, initial_connect_deadline_secs=2.5)
    assert sum(clock.sleeps) <= 2.5 and 2 <= len(fake.calls("hostname")) < 6
    assert info.value.endpoint == CONTROL + ":443" and info.value.setting == "url"
    assert "ClientConfig.url" in str(info.value) and info.value.retryable


def test_after_a_success_an_outage_keeps_the_whole_retry_budget(
    mode: str, rsa_key: PrivateKey, clock: FakeClock
) -> None:
    # The hostname and token calls succeed; then the open call meets 5 dropped connections.
    fake = FakeSnowflake().then("open", *[Scripted(0, action="drop")] * 5)
    run(mode, fake, clock, rsa_key, open_and_append, initial_connect_deadline_secs=0.1)
    assert len(fake.calls("open")) == 6 and sum(clock.sleeps) > 3


# --- other 4xx: typed at once ---------------------------------------------------------------


@pytest.mark.parametrize(("status", "error"), [(403, PermissionDeniedError), (404, NotFoundError)])
def test_other_4xx_fail_at_once(
    mode: str, rsa_key: PrivateKey, clock: FakeClock, status: int, error: type[Exception]
) -> None:
    fake = FakeSnowflake().then(
        "open",
        Scripted(
            status,
            {"error_code": "ERR_PIPE_DOES_NOT_EXIST_OR_NOT_AUTHORIZED", "message": "no such pipe"},
        ),
    )
    with pytest.raises(error, match="ERR_PIPE_DOES_NOT_EXIST_OR_NOT_AUTHORIZED: no such pipe"):
        run(mode, fake, clock, rsa_key, open_and_append)
    assert len(fake.calls("open")) == 1
