"""``snowpipe-stream check``: one PASS/FAIL line per step of the library's :func:`diagnose`."""

from __future__ import annotations

import sys
from typing import Any

import click

from .._diagnose import DiagnosticStep, run_steps
from .._exceptions import SnowpipeError
from ._common import (
    EXIT_OK,
    build_config,
    cli_words,
    connection_options,
    exit_code,
    hint,
    setup_logging,
)


@click.command("check")
@click.option(
    "--show-token",
    is_flag=True,
    help="Also print the JWT and scoped token (secrets: handle with care).",
)
@connection_options
def command(show_token: bool, **opts: Any) -> None:
    """Check the configuration and key, then discover the ingest host and exchange a token.

    One PASS or FAIL line per step; it stops at the first that fails (a server that cannot be
    reached fails in seconds).
    """
    setup_logging(opts["verbose"])
    try:
        config = build_config(opts)
    except SnowpipeError as exc:
        steps = [DiagnosticStep("configuration", False, str(exc), 0.0, exc)]
    else:
        tokens: list[str] = []
        steps = run_steps(config, reveal=(lambda *t: tokens.extend(t)) if show_token else None)
        if tokens:
            click.echo(f"JWT: {tokens[0]}")
            click.echo(f"scoped token: {tokens[1]}")
    for step in steps:
        click.echo(render(step))
    failed = steps[-1].error
    if failed is None:
        click.echo("all checks passed")
        sys.exit(EXIT_OK)
    h = hint(failed, in_check=True)
    if h:
        click.echo(f"hint: {h}", err=True)
    sys.exit(exit_code(failed))


def render(step: DiagnosticStep) -> str:
    """``PASS name: detail (0.01 s)``, in the command line's words."""
    return (
        f"{'PASS' if step.ok else 'FAIL'} {step.name}: {cli_words(step.detail)} "
        f"({step.elapsed:.2f} s)"
    )
