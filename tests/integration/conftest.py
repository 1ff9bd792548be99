"""The real emulator on 127.0.0.1:0, sharing a FakeClock with the client under test."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from snowpipe_stream import ClientConfig, PrivateKey
from snowpipe_stream.emulator import Emulator
from snowpipe_stream.testing import FakeClock

ACCOUNT, USER = "myorg-acct", "svc_user"
DB, SCHEMA, PIPE = "DB", "SCHEMA", "PIPE"


@pytest.fixture
def emu(rsa_key: PrivateKey, clock: FakeClock) -> Iterator[Emulator]:
    with Emulator(users=[(ACCOUNT, USER, rsa_key)], clock=clock) as emulator:
        yield emulator


def make_config(emulator: Emulator, key: PrivateKey, **kw: Any) -> ClientConfig:
    return ClientConfig.from_sources(
        env={},
        **{
            "account": ACCOUNT,
            "user": USER,
            "private_key": key,
            "url": emulator.url,
            "max_client_lag": 0,
            **kw,
        },
    )
