"""Who may call the emulator: registered users' public keys, and the scoped tokens it issues."""

from __future__ import annotations

import base64
import logging
import secrets
import threading
from typing import Any
from urllib.parse import unquote

import jwt as pyjwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from .._jwt import JwtRejected, claim_seconds, normalize_account, normalize_user, verify_keypair_jwt
from .._keys import PrivateKey, public_key_fingerprint
from .._logfields import log_fields

_log = logging.getLogger("snowpipe_stream.emulator")

#: Snowflake keeps two public keys per user (RSA_PUBLIC_KEY and RSA_PUBLIC_KEY_2) for rotation.
KEYS_PER_USER = 2

PublicKeyLike = str | bytes | PrivateKey | rsa.RSAPublicKey


def load_public_key(key: PublicKeyLike) -> rsa.RSAPublicKey:
    """A public key from PEM, a bare base64 body (as ALTER USER takes it), or a key object."""
    if isinstance(key, PrivateKey):
        return key.crypto_key.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        return key
    raw = key.encode("ascii") if isinstance(key, str) else key
    text = raw.strip()
    if not text.startswith(b"-----BEGIN"):
        body = b"".join(text.split())
        text = b"-----BEGIN PUBLIC KEY-----\n" + body + b"\n-----END PUBLIC KEY-----\n"
    loaded = serialization.load_pem_public_key(text)
    if not isinstance(loaded, rsa.RSAPublicKey):
        raise ValueError("the public key is not an RSA key")
    return loaded


#: The two key slots of a Snowflake user, as ``ALTER USER ... SET`` names them.
SLOTS = ("rsa_public_key", "rsa_public_key_2")
#: "Leave this slot as it is" for :meth:`Users.set_keys` (None unsets).
UNCHANGED: Any = object()


class Users:
    """Registered users: ``(ACCOUNT, USER)`` → their public keys, in Snowflake's two slots.

    ``ALTER USER u SET RSA_PUBLIC_KEY_2 = ...`` / ``UNSET RSA_PUBLIC_KEY`` are
    :meth:`set_keys`; :meth:`add` fills a free slot (replacing the older key when both are
    taken). Fingerprints that were registered and then removed are remembered, so the stats
    can count tokens still signed with a removed key.
    """

    def __init__(self) -> None:
        #: who → {slot: key}
        self._slots: dict[tuple[str, str], dict[str, rsa.RSAPublicKey]] = {}
        #: who → fingerprints once registered and since removed
        self._removed: dict[tuple[str, str], set[str]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _who(account: str, user: str) -> tuple[str, str]:
        return normalize_account(account), normalize_user(user)

    def add(self, account: str, user: str, public_key: PublicKeyLike) -> str:
        """Register a key in a free slot (the older of two is replaced); return its
        fingerprint."""
        key = load_public_key(public_key)
        fp = public_key_fingerprint(key)
        who = self._who(account, user)
        with self._lock:
            slots = dict(self._slots.get(who, {}))
            if fp not in {public_key_fingerprint(k) for k in slots.values()}:
                free = [s for s in SLOTS if s not in slots]
                if free:
                    slots[free[0]] = key
                else:
                    # Both taken: the key registered first goes (slot order is age order).
                    oldest = next(iter(slots))
                    self._forget(who, slots.pop(oldest))
                    slots[oldest] = key  # re-inserted last: now the newest
            self._slots[who] = slots
            self._removed.get(who, set()).discard(fp)
        _log.info("user %s.%s registered key %s", *who, fp, extra=log_fields(fingerprint=fp))
        return fp

    def set_keys(
        self,
        account: str,
        user: str,
        rsa_public_key: PublicKeyLike | None = UNCHANGED,
        rsa_public_key_2: PublicKeyLike | None = UNCHANGED,
    ) -> dict[str, str | None]:
        """``ALTER USER``: a key sets its slot, None unsets it, :data:`UNCHANGED` leaves it.
        Returns the fingerprints of both slots as ``DESC USER`` shows them."""
        who = self._who(account, user)
        given = {"rsa_public_key": rsa_public_key, "rsa_public_key_2": rsa_public_key_2}
        loaded = {
            slot: load_public_key(v)
            for slot, v in given.items()
            if v is not UNCHANGED and v is not None
        }
        with self._lock:
            slots = dict(self._slots.get(who, {}))
            for slot, value in given.items():
                if value is UNCHANGED:
                    continue
                old = slots.pop(slot, None)
                if old is not None:
                    self._forget(who, old)
                if value is not None:
                    slots[slot] = loaded[slot]
            for key in slots.values():
                self._removed.get(who, set()).discard(public_key_fingerprint(key))
            self._slots[who] = slots
            described = self._describe(slots)
        _log.info(
            "user %s.%s keys: RSA_PUBLIC_KEY_FP=%s RSA_PUBLIC_KEY_2_FP=%s",
            *who,
            described["rsa_public_key_fp"],
            described["rsa_public_key_2_fp"],
        )
        return described

    def describe(self, account: str, user: str) -> dict[str, str | None]:
        with self._lock:
            return self._describe(self._slots.get(self._who(account, user), {}))

    def was_removed(self, account: str, user: str, fingerprint: str) -> bool:
        with self._lock:
            return fingerprint in self._removed.get((account, user), set())

    def snapshot(self) -> dict[tuple[str, str], dict[str, rsa.RSAPublicKey]]:
        """who → {fingerprint: key}, for the verifier."""
        with self._lock:
            return {
                who: {public_key_fingerprint(k): k for k in slots.values()}
                for who, slots in self._slots.items()
                if slots
            }

    def _forget(self, who: tuple[str, str], key: rsa.RSAPublicKey) -> None:
        self._removed.setdefault(who, set()).add(public_key_fingerprint(key))

    @staticmethod
    def _describe(slots: dict[str, rsa.RSAPublicKey]) -> dict[str, str | None]:
        return {
            f"{slot}_fp": public_key_fingerprint(slots[slot]) if slot in slots else None
            for slot in SLOTS
        }


class PatRejected(Exception):
    """Why a PAT was refused (logs only: Snowflake answers every case alike)."""


class ScopedTokenRejected(Exception):
    """A scoped token the ingest endpoints refuse; ``expired`` tells which 401 code applies."""

    def __init__(self, reason: str, *, expired: bool = False) -> None:
        super().__init__(reason)
        self.expired = expired


def scope_host(scope: str) -> str:
    """The ingest host a token's ``scope`` names: its first word (a role may follow,
    ``"<host> session:role:R"``), spelled as clients normalize it (lower case, ``_`` → ``-``)."""
    words = scope.split()
    return words[0].replace("_", "-").lower() if words else ""


class Authority:
    """Verifies key-pair JWTs and issues/verifies the emulator's scoped tokens."""

    def __init__(self, users: Users, scoped_token_ttl: float, oauth_token_ttl: float = 600) -> None:
        self.users = users
        self.ttl = scoped_token_ttl
        self.oauth_ttl = oauth_token_ttl
        #: client_id → (client_secret, who)
        self._oauth_clients: dict[str, tuple[str, tuple[str, str]]] = {}
        #: refresh token → client_id
        self._refresh_tokens: dict[str, str] = {}
        #: access token → (who, exp, client_id)
        self._access: dict[str, tuple[tuple[str, str], float, str]] = {}
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._public = self._key.public_key()
        #: token → (subject, exp, ingest host of its scope)
        self._verified: dict[str, tuple[str, float, str]] = {}
        #: PAT secret → (who, NAME, exp)
        self._pats: dict[str, tuple[tuple[str, str], str, float]] = {}
        self._lock = threading.Lock()

    # --- programmatic access tokens -------------------------------------------------------

    def issue_pat(
        self, account: str, user: str, name: str, days_to_expiry: float, now: float
    ) -> tuple[str, float]:
        """``ALTER USER ... ADD PAT name DAYS_TO_EXPIRY = n``: the secret and its expiry.

        The emulator's secrets are JWTs signed by the emulator, so that a client can read
        their ``exp``; a PAT of the same name is replaced (its old secret stops working)."""
        if not name or not isinstance(name, str):
            raise ValueError("a PAT needs a name")
        if isinstance(days_to_expiry, bool) or not isinstance(days_to_expiry, int | float):
            raise ValueError("days_to_expiry must be a number of days")
        if not 0 < days_to_expiry <= 365:
            raise ValueError("days_to_expiry must be between 1 and 365")
        who = (normalize_account(account), normalize_user(user))
        iat = int(now)
        exp = iat + int(days_to_expiry * 86_400)
        claims = {
            "iss": "snowpipe-stream-emulator-pat",
            "sub": f"{who[0]}.{who[1]}",
            "name": name.upper(),
            "iat": iat,
            "exp": exp,
            "jti": secrets.token_hex(8),
        }
        token = pyjwt.encode(claims, self._key, algorithm="RS256")
        with self._lock:
            self._pats = {
                t: p for t, p in self._pats.items() if (p[0], p[1]) != (who, name.upper())
            }
            self._pats[token] = (who, name.upper(), float(exp))
        _log.info("user %s.%s: PAT %s issued (expires in %g days)", *who, name, days_to_expiry)
        return token, float(exp)

    def revoke_pat(self, account: str, user: str, name: str) -> bool:
        """``ALTER USER ... REMOVE PAT name``; False when there was none."""
        who = (normalize_account(account), normalize_user(user))
        with self._lock:
            kept = {t: p for t, p in self._pats.items() if (p[0], p[1]) != (who, name.upper())}
            removed = len(kept) != len(self._pats)
            self._pats = kept
        return removed

    def check_pat(self, token: str, now: float) -> tuple[str, str]:
        """``(ACCOUNT, USER)`` of a valid PAT; raises :class:`PatRejected`."""
        with self._lock:
            known = self._pats.get(token)
        if known is None:
            raise PatRejected("unknown or revoked")
        who, _name, exp = known
        if exp <= now:
            raise PatRejected("expired")
        return who

    # --- OAuth (a Snowflake OAuth security integration, reduced to what clients use) -------

    def add_oauth_client(self, account: str, user: str) -> dict[str, str]:
        """Register a client for ``user``: its id, secret and a refresh token (as a consent
        would give one)."""
        who = (normalize_account(account), normalize_user(user))
        client_id = "emu-" + secrets.token_hex(8)
        secret = secrets.token_urlsafe(24)
        refresh = secrets.token_urlsafe(32)
        with self._lock:
            self._oauth_clients[client_id] = (secret, who)
            self._refresh_tokens[refresh] = client_id
        _log.info("user %s.%s: OAuth client %s registered", *who, client_id)
        return {"client_id": client_id, "client_secret": secret, "refresh_token": refresh}

    def revoke_oauth_client(self, client_id: str) -> bool:
        """Remove the client: its refresh tokens and access tokens stop working."""
        with self._lock:
            found = self._oauth_clients.pop(client_id, None) is not None
            self._refresh_tokens = {r: c for r, c in self._refresh_tokens.items() if c != client_id}
            self._access = {t: a for t, a in self._access.items() if a[2] != client_id}
        return found

    def oauth_token_request(
        self, authorization: str | None, form: dict[str, str], now: float
    ) -> tuple[int, dict[str, Any]]:
        """``POST /oauth/token-request``: RFC 6749 answers (``error`` codes of §5.2)."""
        client_id, secret = _basic_credentials(authorization)
        if client_id is None:
            client_id, secret = form.get("client_id"), form.get("client_secret")
        with self._lock:
            known = self._oauth_clients.get(client_id or "")
        if known is None or secret is None or not secrets.compare_digest(known[0], secret):
            return 401, {"error": "invalid_client"}
        grant = form.get("grant_type")
        if grant == "refresh_token":
            with self._lock:
                owner = self._refresh_tokens.get(form.get("refresh_token") or "")
            if owner != client_id:
                return 400, {"error": "invalid_grant"}
        elif grant != "client_credentials":
            return 400, {"error": "unsupported_grant_type"}
        who = known[1]
        token = "emu-oauth-" + secrets.token_urlsafe(32)
        exp = float(int(now) + int(self.oauth_ttl))
        with self._lock:
            if len(self._access) > 10_000:
                self._access = {t: a for t, a in self._access.items() if a[1] > now}
            self._access[token] = (who, exp, client_id or "")
        return 200, {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": int(self.oauth_ttl),
            "username": who[1],
        }

    def check_oauth(self, token: str, now: float) -> tuple[str, str]:
        """``(ACCOUNT, USER)`` of a valid OAuth access token; raises
        :class:`ScopedTokenRejected` (``expired`` set when it is only expired)."""
        with self._lock:
            known = self._access.get(token)
        if known is None:
            raise ScopedTokenRejected("unknown or revoked OAuth access token")
        if known[1] <= now:
            raise ScopedTokenRejected("OAuth access token expired", expired=True)
        return known[0]

    def check_jwt(self, token: str, now: float) -> tuple[str, str]:
        """``(ACCOUNT, USER)`` of a valid key-pair JWT; raises :class:`JwtRejected`."""
        return verify_keypair_jwt(token, self.users.snapshot(), now)

    def issue(self, subject: str, scope: str, now: float) -> tuple[str, float]:
        iat = int(now)
        exp = iat + int(self.ttl)
        claims: dict[str, Any] = {
            "iss": "snowpipe-stream-emulator",
            "sub": subject,
            "scope": scope,
            "iat": iat,
            "exp": exp,
            "jti": secrets.token_hex(8),
        }
        token = pyjwt.encode(claims, self._key, algorithm="RS256")
        with self._lock:
            if len(self._verified) > 10_000:
                self._verified.clear()
            self._verified[token] = (subject, float(exp), scope_host(scope))
        return token, float(exp)

    def check_scoped(self, token: str, now: float, host: str) -> str:
        """The subject of a scoped token valid at ``host`` (the ingest host the request
        reached); raises :class:`ScopedTokenRejected` naming the check that failed.

        A token is bound to the host its ``scope`` named at ``/oauth/token``, as Snowflake
        binds it: presented to another host it is refused like an unknown token.
        """
        with self._lock:
            known = self._verified.get(token)
        if known is None:
            try:
                claims = pyjwt.decode(
                    token,
                    self._public,
                    algorithms=["RS256"],
                    options={"verify_exp": False, "verify_iat": False},
                )
            except pyjwt.PyJWTError:
                raise ScopedTokenRejected("not a scoped token this emulator issued") from None
            exp = claim_seconds(claims.get("exp"))
            known = (
                str(claims.get("sub")),
                exp if exp is not None else 0.0,
                scope_host(str(claims.get("scope") or "")),
            )
        subject, exp, bound = known
        if bound != scope_host(host):
            raise ScopedTokenRejected(
                f"issued for scope {bound!r}, presented at host {scope_host(host)!r}"
            )
        if exp <= now:
            raise ScopedTokenRejected("expired", expired=True)
        return subject


def _basic_credentials(header: str | None) -> tuple[str | None, str | None]:
    if not header or header[:6].lower() != "basic ":
        return None, None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None, None
    user, sep, password = decoded.partition(":")
    if not sep:
        return None, None
    return unquote(user), unquote(password)


__all__ = [
    "SLOTS",
    "UNCHANGED",
    "Authority",
    "JwtRejected",
    "PatRejected",
    "ScopedTokenRejected",
    "Users",
    "load_public_key",
    "scope_host",
]
