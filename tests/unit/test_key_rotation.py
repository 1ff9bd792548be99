"""A rotated key is picked up without a restart: the key source and the JWT manager."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from snowpipe_stream import ConfigError, PrivateKey
from snowpipe_stream._credentials import KeySource, matching_key_slot
from snowpipe_stream._jwt import read_claims_unverified
from snowpipe_stream._tokens import JwtManager
from snowpipe_stream.testing import FakeClock


def _write(path: Path, key: PrivateKey) -> None:
    # As a deployment does: write beside, then rename over (a new inode).
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(key.private_key_pem())
    os.replace(tmp, path)


def _fingerprint_of(token: str) -> str:
    claims = read_claims_unverified(token)
    assert claims is not None
    return str(claims["iss"]).split(".", 2)[2]


def test_a_replaced_file_is_noticed_by_stat_and_logged_by_fingerprint(
    tmp_path: Path, rsa_key: PrivateKey, other_key: PrivateKey, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "rsa_key.p8"
    _write(path, rsa_key)
    source = KeySource(PrivateKey.from_file(path), path=path)
    assert source.poll() is False  # nothing changed: no reload
    _write(path, other_key)
    with caplog.at_level(logging.INFO, logger="snowpipe_stream.auth"):
        assert source.poll() is True
    assert source.key.fingerprint == other_key.fingerprint
    assert source.reloads == 1
    messages = [r.getMessage() for r in caplog.records if "private key changed" in r.message]
    assert len(messages) == 1
    assert rsa_key.fingerprint in messages[0] and other_key.fingerprint in messages[0]
    assert caplog.records[-1].levelno == logging.INFO
    assert source.poll() is False


def test_a_half_written_file_keeps_the_old_key_until_it_loads(
    tmp_path: Path, rsa_key: PrivateKey, other_key: PrivateKey
) -> None:
    path = tmp_path / "rsa_key.p8"
    _write(path, rsa_key)
    source = KeySource(PrivateKey.from_file(path), path=path)
    path.write_bytes(other_key.private_key_pem()[:200])  # truncated mid-write
    assert source.poll() is False
    assert source.key.fingerprint == rsa_key.fingerprint
    _write(path, other_key)
    assert source.poll() is True
    assert source.key.fingerprint == other_key.fingerprint


def test_after_a_401_the_file_is_reread_even_when_stat_looks_the_same(
    tmp_path: Path, rsa_key: PrivateKey, other_key: PrivateKey
) -> None:
    path = tmp_path / "rsa_key.p8"
    _write(path, rsa_key)
    source = KeySource(PrivateKey.from_file(path), path=path)
    st = os.stat(path)
    # Rewritten in place with the same size and mtime: a stat cannot tell.
    path.write_bytes(other_key.private_key_pem())
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    if os.stat(path).st_size == st.st_size:
        assert source.poll() is False
    assert source.after_unauthorized() is True
    assert source.key.fingerprint == other_key.fingerprint


def test_a_provider_is_called_at_mint_and_after_a_401_never_per_request(
    rsa_key: PrivateKey, other_key: PrivateKey
) -> None:
    current = [rsa_key]
    calls: list[int] = []

    def provider() -> PrivateKey:
        calls.append(1)
        return current[0]

    clock = FakeClock()
    source = KeySource.from_provider(provider)
    jm = JwtManager("acct", "svc", source, 60, 30, clock)
    first = jm.get_token()
    assert len(calls) == 2  # once at construction, once at the first mint
    for _ in range(5):
        assert jm.get_token() == first
    assert len(calls) == 2  # cached JWTs need no call
    current[0] = other_key
    jm.invalidate(first)  # the 401 path
    second = jm.get_token()
    assert _fingerprint_of(first) == rsa_key.fingerprint
    assert _fingerprint_of(second) == other_key.fingerprint


def test_a_provider_returning_something_else_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="must return a PrivateKey"):
        KeySource.from_provider(lambda: "-----BEGIN PRIVATE KEY-----")  # type: ignore[arg-type,return-value]


def test_the_manager_drops_its_cached_jwt_when_the_file_changes(
    tmp_path: Path, rsa_key: PrivateKey, other_key: PrivateKey
) -> None:
    path = tmp_path / "rsa_key.p8"
    _write(path, rsa_key)
    clock = FakeClock()
    jm = JwtManager("acct", "svc", KeySource(rsa_key, path=path), 3600, 60, clock)
    first = jm.get_token()
    assert jm.get_token() == first
    _write(path, other_key)
    second = jm.get_token()  # well within its lifetime, yet re-minted with the new key
    assert second != first
    assert _fingerprint_of(second) == other_key.fingerprint
    assert jm.fingerprint == other_key.fingerprint
    assert jm.mint_count == 2


def test_matching_key_slot(rsa_key: PrivateKey, other_key: PrivateKey) -> None:
    fp, other = rsa_key.fingerprint, other_key.fingerprint
    assert matching_key_slot(rsa_key, fp, None) == "RSA_PUBLIC_KEY"
    assert matching_key_slot(rsa_key, other, fp) == "RSA_PUBLIC_KEY_2"
    assert matching_key_slot(rsa_key, other, None) is None
    assert matching_key_slot(rsa_key, None, None) is None


def test_describe_credential_names_the_key_and_its_source(
    tmp_path: Path, rsa_key: PrivateKey, other_key: PrivateKey
) -> None:
    from snowpipe_stream import ClientConfig
    from snowpipe_stream._authorization import build_credential, describe_credential

    path = tmp_path / "rsa_key.p8"
    _write(path, rsa_key)
    config = ClientConfig(account="acct", user="svc", private_key_file=str(path))
    cred = build_credential(config, FakeClock())
    _write(path, other_key)
    cred.get_token()
    assert describe_credential(cred) == {
        "token_type": "KEYPAIR_JWT",
        "fingerprint": other_key.fingerprint,
        "key_source": "file",
        "key_reloads": 1,
    }
