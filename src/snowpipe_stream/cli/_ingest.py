"""``snowpipe-stream ingest``: stream inputs into a channel, exactly once across reruns.

The contract (the README states it for users):

- Record ``n`` of an input (1-based, counted in that input) gets the offset token ``KEY:n``,
  where KEY identifies the input: its name and first records, the inputs before it in the run,
  and the format (``_identity`` has the rule and the reasons). A run opens the channel, reads
  its committed token and resumes after it when it belongs to one of the inputs; the same
  command run again after a crash, a kill or Ctrl-C therefore sends each record exactly once.
- A committed token of another input (a different file, the same name with other contents,
  other inputs before it, another program) stops the run with exit 2 before anything is sent:
  never a silent skip. ``--restart`` sends the inputs from their first record instead (refused
  when the token belongs to one of them: that would send loaded records again).
- A file that grows by appends keeps its key and resumes at its old end. A file given again
  under another name is another input, unless ``--input-id OLD-NAME`` names it.
- Stdin (or a pipe) cannot be checked: it must be named with ``--input-id NAME``, and a rerun
  with the same NAME resumes after the committed record. Requiring the name, rather than
  refusing to resume stdin at all, keeps a crashed ``producer | ingest -`` resumable when the
  producer can replay its output; the name is the user's promise that it does.
- Records are handed to the channel in chunks of ``CHUNK_ROWS`` records at most, and of at most
  ``max_request_bytes`` of input (one ``append_ndjson`` call: the channel batches them without
  a copy, and never has to split a call; NDJSON blocks come checked by the reader, at C speed,
  and are not checked again). The channels send in threads of their own
  (``send_in_background``): reading, checking and compressing go on while requests are out. A
  chunk never spans two inputs (its tokens share one key). From a stream, a partial chunk is
  handed over as soon as the next read would wait for the writer, or when its oldest record has
  waited ``max_client_lag``: the channel then sends it within ``max_client_lag``, as it does
  for any row. Regular files never wait, so their reading path has no such check.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from types import FrameType
from typing import Any, NoReturn, cast

import click

from .. import _constants as C
from .._channel import Channel
from .._client import Client, abandon_on_error
from .._clock import SYSTEM_CLOCK
from .._config import ClientConfig
from .._exceptions import InvalidRowError, SnowpipeError
from .._metrics import Metrics
from .._ndjson import line_problem, object_lines
from .._transport import Stats
from ._common import (
    EXIT_DATAERR,
    EXIT_INTERRUPTED,
    EXIT_TERMINATED,
    EXIT_USAGE,
    ByteSize,
    build_config,
    connection_options,
    echo_json,
    handle_errors,
    json_mode,
    json_option,
    pipe_options,
    setup_logging,
    verbosity,
)
from ._identity import (
    Chain,
    Content,
    InputId,
    Refusal,
    Resume,
    parse_token,
    resume_point,
    spread_refusal,
    token_input,
)
from ._metrics import metrics_options, serve_metrics
from ._readers import (
    EXIT_NOINPUT,
    BadInput,
    InputOptions,
    Meter,
    NoInput,
    Record,
    ShortInput,
    Source,
    describe,
    guess_hint,
    identify,
    input_options,
    read_records,
    run_format,
)
from ._shards import ALL, MAX_CHANNELS, after, channel_names, family, stripes

CHUNK_ROWS = 2000
#: After Ctrl-C or SIGTERM: how long to wait for what was sent to commit before exiting.
STOP_WAIT_SECS = 5.0


class _Progress:
    """Rows, MB, rows/s and retries on stderr (rich), or nothing; with a bar, the percent done
    and the time left when the size of the inputs is known (``meter``)."""

    def __init__(self, enabled: bool, meter: Meter) -> None:
        self.enabled, self.meter = enabled, meter
        self._progress: Any = None
        self._task: Any = None
        self._start = SYSTEM_CLOCK.monotonic()

    def __enter__(self) -> _Progress:
        if self.enabled:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                Progress,
                SpinnerColumn,
                TextColumn,
                TimeElapsedColumn,
            )

            bar = [BarColumn(bar_width=20)] if self.meter.total else []
            self._progress = Progress(
                SpinnerColumn(),
                *bar,
                TextColumn("{task.description}"),
                TimeElapsedColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self._progress.__enter__()
            self._task = self._progress.add_task("starting")
        return self

    def update(self, rows: int, nbytes: int, retries: int) -> None:
        if self._progress is None:
            return
        elapsed = max(SYSTEM_CLOCK.monotonic() - self._start, 1e-9)
        total, done = self.meter.total, self.meter.read
        left = ""
        if total:
            left = f"{min(done / total, 1):.0%} • ETA {_eta(done, total, elapsed)} • "
        self._progress.update(
            self._task,
            total=total or None,
            completed=done,
            description=(
                f"{left}{rows:,} rows • {nbytes / 1e6:,.1f} MB • {rows / elapsed:,.0f} rows/s • "
                f"{retries} retries"
            ),
        )

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.__exit__(*exc)


def _eta(done: int, total: int, elapsed: float) -> str:
    """The time left at the pace so far, as H:MM:SS (``-:--:--`` before there is a pace)."""
    if done <= 0:
        return "-:--:--"
    secs = int(max(total - done, 0) * elapsed / done)
    return f"{secs // 3600}:{secs // 60 % 60:02d}:{secs % 60:02d}"


def _client(
    config: ClientConfig, database: str, schema: str, pipe: str, metrics: Metrics | None
) -> AbstractContextManager[Client]:
    # Each channel sends in a thread of its own (``send_in_background``), so reading, checking
    # and compressing the next request goes on while one is out. Interrupted or failed: do not
    # wait for commits; a rerun resumes from the last one.
    config = config.replace(send_in_background=True)
    return abandon_on_error(
        Client("snowpipe-stream-cli", database, schema, pipe, config=config, metrics=metrics)
    )


@dataclass
class _Tally:
    """New rows and bytes handed over, by every channel of the run."""

    rows: int = 0
    nbytes: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    def add(self, rows: int, nbytes: int) -> None:
        with self._lock:
            self.rows += rows
            self.nbytes += nbytes


class _Sender:
    """Hands chunks of records of one input to one channel; counts what went in."""

    def __init__(
        self,
        client: Client,
        channel: Channel,
        bar: _Progress,
        config: ClientConfig,
        tally: _Tally,
        plan: Resume,
    ) -> None:
        self.client, self.channel, self.bar, self.tally = client, channel, bar, tally
        #: Where this channel resumes (its committed token).
        self.plan = plan
        self.max_lag = config.max_client_lag
        #: A chunk's records fit one request: the channel never has to split an append (its
        #: slow path), and a chunk's memory is bounded.
        self.max_bytes = config.max_request_bytes
        #: Records read, not yet handed over (one input's, all under ``key``).
        self.chunk: list[Record] = []
        self.key = ""
        self.chunk_at = 0.0
        #: Bytes in ``chunk``; whether its key hashes only some of the input's first records.
        self.size = 0
        self.partial = False
        self.new_rows = self.new_bytes = 0
        #: The token of the last record appended; None before the first.
        self.last: str | None = None

    @property
    def name(self) -> str:
        return self.channel.name

    def skip(self, index: int) -> int:
        """Records of input ``index`` this channel has committed (``ALL``: every one)."""
        if index < self.plan.start:
            return ALL
        return self.plan.skip if index == self.plan.start else 0

    def begin(self, key: str, partial: bool) -> None:
        """A new chunk starts (the caller appends its first record next)."""
        self.key, self.partial, self.size = key, partial, 0
        self.chunk_at = SYSTEM_CLOCK.monotonic()

    def send_chunk(self) -> None:
        """Hand the chunk to the channel (the list is emptied in place: callers keep a
        reference). The channel's sender makes the requests (``send_in_background``); an error
        of one is raised here, by the next chunk's append, or by :meth:`wait`."""
        if not self.chunk:
            return
        pending, key = self.chunk[:], self.key
        self.chunk.clear()
        self._send(pending, key)
        self.bar.update(self.tally.rows, self.tally.nbytes, _retries(self.client))

    def on_wait(self, would_block: bool) -> None:
        """Before each read from a stream: do not hold records while the writer is slow."""
        if not self.chunk:
            return
        late = 0 < self.max_lag <= SYSTEM_CLOCK.monotonic() - self.chunk_at
        if would_block or late:
            self.send_chunk()
            if late:  # they have waited long enough here: no second wait in the channel
                self.channel.flush()

    def _append(self, records: list[Record], key: str) -> None:
        rows = [r.row for r in records]
        first, final = f"{key}:{records[0].number}", f"{key}:{records[-1].last}"
        if isinstance(rows[0], bytes):  # NDJSON lines: checked, not parsed
            data = b"".join(cast("list[bytes]", rows))
            if all(r.checked for r in records):  # by the reader or _checked: not again
                self.channel._append_checked_ndjson(data, first, final)
            else:
                self.channel.append_ndjson(data, first, final)
        else:
            self.channel.append_rows(cast("list[dict[str, Any]]", rows), first, final)

    def _send(self, records: list[Record], key: str) -> None:
        """Append a chunk."""
        try:
            self._append(records, key)
        except InvalidRowError:
            # Find the row at fault: the rows before it go in, it is reported.
            for record in (one for r in records for one in r.split()):
                try:
                    self._append([record], key)
                except InvalidRowError as exc:
                    reason = str(exc)
                    if isinstance(record.row, bytes):
                        reason = line_problem(record.row) or reason
                    raise BadInput(record.source, record.line, reason, record.unit) from None
                self._count([record], key)
            return
        self._count(records, key)

    def _count(self, records: list[Record], key: str) -> None:
        rows, nbytes = sum(r.count for r in records), sum(r.size for r in records)
        self.new_rows += rows
        self.new_bytes += nbytes
        self.tally.add(rows, nbytes)
        self.last = f"{key}:{records[-1].last}"

    def wait(self, timeout: float) -> str | None:
        """Wait until every record handed over is appended and committed; the committed
        token. Raises the error that stopped the channel's sender, if one did."""
        final = self.last
        if final is None:
            return self.channel.latest_committed_offset_token
        return self.channel.wait_for_commit(lambda token: token == final, timeout=timeout)


def ingest(
    config: ClientConfig,
    files: list[str],
    database: str,
    schema: str,
    pipe: str,
    channel_name: str,
    inputs: InputOptions,
    input_id: str | None,
    restart: bool,
    progress: bool,
    commit_timeout: float,
    quiet: bool = False,
    as_json: bool = False,
    shards: int = 1,
    metrics_host: str = "127.0.0.1",
    metrics_port: int | None = None,
) -> int:
    started = SYSTEM_CLOCK.monotonic()
    try:
        sources = describe(files, input_id, inputs)
    except BadInput as exc:
        return _unreadable(exc)
    fmt = run_format(sources)
    if shards > 1:
        # The channels share the in-flight budget (rows sent and kept until committed), so
        # memory does not grow with --channels.
        config = config.replace(
            max_inflight_bytes=max(
                config.max_inflight_bytes // shards, 2 * config.max_request_bytes
            )
        )
    names = channel_names(channel_name, shards)
    labels = [s.label for s in sources]

    def ident(i: int, count: int | None) -> InputId:
        return identify(sources[i], count)

    with (
        serve_metrics(metrics_host, metrics_port, quiet) as metrics,
        _client(config, database, schema, pipe, metrics) as client,
    ):
        try:
            # Before opening any channel: a refused run creates none.
            _check_family(client, channel_name, fmt, labels, ident, shards)
        except BadInput as exc:  # reading the first records of an input to identify it
            return _unreadable(exc)
        opened = [client.open_channel(name) for name in names]
        if metrics is not None:
            # A listener has the client's watcher poll commits while rows are out, so the
            # committed figures move during the run, not only at its final wait.
            for channel, _ in opened:
                channel.on_commit(_ignore)
        try:
            plans = [
                resume_point(
                    fmt, labels, ident, name, st.last_committed_offset_token, restart, shards
                )
                for name, (_, st) in zip(names, opened, strict=True)
            ]
        except BadInput as exc:  # reading the first records of an input to identify it
            return _unreadable(exc)
        if not quiet:
            for name, plan, (_, st) in zip(names, plans, opened, strict=True):
                _announce(sources, plan.start, plan.skip, name, st.last_committed_offset_token)
        first = min(plans, key=lambda plan: plan.start)
        tally = _Tally()
        with _Progress(progress, Meter(sources[first.start :])) as bar:
            senders = [
                _Sender(client, channel, bar, config, tally, plan)
                for (channel, _), plan in zip(opened, plans, strict=True)
            ]
            try:
                code, committed = _send_inputs(senders, sources, first, fmt, commit_timeout)
            except KeyboardInterrupt as stop:
                _stop(senders, stop)
            except SnowpipeError:
                for sender in senders:
                    click.echo(
                        _committed_line(sender.name, sender.channel.latest_committed_offset_token),
                        err=True,
                    )
                raise
            if code != 0:
                return code
        summary = Summary(
            f"{database}.{schema}.{pipe}",
            channel_name,
            tally.rows,
            tally.nbytes,
            SYSTEM_CLOCK.monotonic() - started,
            committed,
            client.stats,
        )
        if as_json:
            echo_json(summary.as_json())
        elif not quiet:
            for line in summary.lines():
                click.echo(line)
    return 0


def _check_family(
    client: Client,
    channel_name: str,
    fmt: str,
    labels: list[str],
    ident: Callable[[int, int | None], InputId],
    shards: int,
) -> None:
    """Refuse when a channel of the family (``NAME``, ``NAME-k``) holds records of these inputs
    spread over another number of channels (see ``_shards``); one status request."""
    for name, st in client.get_channel_statuses(family(channel_name), missing_ok=True).items():
        committed = st.last_committed_offset_token
        token = parse_token(committed) if committed is not None else None
        if token is None or token.shards == shards:
            continue
        i = token_input(fmt, labels, ident, token)
        if i is not None:
            assert committed is not None
            raise spread_refusal(name, committed, token, labels[i], shards)


@dataclass(frozen=True)
class Summary:
    """What a finished run did, for a person (:meth:`lines`) or a script (:meth:`as_json`)."""

    pipe: str
    channel: str
    rows: int
    nbytes: int
    seconds: float
    #: Each channel's committed offset token (one channel, or ``--channels N`` of them).
    committed: dict[str, str | None]
    stats: Stats

    def as_json(self) -> dict[str, Any]:
        s = self.stats
        return {
            "ok": True,
            "exit_code": 0,
            "pipe": self.pipe,
            "channel": self.channel,
            "rows": self.rows,
            "bytes": self.nbytes,
            "seconds": round(self.seconds, 3),
            "rows_per_second": round(self.rows / self._secs, 1),
            "mb_per_second": round(self.nbytes / 1e6 / self._secs, 3),
            "committed_offset": self._single,
            "channels": dict(self.committed),
            "nothing_new": self.rows == 0,
            "retries": {"401": s.retries_401, "429": s.retries_429, "5xx": s.retries_5xx},
            "reopens": s.reopens,
            "rows_rejected": s.rows_rejected,
        }

    @property
    def _secs(self) -> float:
        return max(self.seconds, 1e-3)

    @property
    def _single(self) -> str | None:
        """The committed token when the run had one channel (None with several)."""
        return next(iter(self.committed.values())) if len(self.committed) == 1 else None

    def lines(self) -> list[str]:
        if len(self.committed) == 1:
            where = f"into {self.pipe} channel {self.channel}"
            offsets = f"committed offset {self._single}"
        else:
            names = list(self.committed)
            where = f"into {self.pipe} channels {names[0]} .. {names[-1]}"
            offsets = "committed offsets " + ", ".join(
                f"{name} {token}" for name, token in self.committed.items()
            )
        if self.rows == 0:
            out = [
                f"ingested 0 new rows {where}: nothing new to send, every record of these "
                f"inputs is committed; {offsets}"
            ]
        else:
            out = [
                f"ingested {plural(self.rows, 'new row')} {where}; {offsets}; "
                f"{size(self.nbytes)} in {self.seconds:.1f} s "
                f"({self.rows / self._secs:,.0f} rows/s, {size(self.nbytes / self._secs)}/s)"
            ]
        s, notes = self.stats, []
        retries = [
            f"{n} after {cause}"
            for n, cause in (
                (s.retries_401, "401 (credentials refreshed)"),
                (s.retries_429, "429 (throttled)"),
                (s.retries_5xx, "5xx or a lost connection"),
            )
            if n
        ]
        if retries:
            notes.append("retries: " + ", ".join(retries))
        if s.reopens:
            notes.append(f"{plural(s.reopens, 'channel reopen')}")
        if s.rows_rejected:
            notes.append(
                f"{plural(s.rows_rejected, 'row')} rejected by Snowflake (snowpipe-stream "
                "status shows the last error)"
            )
        if notes:
            out.append("; ".join(notes))
        return out


def plural(n: int, noun: str) -> str:
    """``1 row``, ``2 rows``, ``1,000 rows``."""
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}s"


def size(nbytes: float) -> str:
    """``812 bytes``, ``27.9 KB``, ``4.2 MB`` (decimal units)."""
    if nbytes < 1000:
        return f"{nbytes:.0f} bytes"
    return f"{nbytes / 1e3:.1f} KB" if nbytes < 1_000_000 else f"{nbytes / 1e6:.1f} MB"


def _send_inputs(
    senders: list[_Sender],
    sources: list[Source],
    first: Resume,
    fmt: str,
    commit_timeout: float,
) -> tuple[int, dict[str, str | None]]:
    """Send every input from the resume points and wait for the commits: (exit code, each
    channel's committed offset token). ``first`` is the resume point that starts earliest."""
    chain = Chain(fmt, first.before, len(senders))
    source = sources[first.start]
    try:
        for i in range(first.start, len(sources)):
            source = sources[i]
            chain.add(_read_input(senders, i, source, chain))
    except BadInput as exc:
        # Keep what came before the bad record: send (once: `chunk` holds only records
        # not yet handed over) and commit it, then stop.
        bad = exc
        for sender in senders:
            try:
                sender.send_chunk()
            except BadInput as earlier:  # a bad row before the bad line: report that one
                if bad is exc or earlier.line < bad.line:
                    bad = earlier
        for sender in senders:
            sender.wait(commit_timeout)
        click.echo(f"error: {bad}", err=True)
        guessed = guess_hint(bad, sources)
        if guessed is not None:
            click.echo(f"hint: {guessed}", err=True)
        click.echo(
            f"hint: fix {bad.source} {bad.place} and run the same command again; "
            "the records before it are committed, and the rerun resumes after them",
            err=True,
        )
        return EXIT_DATAERR, {}
    except ShortInput as short:
        sender = short.sender if isinstance(short, _ShortFor) else senders[0]
        committed = sender.channel.latest_committed_offset_token
        click.echo(
            f"error: {short.source} has {short.records:,} records, but channel "
            f"{sender.name!r} has committed record {sender.plan.skip:,} of it (offset token "
            f"{committed!r}): it was cut short or rewritten since. Nothing was sent",
            err=True,
        )
        click.echo(
            "hint: to load it as new data, use a new --channel"
            + (" or a new --input-id with --restart" if source.stream else "")
            + ", or drop the channel first (snowpipe-stream drop-channel)",
            err=True,
        )
        return EXIT_USAGE, {}
    return 0, {sender.name: sender.wait(commit_timeout) for sender in senders}


class _ShortFor(ShortInput):
    """An input ended before the record one channel (of several) resumes after."""

    def __init__(self, source: str, records: int, sender: _Sender) -> None:
        super().__init__(source, records)
        self.sender = sender


def _ignore(progress: object) -> None:
    pass


def _committed_line(channel_name: str, committed: str | None) -> str:
    return f"channel {channel_name!r} committed offset: {committed}"


def _stop(senders: list[_Sender], stop: KeyboardInterrupt) -> NoReturn:
    """Ctrl-C or SIGTERM: send what was read, wait briefly for its commit, say where a rerun
    resumes, exit 130 (Ctrl-C) or 143 (SIGTERM). A second signal ends the wait at once."""
    terminated = isinstance(stop, Terminated)
    what = "SIGTERM" if terminated else "Ctrl-C"
    click.echo(
        f"{what}: sending what was read; waiting up to {STOP_WAIT_SECS:g} s for its commit",
        err=True,
    )
    deadline = SYSTEM_CLOCK.monotonic() + STOP_WAIT_SECS
    committed: dict[str, str | None] = {}
    for sender in senders:
        try:
            sender.send_chunk()
            left = max(deadline - SYSTEM_CLOCK.monotonic(), 0.0)
            committed[sender.name] = sender.wait(left)
        except (SnowpipeError, BadInput):
            committed[sender.name] = sender.channel.latest_committed_offset_token
        click.echo(_committed_line(sender.name, committed[sender.name]), err=True)
    click.echo(
        f"stopped by {what}; run the same command again to resume after the committed offset",
        err=True,
    )
    code = EXIT_TERMINATED if terminated else EXIT_INTERRUPTED
    if json_mode():
        single = next(iter(committed.values())) if len(committed) == 1 else None
        echo_json(
            {
                "ok": False,
                "exit_code": code,
                "stopped_by": what,
                "committed_offset": single,
                "channels": committed,
            }
        )
    sys.exit(code)


class Terminated(KeyboardInterrupt):
    """SIGTERM (what systemd and Kubernetes send), raised in the main thread as Ctrl-C raises
    KeyboardInterrupt, so that both stop a run the same way."""


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise Terminated()


def _unreadable(exc: BadInput) -> int:
    click.echo(f"error: {exc}", err=True)
    click.echo("hint: check that input; nothing was sent", err=True)
    return EXIT_NOINPUT if isinstance(exc, NoInput) else EXIT_DATAERR


def _read_input(senders: list[_Sender], index: int, source: Source, chain: Chain) -> InputId:
    """Hand every record of input ``index`` that its channel has not committed to that
    channel (``_shards`` says which owns which); the input's identity."""
    content = None if source.stream else Content()

    def identity() -> InputId:
        return (
            InputId(source.name, None, None) if content is None else content.identity(source.name)
        )

    def on_wait(would_block: bool) -> None:
        for sender in senders:
            sender.on_wait(would_block)

    skips = [sender.skip(index) for sender in senders]
    skip = min(skips)
    bar = senders[0].bar
    records = read_records(source, skip, content, on_wait if source.stream else None, bar.meter)
    if len(senders) > 1 and source.format.name == "ndjson":
        records = _checked(records)
    last = skip
    try:
        for record in records:
            last = record.last
            _deal(senders, record, skips, chain, identity, content)
    except ShortInput as short:  # before the earliest resume point of its channels
        raise _ShortFor(short.source, short.records, senders[skips.index(skip)]) from None
    for sender in senders:
        sender.send_chunk()  # a chunk never spans two inputs
    for k, sender in enumerate(senders):
        if skips[k] != ALL and last < skips[k]:
            raise _ShortFor(source.label, last, sender)
    return identity()


def _checked(records: Iterator[Record]) -> Iterator[Record]:
    """NDJSON records checked before they are dealt. With one channel, the channel's own check
    of a chunk finds a bad line before anything after it is sent; with several, the records
    after it could reach another channel first and be committed, and a rerun after the line is
    deleted (records renumbered) would then skip or repeat records."""
    for record in records:
        assert isinstance(record.row, bytes)
        if record.checked:  # by the reader already
            yield record
            continue
        _, _, bad = object_lines(record.row)
        if not bad:
            yield replace(record, checked=True)
            continue
        for number, one in enumerate(record.split(), 1):
            if number == bad[0]:
                assert isinstance(one.row, bytes)
                reason = line_problem(one.row) or "not a JSON object"
                raise BadInput(one.source, one.line, reason, one.unit)
            yield replace(one, checked=True)  # the lines before it go in, as with one channel


def _deal(
    senders: list[_Sender],
    record: Record,
    skips: list[int],
    chain: Chain,
    identity: Callable[[], InputId],
    content: Content | None,
) -> None:
    """Hand ``record`` (or its parts) to the channels that own them and have not committed
    them, cutting their chunks as :func:`_read_input` says."""
    parts = ((0, record),) if len(senders) == 1 else stripes(record, len(senders))
    for k, part in parts:
        sender = senders[k]
        if part.last <= skips[k]:
            continue  # committed by its channel already
        if part.number <= skips[k]:
            part = after(part, skips[k])
        chunk = sender.chunk
        if chunk and (
            sender.size + part.size > sender.max_bytes
            or len(chunk) >= CHUNK_ROWS
            or (sender.partial and content is not None and content.full)
        ):
            # (A key made before the identity hash was full must not reach the records
            # read after it: those go under the full key, so a rewritten file is noticed.)
            sender.send_chunk()
        if not chunk:
            # The key covers the records read so far, this one included: all of them are
            # read before any token of this chunk can be committed (see _identity).
            sender.begin(chain.key(identity()), content is not None and not content.full)
        chunk.append(part)
        sender.size += part.size


def _announce(
    sources: list[Source], start: int, skip: int, channel: str, committed: str | None
) -> None:
    """Say on stderr what a rerun skips, or that --restart ignores the committed token."""
    if committed is None:
        return
    if start == 0 and skip == 0:  # resume_point let it through: --restart
        click.echo(
            f"--restart: channel {channel!r} has committed offset token {committed!r} of "
            "another input; sending these inputs from their first record",
            err=True,
        )
        return
    done = ", ".join(s.label for s in sources[:start])
    click.echo(
        f"resuming channel {channel!r} after record {skip:,} of {sources[start].label} "
        f"(committed offset token {committed!r})"
        + (f"; {done} before it are committed already" if done else ""),
        err=True,
    )


def _retries(client: Client) -> int:
    s = client.stats
    return s.retries_401 + s.retries_429 + s.retries_5xx + s.reopens


def run_ingest(config: ClientConfig, **kwargs: Any) -> None:
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    error: str | None = None
    try:
        code = ingest(config, **kwargs)
    except Refusal as exc:
        error = str(exc)
        click.echo(f"error: {exc}", err=True)
        click.echo(f"hint: {exc.hint}", err=True)
        code = EXIT_USAGE
    except KeyboardInterrupt as stop:  # before the channel was open, or a second signal
        click.echo("interrupted; run the same command again to resume", err=True)
        code = EXIT_TERMINATED if isinstance(stop, Terminated) else EXIT_INTERRUPTED
    finally:
        signal.signal(signal.SIGTERM, previous)
    if code != 0 and kwargs.get("as_json"):
        # The message and its hint are on stderr, as without --json.
        echo_json({"ok": False, "exit_code": code, "error": error})
    sys.exit(code)


@click.command("ingest")
@click.argument("files", nargs=-1, required=True)
@pipe_options
@click.option(
    "--channel",
    envvar="SNOWFLAKE_CHANNEL",
    help="Channel name, one writer per channel (or SNOWFLAKE_CHANNEL, or 'channel' in --profile).",
)
@click.option(
    "--channels",
    "shards",
    type=click.IntRange(1, MAX_CHANNELS),
    default=1,
    show_default=True,
    help="Spread the records over N channels, NAME-1 .. NAME-N (Snowflake caps each "
    "channel's throughput); a rerun must give the same N to resume.",
)
@input_options
@click.option(
    "--compression",
    type=click.Choice(["zstd", "gzip", "none"]),
    default=None,
    help="Request body compression [default: zstd].",
)
@click.option(
    "--batch-bytes",
    type=ByteSize(1024, C.MAX_REQUEST_BYTES_LIMIT),
    default=None,
    help="Largest request, uncompressed: bytes or 512KB, 4MiB, ... [default: 4MiB; at most 16MiB].",
)
@click.option(
    "--commit-timeout",
    type=float,
    default=300.0,
    show_default=True,
    help="Seconds to wait for the final commit.",
)
@click.option(
    "--input-id",
    metavar="NAME",
    help="Name of stdin or a pipe (required for -): a rerun with the same NAME resumes after "
    "the last committed record. With a single file: the name it had (to resume a renamed file).",
)
@click.option(
    "--restart",
    is_flag=True,
    help="The channel's committed offset token is of another input: send these inputs from "
    "their first record anyway (refused when it is of one of them).",
)
@click.option(
    "--no-progress", is_flag=True, help="No progress bar (also off when stderr is not a terminal)."
)
@metrics_options
@json_option
@connection_options
@handle_errors
def command(
    files: tuple[str, ...],
    database: str,
    schema: str,
    pipe: str,
    channel: str,
    shards: int,
    inputs: InputOptions,
    compression: str | None,
    batch_bytes: int | None,
    commit_timeout: float,
    input_id: str | None,
    restart: bool,
    no_progress: bool,
    as_json: bool,
    metrics_host: str,
    metrics_port: int | None,
    **opts: Any,
) -> None:
    """Stream FILES (NDJSON, JSON arrays, CSV/TSV, Parquet, Arrow; compressed or not; - for
    stdin) into a channel.

    A record's offset token names its input and its number in it, so running the same command
    again after a crash or Ctrl-C sends only what was not committed, and a channel holding
    another input's records stops the run (exit 2) instead of skipping anything.
    """
    level = verbosity(opts)
    setup_logging(level)
    config = build_config(opts, compression=compression, max_request_bytes=batch_bytes)
    run_ingest(
        config,
        files=list(files),
        database=database,
        schema=schema,
        pipe=pipe,
        channel_name=channel,
        shards=shards,
        inputs=inputs,
        input_id=input_id,
        restart=restart,
        commit_timeout=commit_timeout,
        progress=not no_progress and level >= 0 and sys.stderr.isatty(),
        quiet=level < 0,
        as_json=as_json,
        metrics_host=metrics_host,
        metrics_port=metrics_port,
    )
