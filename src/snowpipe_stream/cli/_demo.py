"""``snowpipe-stream demo``: the whole mission, on the embedded emulator, in seconds.

A throw-away key, a 10 s JWT lifetime (clamped to 30 s), 200,000 events streamed through
the real client while scripted faults strike (a 401, a 429, a lost response), then the rows
are read back and compared. Client and emulator share one simulated clock, advanced between
batches, so tokens age through minutes of simulated time in a few seconds of real time.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import sys
from typing import Any

import msgspec
from rich.console import Console
from rich.table import Table

from .._client import Client
from .._clock import SYSTEM_CLOCK
from .._config import ClientConfig
from .._keys import PrivateKey
from .._logfields import JsonFormatter
from ..emulator import Emulator
from ..testing import FakeClock
from ._events import iter_events

ACCOUNT, USER = "demo-acct", "demo_user"
DB, SCHEMA, PIPE, CHANNEL = "DEMO_DB", "PUBLIC", "EVENTS-STREAMING", "demo-channel"
#: Short enough that scoped tokens, and the JWTs they are exchanged with, renew often.
SCOPED_TTL = 40


class _SimulatedTime(logging.Formatter):
    def __init__(self, clock: FakeClock) -> None:
        super().__init__()
        self.clock = clock
        self.start = clock.time()

    def format(self, record: logging.LogRecord) -> str:
        t = self.clock.time() - self.start
        name = record.name.removeprefix("snowpipe_stream.")
        return f"  [t={t:6.1f}s] {record.levelname:<7} {name:<9} {record.getMessage()}"


def run_demo(
    rows: int = 200_000,
    batches: int = 40,
    seconds_per_batch: float = 2.0,
    out: Any = None,
    json_logs: bool = False,
) -> int:
    """Run the demo, its narrative and its log lines on ``out`` (stdout); with ``json_logs``,
    the log lines go to stderr as JSON instead."""
    console = Console(file=out or sys.stdout, highlight=False, soft_wrap=True)
    clock = FakeClock(start=SYSTEM_CLOCK.time())
    if json_logs:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
    else:
        handler = logging.StreamHandler(console.file)
        handler.setFormatter(_SimulatedTime(clock))
    lib = logging.getLogger("snowpipe_stream")
    saved = (lib.level, lib.handlers[:], lib.propagate)
    lib.handlers[:] = [handler]
    lib.setLevel(logging.INFO)
    lib.propagate = False
    logging.getLogger("snowpipe_stream.emulator").setLevel(logging.WARNING)
    try:
        return _demo(console, clock, rows, -(-rows // batches), seconds_per_batch)
    finally:
        lib.setLevel(saved[0])
        lib.handlers[:] = saved[1]
        lib.propagate = saved[2]
        logging.getLogger("snowpipe_stream.emulator").setLevel(logging.NOTSET)


def _demo(
    console: Console, clock: FakeClock, n: int, batch_rows: int, seconds_per_batch: float
) -> int:
    # Events are made a batch at a time and compared by digest, so the demo holds one batch,
    # not 200,000 dicts twice (it peaked near 480 MB that way).
    source = iter_events(n)
    n_batches = -(-n // batch_rows)
    sent_digest = hashlib.sha256()
    encode = msgspec.json.encode
    simulated = n_batches * seconds_per_batch
    console.print(
        f"[bold]snowpipe-stream demo[/]: {n:,} events through the real client into "
        "the embedded emulator"
    )
    console.print(
        f"Time: client and emulator share one simulated clock, advanced "
        f"{seconds_per_batch:g} s per batch of {batch_rows:,} rows, so tokens age "
        f"through {simulated:.0f} s of simulated time in a few seconds of real time."
    )
    key = PrivateKey.generate()
    console.print(
        f"Generated a throw-away RSA-2048 key ({key.fingerprint}) and registered it "
        f"for user {USER.upper()}."
    )
    console.print(
        "Configured jwt_exp_secs=10 (below Snowflake's minimum; watch it clamp), "
        f"scoped tokens valid {SCOPED_TTL} s.\n"
    )
    started = SYSTEM_CLOCK.monotonic()
    with Emulator(users=[(ACCOUNT, USER, key)], clock=clock, scoped_token_ttl=SCOPED_TTL) as emu:
        # The key comes from a provider (as from a secret manager), so the demo can rotate it.
        current = [key]
        config = ClientConfig(
            account=ACCOUNT,
            user=USER,
            private_key_provider=lambda: current[0],
            url=emu.url,
            jwt_exp_secs=10,
        )
        rotate_at, unset_at = 3 * n_batches // 8, 3 * n_batches // 8 + 16
        faults: dict[int, tuple[str, dict[str, Any]]] = {
            n_batches // 4: ("a 401 on the next append", {"status": 401}),
            n_batches // 2: (
                "a 429 (Retry-After: 2) on the next append",
                {"status": 429, "headers": {"Retry-After": "2"}},
            ),
            3 * n_batches // 4: (
                "a lost response: the next append is processed, then its answer is cut off",
                {"action": "lost_response"},
            ),
        }
        with Client("demo", DB, SCHEMA, PIPE, config=config, clock=clock) as client:
            channel, _ = client.open_channel(CHANNEL)
            sent = 0
            generating = 0.0  # making the events is the demo's work, not the client's
            for i in range(n_batches):
                making = SYSTEM_CLOCK.monotonic()
                batch = list(itertools.islice(source, batch_rows))
                for row in batch:
                    sent_digest.update(encode(row) + b"\n")
                generating += SYSTEM_CLOCK.monotonic() - making
                if i == rotate_at:
                    new_key = PrivateKey.generate()
                    console.print(
                        f"  [bold cyan]>> key rotation:[/] ALTER USER {USER.upper()} SET "
                        f"RSA_PUBLIC_KEY_2 = <{new_key.fingerprint}>; the secret manager now "
                        "hands out the new key (the client takes it at its next JWT)"
                    )
                    emu.set_user_keys(ACCOUNT, USER, rsa_public_key_2=new_key.public_key_pem())
                    current[0] = new_key
                if i == unset_at:
                    console.print(
                        f"  [bold cyan]>> key rotation:[/] ALTER USER {USER.upper()} UNSET "
                        f"RSA_PUBLIC_KEY (the old key, {key.fingerprint})"
                    )
                    emu.set_user_keys(ACCOUNT, USER, rsa_public_key=None)
                if i in faults:
                    what, rule = faults[i]
                    console.print(f"  [bold yellow]>> scripted fault:[/] {what}")
                    emu.faults.add(path="/rows$", count=1, **rule)
                channel.append_rows(batch, str(sent + 1), str(sent + len(batch)))
                sent += len(batch)
                channel.flush()
                clock.advance(seconds_per_batch)
            committed = channel.wait_for_commit(str(sent), timeout=300)
            stats = client.stats
        elapsed = SYSTEM_CLOCK.monotonic() - started - generating
        back_digest = hashlib.sha256()
        seen: set[str] = set()
        back_count = duplicates = 0
        for row in emu.iter_rows(DB, SCHEMA, PIPE, CHANNEL):
            back_digest.update(encode(row) + b"\n")
            back_count += 1
            event_id = row.get("event_id")
            duplicates += event_id in seen
            seen.add(event_id)
    matches = back_count == sent and back_digest.digest() == sent_digest.digest()
    table = Table(title="Summary", show_header=False)
    for label, value in (
        ("rows sent", f"{sent:,}"),
        ("rows committed and read back", f"{back_count:,}"),
        ("read-back matches the input, in order", "yes" if matches else "NO"),
        ("duplicates", f"{duplicates:,}"),
        ("committed offset token", str(committed)),
        ("JWTs minted", f"{stats.jwt_mints}"),
        ("scoped tokens exchanged", f"{stats.scoped_exchanges}"),
        ("401 retries", f"{stats.retries_401}"),
        ("key rotated without a restart", "yes" if current[0] is not key else "no"),
        ("429 back-offs", f"{stats.retries_429}"),
        ("recoveries (channel reopened)", f"{stats.reopens}"),
        ("simulated time", f"{clock.monotonic():.0f} s"),
        ("real time", f"{elapsed:.1f} s"),
        (
            "throughput",
            f"{stats.bytes_sent / elapsed / 1e6:.1f} MB/s of NDJSON ({sent / elapsed:,.0f} rows/s)",
        ),
    ):
        table.add_row(label, value)
    console.print()
    console.print(table)
    if not matches:
        console.print("[bold red]FAILED[/]: the rows read back differ from the rows sent")
        return 1
    console.print(
        "[bold green]OK[/]: every row arrived exactly once, in order, through token "
        "expiry, a key rotation, a 401, a 429 and a lost response."
    )
    return 0
