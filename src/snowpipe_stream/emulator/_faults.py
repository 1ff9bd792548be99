"""Faults on demand: rules that make matching requests fail in a scripted or random way.

A rule matches a method (or any) and a path regex. It fires for the next ``count`` matching
requests, or for each with probability ``rate`` (drawn from a seeded generator). Actions:

- ``respond``: answer ``status`` with ``headers`` and ``body`` instead of serving the request;
- ``drop_connection``: close the connection before the request is processed;
- ``lost_response``: process the request, then close the connection before the answer, so
  the client cannot know that it succeeded.
"""

from __future__ import annotations

import random
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

ACTIONS = ("respond", "drop_connection", "lost_response")


@dataclass
class FaultRule:
    path: str = ".*"
    method: str | None = None
    status: int = 500
    count: int | None = 1
    rate: float | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    action: str = "respond"

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ValueError(
                f"fault action must be one of {', '.join(ACTIONS)}, got {self.action!r}"
            )
        if self.rate is not None:
            if not 0.0 <= self.rate <= 1.0:
                raise ValueError(f"fault rate must be within [0, 1], got {self.rate!r}")
            self.count = None
        elif self.count is None or self.count < 1:
            raise ValueError("a fault rule needs a count >= 1 or a rate")
        self._pattern = re.compile(self.path)
        if self.method is not None:
            self.method = self.method.upper()

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> FaultRule:
        known = {"path", "method", "status", "count", "rate", "headers", "body", "action"}
        unknown = set(doc) - known
        if unknown:
            raise ValueError(f"unknown fault rule key(s): {', '.join(sorted(unknown))}")
        return cls(**doc)

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method) and bool(self._pattern.search(path))

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
        for rule in rules:
            self.add(rule)

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
