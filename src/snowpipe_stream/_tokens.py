"""Credentials that stay fresh: the key-pair JWT manager and the supplied-JWT stand-in.

A :class:`JwtManager` caches one JWT and mints a new one when there is none, when the cached
one has ``refresh_margin_secs`` or less left, or after :meth:`~JwtManager.invalidate` (the 401
path). Minting is single-flight: when many threads find the token stale at once, one signs and
the rest wait on the lock and take its token. The lock is held only while signing (CPU work,
about a millisecond), never across a request to Snowflake; a ``private_key_provider`` is called
under it too, so a secret manager is asked once however many threads need a new JWT.
"""

from __future__ import annotations

import enum
import logging
import threading
from typing import NamedTuple, Protocol

from ._clock import SYSTEM_CLOCK, Clock
from ._constants import DEFAULT_JWT_LIFETIME_SECS, DEFAULT_JWT_REFRESH_MARGIN_SECS
from ._credentials import KeySource
from ._exceptions import ConfigError
from ._jwt import (
    claim_seconds,
    clamp_lifetime,
    effective_margin,
    mint_jwt,
    normalize_account,
    normalize_user,
    read_claims_unverified,
)
from ._keys import PrivateKey
from ._logfields import log_fields

__all__ = ["CredentialProvider", "JwtManager", "SuppliedJwt", "TokenState", "token_state"]

_log = logging.getLogger("snowpipe_stream.auth")


class TokenState(enum.Enum):
    """How usable a cached token is at a given moment."""

    #: More than the margin left: use it.
    FRESH = "fresh"
    #: Still valid but within the margin: refresh now, before it expires in flight.
    STALE = "stale"
    #: Missing, expired or invalidated: must refresh.
    INVALID = "invalid"


def token_state(expires_at: float | None, now: float, margin: float) -> TokenState:
    """Classify a token by its expiry (pure)."""
    if expires_at is None or expires_at <= now:
        return TokenState.INVALID
    if expires_at - now <= margin:
        return TokenState.STALE
    return TokenState.FRESH


class _Cached(NamedTuple):
    token: str
    expires_at: float


class CredentialProvider(Protocol):
    """What the transport needs from a control-host credential."""

    #: ``X-Snowflake-Authorization-Token-Type`` of its tokens on the control host.
    token_type: str

    @property
    def can_refresh(self) -> bool: ...

    def unauthorized_hint(self) -> str:
        """What to check when the control host still answers 401 after a refresh."""
        ...

    @property
    def mint_count(self) -> int: ...

    def get_token(self) -> str: ...

    def invalidate(self, token: str | None = None) -> None: ...


class JwtManager:
    """Mints key-pair JWTs and keeps one fresh.

    Args:
        account: the account identifier in any spelling (``myorg-acct``, ``xy12345.us-east-1``,
            an account URL); normalized for the claims.
        user: the Snowflake user the public key is registered on.
        private_key: the signing key, or a :class:`KeySource` (a file re-read when it
            changes, a provider) that renews it: checked before each use, before each mint,
            and before the retry of a 401.
        lifetime_secs: requested token lifetime; clamped into [30, 3600] with one warning.
        refresh_margin_secs: refresh when this many seconds or fewer are left; lowered to half
            the lifetime, with one warning, when it is not below it.
        role: adds ``scp = session:role:<ROLE>`` to the claims.
        clock: time source (tests pass a ``FakeClock``).
    """

    def __init__(
        self,
        account: str,
        user: str,
        private_key: PrivateKey | KeySource,
        lifetime_secs: float = DEFAULT_JWT_LIFETIME_SECS,
        refresh_margin_secs: float = DEFAULT_JWT_REFRESH_MARGIN_SECS,
        clock: Clock | None = None,
        *,
        role: str | None = None,
    ) -> None:
        if not account or not account.strip():
            raise ConfigError("account is required to mint a key-pair JWT")
        if not user or not user.strip():
            raise ConfigError("user is required to mint a key-pair JWT")
        if isinstance(private_key, PrivateKey):
            private_key = KeySource(private_key)
        if not isinstance(private_key, KeySource):
            raise ConfigError(
                "private_key must be a PrivateKey (PrivateKey.from_file(path) or from_pem(text))"
            )
        _check_number("jwt_exp_secs", lifetime_secs)
        _check_number("jwt_refresh_margin_secs", refresh_margin_secs)
        if refresh_margin_secs < 0:
            raise ConfigError(
                f"jwt_refresh_margin_secs must not be negative (got {refresh_margin_secs!r})"
            )
        self._account = account
        self._user = user
        self._source = private_key
        self._role = role
        self._clock = clock or SYSTEM_CLOCK
        self.given_lifetime_secs = lifetime_secs
        self.lifetime_secs = clamp_lifetime(lifetime_secs)
        if self.lifetime_secs != lifetime_secs:
            _log.warning(
                "jwt_exp_secs=%s is outside [30, 3600]; using %d seconds",
                lifetime_secs,
                self.lifetime_secs,
            )
        self.refresh_margin_secs = effective_margin(refresh_margin_secs, self.lifetime_secs)
        if self.refresh_margin_secs != refresh_margin_secs:
            _log.warning(
                "jwt_refresh_margin_secs=%s is not below the token lifetime of %d s; "
                "using %s seconds (half the lifetime)",
                refresh_margin_secs,
                self.lifetime_secs,
                self.refresh_margin_secs,
            )
        self._lock = threading.Lock()
        self._cached: _Cached | None = None
        self._invalidated = False
        self._mints = 0

    token_type = "KEYPAIR_JWT"

    # --- read-only state ------------------------------------------------------------------

    @property
    def can_refresh(self) -> bool:
        return True

    def unauthorized_hint(self) -> str:
        return (
            f"Check that the key with fingerprint {self.fingerprint} is registered on user "
            f"{self.claims_user} of account {self.claims_account} (DESC USER shows "
            "RSA_PUBLIC_KEY_FP and RSA_PUBLIC_KEY_2_FP), and that this machine's clock is right"
        )

    @property
    def expires_at(self) -> float | None:
        """Epoch seconds at which the cached token expires, or None before the first mint."""
        cached = self._cached
        return cached.expires_at if cached is not None else None

    @property
    def mint_count(self) -> int:
        """How many JWTs this manager has signed."""
        return self._mints

    @property
    def fingerprint(self) -> str:
        """The fingerprint of the key new JWTs are signed with."""
        return self._source.key.fingerprint

    @property
    def key_source(self) -> KeySource:
        return self._source

    @property
    def claims_account(self) -> str:
        """The account as it goes into ``iss``/``sub``."""
        return normalize_account(self._account)

    @property
    def claims_user(self) -> str:
        return normalize_user(self._user)

    def state(self) -> TokenState:
        cached = self._cached
        if cached is None or self._invalidated:
            return TokenState.INVALID
        return token_state(cached.expires_at, self._clock.time(), self.refresh_margin_secs)

    # --- the two verbs --------------------------------------------------------------------

    def get_token(self) -> str:
        """A JWT with more than the margin left, minting one only when needed.

        A key file that changed (one ``stat``) drops the cached JWT, so no request leaves
        signed with a key that was replaced."""
        if self._source.poll():
            self._drop("key changed")
        cached = self._cached
        if cached is not None:
            remaining = cached.expires_at - self._clock.time()
            if remaining > self.refresh_margin_secs:
                if _log.isEnabledFor(logging.DEBUG):
                    _log.debug("reusing cached JWT (%.0f s left)", remaining)
                return cached.token
        with self._lock:
            # Another thread may have minted while we waited for the lock.
            cached = self._cached
            now = self._clock.time()
            if cached is not None and cached.expires_at - now > self.refresh_margin_secs:
                return cached.token
            return self._mint(now, cached)

    def invalidate(self, token: str | None = None) -> None:
        """Drop the cached token so the next :meth:`get_token` mints anew (after a 401).

        With ``token``, only when it is still the cached one: when several requests fail with
        the same token, the first invalidation wins and the rest reuse the fresh token.
        """
        with self._lock:
            cached = self._cached
            if cached is None or (token is not None and cached.token != token):
                return
            self._cached = None
            self._invalidated = True
            # The key may have been rotated under us: look at its source before the retry.
            self._source.after_unauthorized()

    def _drop(self, why: str) -> None:
        with self._lock:
            if self._cached is not None:
                self._cached = None
                self._invalidated = True
                _log.debug("cached JWT dropped (%s)", why)

    # --- internals ------------------------------------------------------------------------

    def _mint(self, now: float, old: _Cached | None) -> str:
        if self._invalidated:
            reason, remaining = "invalidated", None
        elif old is None:
            reason, remaining = "initial", None
        else:
            remaining = old.expires_at - now
            reason = "margin" if remaining > 0 else "expired"
        self._source.at_mint()
        key = self._source.key
        token, expires_at = mint_jwt(
            key,
            account=self._account,
            user=self._user,
            now=now,
            lifetime_secs=self.lifetime_secs,
            role=self._role,
        )
        self._mints += 1
        self._invalidated = False
        self._cached = _Cached(token, expires_at)
        _log.info(
            "JWT refreshed (reason=%s, remaining TTL=%s, margin=%gs, lifetime=%ds, fingerprint=%s)",
            reason,
            "none" if remaining is None else f"{remaining:.0f}s",
            self.refresh_margin_secs,
            self.lifetime_secs,
            key.fingerprint,
            extra=log_fields(fingerprint=key.fingerprint),
        )
        return token

    def __repr__(self) -> str:
        return (
            f"JwtManager(account={self.claims_account!r}, user={self.claims_user!r}, "
            f"fingerprint={self.fingerprint!r}, lifetime_secs={self.lifetime_secs}, "
            f"refresh_margin_secs={self.refresh_margin_secs}, mints={self._mints})"
        )


class SuppliedJwt:
    """A JWT the user minted themselves (deprecated): used as is, never refreshed."""

    token_type = "KEYPAIR_JWT"

    def __init__(self, token: str) -> None:
        self._token = token.strip()
        claims = read_claims_unverified(self._token)
        self.expires_at: float | None = claim_seconds(claims.get("exp")) if claims else None

    @property
    def can_refresh(self) -> bool:
        return False

    def unauthorized_hint(self) -> str:
        return (
            "The JWT was supplied by you and cannot be refreshed: supply the private key "
            "instead (private_key_file=... or SNOWFLAKE_PRIVATE_KEY_PATH)"
        )

    @property
    def mint_count(self) -> int:
        return 0

    def get_token(self) -> str:
        return self._token

    def invalidate(self, token: str | None = None) -> None:
        # Nothing to refresh: the caller turns the 401 into an error that says so.
        return None

    def __repr__(self) -> str:
        return f"SuppliedJwt(<redacted, {len(self._token)} chars>, expires_at={self.expires_at})"


def _check_number(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{name} must be a number of seconds (got {type(value).__name__})")
    if value != value:  # NaN
        raise ConfigError(f"{name} must be a number of seconds (got NaN)")


#: The scoped token is never exchanged again sooner than this after the last exchange, except
#: after a 401 (a misjudged clock must not turn every request into an exchange).
MIN_EXCHANGE_INTERVAL_SECS = 5.0


class ScopedTokenCache:
    """The scoped ingest token: state only; the shells fetch it (single-flight) when stale.

    ``now`` is the server's time as the client estimates it (the token's ``exp`` is the
    server's); ``mono`` the local monotonic clock, for the floor between two exchanges.
    """

    def __init__(
        self, refresh_margin_secs: float, min_interval_secs: float = MIN_EXCHANGE_INTERVAL_SECS
    ) -> None:
        self._margin = refresh_margin_secs
        self._floor = min_interval_secs
        # (token, expires_at, the margin that applies to this token, monotonic time of set)
        self._cached: tuple[str, float, float, float] | None = None
        self._lock = threading.Lock()

    def fresh(self, now: float, mono: float | None = None) -> str | None:
        """The cached token when it has more than its margin left (or was exchanged less than
        the floor ago and has not expired), else None."""
        cached = self._cached
        if cached is None:
            return None
        left = cached[1] - now
        if left > cached[2]:
            return cached[0]
        if mono is not None and left > 0 and mono - cached[3] < self._floor:
            return cached[0]
        return None

    def set(self, token: str, expires_at: float, now: float, mono: float = 0.0) -> None:
        # A token that lives shorter than twice the margin would be refreshed on every call:
        # for it, refresh at half its life instead.
        margin = min(self._margin, max((expires_at - now) / 2, 0.0))
        self._cached = (token, expires_at, margin, mono)

    def invalidate(self, token: str | None = None) -> None:
        """Forget the token (when ``token`` is given, only if it is still the cached one)."""
        with self._lock:
            cached = self._cached
            if cached is not None and (token is None or cached[0] == token):
                self._cached = None
