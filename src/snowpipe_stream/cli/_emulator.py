"""``snowpipe-stream emulator`` and ``snowpipe-stream demo``: the commands that need the emulator
extra (imported only when they run)."""

from __future__ import annotations

import sys
from typing import Any

import click

from .._exceptions import ConfigError
from ._common import fail, log_format, log_format_option, need_emulator


@click.command(
    "emulator",
    context_settings={
        "ignore_unknown_options": True,
        "allow_extra_args": True,
        "help_option_names": [],
    },
)
@click.pass_context
def emulator(ctx: click.Context) -> None:
    """Run the Snowpipe Streaming emulator in the foreground (--help for its options)."""
    need_emulator()
    from ..emulator.__main__ import main as emulator_main

    args = list(ctx.args)
    given = ctx.find_root().params.get("log_format")  # snowpipe-stream --log-format X emulator
    if given and not any(a == "--log-format" or a.startswith("--log-format=") for a in args):
        args = ["--log-format", given, *args]
    sys.exit(emulator_main(args, prog="snowpipe-stream emulator"))


@click.command("demo")
@click.option("--rows", type=click.IntRange(1000, 10_000_000), default=200_000, show_default=True)
@log_format_option()
def demo(rows: int, **opts: Any) -> None:
    """The main job on the embedded emulator: token expiry, faults, exactly-once read-back.

    With --log-format json its log lines go to stderr as JSON, not into the narrative."""
    need_emulator()
    from ._demo import run_demo

    try:
        json_logs = log_format(opts) == "json"
    except ConfigError as exc:
        fail(exc)
    sys.exit(run_demo(rows=rows, json_logs=json_logs))
