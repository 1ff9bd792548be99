"""Faults on demand: rules that make matching requests fail in a scripted or random way.

A rule matches a method (or any) and a path pattern. It fires for the next ``count`` matching
requests, or for each with probability ``rate`` (drawn from a seeded generator). Actions:

- ``respond``: answer ``status`` with ``headers`` and ``body`` instead of serving the request;
  with ``code`` (a Snowflake error code from ``_messages.KNOWN_CODES``) the status and the
  ``{"code", "message"}`` body are the service's for that code (``status``/``body`` override);
- ``drop_connection``: close the connection before the request is processed;
- ``lost_response``: process the request, then close the connection before the answer, so
  the client cannot know that it succeeded.

Rules are checked whole when they are made (a bad one raises ``ValueError`` naming the field),
so a rule that is accepted cannot fail when it fires.

Path patterns are a subset of regular expressions that is matched in linear time (a rule
cannot freeze the emulator the way ``(a+)+$`` froze ``re``): literal text, ``.*`` (any
characters), ``^`` at the start and ``$`` at the end, and ``\\`` to take the next character
literally. An accepted pattern means exactly what ``re.search`` would make of it.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from . import _messages as M

ACTIONS = ("respond", "drop_connection", "lost_response")
#: Characters a path pattern cannot use unescaped (the regex syntax it does not support).
_UNSUPPORTED = set("()[]{}+?|")
_PATTERN_HELP = (
    "fault paths are literal text with '.*' for any characters, '^' at the start, '$' at "
    "the end and '\\' before a character to take it literally (e.g. '/rows$', "
    "'/channels/.*/rows$')"
)


class PathPattern:
    """A path pattern (see the module doc), matched like ``re.search`` in linear time."""

    def __init__(self, pattern: str) -> None:
        if not isinstance(pattern, str):
            raise ValueError(f"fault path must be a string, got {pattern!r}")
        self.pattern = pattern
        self.start = pattern.startswith("^")
        i = 1 if self.start else 0
        n = len(pattern)
        self.end = False
        segments: list[str] = []
        current: list[str] = []
        while i < n:
            ch = pattern[i]
            if ch == "\\":
                if i + 1 >= n:
                    raise ValueError(
                        f"fault path {pattern!r} ends with a lone '\\'; {_PATTERN_HELP}"
                    )
                nxt = pattern[i + 1]
                if nxt.isalnum():
                    # \d, \w, \1 (a backreference) ... are classes or groups, not literals.
                    raise ValueError(
                        f"fault path {pattern!r} uses '\\{nxt}', which is not supported; "
                        f"{_PATTERN_HELP}"
                    )
                current.append(nxt)
                i += 2
            elif ch == "." and pattern.startswith(".*", i):
                segments.append("".join(current))
                current = []
                i += 2
            elif ch == "$" and i == n - 1:
                self.end = True
                i += 1
            elif ch in _UNSUPPORTED or ch in ".^$*":
                raise ValueError(
                    f"fault path {pattern!r} uses {ch!r} at position {i}, which is not "
                    f"supported; {_PATTERN_HELP}"
                )
            else:
                current.append(ch)
                i += 1
        segments.append("".join(current))
        self.segments = segments

    def search(self, path: str) -> bool:
        segs = self.segments
        if len(segs) == 1:
            lit = segs[0]
            if self.start and self.end:
                return path == lit
            if self.start:
                return path.startswith(lit)
            if self.end:
                return path.endswith(lit)
            return lit in path
        first, middle, last = segs[0], segs[1:-1], segs[-1]
        if self.start:
            if not path.startswith(first):
                return False
            pos = len(first)
        else:
            at = path.find(first)
            if at < 0:
                return False
            pos = at + len(first)
        # Leftmost placement of each middle segment leaves the most room for the rest.
        for seg in middle:
            at = path.find(seg, pos)
            if at < 0:
                return False
            pos = at + len(seg)
        if self.end:
            return len(path) - len(last) >= pos and path.endswith(last)
        return path.find(last, pos) >= 0


def _check_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"fault {name} must be an integer, got {value!r}")


@dataclass
class FaultRule:
    path: str = ".*"
    method: str | None = None
    #: None: the status of ``code`` when it is known, else 500.
    status: int | None = None
    count: int | None = 1
    rate: float | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    action: str = "respond"
    #: A Snowflake error code: the answer is that code's status and ``{"code", "message"}``.
    code: str | None = None

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ValueError(
                f"fault action must be one of {', '.join(ACTIONS)}, got {self.action!r}"
            )
        if self.rate is not None:
            if isinstance(self.rate, bool) or not isinstance(self.rate, (int, float)):
                raise ValueError(f"fault rate must be a number within [0, 1], got {self.rate!r}")
            if not 0.0 <= self.rate <= 1.0:  # also refuses NaN
                raise ValueError(f"fault rate must be within [0, 1], got {self.rate!r}")
            self.count = None
        else:
            if self.count is not None:
                _check_int("count", self.count)
            if self.count is None or self.count < 1:
                raise ValueError(f"a fault rule needs a count >= 1 or a rate, got {self.count!r}")
        if self.status is not None:
            _check_int("status", self.status)
            if not 100 <= self.status <= 599:
                raise ValueError(f"fault status must be within 100-599, got {self.status!r}")
        if self.code is not None:
            if not isinstance(self.code, str) or not self.code:
                raise ValueError(f"fault code must be a non-empty string, got {self.code!r}")
            if self.code not in M.KNOWN_CODES:
                raise ValueError(
                    f"unknown fault code {self.code!r}; known codes: "
                    f"{', '.join(sorted(M.KNOWN_CODES))}"
                )
        if not isinstance(self.headers, Mapping):
            raise ValueError(f"fault headers must be an object, got {self.headers!r}")
        for name, value in self.headers.items():
            if not isinstance(name, str) or not isinstance(value, str):
                raise ValueError(
                    f"fault header names and values must be strings, got {name!r}: {value!r}"
                )
            try:
                (name + value).encode("latin-1")
            except UnicodeEncodeError:
                raise ValueError(
                    f"fault header {name!r} must be latin-1 text, got {value!r}"
                ) from None
            if any(c in name + value for c in "\r\n\0") or not name:
                raise ValueError(f"fault header {name!r} must be one non-empty line")
        self.headers = dict(self.headers)
        if self.body is not None and not isinstance(
            self.body, (str, bytes, dict, list, int, float, bool)
        ):
            raise ValueError(f"fault body must be JSON or text, got {type(self.body).__name__}")
        if self.method is not None:
            if not isinstance(self.method, str) or not self.method.isalpha():
                raise ValueError(f"fault method must be an HTTP method name, got {self.method!r}")
            self.method = self.method.upper()
        self._pattern = PathPattern(self.path)

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> FaultRule:
        if not isinstance(doc, Mapping):
            raise ValueError(f"a fault rule must be an object, got {doc!r}")
        known = {"path", "method", "status", "count", "rate", "headers", "body", "action", "code"}
        unknown = set(doc) - known
        if unknown:
            raise ValueError(f"unknown fault rule key(s): {', '.join(sorted(unknown))}")
        return cls(**doc)

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method) and self._pattern.search(path)

    def response(self, scoped: bool = False) -> tuple[int, Any]:
        """The status and body (JSON value, text or bytes) this rule answers with.

        ``scoped``: the call carries a scoped token (the ingest host's calls), so a bare 401
        answers as Snowflake does for an expired scoped token (``390318``), not with the key-pair
        JWT's ``390144`` that the control host's calls (hostname, token exchange) get.
        """
        if self.code is not None:
            status, message = M.KNOWN_CODES[self.code]
            body = self.body if self.body is not None else {"code": self.code, "message": message}
            return (self.status if self.status is not None else status), body
        status = self.status if self.status is not None else M.INJECTED[0]
        if self.body is not None:
            return status, self.body
        unauthorized = M.SCOPED_TOKEN_EXPIRED if scoped else M.JWT_INVALID
        spec = {401: unauthorized, 429: M.THROTTLED}.get(status, M.INJECTED)
        return status, {"code": spec[1], "message": spec[2]}

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "method": self.method,
            "status": self.status,
            "count": self.count,
            "rate": self.rate,
            "headers": self.headers,
            "body": self.body,
            "action": self.action,
            "code": self.code,
        }


class FaultPlan:
    """The active rules; thread-safe. ``emu.faults.add(path="/rows", status=429)``."""

    def __init__(self, seed: int | None = None) -> None:
        self._rules: list[FaultRule] = []
        self._lock = threading.Lock()
        self._random = random.Random(seed)
        self.fired = 0

    def seed(self, seed: int | None) -> None:
        """Restart the random rates' generator from ``seed``."""
        with self._lock:
            self._random.seed(seed)

    def add(self, rule: FaultRule | Mapping[str, Any] | None = None, **kwargs: Any) -> FaultRule:
        if rule is None:
            rule = FaultRule(**kwargs)
        elif not isinstance(rule, FaultRule):
            rule = FaultRule.from_dict(rule)
        with self._lock:
            self._rules.append(rule)
        return rule

    def extend(self, rules: Iterable[FaultRule | Mapping[str, Any]]) -> None:
        """Add all of ``rules`` or, when one is invalid, none of them."""
        made = [r if isinstance(r, FaultRule) else FaultRule.from_dict(r) for r in rules]
        with self._lock:
            self._rules.extend(made)

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    @property
    def rules(self) -> list[FaultRule]:
        with self._lock:
            return list(self._rules)

    def match(self, method: str, path: str) -> FaultRule | None:
        """The rule that fires for this request, if any (scripted counts are consumed)."""
        with self._lock:
            for rule in self._rules:
                if not rule.matches(method, path):
                    continue
                if rule.rate is not None:
                    if self._random.random() >= rule.rate:
                        continue
                else:
                    assert rule.count is not None
                    rule.count -= 1
                    if rule.count <= 0:
                        self._rules.remove(rule)
                self.fired += 1
                return rule
        return None
