"""Shared fixtures: test keys, the fake clock, and the secret scan that runs on every test."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from snowpipe_stream import JsonFormatter, PrivateKey
from snowpipe_stream._logfields import FIELDS
from snowpipe_stream.testing import FakeClock

# Property tests check behaviour, never time: no per-example deadline. With one, an example
# slowed by a busy machine (three pytest workers, Spark's JVM, on two cores) raised
# DeadlineExceeded, and shrinking that flaky failure ran for over 15 minutes in a CI-like run.
settings.register_profile("snowpipe-stream", deadline=None)
settings.load_profile("snowpipe-stream")

KEYS = Path(__file__).parent / "fixtures" / "keys"
#: The passphrase of the encrypted fixture keys.
PASSPHRASE = "correct-horse-battery"

# --- the secret scan -------------------------------------------------------------------------

_PEM = re.compile(r"-----BEGIN [A-Z ]*(PRIVATE KEY|ENCRYPTED)")
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{16,}")
#: Literal secrets tests use; a log record that contains one fails the test.
KNOWN_SECRETS: set[str] = {PASSPHRASE}


def find_secrets(text: str) -> list[str]:
    """What in ``text`` looks like a secret: a PEM private key, a full JWT, a known secret."""
    found: list[str] = []
    if _PEM.search(text):
        found.append("a PEM private key block")
    if _JWT.search(text):
        found.append("a full JWT")
    found.extend(f"the secret {s[:3]}..." for s in KNOWN_SECRETS if s and s in text)
    return found


_JSON_LINES = JsonFormatter()


def record_text(record: logging.LogRecord) -> str:
    """Everything a handler could write of ``record``: its message, its exception, its
    structured fields (``log_fields``) and its line as ``--log-format json`` writes it."""
    parts = [record.getMessage()]
    if record.exc_info and record.exc_info[1] is not None:
        parts.append(str(record.exc_info[1]))
    parts.extend(str(getattr(record, name)) for name in FIELDS if hasattr(record, name))
    parts.append(_JSON_LINES.format(record))
    return "\n".join(parts)


class _Recorder(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(autouse=True)
def _no_secrets_in_logs() -> Iterator[None]:
    """Fail any test whose library log records contain key material, a passphrase or a JWT, in
    their text, their fields or their JSON line."""
    logger = logging.getLogger("snowpipe_stream")
    recorder = _Recorder()
    old_level = logger.level
    logger.setLevel(logging.DEBUG)
    logger.addHandler(recorder)
    try:
        yield
    finally:
        logger.removeHandler(recorder)
        logger.setLevel(old_level)
    leaks = []
    for record in recorder.records:
        hits = find_secrets(record_text(record))
        if hits:
            leaks.append(f"{record.name} {record.levelname}: {', '.join(hits)}")
    if leaks:
        pytest.fail("secrets reached the logs:\n" + "\n".join(leaks), pytrace=False)


# --- keys and clocks -------------------------------------------------------------------------


@pytest.fixture(scope="session")
def key_path() -> Path:
    return KEYS / "rsa_key.p8"


@pytest.fixture(scope="session")
def rsa_key() -> PrivateKey:
    return PrivateKey.from_file(KEYS / "rsa_key.p8")


@pytest.fixture(scope="session")
def other_key() -> PrivateKey:
    return PrivateKey.generate(2048)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
