"""The autouse secret scan must itself catch leaks, or it protects nothing."""

from __future__ import annotations

from snowpipe_stream import PrivateKey
from snowpipe_stream._jwt import mint_jwt
from tests.conftest import KEYS, PASSPHRASE, find_secrets


def test_scan_finds_pem_jwt_and_passphrase(rsa_key: PrivateKey) -> None:
    token, _ = mint_jwt(rsa_key, account="a", user="u", now=0, lifetime_secs=60)
    assert find_secrets(f"sent {token}") == ["a full JWT"]
    assert find_secrets((KEYS / "rsa_key.p8").read_text()) == ["a PEM private key block"]
    assert find_secrets((KEYS / "rsa_key_aes.p8").read_text()) == ["a PEM private key block"]
    assert find_secrets(f"passphrase is {PASSPHRASE}") == ["the secret cor..."]


def test_scan_passes_fingerprints_and_lengths(rsa_key: PrivateKey) -> None:
    assert find_secrets(f"JWT refreshed (fingerprint={rsa_key.fingerprint}, 812 chars)") == []
