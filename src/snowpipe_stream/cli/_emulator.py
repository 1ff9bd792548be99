"""``snowpipe-stream emulator`` and ``snowpipe-stream demo``: the commands that need the emulator
extra (imported only when they run)."""

from __future__ import annotations

import sys

import click

from ._common import need_emulator


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

    sys.exit(emulator_main(list(ctx.args), prog="snowpipe-stream emulator"))


@click.command("demo")
@click.option("--rows", type=click.IntRange(1000, 10_000_000), default=200_000, show_default=True)
def demo(rows: int) -> None:
    """The main job on the embedded emulator: token expiry, faults, exactly-once read-back."""
    need_emulator()
    from ._demo import run_demo

    sys.exit(run_demo(rows=rows))
