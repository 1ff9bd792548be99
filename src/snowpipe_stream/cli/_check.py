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
    echo_json,
    exit_code,
    hint,
    json_option,
    setup_logging,
    verbosity,
)


@click.command("check")
@click.option(
    "--show-token",
    is_flag=True,
    help="Also print the JWT and scoped token (secrets: handle with care).",
)
@json_option
@connection_options
def command(show_token: bool, as_json: bool, **opts: Any) -> None:
    """Check the configuration and key, then discover the ingest host and exchange a token.

    One PASS or FAIL line per step; it stops at the first that fails (a server that cannot be
    reached fails in seconds).
    """
    level = verbosity(opts)
    setup_logging(level)
    tokens: list[str] = []
    try:
        config = build_config(opts)
    except SnowpipeError as exc:
        steps = [DiagnosticStep("configuration", False, str(exc), 0.0, exc)]
    else:
        steps = run_steps(config, reveal=(lambda *t: tokens.extend(t)) if show_token else None)
        if tokens and not as_json:
            click.echo(f"JWT: {tokens[0]}")
            click.echo(f"scoped token: {tokens[1]}")
    failed = steps[-1].error
    code = EXIT_OK if failed is None else exit_code(failed)
    h = None if failed is None else hint(failed, in_check=True)
    if as_json:
        doc: dict[str, Any] = {
            "ok": failed is None,
            "exit_code": code,
            "steps": [
                {"name": s.name, "ok": s.ok, "detail": cli_words(s.detail), "elapsed": s.elapsed}
                for s in steps
            ],
            "hint": h,
        }
        if tokens:
            doc["jwt"], doc["scoped_token"] = tokens
        echo_json(doc)
        sys.exit(code)
    for step in steps:
        if not step.ok or level >= 0:
            click.echo(render(step))
    if failed is None:
        if level >= 0:
            click.echo("all checks passed")
    elif h:
        click.echo(f"hint: {h}", err=True)
    sys.exit(code)


def render(step: DiagnosticStep) -> str:
    """``PASS name: detail (0.01 s)``, in the command line's words."""
    return (
        f"{'PASS' if step.ok else 'FAIL'} {step.name}: {cli_words(step.detail)} "
        f"({step.elapsed:.2f} s)"
    )
