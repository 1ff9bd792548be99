"""Channel-name rules (snowpipe_stream._names), shared by the client and the emulator."""

from __future__ import annotations

import re

import pytest

from snowpipe_stream import ConfigError, InvalidChannelNameError, NotFoundError
from snowpipe_stream._names import (
    MAX_CHANNEL_NAME_CHARS,
    channel_key,
    channel_name_problem,
    check_channel_name,
)
from snowpipe_stream._protocol import drop_op, parse_bulk_status, status_op

VALID = [
    "ch",
    "Mixed",
    "a/b c",  # '/' and ' ' are percent-encoded in the path
    "my ch/1",
    "DB.SC.P-p0",
    "a?b#c%d;e",
    "...",  # not a dot segment
    ".hidden",
    "ELASTIC_1",
    "kanał-ünï-名前",
    "x" * MAX_CHANNEL_NAME_CHARS,
]

# (name, words the message must hold: the rule broken and the fix)
INVALID = [
    ("", ["must not be empty"]),
    (".", ["'.' and '..'", "another endpoint"]),
    ("..", ["'.' and '..'", "another endpoint"]),
    ("x" * (MAX_CHANNEL_NAME_CHARS + 1), ["too long", "255", "shorter name"]),
    ("y" * 65536, ["too long", "65,536 characters", "shorter name"]),
    (" ch", ["whitespace", "strip it"]),
    ("ch\n", ["whitespace", "trailing newline"]),
    ("a\nb", ["control character U+000A", "position 1", "printable"]),
    ("a\x00b", ["control character U+0000"]),
    ("a\x7fb", ["control character U+007F"]),
    ("a\x9bb", ["control character U+009B"]),
    ("a\ud800b", ["lone surrogate U+D800"]),
    ("ELASTIC", ["reserved", "elastic channel", "choose another name"]),
    ("elastic", ["reserved", "case-insensitive"]),
    ("Elastic", ["reserved"]),
]


@pytest.mark.parametrize("name", VALID)
def test_valid_names_pass(name: str) -> None:
    assert channel_name_problem(name) is None
    assert check_channel_name(name) is name


@pytest.mark.parametrize(("name", "words"), INVALID)
def test_invalid_names_say_the_rule_and_the_fix(name: str, words: list[str]) -> None:
    problem = channel_name_problem(name)
    assert problem is not None
    for word in words:
        assert word in problem
    with pytest.raises(InvalidChannelNameError) as caught:
        check_channel_name(name)
    assert str(caught.value) == problem
    assert caught.value.name == name
    assert len(str(caught.value)) < 300  # a 64 KB name is not echoed back whole


def test_the_error_is_a_config_error() -> None:
    assert issubclass(InvalidChannelNameError, ConfigError)
    assert issubclass(InvalidChannelNameError, ValueError)


@pytest.mark.parametrize("name", [5, None, b"ch", ["ch"]])
def test_a_non_str_name_is_a_type_error_naming_the_parameter(name: object) -> None:
    with pytest.raises(TypeError, match=r"^name must be a str") as caught:
        check_channel_name(name)
    assert type(name).__name__ in str(caught.value)
    assert not isinstance(caught.value, InvalidChannelNameError)


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("mixed", "MIXED", True),
        ("mixed", "Mixed", True),
        ("a/b c", "A/B C", True),
        ("straße", "STRASSE", True),  # upper case, as Snowflake resolves identifiers
        ("ch1", "ch2", False),
        ("ch", "ch ", False),
    ],
)
def test_channel_key(a: str, b: str, same: bool) -> None:
    assert (channel_key(a) == channel_key(b)) is same


def test_status_answer_is_found_whatever_the_spelling() -> None:
    body = (
        b'{"channel_statuses": {'
        b'"MIXED": {"channel_name": "MIXED", "channel_status_code": "SUCCESS",'
        b' "last_committed_offset_token": "3"},'
        b'"other": {"channel_name": "Renamed", "channel_status_code": "SUCCESS",'
        b' "last_committed_offset_token": "9"}}}'
    )
    got = parse_bulk_status(body, ["mixed", "Mixed", "renamed"])
    assert list(got) == ["mixed", "Mixed", "renamed"]  # keyed by the caller's names
    assert got["mixed"].last_committed_offset_token == "3"
    assert got["Mixed"].last_committed_offset_token == "3"
    assert got["renamed"].last_committed_offset_token == "9"  # by the entry's channel_name
    with pytest.raises(NotFoundError, match="'missing'"):
        parse_bulk_status(body, ["missing"])


def test_an_exact_key_wins_over_another_spelling() -> None:
    body = (
        b'{"channel_statuses": {"ch": {"channel_status_code": "SUCCESS"},'
        b' "CH": {"channel_status_code": "ERR_CHANNEL_MUST_BE_REOPENED"}}}'
    )
    assert parse_bulk_status(body, ["ch"])["ch"].is_valid
    assert not parse_bulk_status(body, ["CH"])["CH"].is_valid


def test_ops_naming_a_channel_without_opening_it_check_the_name() -> None:
    with pytest.raises(InvalidChannelNameError, match=re.escape("'.' and '..'")):
        drop_op("DB", "S", "P", "..", "rid")
    with pytest.raises(InvalidChannelNameError, match="too long"):
        status_op("DB", "S", "P", ["ok", "z" * 70000], "rid")
    with pytest.raises(TypeError, match=r"^channel_names must be a str"):
        status_op("DB", "S", "P", [7], "rid")  # type: ignore[list-item]
    assert status_op("DB", "S", "P", ["a/b c"], "rid").path.endswith(":bulk-channel-status")
