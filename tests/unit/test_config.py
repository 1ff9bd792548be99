"""ClientConfig: sources and precedence, validation, supplied-JWT deprecation, redaction."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import pytest

from snowpipe_stream import ClientConfig, ConfigError, PrivateKey, PrivateKeyError
from snowpipe_stream._jwt import mint_jwt
from tests.conftest import KEYS, PASSPHRASE

BASE = {"account": "myorg-acct", "user": "svc"}


def cfg(**kw: object) -> ClientConfig:
    return ClientConfig.from_sources(
        env={}, **{**BASE, "private_key_file": str(KEYS / "rsa_key.p8"), **kw}
    )


def test_defaults(rsa_key: PrivateKey) -> None:
    c = cfg()
    assert c.url == "https://myorg-acct.snowflakecomputing.com"
    assert c.key is not None and c.key.fingerprint == rsa_key.fingerprint
    assert (c.jwt_exp_secs, c.jwt_refresh_margin_secs) == (3540, 30)
    assert c.retry_on_unauthorized is True
    assert (c.throttle_backoff_secs, c.max_throttle_retries) == (2.0, 5)
    assert c.compression == "zstd" and c.max_request_bytes == 4 * 1024 * 1024


def test_profile_then_env_then_kwargs(tmp_path: Path) -> None:
    profile = tmp_path / "profile.json"
    profile.write_text(
        json.dumps(
            {
                "account": "from-profile",
                "user": "profile_user",
                "url": "https://p.example.com",
                "private_key_file": str(KEYS / "rsa_key.p8"),
                "role": "PROFILE_ROLE",
                "jwt_exp_secs": 600,
                "host": "ignored.example.com",
                "port": 443,
            }
        )
    )
    env = {
        "SNOWFLAKE_USER": "env_user",
        "SNOWFLAKE_ROLE": "ENV_ROLE",
        "SNOWFLAKE_JWT_EXP_SECS": "900",
    }
    c = ClientConfig.from_sources(profile, env=env, role="ARG_ROLE", user=None)
    assert c.account == "from-profile"  # profile only
    assert c.url == "https://p.example.com"
    assert c.user == "env_user"  # env beats profile; a None argument is no override
    assert c.role == "ARG_ROLE"  # arguments beat env
    assert c.jwt_exp_secs == 900.0  # env string parsed as a number


def test_official_sdk_profile_with_relative_key_path(tmp_path: Path) -> None:
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "k.p8").write_bytes((KEYS / "rsa_key.p8").read_bytes())
    profile = tmp_path / "profile.json"
    profile.write_text(
        json.dumps(
            {
                "account": "a",
                "user": "u",
                "url": "https://a.snowflakecomputing.com:443",
                "private_key_file": "keys/k.p8",
            }
        )
    )
    c = ClientConfig.from_sources(profile, env={})
    assert c.key is not None
    assert c.url == "https://a.snowflakecomputing.com:443"


def test_profile_with_inline_private_key_and_passphrase(tmp_path: Path) -> None:
    profile = tmp_path / "profile.json"
    profile.write_text(
        json.dumps(
            {
                **BASE,
                "private_key": (KEYS / "rsa_key_aes.p8").read_text(),
                "private_key_passphrase": PASSPHRASE,
            }
        )
    )
    assert ClientConfig.from_sources(profile, env={}).key is not None


def test_env_names() -> None:
    env = {
        "SNOWFLAKE_ACCOUNT": "xy12345.us-east-1",
        "SNOWFLAKE_USERNAME": "someone",
        "SNOWFLAKE_PRIVATE_KEY_PATH": str(KEYS / "rsa_key_aes.p8"),
        "SNOWFLAKE_PRIVATE_KEY_PASSPHRASE": PASSPHRASE,
        "SNOWFLAKE_JWT_REFRESH_MARGIN_SECS": "45",
        "SNOWFLAKE_RETRY_ON_UNAUTHORIZED": "false",
        "SNOWFLAKE_COMPRESSION": "GZIP",
        "SNOWFLAKE_MAX_THROTTLE_RETRIES": "7",
    }
    c = ClientConfig.from_sources(env=env)
    assert c.user == "someone"
    assert c.url == "https://xy12345.us-east-1.snowflakecomputing.com"
    assert c.jwt_refresh_margin_secs == 45.0
    assert c.retry_on_unauthorized is False
    assert c.compression == "gzip"
    assert c.max_throttle_retries == 7


def test_key_source_is_taken_as_a_pair_from_the_highest_layer() -> None:
    # The env names an inline key; an argument names a file: the file wins and the env's
    # inline key is not also used (which would be an error: both given).
    env = {
        "SNOWFLAKE_ACCOUNT": "a",
        "SNOWFLAKE_USER": "u",
        "SNOWFLAKE_PRIVATE_KEY": "garbage that would fail to load",
    }
    c = ClientConfig.from_sources(env=env, private_key_file=str(KEYS / "rsa_key.p8"))
    assert c.key is not None


def test_both_key_forms_in_one_layer_is_an_error() -> None:
    with pytest.raises(ConfigError, match="private_key or private_key_file, not both"):
        cfg(private_key=(KEYS / "rsa_key.p8").read_text())


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"jwt_exp_secs": "abc"}, "jwt_exp_secs must be a number, got 'abc'"),
        ({"jwt_refresh_margin_secs": -1}, "jwt_refresh_margin_secs must not be negative"),
        ({"compression": "brotli"}, "compression must be one of zstd, gzip, none"),
        ({"max_request_bytes": 17 * 1024 * 1024}, "at most 16777216"),
        ({"max_request_bytes": 100}, "max_request_bytes must be at least 1024"),
        ({"max_throttle_retries": 1.5}, "whole number"),
        ({"retry_on_unauthorized": "maybe"}, "true or false"),
        ({"throttle_backoff_secs": float("inf")}, "finite"),
        ({"url": "http://snowflake.example.com"}, "plain http:// to a remote host"),
        ({"url": "ftp://x.example.com"}, "must look like https://"),
        ({"url": "https://x.example.com/path"}, "scheme, host and optional port only"),
        ({"url": "https://x.example.com:notaport"}, "invalid port"),
        ({"binary_format": "base32"}, "binary_format must be one of hex, base64"),
        ({"max_inflight_bytes": 2048}, "must be at least max_request_bytes"),
        ({"bogus_setting": 1}, "unknown setting"),
    ],
)
def test_bad_values_name_the_key(kw: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        cfg(**kw)


def test_bad_env_value_names_its_source() -> None:
    with pytest.raises(ConfigError, match=r"jwt_exp_secs \(from the environment\)"):
        ClientConfig.from_sources(
            env={"SNOWFLAKE_JWT_EXP_SECS": "soon"},
            **BASE,
            private_key_file=str(KEYS / "rsa_key.p8"),
        )


def test_missing_credentials_account_user() -> None:
    with pytest.raises(ConfigError, match="no credentials"):
        ClientConfig.from_sources(env={}, **BASE)
    with pytest.raises(ConfigError, match="user is required"):
        ClientConfig.from_sources(env={}, account="a", private_key_file=str(KEYS / "rsa_key.p8"))
    with pytest.raises(ConfigError, match="account is required"):
        ClientConfig.from_sources(env={}, user="u", private_key_file=str(KEYS / "rsa_key.p8"))


def test_bad_key_is_a_private_key_error_naming_the_source() -> None:
    with pytest.raises(PrivateKeyError, match=r"private_key \(from the environment\)"):
        ClientConfig.from_sources(env={"SNOWFLAKE_PRIVATE_KEY": "junk!"}, **BASE)
    with pytest.raises(PrivateKeyError, match="wrong passphrase"):
        cfg(private_key_file=str(KEYS / "rsa_key_aes.p8"), private_key_passphrase="nope")


def test_http_is_allowed_to_loopback_and_by_opt_in() -> None:
    assert cfg(url="http://127.0.0.1:8080/").url == "http://127.0.0.1:8080"
    assert cfg(url="http://localhost:1").url == "http://localhost:1"
    assert cfg(url="http://[::1]:1").url == "http://[::1]:1"
    assert cfg(url="http://x.example.com", allow_insecure_http=True).url == "http://x.example.com"
    assert cfg(url="x.example.com").url == "https://x.example.com"


def test_repr_redacts_secrets(rsa_key: PrivateKey) -> None:
    pem = (KEYS / "rsa_key_aes.p8").read_text()
    c = cfg(private_key_file=None, private_key=pem, private_key_passphrase=PASSPHRASE)
    text = repr(c)
    assert PASSPHRASE not in text and "BEGIN" not in text and "MII" not in text
    assert "private_key_passphrase=<redacted>" in text
    assert rsa_key.fingerprint in text
    assert str(c) == text


def _token(key: PrivateKey, exp_in: float) -> str:
    token, _ = mint_jwt(key, account="a", user="u", now=time.time() + exp_in - 60, lifetime_secs=60)
    return token


def test_supplied_jwt_is_deprecated(rsa_key: PrivateKey, caplog: pytest.LogCaptureFixture) -> None:
    token = _token(rsa_key, 3000)
    with pytest.warns(DeprecationWarning, match="Give the private key instead") as record:
        c = ClientConfig.from_sources(env={}, account="a", jwt=token)
    assert len(record) == 1
    assert c.jwt == token and c.key is None
    logged = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(logged) == 1 and "deprecated" in logged[0]
    assert token not in repr(c)


@pytest.mark.parametrize(("exp_in", "match"), [(-120, "expired"), (10, "expires in")])
def test_supplied_jwt_near_expiry_warns(
    rsa_key: PrivateKey, caplog: pytest.LogCaptureFixture, exp_in: float, match: str
) -> None:
    with pytest.warns(DeprecationWarning):
        ClientConfig.from_sources(env={}, account="a", jwt_token=_token(rsa_key, exp_in))
    logged = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(logged) == 2 and match in logged[1]


def test_supplied_jwt_from_env(rsa_key: PrivateKey) -> None:
    with pytest.warns(DeprecationWarning):
        c = ClientConfig.from_sources(
            env={
                "SNOWFLAKE_JWT_TOKEN": _token(rsa_key, 3000),
                "SNOWFLAKE_URL": "https://a.snowflakecomputing.com",
            }
        )
    assert c.jwt is not None


def test_private_key_wins_over_a_supplied_jwt(
    rsa_key: PrivateKey, caplog: pytest.LogCaptureFixture
) -> None:
    c = cfg(jwt=_token(rsa_key, 3000))
    assert c.jwt is None and c.key is not None
    assert any("ignoring the JWT" in r.getMessage() for r in caplog.records)


def test_config_is_frozen_and_replace_validates() -> None:
    c = cfg()
    with pytest.raises(AttributeError):
        c.user = "x"  # type: ignore[misc]
    assert c.replace(role="R").role == "R"
    with pytest.raises(ConfigError):
        c.replace(compression="lz4")


def test_ca_file_is_loaded_when_the_config_is_built(tmp_path: Path, rsa_key: PrivateKey) -> None:
    base = {"account": "a", "user": "u", "private_key": rsa_key}
    with pytest.raises(ConfigError, match=r"ca_file \(from the environment\): .* does not exist"):
        ClientConfig.from_sources(env={"SNOWFLAKE_CA_FILE": str(tmp_path / "nope.pem")}, **base)
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate")
    with pytest.raises(ConfigError, match="holds no CA certificate in PEM form"):
        ClientConfig(ca_file=str(junk), **base)


def test_sizes_accept_units(rsa_key: PrivateKey) -> None:
    from snowpipe_stream._config import parse_size

    assert [parse_size(s) for s in ("4194304", "4MiB", "512KB", "1.5 kib", "2 GB")] == [
        4 * 1024**2,
        4 * 1024**2,
        512_000,
        1536,
        2 * 1000**3,
    ]
    for bad in ("4 MiBs", "-1", "1.0001KB", ""):
        with pytest.raises(ValueError):
            parse_size(bad)
    env = {"SNOWFLAKE_MAX_REQUEST_BYTES": "1MiB", "SNOWFLAKE_MAX_INFLIGHT_BYTES": "8 MiB"}
    config = ClientConfig.from_sources(env=env, account="a", user="u", private_key=rsa_key)
    assert config.max_request_bytes == 1024**2 and config.max_inflight_bytes == 8 * 1024**2
    with pytest.raises(ConfigError, match=r"max_request_bytes \(from the environment\): '4 MiBs'"):
        ClientConfig.from_sources(
            env={"SNOWFLAKE_MAX_REQUEST_BYTES": "4 MiBs"},
            account="a",
            user="u",
            private_key=rsa_key,
        )
