"""Connection failures over real sockets: what no retry heals fails at once, a dead server fails
within ``initial_connect_deadline_secs``, and every error names the URL and the setting."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from snowpipe_stream import APIConnectionError, Client, ClientConfig, PrivateKey
from snowpipe_stream.emulator import Emulator
from snowpipe_stream.testing import FakeClock
from tests.integration.conftest import ACCOUNT, DB, PIPE, SCHEMA, USER


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def tls_emu(rsa_key: PrivateKey) -> Iterator[Emulator]:
    with Emulator(users=[(ACCOUNT, USER, rsa_key)], tls=True) as emulator:
        yield emulator


@pytest.fixture(autouse=True)
def no_trust_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("SSL_CERT_FILE", "SSL_CERT_DIR", "SNOWFLAKE_CA_FILE"):
        monkeypatch.delenv(var, raising=False)


def fail_to_open(url: str, key: PrivateKey, clock: FakeClock) -> tuple[APIConnectionError, int]:
    """The error of a first open_channel, and how many requests were sent."""
    config = ClientConfig(account=ACCOUNT, user=USER, private_key=key, url=url)
    with Client("app", DB, SCHEMA, PIPE, config=config, clock=clock) as client:
        with pytest.raises(APIConnectionError) as info:
            client.open_channel("c")
        return info.value, client.stats.requests


def test_a_closed_port_fails_within_the_initial_deadline(
    rsa_key: PrivateKey, clock: FakeClock
) -> None:
    port = closed_port()
    err, _ = fail_to_open(f"http://127.0.0.1:{port}", rsa_key, clock)
    assert 0 < sum(clock.sleeps) <= 3.0 and err.retryable
    assert f"cannot reach http://127.0.0.1:{port}: connection failed" in str(err)
    assert "before any successful request" in str(err) and "ClientConfig.url" in str(err)
    assert err.endpoint == f"http://127.0.0.1:{port}" and err.setting == "url"


def test_an_untrusted_certificate_is_not_retried(
    tls_emu: Emulator, rsa_key: PrivateKey, clock: FakeClock
) -> None:
    err, sent = fail_to_open(tls_emu.url, rsa_key, clock)
    assert sent == 1 and clock.sleeps == [] and not err.retryable
    assert f"the TLS certificate of {tls_emu.url} is not trusted" in str(err)
    assert "CERTIFICATE_VERIFY_FAILED" in str(err)


def test_https_to_an_http_server_is_not_retried(rsa_key: PrivateKey, clock: FakeClock) -> None:
    with Emulator(users=[(ACCOUNT, USER, rsa_key)]) as plain:
        https = plain.url.replace("http://", "https://")
        err, sent = fail_to_open(https, rsa_key, clock)
    assert sent == 1 and clock.sleeps == [] and not err.retryable
    assert f"TLS with {https} failed" in str(err) and "WRONG_VERSION_NUMBER" in str(err)
    assert "an http:// server?" in str(err) and "ClientConfig.url" in str(err)


def test_http_to_an_https_server_fails_within_the_initial_deadline(
    tls_emu: Emulator, rsa_key: PrivateKey, clock: FakeClock
) -> None:
    http = tls_emu.url.replace("https://", "http://")
    err, _ = fail_to_open(http, rsa_key, clock)
    assert sum(clock.sleeps) <= 3.0 and f"cannot reach {http}" in str(err)
    assert "a server that speaks https needs an https:// URL" in str(err)


def test_a_host_that_does_not_exist_is_not_retried(rsa_key: PrivateKey, clock: FakeClock) -> None:
    # RFC 6761: .invalid names resolve nowhere, with or without a network.
    err, sent = fail_to_open("https://snowpipe-stream-test.invalid", rsa_key, clock)
    assert sent == 1 and clock.sleeps == [] and not err.retryable
    assert "host snowpipe-stream-test.invalid not found" in str(err)
    assert err.endpoint == "https://snowpipe-stream-test.invalid:443"


def test_ca_file_trusts_a_private_ca(tls_emu: Emulator, rsa_key: PrivateKey) -> None:
    assert tls_emu.ca_path is not None
    config = ClientConfig(
        account=ACCOUNT,
        user=USER,
        private_key=rsa_key,
        url=tls_emu.url,
        ca_file=str(tls_emu.ca_path),
    )
    with Client("app", DB, SCHEMA, PIPE, config=config) as client:
        channel, _ = client.open_channel("ca")
        channel.append_row({"n": 1}, offset_token="1")
        channel.wait_for_commit("1", timeout=30)
    assert tls_emu.rows(DB, SCHEMA, PIPE, "ca") == [{"n": 1}]
