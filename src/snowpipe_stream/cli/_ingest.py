"""``snowpipe-stream ingest``: stream files into a channel, exactly once across reruns."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

import click

from .._batching import parse_int_token
from .._client import Client
from .._clock import SYSTEM_CLOCK
from .._config import ClientConfig
from .._exceptions import ConfigError, InvalidRowError
from .._ndjson import line_problem
from ._common import EXIT_DATAERR, EXIT_INTERRUPTED
from ._readers import BadInput, Record, read_records

CHUNK_ROWS = 2000


class _Progress:
    """Rows, MB, rows/s and retries on stderr (rich), or nothing."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._progress: Any = None
        self._task: Any = None
        self._start = SYSTEM_CLOCK.monotonic()

    def __enter__(self) -> _Progress:
        if self.enabled:
            from rich.console import Console
            from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

            self._progress = Progress(
                SpinnerColumn(),
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
        self._progress.update(
            self._task,
            description=(
                f"{rows:,} rows • {nbytes / 1e6:,.1f} MB • {rows / elapsed:,.0f} rows/s • "
                f"{retries} retries"
            ),
        )

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.__exit__(*exc)


@contextmanager
def _client(config: ClientConfig, database: str, schema: str, pipe: str) -> Iterator[Client]:
    client = Client("snowpipe-stream-cli", database, schema, pipe, config=config)
    try:
        yield client
    except BaseException:
        # Interrupted or failed: do not wait for commits; a rerun resumes from the last one.
        client.close(wait_for_flush=False)
        raise
    client.close()


def ingest(
    config: ClientConfig,
    files: list[str],
    database: str,
    schema: str,
    pipe: str,
    channel_name: str,
    fmt: str,
    progress: bool,
    commit_timeout: float,
) -> int:
    started = SYSTEM_CLOCK.monotonic()
    with _client(config, database, schema, pipe) as client:
        channel, status = client.open_channel(channel_name)
        committed = status.last_committed_offset_token
        skip = parse_int_token(committed) if committed is not None else 0
        if skip is None or skip < 0:
            raise ConfigError(
                f"channel {channel_name!r} has committed offset token {committed!r}, which is "
                "not a record number: it was written by another program. Use another channel, "
                "or drop this one (snowpipe-stream drop-channel) to start over"
            )
        new_rows = new_bytes = 0
        last = skip
        chunk: list[Record] = []

        def append(records: list[Record]) -> None:
            rows = [r.row for r in records]
            first, final = str(records[0].number), str(records[-1].number)
            if isinstance(rows[0], bytes):  # NDJSON lines: checked, not parsed
                channel.append_ndjson(b"".join(cast("list[bytes]", rows)), first, final)
            else:
                channel.append_rows(cast("list[dict[str, Any]]", rows), first, final)

        def send(records: list[Record]) -> None:
            nonlocal new_rows, new_bytes, last
            if not records:
                return
            try:
                append(records)
            except InvalidRowError:
                # Find the row at fault: the rows before it go in, it is reported.
                for record in records:
                    try:
                        append([record])
                    except InvalidRowError as exc:
                        reason = str(exc)
                        if isinstance(record.row, bytes):
                            reason = line_problem(record.row) or reason
                        raise BadInput(record.source, record.line, reason) from None
                    new_rows += 1
                    new_bytes += record.size
                    last = record.number
                return
            new_rows += len(records)
            new_bytes += sum(r.size for r in records)
            last = records[-1].number

        with _Progress(progress) as bar:
            try:
                for record in read_records(files, fmt, skip):
                    chunk.append(record)
                    if len(chunk) >= CHUNK_ROWS:
                        pending, chunk = chunk, []
                        send(pending)
                        bar.update(new_rows, new_bytes, _retries(client))
                pending, chunk = chunk, []
                send(pending)
            except BadInput as exc:
                # Keep what came before the bad record: send (once: `chunk` holds only records
                # not yet given to send) and commit it, then stop.
                bad = exc
                try:
                    send(chunk)
                except BadInput as earlier:  # a bad row before the bad line: report that one
                    bad = earlier
                if last > skip:
                    channel.wait_for_commit(str(last), timeout=commit_timeout)
                click.echo(f"error: {bad}", err=True)
                click.echo(
                    f"hint: fix {bad.source} line {bad.line} and run the same command "
                    f"again; records 1-{last} are committed and will be skipped",
                    err=True,
                )
                return EXIT_DATAERR
            bar.update(new_rows, new_bytes, _retries(client))
            if last > skip:
                committed = channel.wait_for_commit(str(last), timeout=commit_timeout)
        elapsed = SYSTEM_CLOCK.monotonic() - started
        click.echo(
            f"ingested {last:,} rows ({new_rows:,} new) into {database}.{schema}.{pipe} "
            f"channel {channel_name}; committed offset {committed}; "
            f"{new_bytes / 1e6:.1f} MB in {elapsed:.1f} s"
        )
    return 0


def _retries(client: Client) -> int:
    s = client.stats
    return s.retries_401 + s.retries_429 + s.retries_5xx + s.reopens


def run_ingest(config: ClientConfig, **kwargs: Any) -> None:
    try:
        code = ingest(config, **kwargs)
    except KeyboardInterrupt:
        click.echo("interrupted; run the same command again to resume", err=True)
        sys.exit(EXIT_INTERRUPTED)
    sys.exit(code)
