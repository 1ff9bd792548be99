"""snowpipe_stream.diagnose: the steps a client takes before streaming, against the emulator."""

from __future__ import annotations

import re

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

NAMES = ["configuration", "credential", "hostname discovery", "token exchange", "clock"]


def test_every_step_passes_with_what_it_found(
    emu: Emulator, rsa_key: PrivateKey, clock: FakeClock
) -> None:
    steps = diagnose(make_config(emu, rsa_key, jwt_exp_secs=10), clock=clock)
    assert [s.name for s in steps] == NAMES and all(s.ok and s.error is None for s in steps)
    config, key, host, token, clock_step = (s.detail for s in steps)
    assert f"url {emu.url}; account MYORG-ACCT and user SVC_USER" in config
    assert f"fingerprint {rsa_key.fingerprint} (2048-bit RSA, from the configuration)" in key
    assert "JWT lifetime 30 s (jwt_exp_secs=10 clamped into [30, 3600])" in key
    assert "DESC USER SVC_USER shows this fingerprint as RSA_PUBLIC_KEY_FP or" in key
    assert host.startswith("ingest host ") and token.startswith("scoped token of ")
    assert clock_step == "this machine's clock agrees with Snowflake's (within a second)"
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


def test_a_clock_far_ahead_is_reported_with_a_warning(
    emu: Emulator, rsa_key: PrivateKey, clock: FakeClock
) -> None:
    # The emulator answers with its own clock (Date); this machine's runs 45 s ahead of it.
    ahead = FakeClock(start=clock.time() + 45)
    steps = diagnose(make_config(emu, rsa_key), clock=ahead)
    assert [s.ok for s in steps] == [True] * 5
    # (a Date header has whole seconds: the estimate is within one of the truth)
    assert re.match(
        r"warning: this machine's clock is 4[456] s ahead of Snowflake's \(more than 30 s\)",
        steps[-1].detail,
    ), steps[-1].detail


def test_a_programmatic_access_token_shows_its_expiry(emu: Emulator, clock: FakeClock) -> None:
    from tests.integration.conftest import ACCOUNT, USER

    token = emu.add_pat(ACCOUNT, USER, "ci", days_to_expiry=3)
    config = ClientConfig(
        account=ACCOUNT,
        user=USER,
        url=emu.url,
        authorization_type="PAT",
        personal_access_token=token,
    )
    steps = diagnose(config, clock=clock)
    assert all(s.ok for s in steps), steps
    assert steps[1].detail == "programmatic access token, expires in 3.0 days — renew it soon"
