"""The ingest URL from the hostname answer passes the same https-or-loopback rule as ``url``.

With ``url=http://127.0.0.1:PORT`` (plain http, allowed because it is loopback), a hostname
answer naming a remote host would otherwise make the client send the scoped token in clear text
to that host. The client raises ConfigError first: no token exchange, nothing sent there.
"""

from __future__ import annotations

from typing import Any

import pytest

from snowpipe_stream import ConfigError, PrivateKey
from snowpipe_stream._config import is_loopback, require_safe_url
from snowpipe_stream._protocol import parse_hostname
from snowpipe_stream.testing import FakeClock
from tests.clients import run_on_fake
from tests.fakes import CONTROL, FakeSnowflake

LOCAL = "http://127.0.0.1:8123"
REMOTE = "ingest.example.com"


async def open_and_append(client: Any) -> Any:
    channel, _ = await client.open_channel("ch1")
    await channel.append_row({"id": 1}, offset_token="1")
    await channel.wait_for_commit("1", timeout=5)
    return channel


def scoped_tokens_sent(fake: FakeSnowflake) -> list[str]:
    return [
        str(r.url)
        for r in fake.requests
        if r.headers.get("Authorization", "").startswith("Bearer scoped-token-")
    ]


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_remote_ingest_host_over_http_raises_before_anything_goes_there(
    mode: str, rsa_key: PrivateKey, clock: FakeClock
) -> None:
    fake = FakeSnowflake(ingest_host=REMOTE)

    async def scenario(client: Any) -> None:
        for _ in range(2):  # the unsafe URL is not cached: a second call fails the same way
            with pytest.raises(ConfigError) as caught:
                await client.open_channel("ch1")
            message = str(caught.value)
            assert f"http://{REMOTE}:8123" in message
            assert "plain http:// to a remote host (ingest.example.com)" in message
            assert "allow_insecure_http=True" in message and "https://" in message

    run_on_fake(mode, fake, clock, rsa_key, scenario, url=LOCAL)
    assert {r.url.host for r in fake.requests} == {"127.0.0.1"}
    assert len(fake.calls("hostname")) == 2
    assert fake.calls("token") == [] and fake.tokens_issued == 0
    assert scoped_tokens_sent(fake) == []


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_allow_insecure_http_lets_the_remote_ingest_host_through(
    mode: str, rsa_key: PrivateKey, clock: FakeClock
) -> None:
    fake = FakeSnowflake(ingest_host=REMOTE)
    run_on_fake(mode, fake, clock, rsa_key, open_and_append, url=LOCAL, allow_insecure_http=True)
    assert fake.rows["ch1"] == [{"id": 1}]
    assert {r.url for r in fake.calls("append")} and all(
        str(r.url).startswith(f"http://{REMOTE}:8123/") for r in fake.calls("append")
    )


@pytest.mark.parametrize(
    ("url", "ingest_host", "expected"),
    [
        (CONTROL, REMOTE, f"https://{REMOTE}"),  # https: any host
        (LOCAL, "127.0.0.2", "http://127.0.0.2:8123"),  # plain http, loopback answer
        (LOCAL, "localhost", "http://localhost:8123"),
    ],
)
def test_https_or_loopback_answers_are_used(
    url: str, ingest_host: str, expected: str, rsa_key: PrivateKey, clock: FakeClock
) -> None:
    fake = FakeSnowflake(ingest_host=ingest_host)
    run_on_fake("sync", fake, clock, rsa_key, open_and_append, url=url)
    assert fake.rows["ch1"] == [{"id": 1}]
    sent = scoped_tokens_sent(fake)
    assert sent and all(u.startswith(expected + "/") for u in sent)


# --- the one rule, and the parser that applies it ------------------------------------------


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("localhost", True),
        ("LOCALHOST", True),
        ("127.0.0.1", True),
        ("127.9.8.7", True),
        ("::1", True),
        ("10.0.0.1", False),
        ("::2", False),
        ("example.com", False),
        ("127.0.0.1.example.com", False),
        ("localhost.example.com", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback
    url = f"http://[{host}]:1" if ":" in host else f"http://{host}:1"
    if loopback:
        require_safe_url(url, allow_insecure_http=False, what="u")
    else:
        with pytest.raises(ConfigError, match="plain http:// to a remote host"):
            require_safe_url(url, allow_insecure_http=False, what="u")
    require_safe_url(url, allow_insecure_http=True, what="u")
    require_safe_url(url.replace("http://", "https://"), allow_insecure_http=False, what="u")


def test_parse_hostname_applies_the_rule() -> None:
    with pytest.raises(ConfigError, match=r"the ingest URL http://ingest\.example\.com:8123 "):
        parse_hostname(REMOTE.encode(), LOCAL)
    with pytest.raises(ConfigError, match="remote host"):
        parse_hostname(b"10.1.2.3", "http://[::1]:8123")
    assert parse_hostname(REMOTE.encode(), LOCAL, allow_insecure_http=True) == (
        REMOTE,
        f"http://{REMOTE}:8123",
    )
    assert parse_hostname(b"::1", LOCAL) == ("::1", "http://[::1]:8123")
