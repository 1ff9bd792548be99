"""The ``snowpipe-stream`` command: ingest files, check credentials, inspect channels, demo.

Exit codes: 0 ok, 2 usage or configuration error (or a refusal that protects data: a channel
holding another input's rows, a drop without confirmation, a key file that is a link), 65 bad
input, 66 an input missing or unreadable (found before connecting), 69 Snowflake unreachable or
authentication failed, 75 temporary failure (throttled or timed out after retries), 130
interrupted (or a confirmation declined).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

try:
    import click
except ImportError as exc:  # the library was installed without the [cli] extra
    raise SystemExit(
        "snowpipe-stream: the command needs its extra: pip install 'snowpipe-stream[cli]'"
    ) from exc

from .._exceptions import SnowpipeError
from .._jwt import clamp_lifetime, effective_margin, normalize_account, normalize_user
from .._version import __version__
from ._common import (
    EXIT_USAGE,
    build_config,
    connection_options,
    fail,
    handle_errors,
    setup_logging,
)
from ._readers import InputOptions, input_options

__all__ = ["main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="snowpipe-stream")
def main() -> None:
    """Stream rows into Snowflake through the Snowpipe Streaming REST API.

    Credentials come from flags, then SNOWFLAKE_* environment variables, then --profile.
    """


def _pipe_options(fn: Any) -> Any:
    for option in reversed(
        [
            click.option("--database", required=True, help="Database name."),
            click.option("--schema", required=True, help="Schema name."),
            click.option(
                "--pipe",
                required=True,
                help="Pipe name (a table's default pipe is <TABLE>-STREAMING).",
            ),
        ]
    ):
        fn = option(fn)
    return fn


@main.command()
@click.argument("files", nargs=-1, required=True)
@_pipe_options
@click.option("--channel", required=True, help="Channel name (one writer per channel).")
@input_options
@click.option(
    "--compression",
    type=click.Choice(["zstd", "gzip", "none"]),
    default=None,
    help="Request body compression [default: zstd].",
)
@click.option(
    "--batch-bytes",
    type=int,
    default=None,
    help="Largest request, uncompressed [default: 4 MiB; at most 16 MiB].",
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
@connection_options
@handle_errors
def ingest(
    files: tuple[str, ...],
    database: str,
    schema: str,
    pipe: str,
    channel: str,
    inputs: InputOptions,
    compression: str | None,
    batch_bytes: int | None,
    commit_timeout: float,
    input_id: str | None,
    restart: bool,
    no_progress: bool,
    **opts: Any,
) -> None:
    """Stream FILES (NDJSON, CSV or JSON; - for stdin) into a channel.

    A record's offset token names its input and its number in it, so running the same command
    again after a crash or Ctrl-C sends only what was not committed, and a channel holding
    another input's records stops the run (exit 2) instead of skipping anything.
    """
    from ._ingest import run_ingest

    setup_logging(opts["verbose"])
    config = build_config(opts, compression=compression, max_request_bytes=batch_bytes)
    run_ingest(
        config,
        files=list(files),
        database=database,
        schema=schema,
        pipe=pipe,
        channel_name=channel,
        inputs=inputs,
        input_id=input_id,
        restart=restart,
        commit_timeout=commit_timeout,
        progress=not no_progress and sys.stderr.isatty(),
    )


@main.command()
@click.argument("channels", nargs=-1, required=True)
@_pipe_options
@connection_options
@handle_errors
def status(channels: tuple[str, ...], database: str, schema: str, pipe: str, **opts: Any) -> None:
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


@main.command("drop-channel")
@click.argument("channel")
@_pipe_options
@click.option(
    "--yes", is_flag=True, help="Do not ask for confirmation (needed without a terminal)."
)
@connection_options
@handle_errors
def drop_channel(
    channel: str, database: str, schema: str, pipe: str, yes: bool, **opts: Any
) -> None:
    """Drop CHANNEL: its committed offset token and history are reset (rows stay).

    Prints the token it discards: an `ingest` into the channel afterwards sends its inputs
    again from their first record. Asks first on a terminal.
    """
    from ._drop import drop_channel as run_drop

    setup_logging(opts["verbose"])
    sys.exit(run_drop(build_config(opts), database, schema, pipe, channel, yes))


@main.command()
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory for rsa_key.p8 and rsa_key.pub.",
)
@click.option("--bits", type=click.IntRange(2048, 8192), default=2048, show_default=True)
@click.option(
    "--passphrase-env",
    metavar="VAR",
    help="Encrypt the key with the passphrase in this environment variable.",
)
@click.option(
    "--user", help="User name for the ALTER USER statement [default: SNOWFLAKE_USER or <user>]."
)
@click.option(
    "--force",
    is_flag=True,
    help="Replace existing key files (regular files only: never a link).",
)
def keygen(
    out_dir: Path, bits: int, passphrase_env: str | None, user: str | None, force: bool
) -> None:
    """Generate a key pair for key-pair authentication (never writes through a link)."""
    from ._keygen import keygen as run_keygen

    passphrase = None
    if passphrase_env:
        passphrase = os.environ.get(passphrase_env)
        if not passphrase:
            click.echo(
                f"error: --passphrase-env names {passphrase_env}, which is not set", err=True
            )
            sys.exit(EXIT_USAGE)
    sys.exit(
        run_keygen(out_dir, bits, passphrase, user or os.environ.get("SNOWFLAKE_USER") or "", force)
    )


@main.command()
@click.option(
    "--show-token",
    is_flag=True,
    help="Also print the JWT and scoped token (secrets: handle with care).",
)
@connection_options
def check(show_token: bool, **opts: Any) -> None:
    """Check the configuration and key, then discover the ingest host and exchange a token."""
    from .._clock import SYSTEM_CLOCK
    from .._protocol import hostname_op, parse_hostname, parse_scoped_token, token_op
    from .._transport import Call, Core, SyncDriver

    setup_logging(opts["verbose"])
    try:
        config = build_config(opts)
    except SnowpipeError as exc:
        fail(exc)
    key = config.key
    click.echo(f"url:          {config.control_url}")
    if key is None:
        click.echo("credential:   a user-supplied JWT (deprecated; give the private key instead)")
    else:
        lifetime = clamp_lifetime(config.jwt_exp_secs)
        margin = effective_margin(config.jwt_refresh_margin_secs, lifetime)
        click.echo(
            f"account:      {normalize_account(config.account or '')} (as in the JWT claims)"
        )
        click.echo(f"user:         {normalize_user(config.user or '')}")
        click.echo(f"fingerprint:  {key.fingerprint} ({key.bits}-bit RSA)")
        clamped = (
            f" (jwt_exp_secs={config.jwt_exp_secs:g} clamped into [30, 3600])"
            if lifetime != config.jwt_exp_secs
            else ""
        )
        click.echo(f"JWT lifetime: {lifetime} s{clamped}; refreshed {margin:g} s before expiry")
    core = Core(config, SYSTEM_CLOCK)
    driver = SyncDriver(core)
    fingerprint = key.fingerprint if key is not None else None
    try:
        resp = driver.run(_one(Call(hostname_op())))
        host, url = parse_hostname(
            resp.content, core.control_url, allow_insecure_http=config.allow_insecure_http
        )
        click.echo(f"ok: hostname discovery: ingest host {host} ({url})")
        resp = driver.run(_one(Call(token_op(host))))
        token, expires_at = parse_scoped_token(resp.content, SYSTEM_CLOCK.time())
        click.echo(
            f"ok: token exchange: scoped token of {len(token)} chars, valid "
            f"{expires_at - SYSTEM_CLOCK.time():.0f} s"
        )
        if show_token:
            click.echo(f"JWT: {core.jwt.get_token()}")
            click.echo(f"scoped token: {token}")
    except SnowpipeError as exc:
        fail(exc, fingerprint)
    finally:
        driver.close()
    click.echo("all checks passed")


def _need_emulator() -> None:
    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        click.echo(
            "error: the emulator needs its extra: pip install 'snowpipe-stream[emulator]'", err=True
        )
        sys.exit(EXIT_USAGE)


def _one(effect: Any) -> Any:
    resp = yield effect
    return resp


@main.command(
    context_settings={
        "ignore_unknown_options": True,
        "allow_extra_args": True,
        "help_option_names": [],
    }
)
@click.pass_context
def emulator(ctx: click.Context) -> None:
    """Run the Snowpipe Streaming emulator in the foreground (--help for its options)."""
    _need_emulator()
    from ..emulator.__main__ import main as emulator_main

    sys.exit(emulator_main(list(ctx.args), prog="snowpipe-stream emulator"))


@main.command()
@click.option("--rows", type=click.IntRange(1000, 10_000_000), default=200_000, show_default=True)
def demo(rows: int) -> None:
    """The main job on the embedded emulator: token expiry, faults, exactly-once read-back."""
    _need_emulator()
    from ._demo import run_demo

    sys.exit(run_demo(rows=rows))
