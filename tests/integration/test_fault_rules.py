"""The admin faults API refuses bad rules with the reason, and no rule can freeze the emulator."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from snowpipe_stream.emulator import Emulator
from snowpipe_stream.emulator import _messages as M


def post_rules(emu: Emulator, rules: Any) -> httpx.Response:
    return httpx.post(f"{emu.url}/emulator/v1/faults", json=rules, timeout=10)


@pytest.mark.parametrize(
    ("rule", "reason"),
    [
        ({"path": "(a+)+$"}, "not supported"),
        ({"path": "[unclosed"}, "not supported"),
        ({"path": "/rows$", "status": "abc"}, "status must be an integer"),
        ({"path": "/rows$", "status": 1000}, "within 100-599"),
        ({"path": "/rows$", "headers": {"Retry-After": 5}}, "must be strings"),
        ({"path": "/rows$", "action": "explode"}, "action must be one of"),
        ({"path": "/rows$", "rate": 2}, "rate must be within"),
        ({"path": "/rows$", "count": -1}, "count >= 1"),
        ({"path": "/rows$", "code": "NOPE"}, "unknown fault code"),
        ("not a rule", "must be an object"),
    ],
)
def test_a_bad_rule_is_refused_with_400_and_nothing_is_added(
    emu: Emulator, rule: Any, reason: str
) -> None:
    resp = post_rules(emu, [{"path": "hostname", "status": 503}, rule])
    assert resp.status_code == 400
    assert reason in resp.json()["message"]
    assert httpx.get(f"{emu.url}/emulator/v1/faults").json() == {"rules": []}


def test_catastrophic_pattern_cannot_freeze_the_emulator(emu: Emulator) -> None:
    # With re, (a+)+$ against a long run of "a" ending in another letter never finished and
    # held the server. It is refused; the worst accepted pattern is still answered at once.
    assert post_rules(emu, {"path": "(a+)+$"}).status_code == 400
    assert post_rules(emu, {"path": ".*a.*a.*a.*a$", "status": 503, "count": 1}).status_code == 200
    long_path = "/" + "a" * 6000 + "b"
    resp = httpx.get(f"{emu.url}{long_path}", timeout=10)  # bounded: fails rather than hangs
    assert resp.status_code == 404
    resp = httpx.get(f"{emu.url}/" + "a" * 6000, timeout=10)
    assert resp.status_code == 503
    assert emu.stats()["faults_fired"] == 1


def test_a_named_code_fault_answers_the_code_status_and_body(emu: Emulator) -> None:
    rules = [
        {"path": "hostname", "code": "ReceiverSaturated", "count": 1},
        {"path": "hostname", "code": "ERR_CHANNEL_HAS_UNCOMMITTED_DATA", "status": 418},
    ]
    assert post_rules(emu, rules).status_code == 200
    first = httpx.get(f"{emu.url}/v2/streaming/hostname", timeout=10)
    status, message = M.KNOWN_CODES["ReceiverSaturated"]
    assert first.status_code == status == 503
    assert first.json() == {"code": "ReceiverSaturated", "message": message}
    second = httpx.get(f"{emu.url}/v2/streaming/hostname", timeout=10)
    assert second.status_code == 418
    assert second.json()["code"] == "ERR_CHANNEL_HAS_UNCOMMITTED_DATA"


def test_string_header_values_reach_the_wire(emu: Emulator) -> None:
    post_rules(emu, {"path": "hostname", "status": 429, "headers": {"Retry-After": "7"}})
    resp = httpx.get(f"{emu.url}/v2/streaming/hostname", timeout=10)
    assert resp.status_code == 429 and resp.headers["retry-after"] == "7"
