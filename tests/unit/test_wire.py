"""The emulator's record of what clients put on the wire, and its strict mode."""

from __future__ import annotations

import httpx

from snowpipe_stream import PrivateKey
from snowpipe_stream.emulator import Emulator
from snowpipe_stream.emulator._wire import WireLog


def test_what_a_request_lacks_is_named_and_counted() -> None:
    log = WireLog()
    full = ["Authorization", "Accept", "User-Agent", "X-Snowflake-Authorization-Token-Type"]
    ids = {"requestId": "a", "retryCount": "0"}
    assert log.note("drop", "snowpipe-stream/1.0 (x)", full, ids) == []
    lacking = log.note("drop", "curl/8", ["Authorization", "Accept"], {"requestId": "b"})
    assert lacking == [
        "header user-agent",
        "header x-snowflake-authorization-token-type",
        "parameter retryCount",
    ]
    assert log.missing["drop: parameter retryCount"] == 1
    assert log.seen[("curl", "drop")] == ({"authorization", "accept"}, {"requestId"})
    assert log.note("unknown", "x", [], {}) == []  # no expectations for other paths


def test_a_retry_repeats_its_id_with_a_higher_count_and_other_reuse_is_counted() -> None:
    log = WireLog()

    def send(request_id: str, retry: int, endpoint: str = "append") -> None:
        log.note(endpoint, "c/1", [], {"requestId": request_id, "retryCount": str(retry)})

    send("r1", 0)
    send("r1", 1)  # a retry of r1
    send("r1", 2)  # and another
    send("r2", 0)
    assert log.retries["append"] == 2 and log.reused["append"] == 0
    send("r1", 0)  # a replay under the old id: what a reopen must not do
    send("r2", 0)  # a repeat that does not say it is a retry
    assert log.reused["append"] == 2
    send("r2", 0, endpoint="status")  # ids are per endpoint
    assert log.reused["status"] == 0


def test_strict_mode_refuses_what_snowflakes_sdk_would_never_send(rsa_key: PrivateKey) -> None:
    with Emulator(users=[("a", "u", rsa_key)]) as emu:
        bare = httpx.get(f"{emu.url}/v2/streaming/hostname", headers={"Accept": "application/json"})
        assert bare.status_code == 401  # lenient: served (and refused for its missing JWT)
        assert emu.stats()["wire_missing"]["hostname: parameter requestId"] == 1
        emu.app.strict_wire = True
        strict = httpx.get(
            f"{emu.url}/v2/streaming/hostname", headers={"Accept": "application/json"}
        )
        assert strict.status_code == 400
        assert "lacks what Snowflake's SDK sends" in strict.json()["message"]
        assert "parameter retryCount" in strict.json()["message"]
