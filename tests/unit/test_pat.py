"""Programmatic access tokens: settings, the file re-read on change, the expiry warning."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pytest

from snowpipe_stream import ClientConfig, ConfigError
from snowpipe_stream._authorization import build_credential
from snowpipe_stream._pat import PatCredential
from snowpipe_stream.testing import FakeClock

from ..conftest import KNOWN_SECRETS

PAT = "ver:1-hint:1234-ETMsDgAAAZx-not-a-real-secret"
KNOWN_SECRETS.add(PAT)
DAY = 86_400.0


def _write(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text + "\n")
    os.replace(tmp, path)


def test_env_names_the_type_and_the_token_as_the_official_sdk_does() -> None:
    config = ClientConfig.from_sources(
        env={
            "SNOWFLAKE_ACCOUNT": "acct",
            "SNOWFLAKE_AUTHORIZATION_TYPE": "pat",
            "SNOWFLAKE_PERSONAL_ACCESS_TOKEN": PAT,
        }
    )
    assert config.authorization_type == "PAT"
    assert PAT not in repr(config) and "personal_access_token=<redacted>" in repr(config)
    cred = build_credential(config, FakeClock())
    assert isinstance(cred, PatCredential)
    assert cred.token_type == "PROGRAMMATIC_ACCESS_TOKEN"
    assert cred.get_token() == PAT
    assert PAT not in repr(cred)


def test_a_profile_with_a_pat_and_no_key_means_pat(tmp_path: Path) -> None:
    (tmp_path / "pat.txt").write_text(PAT)
    profile = tmp_path / "profile.json"
    profile.write_text(
        json.dumps({"account": "acct", "user": "svc", "personal_access_token_file": "pat.txt"})
    )
    config = ClientConfig.from_sources(profile, env={})
    assert config.authorization_type == "PAT"
    assert config.personal_access_token_file == str(tmp_path / "pat.txt")


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"authorization_type": "PASSWORD"}, "must be one of JWT, PAT, OAUTH"),
        ({"authorization_type": "PAT"}, "no token is configured"),
        (
            {"personal_access_token": PAT, "personal_access_token_file": "/nonexistent"},
            "not both",
        ),
        ({"personal_access_token_file": "/nonexistent/pat"}, "does not exist"),
        (
            {"personal_access_token": PAT, "personal_access_token_expires_at": "next week"},
            "ISO 8601",
        ),
    ],
)
def test_bad_pat_settings_are_named(kw: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        ClientConfig(account="acct", **kw)  # type: ignore[arg-type]
    assert PAT not in str(info.value)


def test_the_file_is_reread_when_it_changes_and_after_a_401(tmp_path: Path) -> None:
    path = tmp_path / "pat.txt"
    _write(path, "first-secret-value")
    KNOWN_SECRETS.update({"first-secret-value", "second-secret-value"})
    cred = PatCredential(path=path, clock=FakeClock())
    assert cred.get_token() == "first-secret-value"
    _write(path, "second-secret-value")
    assert cred.get_token() == "second-secret-value"
    assert cred.reloads == 1
    path.write_text("")  # being rewritten: the PAT in hand is kept
    assert cred.get_token() == "second-secret-value"
    cred.invalidate("second-secret-value")
    assert cred.get_token() == "second-secret-value"


def test_expiry_warning_once_a_day_under_seven_days(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    cred = PatCredential(PAT, expires_at=clock.time() + 9 * DAY, clock=clock)

    def warnings_now() -> int:
        cred.get_token()
        return sum("expires in" in r.getMessage() for r in caplog.records)

    with caplog.at_level(logging.WARNING, logger="snowpipe_stream.auth"):
        assert warnings_now() == 0  # 9 days left
        clock.advance(2.5 * DAY)
        assert warnings_now() == 1  # 6.5 days left: warned
        clock.advance(3600)
        assert warnings_now() == 1  # not again within the day
        clock.advance(DAY)
        assert warnings_now() == 2
    assert all(PAT not in r.getMessage() for r in caplog.records)


def test_expiry_given_as_show_user_pats_prints_it() -> None:
    config = ClientConfig(
        account="acct",
        personal_access_token=PAT,
        personal_access_token_expires_at="2026-12-01 10:00:00.000 +0000",
    )
    assert config.personal_access_token_expires_at == 1796119200.0


def test_describe_credential_names_the_pat_expiry_without_the_secret() -> None:
    from snowpipe_stream._authorization import describe_credential

    clock = FakeClock()
    config = ClientConfig(
        account="acct",
        personal_access_token=PAT,
        personal_access_token_expires_at=clock.time() + 3 * DAY,
    )
    described = describe_credential(build_credential(config, clock))
    assert described == {
        "token_type": "PROGRAMMATIC_ACCESS_TOKEN",
        "pat_expires_at": clock.time() + 3 * DAY,
        "pat_days_left": 3.0,
    }
