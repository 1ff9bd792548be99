"""Hostile and broken input, one table: every case gives a typed error a user can act on."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from snowpipe_stream import (
    ChannelInvalidatedError,
    Client,
    ClientConfig,
    ConfigError,
    InvalidRowError,
    OffsetTokenError,
    PrivateKey,
    PrivateKeyError,
    RowTooLargeError,
    RowTypeError,
    UnexpectedResponseError,
)
from snowpipe_stream.emulator import Emulator
from tests.conftest import KEYS, PASSPHRASE
from tests.fakes import CONTROL, FakeSnowflake, Scripted

KEY = str(KEYS / "rsa_key.p8")
BASE: dict[str, Any] = {"account": "a", "user": "u", "private_key_file": KEY}


def config(**kw: Any) -> Callable[[Path], Any]:
    def make(_tmp: Path) -> Any:
        return ClientConfig.from_sources(env={}, **{**BASE, **kw})

    return make


def key_file(name: str, passphrase: str | None = None) -> Callable[[Path], Any]:
    return lambda _tmp: PrivateKey.from_file(KEYS / name, passphrase)


def key_text(text: str) -> Callable[[Path], Any]:
    def make(tmp: Path) -> Any:
        path = tmp / "key.p8"
        path.write_text(text)
        return PrivateKey.from_file(path)

    return make


def unreadable(tmp: Path) -> Any:
    path = tmp / "locked.p8"
    path.write_bytes((KEYS / "rsa_key.p8").read_bytes())
    real = Path.read_bytes

    def deny(self: Path) -> bytes:
        if self == path:
            raise PermissionError(13, "Permission denied")
        return real(self)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Path, "read_bytes", deny)
        return PrivateKey.from_file(path)


TRUNCATED = (KEYS / "rsa_key.p8").read_text()[:700]

KEY_AND_CONFIG_CASES: list[tuple[str, Callable[[Path], Any], type[Exception], str]] = [
    ("garbage key", key_text("this is not a key"), PrivateKeyError, "not valid; expected an RSA"),
    ("truncated PEM", key_text(TRUNCATED), PrivateKeyError, "not valid"),
    ("wrong passphrase", key_file("rsa_key_aes.p8", "wrong"), PrivateKeyError, "wrong passphrase"),
    (
        "missing passphrase",
        key_file("rsa_key_aes.p8"),
        PrivateKeyError,
        "encrypted; give its passphrase",
    ),
    ("EC key", key_file("ec_key.p8"), PrivateKeyError, "EC key; .* needs an RSA key"),
    ("DSA key", key_file("dsa_key.p8"), PrivateKeyError, "DSA key"),
    ("empty file", key_text(""), PrivateKeyError, "is empty"),
    ("directory", lambda tmp: PrivateKey.from_file(tmp), PrivateKeyError, "is a directory"),
    ("unreadable file", unreadable, PrivateKeyError, "permission denied"),
    ("public key", key_file("rsa_key.pub"), PrivateKeyError, "PUBLIC KEY, not a private key"),
    ("missing account", config(account=None), ConfigError, "account is required"),
    ("missing user", config(user=None), ConfigError, "user is required"),
    ("missing key", config(private_key_file=None), ConfigError, "no credentials"),
    (
        "non-numeric lifetime",
        config(jwt_exp_secs="an hour"),
        ConfigError,
        "jwt_exp_secs must be a number",
    ),
    ("negative margin", config(jwt_refresh_margin_secs=-5), ConfigError, "must not be negative"),
    (
        "http to a remote host",
        config(url="http://acct.snowflakecomputing.com"),
        ConfigError,
        "plain http:// to a remote host",
    ),
    (
        "unknown compression",
        config(compression="lz4"),
        ConfigError,
        "compression must be one of zstd, gzip, none",
    ),
    (
        "batch over 16 MiB",
        config(max_request_bytes=32 * 1024 * 1024),
        ConfigError,
        "at most 16777216",
    ),
]


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [c[1:] for c in KEY_AND_CONFIG_CASES],
    ids=[c[0] for c in KEY_AND_CONFIG_CASES],
)
def test_keys_and_config(
    tmp_path: Path, make: Callable[[Path], Any], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match) as info:
        make(tmp_path)
    assert "MII" not in str(info.value) and PASSPHRASE not in str(info.value)


def test_small_rsa_key_only_warns(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        assert PrivateKey.from_file(KEYS / "rsa_1024.p8").bits == 1024
    assert any("at least 2048 bits" in r.getMessage() for r in caplog.records)


_cyclic: list[Any] = []
_cyclic.append(_cyclic)

ROW_CASES: list[tuple[str, Any, type[Exception], str]] = [
    ("not a mapping", ["a", 1], RowTypeError, "a row must be a mapping"),
    ("non-str key", {("a",): 1}, RowTypeError, "keys must be str"),
    ("NaN", {"x": float("nan")}, InvalidRowError, "no NaN or Infinity"),
    ("Infinity", {"x": float("inf")}, InvalidRowError, "no NaN or Infinity"),
    ("cyclic list", {"x": _cyclic}, RowTypeError, "a cycle"),
    ("unserializable object", {"x": object()}, RowTypeError, "unsupported type object"),
    (
        "row over the request limit",
        {"x": "y" * 5000},
        RowTooLargeError,
        "over the 4096-byte request limit",
    ),
    ("invalid UTF-8 in a str key", {"k\udcff": 1}, InvalidRowError, "not valid Unicode"),
]


@pytest.fixture(scope="module")
def emulator() -> Any:
    key = PrivateKey.from_file(KEYS / "rsa_key.p8")
    with Emulator(users=[("a", "u", key)]) as emu:
        yield emu


@pytest.mark.parametrize(
    ("row", "error", "match"), [c[1:] for c in ROW_CASES], ids=[c[0] for c in ROW_CASES]
)
def test_bad_rows_and_the_rows_around_them(
    emulator: Emulator, row: Any, error: type[Exception], match: str, request: pytest.FixtureRequest
) -> None:
    name = request.node.callspec.id.replace(" ", "-")
    cfg = ClientConfig.from_sources(
        env={}, **BASE, url=emulator.url, max_request_bytes=4096, max_inflight_bytes=8192
    )
    with Client("bad-rows", "DB", "S", "P", config=cfg) as client:
        channel, _ = client.open_channel(name)
        channel.append_row({"n": 1}, offset_token="1")
        with pytest.raises(error, match=match):
            channel.append_row(row, offset_token="2")
        with pytest.raises(error, match=match):
            channel.append_rows([{"n": 2}, row], start_offset_token="2", end_offset_token="3")
        channel.append_row({"n": 2}, offset_token="2")
        channel.wait_for_commit("2", timeout=30)
    assert emulator.rows("DB", "S", "P", name) == [{"n": 1}, {"n": 2}]


ARGUMENT_CASES: list[tuple[str, Callable[[Any, Any], Any], type[Exception], str]] = [
    (
        "int offset token",
        lambda c, ch: ch.append_row({"n": 9}, 5),
        TypeError,
        "offset_token must be a str or None, got int 5",
    ),
    (
        "empty offset token",
        lambda c, ch: ch.append_row({"n": 9}, ""),
        OffsetTokenError,
        "offset_token is an empty string",
    ),
    (
        "int start token",
        lambda c, ch: ch.append_rows([{"n": 9}], 9, "9"),
        TypeError,
        "start_offset_token must be a str or None, got int",
    ),
    (
        "int end token",
        lambda c, ch: ch.append_rows([{"n": 9}], "9", 9),
        TypeError,
        "end_offset_token must be a str or None, got int",
    ),
    (
        "one mapping as rows",
        lambda c, ch: ch.append_rows({"n": 9}),
        TypeError,
        "rows must be an iterable of mappings.*append_row",
    ),
    ("a str as rows", lambda c, ch: ch.append_rows("n"), TypeError, "rows must be an iterable"),
    (
        "str NDJSON",
        lambda c, ch: ch.append_ndjson('{"n":9}\n'),
        TypeError,
        r"data must be bytes of NDJSON, got str; encode it first",
    ),
    (
        "int commit target",
        lambda c, ch: ch.wait_for_commit(9),
        TypeError,
        "token must be an offset token",
    ),
    (
        "str timeout",
        lambda c, ch: ch.wait_for_commit("9", timeout="10"),
        TypeError,
        "timeout must be a number of seconds, got str",
    ),
    ("negative timeout", lambda c, ch: ch.close(timeout=-1), ValueError, ">= 0, got -1"),
    (
        "int open offset token",
        lambda c, ch: c.open_channel("other", offset_token=7),
        TypeError,
        "offset_token must be a str or None, got int 7",
    ),
    (
        "one name as names",
        lambda c, ch: c.get_channel_statuses("ch"),
        TypeError,
        r"names must be a list of channel names.*pass \['ch'\]",
    ),
]


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [c[1:] for c in ARGUMENT_CASES],
    ids=[c[0] for c in ARGUMENT_CASES],
)
def test_bad_arguments_are_refused_where_they_enter(
    emulator: Emulator,
    call: Callable[[Any, Any], Any],
    error: type[Exception],
    match: str,
    request: pytest.FixtureRequest,
) -> None:
    name = "arg-" + request.node.callspec.id.replace(" ", "-")
    cfg = ClientConfig.from_sources(env={}, **BASE, url=emulator.url, max_client_lag=0)
    with Client("bad-args", "DB", "S", "P", config=cfg) as client:
        channel, _ = client.open_channel(name)
        channel.append_row({"n": 1}, offset_token="1")
        with pytest.raises(error, match=match):
            call(client, channel)
        channel.append_row({"n": 2}, offset_token="2")  # nothing of the bad call was kept
        channel.wait_for_commit("2", timeout=30)
    assert emulator.rows("DB", "S", "P", name) == [{"n": 1}, {"n": 2}]


RESPONSE_CASES: list[tuple[str, str, Scripted, type[Exception], str]] = [
    (
        "non-JSON status body",
        "status",
        Scripted(200, "<html>oops</html>"),
        UnexpectedResponseError,
        "not valid JSON",
    ),
    (
        "truncated status JSON",
        "status",
        Scripted(200, '{"channel_statuses": {"ch": {'),
        UnexpectedResponseError,
        "not valid JSON",
    ),
    (
        "unknown channel_status_code",
        "open",
        Scripted(
            200,
            {"next_continuation_token": "c", "channel_status": {"channel_status_code": "WEIRD"}},
        ),
        ChannelInvalidatedError,
        "answered WEIRD",
    ),
    (
        "hostname with scheme",
        "hostname",
        Scripted(200, "https://x.example.com"),
        UnexpectedResponseError,
        "expected a bare host name",
    ),
    (
        "hostname with port",
        "hostname",
        Scripted(200, "x.example.com:443"),
        UnexpectedResponseError,
        "expected a bare host name",
    ),
    ("empty token answer", "token", Scripted(200, ""), UnexpectedResponseError, "holds no token"),
]


@pytest.mark.parametrize(
    ("kind", "answer", "error", "match"),
    [c[1:] for c in RESPONSE_CASES],
    ids=[c[0] for c in RESPONSE_CASES],
)
def test_bad_responses(kind: str, answer: Scripted, error: type[Exception], match: str) -> None:
    fake = FakeSnowflake().then(kind, answer)
    cfg = ClientConfig.from_sources(env={}, **BASE, url=CONTROL)
    with (
        Client("bad-answers", "DB", "S", "P", config=cfg, transport=fake.mock()) as client,
        pytest.raises(error, match=match),
    ):
        client.open_channel("ch")
        client.get_channel_statuses(["ch"])
