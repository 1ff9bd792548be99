"""snowpipe_stream.diagnose: the steps a client takes before streaming, against the emulator."""

from __future__ import annotations

from snowpipe_stream import (
    APIConnectionError,
    AuthenticationError,
    ClientConfig,
    PrivateKey,
    diagnose,
)
from snowpipe_stream.emulator import Emulator
from snowpipe_stream.testing import FakeClock
from tests.integration.conftest import make_config
from tests.integration.test_fail_fast import closed_port

NAMES = ["configuration", "private key", "hostname discovery", "token exchange"]


def test_every_step_passes_with_what_it_found(
    emu: Emulator, rsa_key: PrivateKey, clock: FakeClock
) -> None:
    steps = diagnose(make_config(emu, rsa_key, jwt_exp_secs=10), clock=clock)
    assert [s.name for s in steps] == NAMES and all(s.ok and s.error is None for s in steps)
    config, key, host, token = (s.detail for s in steps)
    assert f"url {emu.url}; account MYORG-ACCT and user SVC_USER" in config
    assert f"fingerprint {rsa_key.fingerprint} (2048-bit RSA)" in key
    assert "JWT lifetime 30 s (jwt_exp_secs=10 clamped into [30, 3600])" in key
    assert host.startswith("ingest host ") and token.startswith("scoped token of ")
    assert "eyJ" not in " ".join(s.detail for s in steps)  # no token in the details


def test_a_key_the_user_does_not_have_fails_at_hostname_discovery(
    emu: Emulator, other_key: PrivateKey, clock: FakeClock
) -> None:
    steps = diagnose(make_config(emu, other_key), clock=clock)
    assert [s.name for s in steps] == NAMES[:3] and [s.ok for s in steps] == [True, True, False]
    assert isinstance(steps[-1].error, AuthenticationError)
    assert other_key.fingerprint in steps[-1].detail


def test_a_dead_url_fails_within_the_initial_deadline(
    rsa_key: PrivateKey, clock: FakeClock
) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    config = ClientConfig(account="a", user="u", private_key=rsa_key, url=url)
    steps = diagnose(config, clock=clock)
    assert [s.ok for s in steps] == [True, True, False]
    assert isinstance(steps[-1].error, APIConnectionError)
    assert f"cannot reach {url}" in steps[-1].detail
    assert steps[-1].elapsed == sum(clock.sleeps) and 0 < steps[-1].elapsed <= 3.0
