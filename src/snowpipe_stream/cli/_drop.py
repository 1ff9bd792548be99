"""``snowpipe-stream drop-channel``: say what a drop discards, ask, then drop.

Dropping a channel resets its committed offset token: the same ``ingest`` run again afterwards
finds no token and sends its inputs from their first record, so rows loaded already are loaded
again. The command prints the token it discards and that consequence. On a terminal it asks
first (``--yes`` skips the question); without a terminal and without ``--yes`` it refuses
(exit 2): a script must say it means it, as a drop cannot be undone. A channel without a
committed token is dropped without asking (nothing is discarded).
"""

from __future__ import annotations

import sys
from typing import Any

import click

from .._client import Client
from .._config import ClientConfig
from ._common import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    build_config,
    connection_options,
    handle_errors,
    pipe_options,
    setup_logging,
    verbosity,
)


def drop_channel(
    config: ClientConfig, database: str, schema: str, pipe: str, channel: str, yes: bool
) -> int:
    where = f"channel {channel} of {database}.{schema}.{pipe}"
    with Client("snowpipe-stream-cli", database, schema, pipe, config=config) as client:
        statuses = client.get_channel_statuses([channel])
        status = statuses.get(channel) or next(iter(statuses.values()))
        token = status.last_committed_offset_token
        if token is None:
            client.drop_channel(channel)
            click.echo(f"dropped {where} (it had no committed offset token: nothing to resend)")
            return EXIT_OK
        what = (
            f"{where} has committed offset token {token!r} ({status.rows_inserted:,} rows "
            "inserted); dropping it discards that token: an `ingest` into it afterwards sends its "
            "inputs again from their first record, rows loaded already included"
        )
        if not yes:
            if not sys.stdin.isatty():
                click.echo(f"error: not dropped: {what}", err=True)
                click.echo(
                    "hint: add --yes to drop it without being asked (there is no terminal "
                    "to ask on)",
                    err=True,
                )
                return EXIT_USAGE
            click.echo(what, err=True)
            try:
                confirmed = click.confirm(f"drop {where}?", default=False, err=True)
            except click.Abort:  # Ctrl-C or end of input at the question
                confirmed = False
            if not confirmed:
                click.echo(f"not dropped: {where} keeps offset token {token!r}", err=True)
                return EXIT_INTERRUPTED
        client.drop_channel(channel)
    click.echo(
        f"dropped {where}; discarded its committed offset token {token!r}: the same `ingest` "
        "run again now sends its inputs from their first record"
    )
    return EXIT_OK


@click.command("drop-channel")
@click.argument("channel")
@pipe_options
@click.option(
    "--yes", is_flag=True, help="Do not ask for confirmation (needed without a terminal)."
)
@connection_options
@handle_errors
def command(channel: str, database: str, schema: str, pipe: str, yes: bool, **opts: Any) -> None:
    """Drop CHANNEL: its committed offset token and history are reset (rows stay).

    Prints the token it discards: an `ingest` into the channel afterwards sends its inputs
    again from their first record. Asks first on a terminal.
    """
    setup_logging(verbosity(opts))
    sys.exit(drop_channel(build_config(opts), database, schema, pipe, channel, yes))
