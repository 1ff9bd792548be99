"""The autouse secret scan must itself catch leaks, or it protects nothing."""

from __future__ import annotations

import logging
import sys

from snowpipe_stream import JsonFormatter, PrivateKey
from snowpipe_stream._jwt import mint_jwt
from snowpipe_stream._logfields import log_fields
from tests.conftest import KEYS, PASSPHRASE, find_secrets, record_text


def test_scan_finds_pem_jwt_and_passphrase(rsa_key: PrivateKey) -> None:
    token, _ = mint_jwt(rsa_key, account="a", user="u", now=0, lifetime_secs=60)
    assert find_secrets(f"sent {token}") == ["a full JWT"]
    assert find_secrets((KEYS / "rsa_key.p8").read_text()) == ["a PEM private key block"]
    assert find_secrets((KEYS / "rsa_key_aes.p8").read_text()) == ["a PEM private key block"]
    assert find_secrets(f"passphrase is {PASSPHRASE}") == ["the secret cor..."]


def test_scan_passes_fingerprints_and_lengths(rsa_key: PrivateKey) -> None:
    assert find_secrets(f"JWT refreshed (fingerprint={rsa_key.fingerprint}, 812 chars)") == []


def _record(msg: str, *args: object, **extra: object) -> logging.LogRecord:
    rec = logging.LogRecord("snowpipe_stream.auth", logging.INFO, __file__, 1, msg, args, None)
    rec.__dict__.update(extra)
    return rec


def test_scan_reads_the_structured_fields_and_the_json_line(rsa_key: PrivateKey) -> None:
    token, _ = mint_jwt(rsa_key, account="a", user="u", now=0, lifetime_secs=60)
    # A secret in a field, not in the message: what --log-format json would write.
    leaked = _record("JWT refreshed", **log_fields(fingerprint=token))
    assert find_secrets(leaked.getMessage()) == []
    assert find_secrets(record_text(leaked)) == ["a full JWT"]
    assert token in JsonFormatter().format(leaked)
    clean = _record("JWT refreshed (%s)", rsa_key.fingerprint, fingerprint=rsa_key.fingerprint)
    assert find_secrets(record_text(clean)) == []


def test_scan_reads_the_traceback_of_a_logged_exception() -> None:
    try:
        raise RuntimeError(f"unlocked with {PASSPHRASE}")
    except RuntimeError:
        rec = _record("callback raised")
        rec.exc_info = sys.exc_info()
    assert find_secrets(record_text(rec)) == ["the secret cor..."]
