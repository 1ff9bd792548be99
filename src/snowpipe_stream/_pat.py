"""Programmatic access tokens (PATs) as the control-host credential.

How Snowflake takes one: ``Authorization: Bearer <PAT>`` with
``X-Snowflake-Authorization-Token-Type: PROGRAMMATIC_ACCESS_TOKEN``
(https://docs.snowflake.com/en/user-guide/programmatic-access-tokens, "Using a programmatic
access token to authenticate to an endpoint"). On the Snowpipe Streaming REST API the PAT takes
the key-pair JWT's place on the control host only: ``GET /v2/streaming/hostname`` and the
``POST /oauth/token`` exchange for the scoped token, whose form is unchanged; the ingest host
gets the scoped token as with a JWT. The REST reference lists the token-type header for every
endpoint ("JWT/OAuth";
https://docs.snowflake.com/en/user-guide/snowpipe-streaming/snowpipe-streaming-high-performance-rest-api),
and clients that stream with a PAT exchange it this way. The official SDK's profile key is
``personal_access_token`` with ``authorization_type: "PAT"``.

A PAT lives for days (``DAYS_TO_EXPIRY``, 15 by default; ALTER USER ... ADD PROGRAMMATIC ACCESS
TOKEN). Its secret does not say when it expires in a documented way: ``SHOW USER PROGRAMMATIC
ACCESS TOKENS`` does (``expires_at``). When the secret is JWT-shaped (as the emulator's are) its
``exp`` claim is read; otherwise ``personal_access_token_expires_at`` can tell the client.
Fewer than :data:`PAT_WARN_DAYS` days left: one warning a day. A rejected PAT is answered 401
``394400`` "Programmatic access token is invalid." whether it is unknown, expired or revoked
(what Snowflake's drivers see; e.g. gosnowflake's auth tests).

A PAT kept in a file (``personal_access_token_file``) is re-read when the file changes (one
``stat`` per control-host request) and before the retry of a 401: rotate it with
``ALTER USER ... ROTATE PAT <name>`` and write the new secret to the file.
"""

from __future__ import annotations

import datetime as _dt
import logging
import os
import threading
from pathlib import Path

from ._clock import Clock
from ._credentials import FileSignature, file_signature
from ._exceptions import ConfigError
from ._jwt import claim_seconds, read_claims_unverified

__all__ = ["PAT_TOKEN_TYPE", "PAT_WARN_DAYS", "PatCredential", "pat_expiry", "read_pat_file"]

_log = logging.getLogger("snowpipe_stream.auth")

PAT_TOKEN_TYPE = "PROGRAMMATIC_ACCESS_TOKEN"
#: Warn (once a day) when fewer than this many days are left.
PAT_WARN_DAYS = 7
_DAY = 86_400.0


def pat_expiry(token: str) -> float | None:
    """The PAT's expiry (epoch seconds) when its secret tells (a JWT-shaped token's ``exp``)."""
    claims = read_claims_unverified(token)
    return claim_seconds(claims.get("exp")) if claims else None


def read_pat_file(path: str | os.PathLike[str]) -> str:
    """The PAT in ``path`` (surrounding whitespace dropped); :class:`ConfigError` naming the
    file, never its content, when it cannot be used."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise ConfigError(f"personal_access_token_file {str(p)!r} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"personal_access_token_file {str(p)!r} cannot be read: {exc}") from None
    if not text:
        raise ConfigError(f"personal_access_token_file {str(p)!r} is empty")
    if len(text.split()) != 1:
        raise ConfigError(f"personal_access_token_file {str(p)!r} must hold the token secret alone")
    return text


class PatCredential:
    """A programmatic access token, from a string or a file that is re-read when it changes."""

    token_type = PAT_TOKEN_TYPE

    def __init__(
        self,
        token: str | None = None,
        *,
        path: str | os.PathLike[str] | None = None,
        expires_at: float | None = None,
        clock: Clock,
    ) -> None:
        if (token is None) == (path is None):
            raise ConfigError("give personal_access_token or personal_access_token_file")
        self._path = Path(path) if path is not None else None
        self._token = token.strip() if token is not None else read_pat_file(self._path or "")
        self._signature: FileSignature | None = (
            file_signature(self._path) if self._path is not None else None
        )
        self._given_expiry = expires_at
        self._clock = clock
        self._lock = threading.Lock()
        self._last_warning: float | None = None
        self.reloads = 0

    # --- state ----------------------------------------------------------------------------

    @property
    def can_refresh(self) -> bool:
        # Even a PAT given as a string gets one retry: the 401 may have been transient.
        return True

    @property
    def mint_count(self) -> int:
        return 0

    @property
    def expires_at(self) -> float | None:
        """When the PAT in use expires, when known (for ``check``)."""
        found = pat_expiry(self._token)
        return found if found is not None else self._given_expiry

    def days_left(self) -> float | None:
        exp = self.expires_at
        return None if exp is None else (exp - self._clock.time()) / _DAY

    def unauthorized_hint(self) -> str:
        exp = self.expires_at
        when = ""
        if exp is not None:
            left = exp - self._clock.time()
            stamp = _iso(exp)
            when = f" (it expired at {stamp})" if left <= 0 else f" (it expires at {stamp})"
        source = (
            f"write the new secret to {str(self._path)!r}"
            if self._path is not None
            else "give the new secret (or keep it in personal_access_token_file, re-read when "
            "it changes)"
        )
        return (
            f"The programmatic access token was rejected{when}: it may be expired, revoked or "
            "disabled, or the user's network policy may not allow this address. SHOW USER "
            "PROGRAMMATIC ACCESS TOKENS shows its state; rotate it (ALTER USER ... ROTATE PAT "
            f"<name>) and {source}"
        )

    # --- the two verbs --------------------------------------------------------------------

    def get_token(self) -> str:
        self._poll(force=False)
        self._warn_if_expiring()
        return self._token

    def invalidate(self, token: str | None = None) -> None:
        """After a 401: re-read the file (a rotated secret may be waiting there)."""
        self._poll(force=True)

    # --- internals ------------------------------------------------------------------------

    def _poll(self, *, force: bool) -> None:
        if self._path is None:
            return
        sig = file_signature(self._path)
        if sig is None or (sig == self._signature and not force):
            return
        try:
            token = read_pat_file(self._path)
        except ConfigError as exc:
            _log.warning("the PAT file changed but cannot be used yet; keeping the PAT (%s)", exc)
            return
        with self._lock:
            self._signature = sig
            if token == self._token:
                return
            self._token = token
            self._last_warning = None
            self.reloads += 1
        exp = self.expires_at
        _log.info(
            "programmatic access token re-read from %r (%d chars%s)",
            str(self._path),
            len(token),
            f", expires {_iso(exp)}" if exp is not None else "",
        )

    def _warn_if_expiring(self) -> None:
        exp = self.expires_at
        if exp is None:
            return
        now = self._clock.time()
        left = exp - now
        if left >= PAT_WARN_DAYS * _DAY:
            return
        last = self._last_warning
        if last is not None and now - last < _DAY:
            return
        self._last_warning = now
        _log.warning(
            "the programmatic access token expires in %.1f days (%s); rotate it "
            "(ALTER USER ... ROTATE PAT <name>)%s",
            max(left, 0.0) / _DAY,
            _iso(exp),
            f" and write the new secret to {str(self._path)!r}" if self._path else "",
        )

    def __repr__(self) -> str:
        return (
            f"PatCredential(<redacted, {len(self._token)} chars>, "
            f"file={str(self._path) if self._path else None!r}, expires_at={self.expires_at})"
        )


def _iso(epoch: float) -> str:
    return _dt.datetime.fromtimestamp(epoch, _dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
