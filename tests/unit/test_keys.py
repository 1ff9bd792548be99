"""Loading private keys in every form Snowflake users keep them in, and the errors otherwise."""

from __future__ import annotations

import base64
import logging
import pickle
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from snowpipe_stream import ConfigError, PrivateKey, PrivateKeyError
from tests.conftest import KEYS, PASSPHRASE

OPENSSL_FINGERPRINT = "SHA256:" + (KEYS / "rsa_key.fingerprint").read_text().strip()


def _der(path: Path) -> bytes:
    key = serialization.load_pem_private_key(path.read_bytes(), None)
    return key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _pem_body(pem: bytes) -> str:
    return "".join(line for line in pem.decode().splitlines() if not line.startswith("-----"))


# --- forms that load -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "passphrase"),
    [
        ("rsa_key.p8", None),
        ("rsa_key_pkcs1.pem", None),
        ("rsa_key_des3.p8", PASSPHRASE),
        ("rsa_key_aes.p8", PASSPHRASE),
    ],
)
def test_pem_forms_load_with_the_openssl_fingerprint(name: str, passphrase: str | None) -> None:
    key = PrivateKey.from_file(KEYS / name, passphrase=passphrase)
    assert key.fingerprint == OPENSSL_FINGERPRINT
    assert key.bits == 2048


def test_base64_der_and_bare_pem_body_load() -> None:
    der = _der(KEYS / "rsa_key.p8")
    assert PrivateKey.from_pem(base64.b64encode(der).decode()).fingerprint == OPENSSL_FINGERPRINT
    body = _pem_body((KEYS / "rsa_key.p8").read_bytes())
    assert PrivateKey.from_pem(body).fingerprint == OPENSSL_FINGERPRINT
    # An encrypted key's body without header lines, with its passphrase.
    enc_body = _pem_body((KEYS / "rsa_key_aes.p8").read_bytes())
    assert PrivateKey.from_pem(enc_body, PASSPHRASE).fingerprint == OPENSSL_FINGERPRINT


def test_raw_der_bytes_load() -> None:
    assert PrivateKey.from_pem(_der(KEYS / "rsa_key.p8")).fingerprint == OPENSSL_FINGERPRINT


def test_passphrase_for_unencrypted_key_is_ignored() -> None:
    # A globally set SNOWFLAKE_PRIVATE_KEY_PASSPHRASE must not break an unencrypted key.
    key = PrivateKey.from_file(KEYS / "rsa_key.p8", passphrase="unused")
    assert key.fingerprint == OPENSSL_FINGERPRINT


def test_fingerprint_is_computed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    import snowpipe_stream._keys as keys_mod

    calls = 0
    real = keys_mod.public_key_fingerprint

    def counting(pub):  # type: ignore[no-untyped-def]
        nonlocal calls
        calls += 1
        return real(pub)

    monkeypatch.setattr(keys_mod, "public_key_fingerprint", counting)
    key = PrivateKey.from_file(KEYS / "rsa_key.p8")
    for _ in range(5):
        assert key.fingerprint == OPENSSL_FINGERPRINT
    assert calls == 1


def test_small_rsa_key_loads_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="snowpipe_stream"):
        key = PrivateKey.from_file(KEYS / "rsa_1024.p8")
    assert key.bits == 1024
    assert any("1024 bits" in r.getMessage() and "2048" in r.getMessage() for r in caplog.records)


def test_public_key_forms_match_the_private_key() -> None:
    key = PrivateKey.from_file(KEYS / "rsa_key.p8")
    assert key.public_key_pem().strip() == (KEYS / "rsa_key.pub").read_text().strip()
    assert key.public_key_body() == _pem_body((KEYS / "rsa_key.pub").read_bytes())


def test_private_key_pem_round_trips_encrypted() -> None:
    key = PrivateKey.generate(2048)
    pem = key.private_key_pem(passphrase="s3cret-pass")
    assert b"ENCRYPTED PRIVATE KEY" in pem
    assert PrivateKey.from_pem(pem, "s3cret-pass").fingerprint == key.fingerprint


# --- forms that fail, each with a message naming the problem --------------------------------


@pytest.mark.parametrize(
    ("name", "passphrase", "expected"),
    [
        ("rsa_key_aes.p8", "wrong-passphrase", "wrong passphrase"),
        ("rsa_key_des3.p8", "wrong-passphrase", "wrong passphrase"),
        ("rsa_key_aes.p8", None, "encrypted; give its passphrase"),
        ("ec_key.pem", None, "EC key"),
        ("ec_key.p8", None, "EC key"),
        ("dsa_key.p8", None, "DSA key"),
        ("rsa_key.pub", None, "PUBLIC KEY, not a private key"),
    ],
)
def test_bad_keys_raise_private_key_error(name: str, passphrase: str | None, expected: str) -> None:
    with pytest.raises(PrivateKeyError, match=expected) as info:
        PrivateKey.from_file(KEYS / name, passphrase=passphrase)
    assert name in str(info.value)
    assert "MII" not in str(info.value)  # no base64 key material echoed


def test_encrypted_bare_body_with_wrong_passphrase() -> None:
    enc_body = _pem_body((KEYS / "rsa_key_aes.p8").read_bytes())
    with pytest.raises(PrivateKeyError, match="wrong passphrase"):
        PrivateKey.from_pem(enc_body, "nope")
    with pytest.raises(PrivateKeyError, match="encrypted"):
        PrivateKey.from_pem(enc_body)


@pytest.mark.parametrize(
    "data",
    [
        "",
        "   \n",
        "not a key at all!",
        "bm90IGEga2V5IGF0IGFsbA==",  # valid base64, not DER
        "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----",
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n"
        "-----END OPENSSH PRIVATE KEY-----",
    ],
    ids=["empty", "blank", "garbage", "base64-garbage", "truncated-pem", "openssh"],
)
def test_garbage_raises_without_echoing(data: str) -> None:
    with pytest.raises(PrivateKeyError) as info:
        PrivateKey.from_pem(data)
    message = str(info.value)
    assert "MIIEvQIBADAN" not in message and "b3BlbnNzaC1rZXkt" not in message
    assert isinstance(info.value, ConfigError)


def test_truncated_pem_file(tmp_path: Path) -> None:
    text = (KEYS / "rsa_key.p8").read_text()
    bad = tmp_path / "truncated.p8"
    bad.write_text(text[: len(text) // 2])
    with pytest.raises(PrivateKeyError, match="not valid"):
        PrivateKey.from_file(bad)


def test_file_problems(tmp_path: Path) -> None:
    with pytest.raises(PrivateKeyError, match="does not exist"):
        PrivateKey.from_file(tmp_path / "missing.p8")
    with pytest.raises(PrivateKeyError, match="is a directory"):
        PrivateKey.from_file(tmp_path)
    empty = tmp_path / "empty.p8"
    empty.write_bytes(b"")
    with pytest.raises(PrivateKeyError, match="is empty"):
        PrivateKey.from_file(empty)


def test_unreadable_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Tests run as root, who can read any file: have the OS refuse the read instead.
    def deny(self: Path) -> bytes:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "read_bytes", deny)
    with pytest.raises(PrivateKeyError, match="permission denied"):
        PrivateKey.from_file(tmp_path / "locked.p8")


def test_repr_and_pickle_never_expose_the_key() -> None:
    key = PrivateKey.from_file(KEYS / "rsa_key.p8")
    assert repr(key) == f"PrivateKey(bits=2048, fingerprint={OPENSSL_FINGERPRINT!r})"
    assert str(key) == repr(key)
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(key)
