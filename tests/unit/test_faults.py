"""Fault rules are checked whole when made, and their path patterns match in linear time."""

from __future__ import annotations

import itertools
import random
import re
from typing import Any

import pytest

from snowpipe_stream.emulator import _messages as M
from snowpipe_stream.emulator._faults import FaultPlan, FaultRule, PathPattern

# The patterns the tests, README and examples use: each must keep its meaning.
IN_USE = [
    "/rows$",
    ".*",
    "hostname",
    "bulk-channel-status",
    "/channels/ch$",
    "/channels/sync/rows$",
    "/v2/streaming/hostname",
    "/oauth/token",
    "x",
]
PATHS = [
    "/v2/streaming/hostname",
    "/oauth/token",
    "/v2/streaming/databases/DB/schemas/S/pipes/P/channels/ch",
    "/v2/streaming/data/databases/DB/schemas/S/pipes/P/channels/ch/rows",
    "/v2/streaming/data/databases/DB/schemas/S/pipes/P/channels/sync/rows",
    "/v2/streaming/databases/DB/schemas/S/pipes/P:bulk-channel-status",
    "/v2/streaming/data/databases/DB/schemas/S/pipes/P/channels/rows/rows/x",
    "",
]


@pytest.mark.parametrize("pattern", IN_USE)
def test_patterns_in_use_mean_what_re_search_means(pattern: str) -> None:
    compiled = PathPattern(pattern)
    for path in PATHS:
        assert compiled.search(path) == bool(re.search(pattern, path)), (pattern, path)


def test_every_accepted_pattern_agrees_with_re_search() -> None:
    # Patterns built from the supported syntax over a small alphabet, against short paths over
    # the same alphabet: exhaustive enough to catch a wrong anchor or a greedy placement.
    rng = random.Random(7)
    pieces = ["a", "b", "/", ".*", "ab", "\\.", "\\$"]
    paths = ["".join(p) for n in range(5) for p in itertools.product("ab/.$", repeat=n)]
    for _ in range(400):
        body = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 4)))
        pattern = ("^" if rng.random() < 0.3 else "") + body + ("$" if rng.random() < 0.4 else "")
        compiled = PathPattern(pattern)
        for path in paths:
            assert compiled.search(path) == bool(re.search(pattern, path)), (pattern, path)


@pytest.mark.parametrize(
    "pattern",
    [
        "(a+)+$",
        "(a|aa)*b",
        "a+",
        "/rows?",
        "[ab]",
        "x{2}",
        "(?=a)",
        "\\1",
        "\\d",
        "a.b",
        "a$b",
        "a^",
        "*",
        "\\",
    ],
)
def test_regex_syntax_outside_the_subset_is_refused(pattern: str) -> None:
    with pytest.raises(ValueError, match="fault path"):
        FaultRule(path=pattern)


def test_a_long_path_is_matched_in_linear_time() -> None:
    # With re, ".*a.*a.*a.*a$" against "a" * n + "b" takes O(n^4) steps; here it is a few finds.
    path = "/" + "a" * 200_000 + "b"
    assert not PathPattern(".*a.*a.*a.*a$").search(path)
    assert PathPattern("^/.*a.*ab$").search(path)


@pytest.mark.parametrize(
    ("rule", "reason"),
    [
        ({"status": "abc"}, "status must be an integer"),
        ({"status": 600}, "status must be within 100-599"),
        ({"status": 99}, "status must be within 100-599"),
        ({"status": True}, "status must be an integer"),
        ({"status": 500.0}, "status must be an integer"),
        ({"headers": {"Retry-After": 5}}, "header names and values must be strings"),
        ({"headers": {"X": None}}, "header names and values must be strings"),
        ({"headers": ["Retry-After"]}, "headers must be an object"),
        ({"headers": {"X": "a\r\nSet-Cookie: y"}}, "one non-empty line"),
        ({"headers": {"X": "\u2603"}}, "latin-1"),
        ({"action": "explode"}, "action must be one of"),
        ({"rate": 1.5}, "rate must be within"),
        ({"rate": float("nan")}, "rate must be within"),
        ({"rate": "often"}, "rate must be a number"),
        ({"count": 0}, "count >= 1"),
        ({"count": "2"}, "count must be an integer"),
        ({"count": None}, "count >= 1 or a rate"),
        ({"code": "NO_SUCH_CODE"}, "unknown fault code"),
        ({"code": 5}, "code must be a non-empty string"),
        ({"method": 1}, "method must be an HTTP method"),
        ({"path": 1}, "path must be a string"),
        ({"path": "(a+)+$"}, "not supported"),
        ({"body": {1, 2}}, "body must be JSON or text"),
        ({"colour": "red"}, "unknown fault rule key"),
    ],
)
def test_invalid_rules_are_refused_with_the_reason(rule: dict[str, Any], reason: str) -> None:
    plan = FaultPlan()
    with pytest.raises(ValueError, match=reason):
        plan.add(rule)
    assert plan.rules == []


def test_a_list_with_one_bad_rule_adds_none() -> None:
    plan = FaultPlan()
    with pytest.raises(ValueError, match="status"):
        plan.extend([{"path": "/rows$"}, {"path": "/rows$", "status": "abc"}])
    assert plan.rules == []


def test_a_named_code_answers_its_status_and_a_snowflake_shaped_body() -> None:
    rule = FaultRule(path="/rows$", code="ReceiverSaturated", count=2)
    status, message = M.KNOWN_CODES["ReceiverSaturated"]
    assert rule.response() == (status, {"code": "ReceiverSaturated", "message": message})
    assert FaultRule(code="ReceiverSaturated", status=429).response()[0] == 429
    assert FaultRule(code="ERR_CHANNEL_HAS_UNCOMMITTED_DATA").response()[0] == 409
    assert FaultRule().response() == (500, {"code": M.INJECTED[1], "message": M.INJECTED[2]})


def test_every_known_code_has_a_valid_status_and_a_message() -> None:
    for code, (status, message) in M.KNOWN_CODES.items():
        assert 400 <= status <= 599 and message, code
        assert FaultRule(code=code).response()[1] == {"code": code, "message": message}
