"""Claims and signatures of minted JWTs; account normalization."""

from __future__ import annotations

import jwt as pyjwt
import pytest

from snowpipe_stream import PrivateKey
from snowpipe_stream._jwt import (
    claim_seconds,
    clamp_lifetime,
    effective_margin,
    mint_jwt,
    normalize_account,
    read_claims_unverified,
)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("xy12345.us-east-1", "XY12345"),
        ("xy12345", "XY12345"),
        ("myorg-myacct", "MYORG-MYACCT"),
        ("myorg-myacct.privatelink", "MYORG-MYACCT"),
        ("acct-abc.global", "ACCT"),
        ("https://xy12345.us-east-1.snowflakecomputing.com", "XY12345"),
        ("https://myorg-myacct.snowflakecomputing.com/", "MYORG-MYACCT"),
        ("myorg-myacct.snowflakecomputing.com:443", "MYORG-MYACCT"),
        ("  MyOrg-MyAcct  ", "MYORG-MYACCT"),
        ("xy12345.us-east-2.aws", "XY12345"),
    ],
)
def test_account_normalization(given: str, expected: str) -> None:
    assert normalize_account(given) == expected


def test_claims_header_and_signature(rsa_key: PrivateKey) -> None:
    token, expires_at = mint_jwt(
        rsa_key,
        account="myorg-acct.us-east-1",
        user="svc_user",
        now=1_700_000_000.7,
        lifetime_secs=3540,
    )
    header = pyjwt.get_unverified_header(token)
    assert header == {"alg": "RS256", "typ": "JWT"}
    # PyJWT verifies the signature with the public key: our hand-built JWS is standard.
    claims = pyjwt.decode(
        token,
        rsa_key.crypto_key.public_key(),
        algorithms=["RS256"],
        options={"verify_exp": False, "verify_iat": False},
    )
    assert claims["iss"] == f"MYORG-ACCT.SVC_USER.{rsa_key.fingerprint}"
    assert claims["sub"] == "MYORG-ACCT.SVC_USER"
    assert claims["iat"] == 1_700_000_000 and isinstance(claims["iat"], int)
    assert claims["exp"] == 1_700_003_540 and isinstance(claims["exp"], int)
    assert expires_at == 1_700_003_540.0
    assert "scp" not in claims
    assert len(claims["jti"]) >= 16


def test_role_adds_scope_claim(rsa_key: PrivateKey) -> None:
    token, _ = mint_jwt(rsa_key, account="a", user="u", now=0, lifetime_secs=60, role="ingest_role")
    claims = read_claims_unverified(token)
    assert claims is not None and claims["scp"] == "session:role:INGEST_ROLE"


def test_tokens_minted_in_the_same_second_differ(rsa_key: PrivateKey) -> None:
    a, _ = mint_jwt(rsa_key, account="a", user="u", now=100.0, lifetime_secs=60)
    b, _ = mint_jwt(rsa_key, account="a", user="u", now=100.0, lifetime_secs=60)
    assert a != b


def test_a_different_key_does_not_verify(rsa_key: PrivateKey, other_key: PrivateKey) -> None:
    token, _ = mint_jwt(rsa_key, account="a", user="u", now=0, lifetime_secs=60)
    with pytest.raises(pyjwt.InvalidSignatureError):
        pyjwt.decode(
            token,
            other_key.crypto_key.public_key(),
            algorithms=["RS256"],
            options={"verify_exp": False, "verify_iat": False},
        )


@pytest.mark.parametrize(
    ("given", "effective"),
    [(10, 30), (-5, 30), (0, 30), (30, 30), (3540, 3540), (3600, 3600), (7200, 3600), (59.9, 59)],
)
def test_clamp_lifetime(given: float, effective: int) -> None:
    assert clamp_lifetime(given) == effective


def test_effective_margin() -> None:
    assert effective_margin(30, 3540) == 30
    assert effective_margin(30, 30) == 15
    assert effective_margin(100, 60) == 30


@pytest.mark.parametrize(
    ("token", "expected"),
    [("not-a-jwt", None), ("a.b", None), ("a.!!!.c", None), ("a.bnVsbA.c", None)],
)
def test_read_claims_of_non_jwts(token: str, expected: object) -> None:
    assert read_claims_unverified(token) is expected


def test_claim_seconds_reads_milliseconds() -> None:
    assert claim_seconds(1_700_000_000) == 1_700_000_000.0
    assert claim_seconds(1_700_000_000_000) == 1_700_000_000.0
    assert claim_seconds("1700000000") is None
    assert claim_seconds(True) is None
