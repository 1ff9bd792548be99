"""One frozen configuration object, built from a profile file, the environment and arguments.

Precedence, lowest first: a profile JSON file (the keys of Snowflake's official SDK
``profile.json``: ``account``, ``user``, ``url``, ``private_key``, ``private_key_file``,
``private_key_passphrase``, ``role``; plus every key of ours), ``SNOWFLAKE_*`` environment
variables, then keyword arguments. Every bad value raises :class:`ConfigError` naming the key
(and the variable or file it came from) and what is accepted. Secrets never appear in ``repr``.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import logging
import math
import os
import re
import ssl
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from . import _constants as C
from ._clock import SYSTEM_CLOCK
from ._exceptions import ConfigError, PrivateKeyError
from ._jwt import claim_seconds, read_claims_unverified
from ._keys import PrivateKey

__all__ = ["ENV_VARS", "ClientConfig", "is_loopback", "parse_size", "require_safe_url"]

_log = logging.getLogger("snowpipe_stream.auth")

_MIGRATION = (
    "a user-supplied JWT is deprecated: it cannot be refreshed, so a long-running job stops "
    "when it expires. Give the private key instead (private_key_file=... or "
    "SNOWFLAKE_PRIVATE_KEY_PATH) and the library mints and refreshes JWTs itself"
)

#: Environment variables read by :meth:`ClientConfig.from_sources`, and the key each sets.
#: Every other key ``k`` is also read from ``SNOWFLAKE_<K>`` (upper case).
ENV_VARS: dict[str, str] = {
    "SNOWFLAKE_ACCOUNT": "account",
    "SNOWFLAKE_USER": "user",
    "SNOWFLAKE_USERNAME": "user",
    "SNOWFLAKE_URL": "url",
    "SNOWFLAKE_PRIVATE_KEY": "private_key",
    "SNOWFLAKE_PRIVATE_KEY_PATH": "private_key_file",
    "SNOWFLAKE_PRIVATE_KEY_FILE": "private_key_file",
    "SNOWFLAKE_PRIVATE_KEY_PASSPHRASE": "private_key_passphrase",
    "SNOWFLAKE_ROLE": "role",
    "SNOWFLAKE_JWT_TOKEN": "jwt",
}

#: Settings that hold secrets (never logged, shown as *** in reprs).
SECRET_SETTINGS = _SECRET_KEYS = frozenset(
    {
        "private_key",
        "private_key_passphrase",
        "jwt",
        "jwt_token",
        "personal_access_token",
        "oauth_client_secret",
        "oauth_refresh_token",
    }
)
#: How the client authenticates to the control host (the official SDK's ``authorization_type``).
AUTHORIZATION_TYPES = ("JWT", "PAT", "OAUTH")
#: Settings taken as a group from the highest layer that gives any of them.
_SOURCE_GROUPS = (
    ("private_key", "private_key_file"),
    ("personal_access_token", "personal_access_token_file"),
)


#: Size units: decimal (KB = 1000 bytes) and binary (KiB = 1024 bytes).
_UNITS = {
    "": 1,
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
}
_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*", re.IGNORECASE)


def parse_size(text: str) -> int:
    """Bytes from ``"4194304"``, ``"4MiB"``, ``"512KB"``, ``"1.5 MB"`` (KB = 1000, KiB = 1024);
    ValueError naming the accepted forms otherwise."""
    match = _SIZE.fullmatch(text)
    unit = match.group(2).lower() if match else ""
    if match is None or unit not in _UNITS:
        raise ValueError(
            f"{text!r} is not a size: give bytes, or a number with KB, MB, GB (1000) or "
            "KiB, MiB, GiB (1024), like 4MiB"
        )
    size = float(match.group(1)) * _UNITS[unit]
    if not size.is_integer():
        raise ValueError(f"{text!r} is not a whole number of bytes")
    return int(size)


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ``::1``): this machine."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def require_safe_url(url: str, *, allow_insecure_http: bool, what: str) -> None:
    """The one rule for every URL a credential is sent to: the configured ``url`` and the
    ingest URL built from the hostname answer alike.

    https is always accepted; plain http only to a loopback host (:func:`is_loopback`), or to
    any host with ``allow_insecure_http``. Otherwise :class:`ConfigError`, naming ``what``, the
    host and the fix: the fix is a setting, whoever supplied the host.
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme == "http" and not is_loopback(host) and not allow_insecure_http:
        raise ConfigError(
            f"{what} uses plain http:// to a remote host ({host}); tokens would travel "
            "unencrypted. Use https://, or set allow_insecure_http=True for a test server you "
            "trust"
        )


@dataclass(frozen=True, repr=False)
class ClientConfig:
    """Everything a client needs to reach Snowflake and how it behaves.

    Build it directly (``ClientConfig(account=..., user=..., private_key_file=...)``) or with
    :meth:`from_sources`. ``private_key`` accepts a :class:`PrivateKey`, PEM text or base64 DER;
    it is loaded at construction, so a bad key fails here and not mid-stream.
    """

    account: str | None = None
    user: str | None = None
    url: str | None = None
    private_key: PrivateKey | str | bytes | None = None
    private_key_file: str | None = None
    private_key_passphrase: str | None = None
    #: A callable returning the current :class:`PrivateKey` (a secret manager): called at
    #: start, before each new JWT and before the retry of a 401, so a rotated key is picked up.
    private_key_provider: Callable[[], PrivateKey] | None = None
    role: str | None = None
    #: ``"JWT"`` (key pair, the default), ``"PAT"`` (programmatic access token) or ``"OAUTH"``.
    #: Without it, a configured PAT and no private key means ``"PAT"``.
    authorization_type: str | None = None
    #: The PAT secret (the official SDK's key name); or keep it in ``personal_access_token_file``,
    #: which is re-read when it changes (rotation without a restart).
    personal_access_token: str | None = None
    personal_access_token_file: str | None = None
    #: When the PAT expires (epoch seconds or ISO 8601, as SHOW USER PROGRAMMATIC ACCESS TOKENS
    #: shows it), for the expiry warning when the secret itself does not tell.
    personal_access_token_expires_at: float | str | None = None
    #: OAUTH: a callable returning an access token (or ``(token, expires_at)``) obtained
    #: elsewhere; or the grants below against ``oauth_token_url`` (default: Snowflake OAuth's
    #: ``<url>/oauth/token-request``): refresh-token with ``oauth_refresh_token``, else
    #: client-credentials.
    oauth_token_provider: Callable[[], str | tuple[str, float]] | None = None
    oauth_token_url: str | None = None
    oauth_client_id: str | None = None
    oauth_client_secret: str | None = None
    oauth_refresh_token: str | None = None
    #: Deprecated: a JWT minted by the caller. Works, but cannot be refreshed.
    jwt: str | None = None
    #: Alias of ``jwt``.
    jwt_token: str | None = None
    jwt_exp_secs: float = C.DEFAULT_JWT_LIFETIME_SECS
    jwt_refresh_margin_secs: float = C.DEFAULT_JWT_REFRESH_MARGIN_SECS
    retry_on_unauthorized: bool = C.DEFAULT_RETRY_ON_UNAUTHORIZED
    throttle_backoff_secs: float = C.DEFAULT_THROTTLE_BACKOFF_SECS
    max_throttle_retries: int = C.DEFAULT_MAX_THROTTLE_RETRIES
    max_server_retries: int = C.DEFAULT_SERVER_ERROR_RETRIES
    retry_deadline_secs: float = C.DEFAULT_RETRY_DEADLINE_SECS
    #: Until the first successful request, connection failures are retried this long only.
    initial_connect_deadline_secs: float = C.DEFAULT_INITIAL_CONNECT_DEADLINE_SECS
    connect_timeout_secs: float = C.DEFAULT_CONNECT_TIMEOUT_SECS
    request_timeout_secs: float = C.DEFAULT_REQUEST_TIMEOUT_SECS
    compression: str = C.DEFAULT_COMPRESSION
    max_request_bytes: int = C.DEFAULT_MAX_REQUEST_BYTES
    max_client_lag: float = C.DEFAULT_MAX_CLIENT_LAG_SECS
    max_inflight_bytes: int = C.DEFAULT_MAX_INFLIGHT_BYTES
    #: :class:`Client` only: each channel makes its requests in a thread of its own, so that
    #: ``append_*`` return while a request is out and the caller prepares the next one (see
    #: ``Channel``). An error of a send is raised by the channel's next call.
    send_in_background: bool = False
    #: How bytes are sent; None (the default): the pipe's BINARY_INPUT_FORMAT, as Snowflake's
    #: ``:pipe-info`` answers it (read once per pipe when a channel opens).
    binary_format: str | None = None
    allow_insecure_http: bool = False
    #: A PEM file of CA certificates trusted beside the usual ones (certifi's, or
    #: ``SSL_CERT_FILE``): for a server whose certificate a private CA signed.
    ca_file: str | None = None
    #: Appended to the User-Agent as ``(app=<name>)``.
    app_name: str | None = None
    _sources: Mapping[str, str] = field(default_factory=dict, compare=False)

    # --- building from sources ------------------------------------------------------------

    @classmethod
    def from_sources(
        cls,
        profile_path: str | os.PathLike[str] | None = None,
        env: Mapping[str, str] | None = None,
        **overrides: Any,
    ) -> ClientConfig:
        """Merge a profile file, the environment (default ``os.environ``) and ``overrides``.

        Overrides whose value is None are ignored, so CLI options that were not given do not
        hide the environment. The private key's source (``private_key`` or
        ``private_key_file``) is taken as a pair from the highest layer that gives either.
        """
        env = os.environ if env is None else env
        layers: list[tuple[str, dict[str, Any]]] = []
        if profile_path is not None:
            layers.append((f"profile {str(profile_path)!r}", _read_profile(profile_path)))
        layers.append(("the environment", _read_env(env)))
        unknown = sorted(set(overrides) - _FIELD_NAMES)
        if unknown:
            raise ConfigError(f"unknown setting(s) {', '.join(unknown)}; {_known_keys()}")
        layers.append(("arguments", {k: v for k, v in overrides.items() if v is not None}))

        merged: dict[str, Any] = {}
        sources: dict[str, str] = {}
        for where, values in layers:
            for group in _SOURCE_GROUPS:
                if any(k in values for k in group):
                    for k in group:
                        merged.pop(k, None)
                        sources.pop(k, None)
            for k, v in values.items():
                merged[k] = v
                sources[k] = where
        return cls(**merged, _sources=sources)

    # --- validation -----------------------------------------------------------------------

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        src = self._sources

        def where(key: str) -> str:
            origin = src.get(key)
            return f"{key} (from {origin})" if origin and origin != "arguments" else key

        def number(key: str, *, integer: bool = False, minimum: float | None = None) -> None:
            value = getattr(self, key)
            if isinstance(value, str) and key.endswith("_bytes"):
                try:
                    value = parse_size(value)
                except ValueError as exc:
                    raise ConfigError(f"{where(key)}: {exc}") from None
            if isinstance(value, str):
                try:
                    value = int(value) if integer else float(value)
                except ValueError:
                    kind = "a whole number" if integer else "a number"
                    raise ConfigError(f"{where(key)} must be {kind}, got {value!r}") from None
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ConfigError(f"{where(key)} must be a number, got {type(value).__name__}")
            if isinstance(value, float) and not math.isfinite(value):
                raise ConfigError(f"{where(key)} must be a finite number, got {value!r}")
            if integer and not float(value).is_integer():
                raise ConfigError(f"{where(key)} must be a whole number, got {value!r}")
            if minimum is not None and value < minimum:
                raise ConfigError(f"{where(key)} must be at least {minimum:g}, got {value!r}")
            set_(self, key, int(value) if integer else value)

        def boolean(key: str) -> None:
            value = getattr(self, key)
            if isinstance(value, str):
                low = value.strip().lower()
                if low in ("1", "true", "yes", "on"):
                    value = True
                elif low in ("0", "false", "no", "off"):
                    value = False
            if not isinstance(value, bool):
                raise ConfigError(f"{where(key)} must be true or false, got {value!r}")
            set_(self, key, value)

        def text(key: str) -> None:
            value = getattr(self, key)
            if value is None:
                return
            if not isinstance(value, str):
                raise ConfigError(f"{where(key)} must be a string, got {type(value).__name__}")
            set_(self, key, value.strip() or None)

        for key in (
            "account",
            "user",
            "url",
            "role",
            "private_key_file",
            "app_name",
            "authorization_type",
            "personal_access_token_file",
            "oauth_token_url",
            "oauth_client_id",
            "ca_file",
        ):
            text(key)
        if self.ca_file is not None:
            _check_ca_file(self.ca_file, where("ca_file"))
        for key in (
            "jwt",
            "jwt_token",
            "private_key_passphrase",
            "personal_access_token",
            "oauth_client_secret",
            "oauth_refresh_token",
        ):
            value = getattr(self, key)
            if value is not None and not isinstance(value, str):
                raise ConfigError(f"{where(key)} must be a string")
        number("jwt_exp_secs")
        number("jwt_refresh_margin_secs")
        if self.jwt_refresh_margin_secs < 0:
            raise ConfigError(
                f"{where('jwt_refresh_margin_secs')} must not be negative, "
                f"got {self.jwt_refresh_margin_secs!r}"
            )
        number("throttle_backoff_secs", minimum=0)
        number("max_throttle_retries", integer=True, minimum=0)
        number("max_server_retries", integer=True, minimum=0)
        number("retry_deadline_secs", minimum=0)
        number("initial_connect_deadline_secs", minimum=0)
        number("connect_timeout_secs", minimum=0.001)
        number("request_timeout_secs", minimum=0.001)
        number("max_request_bytes", integer=True, minimum=1024)
        if self.max_request_bytes > C.MAX_REQUEST_BYTES_LIMIT:
            raise ConfigError(
                f"{where('max_request_bytes')} must be at most {C.MAX_REQUEST_BYTES_LIMIT} "
                f"(16 MiB), got {self.max_request_bytes}; Snowflake's current limit is 4 MiB"
            )
        number("max_client_lag", minimum=0)
        number("max_inflight_bytes", integer=True, minimum=1024)
        if self.max_inflight_bytes < self.max_request_bytes:
            raise ConfigError(
                f"{where('max_inflight_bytes')} ({self.max_inflight_bytes}) must be at least "
                f"max_request_bytes ({self.max_request_bytes})"
            )
        boolean("retry_on_unauthorized")
        boolean("allow_insecure_http")
        boolean("send_in_background")
        for name, allowed in (("compression", C.COMPRESSIONS), ("binary_format", C.BINARY_FORMATS)):
            value = getattr(self, name)
            if name == "binary_format" and value is None:
                continue  # learned from the pipe
            norm = value.strip().lower() if isinstance(value, str) else value
            if norm not in allowed:
                raise ConfigError(
                    f"{where(name)} must be one of {', '.join(allowed)}; got {value!r}"
                )
            set_(self, name, norm)

        # Credentials.
        if self._check_authorization_type(where):
            return
        if self.jwt_token is not None:
            if self.jwt is not None and self.jwt != self.jwt_token:
                raise ConfigError("give jwt or its alias jwt_token, not both")
            set_(self, "jwt", self.jwt_token)
            set_(self, "jwt_token", None)
        already_loaded = isinstance(self.private_key, PrivateKey)
        if (
            self.private_key is not None
            and self.private_key_file is not None
            and not already_loaded
        ):
            raise ConfigError(
                "give private_key or private_key_file, not both "
                f"({where('private_key')}, {where('private_key_file')})"
            )
        provider = self.private_key_provider
        if provider is not None:
            if not callable(provider):
                raise ConfigError(
                    f"{where('private_key_provider')} must be a callable returning a PrivateKey"
                )
            if self.private_key is not None or self.private_key_file is not None:
                raise ConfigError(
                    "give private_key_provider or a private key (private_key, "
                    "private_key_file), not both"
                )
        given = self.private_key
        if isinstance(given, str | bytes | bytearray):
            raw = given if isinstance(given, str) else bytes(given)
            try:
                loaded = PrivateKey.from_pem(raw, self.private_key_passphrase)
            except PrivateKeyError as exc:
                raise PrivateKeyError(f"{where('private_key')}: {exc}") from None
            set_(self, "private_key", loaded)
        elif given is not None and not isinstance(given, PrivateKey):
            raise ConfigError(
                f"{where('private_key')} must be PEM text, base64 DER or a PrivateKey, "
                f"got {type(given).__name__}"
            )
        if self.private_key_file is not None and not already_loaded:
            set_(
                self,
                "private_key",
                PrivateKey.from_file(self.private_key_file, self.private_key_passphrase),
            )
        has_key = self.private_key is not None or provider is not None
        if has_key and self.jwt is not None:
            _log.warning(
                "both a private key and a JWT are configured; using the private key "
                "and ignoring the JWT"
            )
            set_(self, "jwt", None)
        if not has_key and self.jwt is None:
            raise ConfigError(
                "no credentials: give private_key_file (or SNOWFLAKE_PRIVATE_KEY_PATH), or "
                "private_key (or SNOWFLAKE_PRIVATE_KEY)"
            )
        if has_key:
            for key_name in ("account", "user"):
                if getattr(self, key_name) is None:
                    var = "SNOWFLAKE_ACCOUNT" if key_name == "account" else "SNOWFLAKE_USER"
                    raise ConfigError(
                        f"{key_name} is required for key-pair authentication (or {var})"
                    )
        if self.url is None and self.account is None:
            raise ConfigError("account or url is required (or SNOWFLAKE_ACCOUNT / SNOWFLAKE_URL)")
        set_(self, "url", self._check_url(where("url")))
        if self.jwt is not None:
            self._warn_supplied_jwt()

    def _check_authorization_type(self, where: Callable[[str], str]) -> bool:
        """Validate ``authorization_type`` and, for PAT/OAUTH, their settings and the URL;
        True when the credential is not a key pair (nothing more to check)."""
        set_ = object.__setattr__
        kind = self.authorization_type
        pat_given = self.personal_access_token is not None or (
            self.personal_access_token_file is not None
        )
        if kind is None:
            has_key = any(
                getattr(self, k) is not None
                for k in ("private_key", "private_key_file", "private_key_provider", "jwt")
            )
            kind = "PAT" if pat_given and not has_key else "JWT"
        kind = kind.strip().upper()
        if kind == "KEYPAIR_JWT":
            kind = "JWT"
        if kind not in AUTHORIZATION_TYPES:
            raise ConfigError(
                f"{where('authorization_type')} must be one of {', '.join(AUTHORIZATION_TYPES)}, "
                f"got {self.authorization_type!r}"
            )
        set_(self, "authorization_type", kind)
        if kind == "JWT":
            return False
        if kind == "PAT":
            if self.personal_access_token is not None and self.personal_access_token_file:
                raise ConfigError(
                    "give personal_access_token or personal_access_token_file, not both"
                )
            if self.personal_access_token is not None and not self.personal_access_token.strip():
                raise ConfigError(f"{where('personal_access_token')} is empty")
            if not pat_given:
                raise ConfigError(
                    "authorization_type is PAT but no token is configured: give "
                    "personal_access_token (SNOWFLAKE_PERSONAL_ACCESS_TOKEN) or "
                    "personal_access_token_file"
                )
            if self.personal_access_token_file is not None:
                from ._pat import read_pat_file

                read_pat_file(self.personal_access_token_file)  # fails now, not mid-stream
            set_(
                self,
                "personal_access_token_expires_at",
                _epoch(self.personal_access_token_expires_at, where),
            )
        if self.url is None and self.account is None:
            raise ConfigError("account or url is required (or SNOWFLAKE_ACCOUNT / SNOWFLAKE_URL)")
        set_(self, "url", self._check_url(where("url")))
        if kind == "OAUTH":
            self._check_oauth(where)
        return True

    def _check_oauth(self, where: Callable[[str], str]) -> None:
        provider = self.oauth_token_provider
        if provider is not None:
            if not callable(provider):
                raise ConfigError(f"{where('oauth_token_provider')} must be a callable")
            return
        missing = [k for k in ("oauth_client_id", "oauth_client_secret") if not getattr(self, k)]
        if missing:
            raise ConfigError(
                "authorization_type is OAUTH: give oauth_token_provider, or "
                f"{' and '.join(missing)} (SNOWFLAKE_{missing[0].upper()}) for the "
                "client-credentials grant, with oauth_refresh_token for the refresh-token grant"
            )
        for key in ("oauth_client_secret", "oauth_refresh_token"):
            value = getattr(self, key)
            if value is not None and not value.strip():
                raise ConfigError(f"{where(key)} is empty")
        url = self.oauth_token_url or f"{self.url}/oauth/token-request"
        if "://" not in url:
            url = "https://" + url
        if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname:
            raise ConfigError(f"{where('oauth_token_url')} must be an http(s) URL, got {url!r}")
        require_safe_url(
            url, allow_insecure_http=self.allow_insecure_http, what=where("oauth_token_url")
        )
        object.__setattr__(self, "oauth_token_url", url)

    def _check_url(self, name: str) -> str:
        if self.url is None:
            host = (self.account or "").lower()
            for scheme in ("https://", "http://"):
                host = host.removeprefix(scheme)
            host = host.split("/", 1)[0]
            if not host.endswith(".snowflakecomputing.com"):
                host += ".snowflakecomputing.com"
            return f"https://{host}"
        url = self.url.rstrip("/")
        if "://" not in url:
            url = "https://" + url
        parts = urlsplit(url)
        try:
            port = parts.port
        except ValueError:
            raise ConfigError(f"{name} has an invalid port: {self.url!r}") from None
        del port
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ConfigError(
                f"{name} must look like https://<account>.snowflakecomputing.com, got {self.url!r}"
            )
        if parts.path or parts.query or parts.fragment:
            raise ConfigError(
                f"{name} must be a scheme, host and optional port only, got {self.url!r}"
            )
        require_safe_url(url, allow_insecure_http=self.allow_insecure_http, what=name)
        return url

    def _warn_supplied_jwt(self) -> None:
        assert self.jwt is not None
        warnings.warn(_MIGRATION, DeprecationWarning, stacklevel=4)
        _log.warning("%s", _MIGRATION)
        claims = read_claims_unverified(self.jwt)
        exp = claim_seconds(claims.get("exp")) if claims else None
        if exp is None:
            return
        remaining = exp - SYSTEM_CLOCK.time()
        if remaining <= 0:
            _log.warning(
                "the supplied JWT expired %.0f s ago; requests will fail with 401", -remaining
            )
        elif remaining <= self.jwt_refresh_margin_secs:
            _log.warning("the supplied JWT expires in %.0f s and cannot be refreshed", remaining)

    # --- derived values -------------------------------------------------------------------

    @property
    def key(self) -> PrivateKey | None:
        """The loaded private key, or None when a supplied JWT is used."""
        return self.private_key if isinstance(self.private_key, PrivateKey) else None

    @property
    def control_url(self) -> str:
        """The account URL (control host) with scheme and port, without a trailing slash."""
        assert self.url is not None
        return self.url

    def replace(self, **changes: Any) -> ClientConfig:
        """A copy with ``changes`` applied (validated like a new config)."""
        return dataclasses.replace(self, **changes)

    def __repr__(self) -> str:
        shown: list[str] = []
        for f in dataclasses.fields(self):
            if f.name.startswith("_") or f.name == "jwt_token":
                continue
            value = getattr(self, f.name)
            if f.name in _SECRET_KEYS and value is not None and not isinstance(value, PrivateKey):
                shown.append(f"{f.name}=<redacted>")
            elif value is not None and value != f.default:
                shown.append(f"{f.name}={value!r}")
        return f"ClientConfig({', '.join(shown)})"

    __str__ = __repr__


def _check_ca_file(path: str, name: str) -> None:
    """Load ``path`` as CA certificates now, so a wrong file fails here and not at connect."""
    if not Path(path).is_file():
        raise ConfigError(f"{name}: {path!r} does not exist or is not a file")
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cafile=path)
    except (ssl.SSLError, OSError, ValueError) as exc:
        raise ConfigError(
            f"{name}: {path!r} holds no CA certificate in PEM form ({exc}); give the CA's "
            "certificate, -----BEGIN CERTIFICATE-----"
        ) from None


_FIELD_NAMES = frozenset(
    f.name for f in dataclasses.fields(ClientConfig) if not f.name.startswith("_")
)


#: Settings that only code can give (callables): never read from the environment.
_CALLABLE_KEYS = frozenset({"private_key_provider", "oauth_token_provider"})


def setting_names() -> frozenset[str]:
    """The keys :meth:`ClientConfig.from_sources` takes (the sinks' options use them)."""
    return _FIELD_NAMES


def _known_keys() -> str:
    return "known settings: " + ", ".join(sorted(_FIELD_NAMES))


def _epoch(value: object, where: Callable[[str], str]) -> float | None:
    """Epoch seconds from a number or an ISO 8601 text (``2026-01-31 12:00:00 +0000``)."""
    import datetime as _dt

    name = where("personal_access_token_expires_at")
    if value is None or (isinstance(value, int | float) and not isinstance(value, bool)):
        return None if value is None else float(value)
    if isinstance(value, str):
        text = value.strip()
        try:
            return float(text)
        except ValueError:
            pass
        import re

        # Python 3.10's fromisoformat wants "+00:00"; SHOW ... prints "+0000" after a space.
        zone = re.match(r"^(.*?\d)\s*(Z|[+-]\d{2}:?\d{2})$", text)
        if zone is not None:
            tz = zone.group(2)
            tz = "+00:00" if tz == "Z" else f"{tz[:3]}:{tz[-2:]}"
            text = zone.group(1) + tz
        try:
            parsed = _dt.datetime.fromisoformat(text)
        except ValueError:
            raise ConfigError(
                f"{name} must be epoch seconds or an ISO 8601 date, got {value!r}"
            ) from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=_dt.timezone.utc)
        return parsed.timestamp()
    raise ConfigError(f"{name} must be epoch seconds or an ISO 8601 date")


def _read_profile(path: str | os.PathLike[str]) -> dict[str, Any]:
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"profile {str(p)!r} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"profile {str(p)!r} cannot be read: {exc}") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"profile {str(p)!r} is not valid JSON (line {exc.lineno}, column {exc.colno})"
        ) from None
    if not isinstance(data, dict):
        raise ConfigError(f"profile {str(p)!r} must hold a JSON object")
    known: dict[str, Any] = {}
    for k, v in data.items():
        if k in _FIELD_NAMES:
            known[k] = v
        elif k == "username":
            known["user"] = v
        else:
            # The official SDK's profile holds keys we have no use for (host, port, ...).
            _log.debug("profile key %r ignored", k)
    for file_key in ("private_key_file", "personal_access_token_file"):
        if file_key in known and isinstance(known[file_key], str):
            key_path = Path(known[file_key]).expanduser()
            if not key_path.is_absolute():
                known[file_key] = str(p.parent / key_path)
    return known


def _read_env(env: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for var, key in ENV_VARS.items():
        if env.get(var):
            values.setdefault(key, env[var])
    for key in _FIELD_NAMES - _CALLABLE_KEYS:
        var = "SNOWFLAKE_" + key.upper()
        if var not in ENV_VARS and env.get(var):
            values.setdefault(key, env[var])
    return values
