"""Property: whatever the call sizes, token styles and faults, every row lands exactly once, or
the call that could not support it is refused with a typed error before anything is sent.

The real client against the real emulator (one for the whole test, a new channel per example),
with seeded random faults on appends: 409s, lost answers (processed, then the connection cut),
dropped connections and 503s. Requests are small, so many calls are split over several.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from snowpipe_stream import (
    Client,
    ClientConfig,
    InvalidRowError,
    OffsetTokenError,
    PrivateKey,
    SnowpipeError,
)
from snowpipe_stream.emulator import Emulator
from snowpipe_stream.testing import FakeClock

DB, SCHEMA, PIPE = "PROP", "PUBLIC", "EVENTS"
STYLES = (
    "per_row",  # append_row with a token each
    "span",  # append_rows(rows, "a", "b"): one integer token per row
    "prefixed_span",  # append_rows(rows, "p:a", "p:b")
    "per_call",  # append_rows(rows, None, "call-k")
    "start_end",  # append_rows(rows, "s-k", "e-k"): no token per row
    "none",  # append_rows(rows)
    "ndjson",  # append_ndjson(bytes, None, "nd-k")
    "repeat",  # append_rows(rows, None, <a token given before>): refused while in use
)
FAULTS = [
    {"path": "/rows$", "method": "POST", "status": 409, "rate": 0.04},
    {"path": "/rows$", "method": "POST", "action": "lost_response", "rate": 0.03},
    {"path": "/rows$", "method": "POST", "action": "drop_connection", "rate": 0.02},
    {"path": "/rows$", "method": "POST", "status": 503, "rate": 0.02},
]
_names = itertools.count()


@pytest.fixture(scope="module")
def world(rsa_key_module: PrivateKey) -> Iterator[tuple[Emulator, FakeClock]]:
    clock = FakeClock()
    with Emulator(
        users=[("prop-acct", "prop", rsa_key_module)], clock=clock, commit_delay_ms=50
    ) as emu:
        yield emu, clock


@pytest.fixture(scope="module")
def rsa_key_module() -> PrivateKey:
    from tests.conftest import KEYS

    return PrivateKey.from_file(KEYS / "rsa_key.p8")


calls_strategy = st.lists(
    st.tuples(
        st.sampled_from(STYLES),
        st.integers(min_value=1, max_value=40),  # rows in the call
        st.integers(min_value=10, max_value=300),  # padding per row
    ),
    min_size=1,
    max_size=10,
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    calls=calls_strategy,
    max_request=st.integers(min_value=1024, max_value=6000),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_every_row_exactly_once_or_a_typed_error_up_front(
    world: tuple[Emulator, FakeClock],
    rsa_key_module: PrivateKey,
    calls: list[tuple[str, int, int]],
    max_request: int,
    seed: int,
) -> None:
    emu, clock = world
    emu.faults.clear()
    emu.faults.extend(FAULTS)
    emu.faults.seed(seed)
    name = f"prop-{next(_names)}"
    config = ClientConfig(
        account="prop-acct",
        user="prop",
        private_key=rsa_key_module,
        url=emu.url,
        max_client_lag=0,
        max_request_bytes=max_request,
        max_inflight_bytes=max_request * 4,
    )
    accepted: list[dict[str, Any]] = []
    given_tokens: list[str] = []
    n = 0
    with Client("prop", DB, SCHEMA, PIPE, config=config, clock=clock) as client:
        channel, _ = retry(lambda: client.open_channel(name))
        for k, (style, count, pad) in enumerate(calls, 1):
            rows = [{"k": k, "i": n + i, "pad": "x" * pad} for i in range(1, count + 1)]
            first, last = n + 1, n + count
            refused = False
            try:
                if style == "per_row":
                    for i, row in enumerate(rows):
                        token = f"r{first + i}"
                        send_or_retry(channel, lambda r=row, t=token: channel.append_row(r, t))
                        accepted.append(row)
                        given_tokens.append(token)
                    n = last
                    continue
                start: str | None
                end: str | None
                start, end = {
                    "span": (str(first), str(last)),
                    "prefixed_span": (f"p:{first}", f"p:{last}"),
                    "per_call": (None, f"call-{k}"),
                    "start_end": (f"s-{k}", f"e-{k}"),
                    "none": (None, None),
                    "ndjson": (None, f"nd-{k}"),
                    # A token given before: refused while in use (or committed last), else
                    # accepted; either way, never a duplicate or a loss.
                    "repeat": (
                        None,
                        given_tokens[(k * 7) % len(given_tokens)] if given_tokens else f"new-{k}",
                    ),
                }[style]
                if style == "ndjson":
                    data = msgspec.json.encode(rows).replace(b"},{", b"}\n{")[1:-1] + b"\n"
                    # (The lambdas run at once, inside this iteration: B023 does not apply.)
                    send_or_retry(channel, lambda: channel.append_ndjson(data, start, end))  # noqa: B023
                else:
                    send_or_retry(channel, lambda: channel.append_rows(rows, start, end))  # noqa: B023
            except (OffsetTokenError, InvalidRowError, TypeError):
                refused = True
            if not refused:
                accepted.extend(rows)
                n = last
                if end is not None:
                    given_tokens.append(end)
        retry(channel.close)
    emu.faults.clear()
    got = emu.rows(DB, SCHEMA, PIPE, name)
    assert [r["i"] for r in got] == [r["i"] for r in accepted]
    assert got == accepted


def send_or_retry(channel: Any, call: Any) -> None:
    """Make ``call``; when it fails after its rows were accepted (a fault outlasted the
    retries), flush again until they are sent. Refusals up front propagate."""
    try:
        call()
    except (OffsetTokenError, InvalidRowError, TypeError):
        raise
    except SnowpipeError:
        retry(channel.flush)


def retry(call: Any, attempts: int = 20) -> Any:
    for attempt in range(attempts):
        try:
            return call()
        except (OffsetTokenError, InvalidRowError, TypeError):
            raise
        except SnowpipeError:
            if attempt == attempts - 1:
                raise
    return None
