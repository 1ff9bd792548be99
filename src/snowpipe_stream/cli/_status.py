"""``snowpipe-stream status``: the committed offset, row counts and errors of channels."""

from __future__ import annotations

from typing import Any

import click

from ._common import build_config, connection_options, handle_errors, pipe_options, setup_logging


@click.command("status")
@click.argument("channels", nargs=-1, required=True)
@pipe_options
@connection_options
@handle_errors
def command(channels: tuple[str, ...], database: str, schema: str, pipe: str, **opts: Any) -> None:
    """Show the status of CHANNELS: committed offset, rows, and the rows Snowflake rejected."""
    from rich.console import Console
    from rich.table import Table

    from .._client import Client

    setup_logging(opts["verbose"])
    with Client("snowpipe-stream-cli", database, schema, pipe, config=build_config(opts)) as client:
        statuses = client.get_channel_statuses(list(channels))
    console = Console()
    for name, st in statuses.items():
        # One field a line: a channel's status has more fields than fit across a terminal.
        table = Table(title=f"{database}.{schema}.{pipe} channel {name}", show_header=False)
        table.add_column("field", style="bold")
        table.add_column("value", overflow="fold")
        at = st.last_error_timestamp_ms
        for field, value in (
            ("status", st.channel_status_code),
            ("committed offset", str(st.last_committed_offset_token)),
            ("rows inserted", f"{st.rows_inserted:,}"),
            ("rows parsed", f"{st.rows_parsed:,}"),
            ("row errors", f"{st.rows_error_count:,}"),
            ("last error", st.last_error_message or ""),
            ("error offset bound", st.last_error_offset_upper_bound or ""),
            ("last error at (UTC)", _utc(at) if at is not None else ""),
        ):
            table.add_row(field, value)
        console.print(table)


def _utc(ms: int) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(ms / 1000, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
