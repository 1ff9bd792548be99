"""Key-pair JWTs as Snowflake wants them: pure functions, no clock reads, no I/O.

:func:`mint_jwt` builds and signs one token from (key, account, user, now, lifetime).
:func:`normalize_account` turns any account spelling into the form the claims need.
:func:`read_claims_unverified` reads a token's claims without checking its signature (for a
scoped token's ``exp``, or a user-supplied JWT's). Verification, as the emulator does it, lives
here too so that server and tests share one definition of a valid token.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from collections.abc import Mapping
from typing import Any

import msgspec

from ._constants import MAX_JWT_LIFETIME_SECS, MIN_JWT_LIFETIME_SECS
from ._keys import PrivateKey

__all__ = [
    "clamp_lifetime",
    "effective_margin",
    "issuer",
    "mint_jwt",
    "normalize_account",
    "normalize_user",
    "read_claims_unverified",
    "subject",
]

_HEADER_B64 = base64.urlsafe_b64encode(b'{"alg":"RS256","typ":"JWT"}').rstrip(b"=")
_encode_json = msgspec.json.Encoder().encode
_decode_json = msgspec.json.Decoder().decode


def normalize_account(account: str) -> str:
    """The account part of ``iss``/``sub``.

    Strip a scheme and ``.snowflakecomputing.com``; for ``.global`` accounts keep the text
    before the first ``-``, otherwise the text before the first ``.``; uppercase. This is what
    Snowflake's Python connector does (its SQL-API doc snippet differs and breaks org-account
    names; we do not copy it).
    """
    acct = account.strip()
    for scheme in ("https://", "http://"):
        if acct.lower().startswith(scheme):
            acct = acct[len(scheme) :]
    acct = acct.split("/", 1)[0].split(":", 1)[0]
    suffix = ".snowflakecomputing.com"
    if acct.lower().endswith(suffix):
        acct = acct[: -len(suffix)]
    acct = acct.partition("-")[0] if ".global" in acct.lower() else acct.partition(".")[0]
    return acct.upper()


def normalize_user(user: str) -> str:
    return user.strip().upper()


def subject(account: str, user: str) -> str:
    """``sub``: ``ACCOUNT.USER`` (both normalized)."""
    return f"{normalize_account(account)}.{normalize_user(user)}"


def issuer(account: str, user: str, fingerprint: str) -> str:
    """``iss``: ``ACCOUNT.USER.SHA256:<fingerprint>``."""
    return f"{subject(account, user)}.{fingerprint}"


def clamp_lifetime(given: float) -> int:
    """The lifetime actually used: ``given`` clamped into [30, 3600] seconds."""
    return int(min(max(given, MIN_JWT_LIFETIME_SECS), MAX_JWT_LIFETIME_SECS))


def effective_margin(margin: float, lifetime: int) -> float:
    """The refresh margin actually used: half the lifetime when ``margin`` is not below it."""
    return margin if margin < lifetime else lifetime / 2


def mint_jwt(
    key: PrivateKey,
    *,
    account: str,
    user: str,
    now: float,
    lifetime_secs: int,
    role: str | None = None,
) -> tuple[str, float]:
    """Sign a key-pair JWT; return ``(token, expires_at)`` with ``expires_at`` in epoch seconds.

    ``iat`` is ``now`` in whole seconds and ``exp = iat + lifetime_secs``. A random ``jti``
    makes every token unique, so the token resent after a 401 never repeats the one rejected,
    even within the same second.
    """
    iat = int(now)
    exp = iat + int(lifetime_secs)
    sub = subject(account, user)
    claims: dict[str, Any] = {
        "iss": f"{sub}.{key.fingerprint}",
        "sub": sub,
        "iat": iat,
        "exp": exp,
        "jti": secrets.token_hex(16),
    }
    if role:
        claims["scp"] = f"session:role:{role.strip().upper()}"
    payload = base64.urlsafe_b64encode(_encode_json(claims)).rstrip(b"=")
    signing_input = _HEADER_B64 + b"." + payload
    signature = base64.urlsafe_b64encode(key.sign(signing_input)).rstrip(b"=")
    return (signing_input + b"." + signature).decode("ascii"), float(exp)


def _b64url_decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def read_claims_unverified(token: str) -> Mapping[str, Any] | None:
    """The claims of a compact JWS, not verified; None when ``token`` is not a JWT."""
    parts = token.strip().split(".")
    if len(parts) != 3:
        return None
    try:
        claims = _decode_json(_b64url_decode(parts[1]))
    except (binascii.Error, ValueError, msgspec.DecodeError):
        return None
    return claims if isinstance(claims, dict) else None


def claim_seconds(value: object) -> float | None:
    """A numeric time claim in seconds; values that only make sense as milliseconds are scaled.

    Snowflake accepts ``iat``/``exp`` in seconds or milliseconds (the official SDK sends ms).
    Anything above 10^11 (the year 5138 in seconds) is read as milliseconds.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value / 1000.0 if value > 100_000_000_000 else float(value)


# --- verification (the emulator's; Snowflake's rules) --------------------------------------

#: Snowflake counts a key-pair JWT valid for at most this long after ``iat``.
MAX_VALIDITY_SECS = 3600
#: How far ``iat`` may be ahead of the verifier's clock.
DEFAULT_SKEW_SECS = 60


class JwtRejected(Exception):
    """Why a JWT was rejected. For logs and tests only: Snowflake never tells the client."""


def verify_keypair_jwt(
    token: str,
    keys: Mapping[tuple[str, str], Mapping[str, Any]],
    now: float,
    skew_secs: float = DEFAULT_SKEW_SECS,
) -> tuple[str, str]:
    """Check a key-pair JWT as Snowflake does; return ``(ACCOUNT, USER)``.

    ``keys`` maps ``(ACCOUNT, USER)`` to ``{fingerprint: RSA public key}`` (two per user during
    rotation). RS256 only; ``iss``/``sub`` upper case and consistent; the fingerprint one of
    the user's; ``exp`` in the future; ``iat`` not ahead of ``now`` by more than the skew; at
    most an hour of validity from ``iat``; times in seconds or milliseconds.
    """
    import jwt as pyjwt  # PyJWT: only the verifier needs it

    try:
        header = pyjwt.get_unverified_header(token)
    except pyjwt.PyJWTError:
        raise JwtRejected("not a JWS") from None
    if header.get("alg") != "RS256":
        raise JwtRejected(f"alg {header.get('alg')!r} is not RS256")
    claims = read_claims_unverified(token)
    if claims is None:
        raise JwtRejected("claims are not a JSON object")
    iss, sub = claims.get("iss"), claims.get("sub")
    if not isinstance(iss, str) or not isinstance(sub, str):
        raise JwtRejected("iss or sub missing")
    if sub != sub.upper() or "." not in sub:
        raise JwtRejected("sub must be ACCOUNT.USER in upper case")
    if not iss.startswith(sub + ".SHA256:"):
        raise JwtRejected("iss must be ACCOUNT.USER.SHA256:<fingerprint>")
    account, _, user = sub.partition(".")
    fingerprint = iss[len(sub) + 1 :]
    user_keys = keys.get((account, user))
    if not user_keys:
        raise JwtRejected(f"no such user {account}.{user}")
    public_key = user_keys.get(fingerprint)
    if public_key is None:
        raise JwtRejected("fingerprint matches none of the user's keys")
    try:
        pyjwt.decode(
            token,
            public_key,
            algorithms=["RS256"],
            options={
                "verify_exp": False,
                "verify_iat": False,
                "verify_nbf": False,
                "verify_aud": False,
                "verify_iss": False,
            },
        )
    except pyjwt.PyJWTError as exc:
        raise JwtRejected(f"signature: {type(exc).__name__}") from None
    iat, exp = claim_seconds(claims.get("iat")), claim_seconds(claims.get("exp"))
    if iat is None or exp is None:
        raise JwtRejected("iat and exp are required")
    if exp <= now:
        raise JwtRejected("expired")
    if iat > now + skew_secs:
        raise JwtRejected("iat is in the future")
    if now >= iat + MAX_VALIDITY_SECS:
        raise JwtRejected("issued more than an hour ago")
    return account, user
