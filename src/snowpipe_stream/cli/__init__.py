"""The ``snowpipe-stream`` command: ingest files, check credentials, inspect channels, demo.

One module per command (``_ingest``, ``_status``, ``_drop``, ``_keygen``, ``_check``,
``_emulator`` for ``emulator`` and ``demo``); what they share is in ``_common``.

Exit codes: 0 ok, 1 (``status``) some channels do not exist, 2 usage or configuration error (or
a refusal that protects data: a channel holding another input's rows, a drop without
confirmation, a key file that is a link; or the [cli] extra missing), 65 bad input, 66 an
input missing or unreadable (found before connecting), 69 Snowflake unreachable or
authentication failed, 75 temporary failure (throttled, timed out, or
a server that stopped answering mid-run, after retries), 130 interrupted (or a confirmation
declined), 143 SIGTERM.
"""

from __future__ import annotations

import sys

try:
    import click
except ImportError as exc:  # the library was installed without the [cli] extra
    print(
        "snowpipe-stream: the command needs its extra: pip install 'snowpipe-stream[cli]'",
        file=sys.stderr,
    )
    raise SystemExit(2) from exc

from .._version import __version__
from . import _check, _drop, _emulator, _ingest, _keygen, _status
from ._common import verbosity_options

__all__ = ["main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="snowpipe-stream")
@verbosity_options()[0]
@verbosity_options()[1]
@verbosity_options()[2]
def main(verbose: int, quiet: bool, log_format: str | None) -> None:
    """Stream rows into Snowflake through the Snowpipe Streaming REST API.

    Credentials come from flags, then SNOWFLAKE_* environment variables, then --profile.
    """


for _command in (
    _ingest.command,
    _status.command,
    _drop.command,
    _keygen.command,
    _check.command,
    _emulator.emulator,
    _emulator.demo,
):
    main.add_command(_command)
