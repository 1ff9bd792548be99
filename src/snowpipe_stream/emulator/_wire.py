"""What clients put on the wire: the headers and query parameters each endpoint saw, and the
ones Snowflake's own SDK sends that a request lacked (pure bookkeeping, no HTTP here).

Snowflake's SDK names the token type on every call, and sends ``requestId`` and ``retryCount``
with every request (``retryCount`` is how the service learns that a request repeats one it may
have seen). The emulator counts requests that lack one of those in ``stats()["wire_missing"]``;
with ``strict_wire`` it refuses them, so a client that drifts from the SDK fails in tests
instead of in production. It also remembers, per client (the first word of its User-Agent)
and endpoint, the header and parameter names it saw, so two clients can be compared.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable

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


class WireLog:
    """Thread-safe record of what each endpoint received."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.missing: Counter[str] = Counter()
        self.seen: dict[tuple[str, str], tuple[set[str], set[str]]] = {}

    def note(
        self, endpoint: str, user_agent: str, headers: Iterable[str], params: Iterable[str]
    ) -> list[str]:
        """Record one request; return what it lacks of what the SDK sends (``"header x"`` or
        ``"parameter y"``), empty when nothing."""
        header_names = {h.lower() for h in headers}
        param_names = set(params)
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
        return lacking
