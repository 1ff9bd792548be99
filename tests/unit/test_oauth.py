"""OAuth access tokens: the grants, the refresh margin, single-flight, refusals (one layer:
the token endpoint is an httpx.MockTransport)."""

from __future__ import annotations

import base64
import threading
from urllib.parse import parse_qs

import httpx
import pytest

from snowpipe_stream import AuthenticationError, ClientConfig, ConfigError
from snowpipe_stream._oauth import OAuthCredential
from snowpipe_stream.testing import FakeClock

from ..conftest import KNOWN_SECRETS

SECRET, REFRESH = "client-secret-value-xyz", "refresh-token-value-abc"
KNOWN_SECRETS.update({SECRET, REFRESH})
URL = "https://acct.snowflakecomputing.com/oauth/token-request"


class Endpoint:
    def __init__(self, ttl: int = 600, rotate: bool = False) -> None:
        self.requests: list[dict[str, str]] = []
        self.auth: list[str] = []
        self.ttl, self.rotate = ttl, rotate
        self.gate: threading.Event | None = None

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if self.gate is not None:
            self.gate.wait(5)
        form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        self.requests.append(form)
        self.auth.append(request.headers.get("authorization", ""))
        n = len(self.requests)
        doc: dict[str, object] = {"access_token": f"access-{n}", "expires_in": self.ttl}
        if self.rotate:
            doc["refresh_token"] = f"rotated-{n}"
        return httpx.Response(200, json=doc)


def _cred(endpoint: Endpoint, clock: FakeClock, **kw: object) -> OAuthCredential:
    return OAuthCredential(
        clock=clock,
        refresh_margin_secs=30,
        token_url=URL,
        client_id="cid",
        client_secret=SECRET,
        transport=httpx.MockTransport(endpoint),
        **kw,  # type: ignore[arg-type]
    )


def test_client_credentials_with_basic_auth_refreshed_at_the_margin() -> None:
    endpoint, clock = Endpoint(ttl=600), FakeClock()
    cred = _cred(endpoint, clock, role="loader")
    assert cred.get_token() == "access-1"
    assert endpoint.requests == [
        {"grant_type": "client_credentials", "scope": "session:role:LOADER"}
    ]
    assert endpoint.auth[0] == "Basic " + base64.b64encode(f"cid:{SECRET}".encode()).decode()
    clock.advance(569)
    assert cred.get_token() == "access-1"  # 31 s left: still fresh
    clock.advance(1)
    assert cred.get_token() == "access-2"  # 30 s left: refreshed
    assert cred.token_type == "OAUTH" and cred.mint_count == 2


def test_refresh_token_grant_keeps_a_rotated_refresh_token() -> None:
    endpoint, clock = Endpoint(rotate=True), FakeClock()
    cred = _cred(endpoint, clock, refresh_token=REFRESH)
    cred.get_token()
    cred.invalidate("access-1")  # the 401 path: the next call refreshes
    assert cred.get_token() == "access-2"
    assert [r["refresh_token"] for r in endpoint.requests] == [REFRESH, "rotated-1"]
    assert all(r["grant_type"] == "refresh_token" for r in endpoint.requests)


def test_single_flight_one_fetch_for_many_threads() -> None:
    endpoint, clock = Endpoint(), FakeClock()
    cred = _cred(endpoint, clock)
    endpoint.gate = threading.Event()
    got: list[str] = []
    threads = [threading.Thread(target=lambda: got.append(cred.get_token())) for _ in range(8)]
    for t in threads:
        t.start()
    endpoint.gate.set()
    for t in threads:
        t.join(5)
    assert got == ["access-1"] * 8 and len(endpoint.requests) == 1


def test_a_refusal_is_a_typed_error_without_secrets() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, json={"error": "invalid_grant"})

    cred = OAuthCredential(
        clock=FakeClock(),
        refresh_margin_secs=30,
        token_url=URL,
        client_id="cid",
        client_secret=SECRET,
        refresh_token=REFRESH,
        transport=httpx.MockTransport(refuse),
    )
    with pytest.raises(AuthenticationError, match="invalid_grant") as info:
        cred.get_token()
    assert info.value.code == "invalid_grant"
    assert SECRET not in str(info.value) and REFRESH not in str(info.value)
    assert SECRET not in repr(cred) and REFRESH not in repr(cred)


def test_a_provider_may_give_the_expiry() -> None:
    clock = FakeClock()
    calls: list[int] = []

    def provider() -> tuple[str, float]:
        calls.append(1)
        return f"provided-{len(calls)}", clock.time() + 100

    cred = OAuthCredential(clock=clock, refresh_margin_secs=30, provider=provider)
    assert cred.get_token() == "provided-1"
    clock.advance(69)
    assert cred.get_token() == "provided-1"
    clock.advance(1)
    assert cred.get_token() == "provided-2"


def test_oauth_settings() -> None:
    config = ClientConfig.from_sources(
        env={
            "SNOWFLAKE_ACCOUNT": "acct",
            "SNOWFLAKE_AUTHORIZATION_TYPE": "OAUTH",
            "SNOWFLAKE_OAUTH_CLIENT_ID": "cid",
            "SNOWFLAKE_OAUTH_CLIENT_SECRET": SECRET,
            "SNOWFLAKE_OAUTH_REFRESH_TOKEN": REFRESH,
        }
    )
    assert config.oauth_token_url == "https://acct.snowflakecomputing.com/oauth/token-request"
    shown = repr(config)
    assert SECRET not in shown and REFRESH not in shown
    assert "oauth_client_secret=<redacted>" in shown
    with pytest.raises(ConfigError, match="oauth_client_secret"):
        ClientConfig(account="acct", authorization_type="OAUTH", oauth_client_id="cid")
    with pytest.raises(ConfigError, match="plain http"):
        ClientConfig(
            account="acct",
            authorization_type="OAUTH",
            oauth_client_id="cid",
            oauth_client_secret=SECRET,
            oauth_token_url="http://idp.example.com/token",
        )
