"""Pure request building and tolerant parsing."""

from __future__ import annotations

import pytest

from snowpipe_stream import APIStatusError, NotFoundError, PrivateKey
from snowpipe_stream._jwt import mint_jwt
from snowpipe_stream._protocol import (
    ChannelStatus,
    build_user_agent,
    parse_bulk_status,
    parse_error_body,
    parse_hostname,
    parse_open,
    parse_scoped_token,
    pipe_path,
)


@pytest.mark.parametrize(
    ("body", "control", "host", "url"),
    [
        (
            b"acct_x.ingest.example.com",
            "https://a.snowflakecomputing.com",
            "acct-x.ingest.example.com",
            "https://acct-x.ingest.example.com",
        ),
        (
            b"  ACCT.Ingest.Example.com\n",
            "https://a.snowflakecomputing.com",
            "acct.ingest.example.com",
            "https://acct.ingest.example.com",
        ),
        (
            b'{"hostname": "my_acct.ingest.x.com"}',
            "https://a.snowflakecomputing.com",
            "my-acct.ingest.x.com",
            "https://my-acct.ingest.x.com",
        ),
        (
            b'"quoted.example.com"',
            "https://a.x.com",
            "quoted.example.com",
            "https://quoted.example.com",
        ),
        (b"127.0.0.1", "http://127.0.0.1:8123", "127.0.0.1", "http://127.0.0.1:8123"),
        (b"::1", "http://[::1]:8123", "::1", "http://[::1]:8123"),
    ],
)
def test_parse_hostname(body: bytes, control: str, host: str, url: str) -> None:
    assert parse_hostname(body, control) == (host, url)


@pytest.mark.parametrize(
    "body",
    [b"", b"   ", b'{"other": 1}', b"https://x.example.com", b"host/with/path", b"two words"],
)
def test_parse_hostname_rejects(body: bytes) -> None:
    with pytest.raises(APIStatusError, match="discover the ingest host"):
        parse_hostname(body, "https://a.snowflakecomputing.com")


def test_parse_scoped_token(rsa_key: PrivateKey) -> None:
    jwt, _exp = mint_jwt(rsa_key, account="a", user="u", now=1000, lifetime_secs=600)
    assert parse_scoped_token(jwt.encode(), now=1000) == (jwt, 1600.0)
    assert parse_scoped_token(f'{{"token": "{jwt}"}}'.encode(), now=1000) == (jwt, 1600.0)
    # Opaque tokens are assumed to live 55 minutes.
    assert parse_scoped_token(b"opaque-token\n", now=1000) == ("opaque-token", 1000 + 3300)
    with pytest.raises(APIStatusError, match="holds no token"):
        parse_scoped_token(b'{"token": ""}', now=0)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            b'{"code": "STALE_CONTINUATION_TOKEN_SEQUENCER", "message": "stale"}',
            ("STALE_CONTINUATION_TOKEN_SEQUENCER", "stale"),
        ),
        (
            b'{"error_code": "ERR_PIPE_DOES_NOT_EXIST_OR_NOT_AUTHORIZED", "message": "m"}',
            ("ERR_PIPE_DOES_NOT_EXIST_OR_NOT_AUTHORIZED", "m"),
        ),
        (b'{"status_code": 4, "message": "old style"}', ("4", "old style")),
        (b'"ERR_GENERAL_EXCEPTION_RETRY_REQUEST"', ("ERR_GENERAL_EXCEPTION_RETRY_REQUEST", None)),
        (b"ERR_GENERAL_EXCEPTION_RETRY_REQUEST", ("ERR_GENERAL_EXCEPTION_RETRY_REQUEST", None)),
        (b"<html>Bad Gateway</html>", (None, "<html>Bad Gateway</html>")),
        (b"", (None, None)),
        (b"{truncated", (None, "{truncated")),
    ],
)
def test_parse_error_body(body: bytes, expected: tuple[str | None, str | None]) -> None:
    assert parse_error_body(body) == expected


def test_status_is_parsed_tolerantly() -> None:
    status = ChannelStatus.from_wire(
        {
            "channel_name": "c",
            "channel_status_code": "SUCCESS",
            "last_committed_offset_token": 17,
            "rows_errors": 3,
            "last_error_timestamp": "2026-01-02T03:04:05Z",
            "unknown_field": {"x": 1},
        }
    )
    assert status.last_committed_offset_token == "17"
    assert status.rows_error_count == 3
    assert status.last_error_timestamp_ms == 1767323045000
    assert status.is_valid and status.latest_committed_offset_token == "17"
    ms = ChannelStatus.from_wire(
        {
            "channel_status_code": "X",
            "rows_error_count": 2,
            "rows_errors": 9,
            "last_error_timestamp": 1700000000123,
        },
        name="d",
    )
    assert (ms.channel_name, ms.rows_error_count, ms.last_error_timestamp_ms) == (
        "d",
        2,
        1700000000123,
    )
    assert not ms.is_valid


def test_parse_bulk_status() -> None:
    body = b'{"channel_statuses": {"a": {"channel_status_code": "SUCCESS"}}}'
    assert parse_bulk_status(body, ["a"])["a"].is_valid
    # Channel names are case-insensitive: an answer in another spelling is found under ours.
    assert parse_bulk_status(body, ["A"])["A"].is_valid
    with pytest.raises(NotFoundError):
        parse_bulk_status(body, ["b"])
    with pytest.raises(APIStatusError, match="not valid JSON"):
        parse_bulk_status(b'{"channel_statuses": {', ["a"])
    with pytest.raises(APIStatusError, match="no channel_statuses"):
        parse_bulk_status(b"{}", ["a"])


def test_parse_open_requires_a_continuation_token() -> None:
    with pytest.raises(APIStatusError, match="no next_continuation_token"):
        parse_open(b'{"channel_status": {"channel_status_code": "SUCCESS"}}', "c")
    token, status = parse_open(
        b'{"next_continuation_token": "t", "channel_status": {"channel_status_code": "SUCCESS",'
        b' "last_committed_offset_token": null}}',
        "c",
    )
    assert token == "t" and status.last_committed_offset_token is None


def test_paths_are_percent_encoded() -> None:
    assert pipe_path("my db", "s/x", "P-STREAMING") == (
        "/v2/streaming/databases/my%20db/schemas/s%2Fx/pipes/P-STREAMING"
    )
    assert pipe_path("d", "s", "p", data=True).startswith("/v2/streaming/data/databases/")


def test_user_agent_shape() -> None:
    ua = build_user_agent()
    assert ua.startswith("snowpipe-stream/") and " PYTHON/3." in ua and "(" in ua
    assert build_user_agent("acme").endswith(" (app=acme)")
