"""OAuth access tokens as the control-host credential.

Sent as ``Authorization: Bearer <access token>`` with
``X-Snowflake-Authorization-Token-Type: OAUTH`` (the REST reference's "JWT/OAuth" token types;
https://docs.snowflake.com/en/user-guide/snowpipe-streaming/snowpipe-streaming-high-performance-rest-api)
on the control host, and exchanged for the scoped token like a JWT. Where the access token
comes from:

* ``oauth_token_provider``: a callable returning the token (or ``(token, expires_at)``),
  obtained elsewhere; called again when the token is near its end or after a 401.
* The refresh-token grant (``oauth_client_id``, ``oauth_client_secret``,
  ``oauth_refresh_token``: the official SDK's profile keys,
  https://docs.snowflake.com/en/user-guide/snowpipe-streaming/snowpipe-streaming-classic-configuration)
  or the client-credentials grant (no refresh token), against ``oauth_token_url``: by default
  Snowflake OAuth's token endpoint, ``<account URL>/oauth/token-request``
  (https://docs.snowflake.com/en/user-guide/oauth-custom). RFC 6749 §4.4 / §6, client
  authenticated with HTTP Basic (§2.3.1); a rotated refresh token in the answer replaces ours.

Refreshed by the JWT's rule (when ``jwt_refresh_margin_secs`` or less is left, half the
lifetime for short tokens), single-flight (one thread fetches, the rest wait for its token),
and after a 401 once; a second 401 is an :class:`AuthenticationError`. The token endpoint's
refusal is an :class:`AuthenticationError` naming the grant and the OAuth ``error`` code.
Secrets are never logged: lengths and expiries only.
"""

from __future__ import annotations

import base64
import logging
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import msgspec

from ._clock import Clock
from ._config import is_loopback
from ._exceptions import AuthenticationError, ConfigError
from ._jwt import claim_seconds, effective_margin, read_claims_unverified
from ._tokens import TokenState, token_state

__all__ = ["OAUTH_TOKEN_TYPE", "OAuthCredential", "OAuthTokenProvider"]

_log = logging.getLogger("snowpipe_stream.auth")

OAUTH_TOKEN_TYPE = "OAUTH"
#: What a provider returns: the access token, or ``(token, expires_at epoch seconds)``.
OAuthTokenProvider = Callable[[], "str | tuple[str, float]"]
#: Lifetime assumed for a token whose expiry nobody tells (Snowflake OAuth's is 10 minutes).
DEFAULT_OAUTH_TTL_SECS = 600.0


class OAuthCredential:
    """An OAuth access token kept fresh."""

    token_type = OAUTH_TOKEN_TYPE

    def __init__(
        self,
        *,
        clock: Clock,
        refresh_margin_secs: float,
        provider: OAuthTokenProvider | None = None,
        token_url: str | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        refresh_token: str | None = None,
        role: str | None = None,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if provider is None and not (token_url and client_id and client_secret):
            raise ConfigError(
                "authorization_type OAUTH needs oauth_token_provider, or oauth_client_id and "
                "oauth_client_secret (with oauth_refresh_token for the refresh-token grant)"
            )
        self._clock = clock
        self._margin = refresh_margin_secs
        self._provider = provider
        self._url = token_url
        self._client_id = client_id
        self._client_secret = client_secret
        self._refresh_token = refresh_token
        self._role = role
        self._timeout = timeout
        self._transport = transport
        self._lock = threading.Lock()
        self._cached: tuple[str, float, float] | None = None  # token, expires_at, margin
        self.fetches = 0

    @property
    def grant(self) -> str:
        if self._provider is not None:
            return "provider"
        return "refresh_token" if self._refresh_token else "client_credentials"

    @property
    def can_refresh(self) -> bool:
        return True

    @property
    def mint_count(self) -> int:
        return self.fetches

    @property
    def expires_at(self) -> float | None:
        cached = self._cached
        return cached[1] if cached is not None else None

    def state(self) -> TokenState:
        cached = self._cached
        if cached is None:
            return TokenState.INVALID
        return token_state(cached[1], self._clock.time(), cached[2])

    def unauthorized_hint(self) -> str:
        where = (
            "the oauth_token_provider's token"
            if self._provider is not None
            else f"the access token from {self._url} ({self.grant} grant)"
        )
        return (
            f"Snowflake refused {where} also after a refresh: check that the security "
            "integration is enabled and that the token's user may use this pipe's role"
        )

    # --- the two verbs --------------------------------------------------------------------

    def get_token(self) -> str:
        cached = self._cached
        if cached is not None and cached[1] - self._clock.time() > cached[2]:
            return cached[0]
        with self._lock:  # single-flight: the others wait here and take its token
            cached = self._cached
            if cached is not None and cached[1] - self._clock.time() > cached[2]:
                return cached[0]
            return self._fetch()

    def invalidate(self, token: str | None = None) -> None:
        with self._lock:
            cached = self._cached
            if cached is not None and (token is None or cached[0] == token):
                self._cached = None

    # --- internals ------------------------------------------------------------------------

    def _fetch(self) -> str:
        now = self._clock.time()
        if self._provider is not None:
            got = self._provider()
            token, expires_at = (got, None) if isinstance(got, str) else got
            if not isinstance(token, str) or not token.strip():
                raise ConfigError("oauth_token_provider must return a non-empty token string")
            token = token.strip()
            if expires_at is None:
                claims = read_claims_unverified(token)
                expires_at = claim_seconds(claims.get("exp")) if claims else None
        else:
            token, expires_at = self._grant(now)
        if expires_at is None:
            expires_at = now + DEFAULT_OAUTH_TTL_SECS
        lifetime = max(expires_at - now, 0.0)
        margin = effective_margin(self._margin, int(lifetime)) if lifetime >= 1 else 0.0
        self._cached = (token, float(expires_at), margin)
        self.fetches += 1
        _log.info(
            "OAuth access token refreshed (%s, %d chars, expires in %.0f s)",
            self.grant,
            len(token),
            lifetime,
        )
        return token

    def _grant(self, now: float) -> tuple[str, float | None]:
        assert self._url and self._client_id and self._client_secret
        form: dict[str, str] = (
            {"grant_type": "refresh_token", "refresh_token": self._refresh_token}
            if self._refresh_token
            else {"grant_type": "client_credentials"}
        )
        if self._role:
            form["scope"] = f"session:role:{self._role.strip().upper()}"
        basic = base64.b64encode(
            f"{quote(self._client_id, safe='')}:{quote(self._client_secret, safe='')}".encode()
        ).decode("ascii")
        # A client per fetch (one per token lifetime): nothing to close when the client is.
        with self._client() as http:
            resp = http.post(
                self._url,
                data=form,
                headers={"Authorization": f"Basic {basic}", "Accept": "application/json"},
            )
        doc = _json_object(resp.content)
        if resp.status_code != 200 or not isinstance(doc.get("access_token"), str):
            error = doc.get("error") if isinstance(doc.get("error"), str) else None
            raise AuthenticationError(
                f"the OAuth token endpoint {self._url} refused the {self.grant} grant "
                f"(HTTP {resp.status_code}{', ' + error if error else ''}): check "
                "oauth_client_id and oauth_client_secret"
                + (", and that oauth_refresh_token is still valid" if self._refresh_token else ""),
                status_code=resp.status_code if resp.status_code >= 400 else 401,
                code=error,
            )
        rotated = doc.get("refresh_token")
        if isinstance(rotated, str) and rotated and rotated != self._refresh_token:
            self._refresh_token = rotated
            _log.info("OAuth refresh token rotated by the token endpoint")
        expires_in = doc.get("expires_in")
        expires_at = (
            now + float(expires_in)
            if isinstance(expires_in, int | float) and not isinstance(expires_in, bool)
            else None
        )
        return doc["access_token"].strip(), expires_at

    def _client(self) -> httpx.Client:
        assert self._url is not None
        if self._transport is not None:
            return httpx.Client(transport=self._transport, timeout=self._timeout)
        tls = httpx.create_ssl_context()  # honours SSL_CERT_FILE, as the transport's
        if is_loopback(urlsplit(self._url).hostname or ""):
            # As the transport does: a loopback host is never reached through a proxy.
            return httpx.Client(transport=httpx.HTTPTransport(verify=tls), timeout=self._timeout)
        return httpx.Client(verify=tls, timeout=self._timeout)

    def __repr__(self) -> str:
        return (
            f"OAuthCredential(grant={self.grant!r}, url={self._url!r}, "
            f"client_id={self._client_id!r}, expires_at={self.expires_at})"
        )


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        doc = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return {}
    return doc if isinstance(doc, dict) else {}
