"""``snowpipe-stream status``: the committed offset, row counts and errors of channels.

On a terminal, a table per channel; otherwise one plain table (a header, a line per channel,
``-`` for an absent value) that ``awk`` and ``column`` read; ``--json`` prints one object with
null for absent values. Channels that do not exist are named, after those that do (exit 1).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import sys
from typing import Any

import click

from .._client import Client
from .._protocol import ChannelStatus
from ._common import (
    build_config,
    connection_options,
    echo_json,
    handle_errors,
    json_option,
    pipe_options,
    setup_logging,
    verbosity,
)

#: What an absent value looks like in text output.
ABSENT = "-"


@click.command("status")
@click.argument("channels", nargs=-1, required=True)
@pipe_options
@json_option
@connection_options
@handle_errors
def command(
    channels: tuple[str, ...], database: str, schema: str, pipe: str, as_json: bool, **opts: Any
) -> None:
    """Show the status of CHANNELS: committed offset, rows, and the rows Snowflake rejected.

    Exit 1 when some of them do not exist (those that do are shown).
    """
    setup_logging(verbosity(opts))
    with Client("snowpipe-stream-cli", database, schema, pipe, config=build_config(opts)) as client:
        found, missing = statuses(client, list(channels))
    where = f"{database}.{schema}.{pipe}"
    if as_json:
        echo_json(
            {
                "pipe": where,
                "channels": {name: dataclasses.asdict(st) for name, st in found.items()},
                "missing": missing,
            }
        )
    elif sys.stdout.isatty():
        _rich_tables(where, found)
    else:
        _plain_table(found)
    for name in missing:
        click.echo(f"error: channel {name!r} does not exist on {where}", err=True)
    sys.exit(1 if missing else 0)


def statuses(client: Client, names: list[str]) -> tuple[dict[str, ChannelStatus], list[str]]:
    """The statuses of the channels that exist, and the names of those that do not (one
    request: a missing pipe, schema or database still raises)."""
    found = client.get_channel_statuses(names, missing_ok=True)
    return found, [name for name in names if name not in found]


def _fields(st: ChannelStatus) -> list[tuple[str, str]]:
    at = st.last_error_timestamp_ms
    return [
        ("status", st.channel_status_code),
        ("committed offset", _text(st.last_committed_offset_token)),
        ("rows inserted", f"{st.rows_inserted:,}"),
        ("rows parsed", f"{st.rows_parsed:,}"),
        ("row errors", f"{st.rows_error_count:,}"),
        ("last error", _text(st.last_error_message)),
        ("error offset bound", _text(st.last_error_offset_upper_bound)),
        ("last error at (UTC)", _utc(at) if at is not None else ABSENT),
    ]


def _text(value: str | None) -> str:
    return ABSENT if value is None or value == "" else value


def _plain_table(found: dict[str, ChannelStatus]) -> None:
    """A header and a line per channel, columns aligned with spaces (no colors, no boxes)."""
    rows = [["channel", *(name for name, _ in _fields(ChannelStatus("", "")))]]
    rows += [[name, *(value for _, value in _fields(st))] for name, st in found.items()]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )


def _rich_tables(where: str, found: dict[str, ChannelStatus]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    for name, st in found.items():
        # One field a line: a channel's status has more fields than fit across a terminal.
        table = Table(title=f"{where} channel {name}", show_header=False)
        table.add_column("field", style="bold")
        table.add_column("value", overflow="fold")
        for field, value in _fields(st):
            table.add_row(field, value)
        console.print(table)


def _utc(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
