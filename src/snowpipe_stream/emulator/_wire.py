"""What clients put on the wire: the headers and query parameters each endpoint saw, and the
ones Snowflake's own SDK sends that a request lacked (pure bookkeeping, no HTTP here).

Snowflake's SDK names the token type on every call, and sends ``requestId`` and ``retryCount``
with every request (``retryCount`` is how the service learns that a request repeats one it may
have seen). The emulator counts requests that lack one of those in ``stats()["wire_missing"]``;
with ``strict_wire`` it refuses them, so a client that drifts from the SDK fails in tests
instead of in production. It also remembers, per client (the first word of its User-Agent)
and endpoint, the header and parameter names it saw, so two clients can be compared.

``requestId`` and ``retryCount``: Snowflake documents ``requestId`` only as a string "used to
track requests through the system" (the Snowpipe REST API page) and documents no server-side
de-duplication of a retried append by it: what keeps an append from landing twice is the
continuation token (an append with a spent token is refused) and the offset tokens a client
reopens from. The emulator does the same (it de-duplicates nothing by id) and only checks the
client's discipline: a retry repeats its request id with a higher ``retryCount``; anything
else that repeats an id (a replay after a reopen under the old id, a ``retryCount`` that does
not grow) is counted in ``stats()["request_ids_reused"]``, retries in ``stats()["retries"]``.
"""

from __future__ import annotations

import threading
from collections import Counter, OrderedDict
from collections.abc import Iterable, Mapping

__all__ = ["EXPECTED", "WireLog"]

#: Per endpoint: the headers (lower case) and query parameters the SDK always sends.
_EVERY_CALL = (
    frozenset({"authorization", "accept", "user-agent", "x-snowflake-authorization-token-type"}),
    frozenset({"requestId", "retryCount"}),
)
EXPECTED: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "hostname": _EVERY_CALL,
    "token": (_EVERY_CALL[0] | {"content-type"}, _EVERY_CALL[1]),
    "pipe_info": _EVERY_CALL,
    "open": (_EVERY_CALL[0] | {"content-type"}, _EVERY_CALL[1]),
    "append": (
        _EVERY_CALL[0] | {"content-type", "x-snowflake-min-append-timestamp-ms"},
        _EVERY_CALL[1] | {"continuationToken"},
    ),
    "status": (_EVERY_CALL[0] | {"content-type"}, _EVERY_CALL[1]),
    "drop": _EVERY_CALL,
}

#: How many request ids are remembered (oldest forgotten first).
_REMEMBERED_IDS = 65_536


class WireLog:
    """Thread-safe record of what each endpoint received."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.missing: Counter[str] = Counter()
        self.seen: dict[tuple[str, str], tuple[set[str], set[str]]] = {}
        #: Requests that said they were a retry (``retryCount`` > 0), by endpoint.
        self.retries: Counter[str] = Counter()
        #: Requests that repeated an earlier request's id without being its next retry.
        self.reused: Counter[str] = Counter()
        self._ids: OrderedDict[tuple[str, str], int] = OrderedDict()

    def note(
        self, endpoint: str, user_agent: str, headers: Iterable[str], params: Mapping[str, str]
    ) -> list[str]:
        """Record one request; return what it lacks of what the SDK sends (``"header x"`` or
        ``"parameter y"``), empty when nothing."""
        header_names = {h.lower() for h in headers}
        param_names = set(params)
        request_id = params.get("requestId")
        try:
            retry = int(params.get("retryCount", "0"))
        except ValueError:
            retry = 0
        client = (user_agent.split("/", 1)[0] or "unknown").strip()
        want_headers, want_params = EXPECTED.get(endpoint, (frozenset(), frozenset()))
        lacking = [f"header {h}" for h in sorted(want_headers - header_names)] + [
            f"parameter {p}" for p in sorted(want_params - param_names)
        ]
        with self._lock:
            entry = self.seen.setdefault((client, endpoint), (set(), set()))
            entry[0].update(header_names)
            entry[1].update(param_names)
            for item in lacking:
                self.missing[f"{endpoint}: {item}"] += 1
            if retry > 0:
                self.retries[endpoint] += 1
            if request_id:
                key = (endpoint, request_id)
                before = self._ids.get(key)
                if before is not None and retry <= before:
                    self.reused[endpoint] += 1
                self._ids[key] = max(retry, before if before is not None else retry)
                self._ids.move_to_end(key)
                if len(self._ids) > _REMEMBERED_IDS:
                    self._ids.popitem(last=False)
        return lacking
