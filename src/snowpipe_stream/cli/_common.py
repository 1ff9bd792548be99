"""What every command shares: connection options, logging, exit codes, error messages."""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from .._config import ClientConfig, parse_size
from .._exceptions import (
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    ChannelDroppedError,
    ChannelInvalidatedError,
    CommitTimeoutError,
    ConfigError,
    InvalidRowError,
    NotFoundError,
    PermissionDeniedError,
    ServerError,
    SnowpipeError,
    ThrottledError,
)
from .._logfields import LOG_FORMAT_ENV, LOG_FORMATS, JsonFormatter, env_log_format

F = TypeVar("F", bound=Callable[..., Any])

# sysexits.h, as the issue asks: usage, bad input, service unavailable, temporary failure.
EXIT_OK, EXIT_USAGE, EXIT_DATAERR, EXIT_UNAVAILABLE, EXIT_TEMPFAIL = 0, 2, 65, 69, 75
EXIT_INTERRUPTED = 130
#: 128 + SIGTERM, what a shell reports for a process SIGTERM ended.
EXIT_TERMINATED = 143


def connection_options(fn: F) -> F:
    """The options every command that talks to Snowflake takes (flags > env > profile)."""
    options = [
        click.option(
            "--profile",
            type=click.Path(dir_okay=False, path_type=Path),
            help="profile.json with Snowflake's SDK keys (account, user, url, "
            "private_key_file, ...).",
        ),
        click.option("--account", help="Account identifier (or SNOWFLAKE_ACCOUNT)."),
        click.option("--user", help="User the public key is registered on (or SNOWFLAKE_USER)."),
        click.option(
            "--url",
            help="Account URL; default https://<account>.snowflakecomputing.com"
            " (or SNOWFLAKE_URL).",
        ),
        click.option(
            "--private-key-file",
            type=click.Path(path_type=Path),
            help="PEM/DER private key file (or SNOWFLAKE_PRIVATE_KEY_PATH).",
        ),
        click.option(
            "--private-key-passphrase-env",
            metavar="VAR",
            help="Name of the environment variable holding the key's passphrase "
            "(never the passphrase itself).",
        ),
        click.option("--role", help="Role for the session (or SNOWFLAKE_ROLE)."),
        click.option(
            "--ca-file",
            type=click.Path(dir_okay=False, path_type=Path),
            help="PEM file of a private CA to trust beside the usual ones, for a server whose "
            "certificate it signed (or SNOWFLAKE_CA_FILE; SSL_CERT_FILE replaces the usual "
            "ones instead).",
        ),
        *verbosity_options(),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def verbosity_options() -> list[Callable[[F], F]]:
    """-v, -q and --log-format: on the group (before the command) and on each command (after
    it)."""
    return [
        click.option(
            "-v",
            "--verbose",
            count=True,
            help="-v: the library's INFO logs (JWT refreshes, retries); -vv: DEBUG (each request).",
        ),
        click.option(
            "-q",
            "--quiet",
            is_flag=True,
            help="Errors only: no progress, notes or summary (--json still prints its object).",
        ),
        log_format_option(),
    ]


def log_format_option() -> Callable[[F], F]:
    """--log-format text|json (every command has it; see :func:`log_format`)."""
    return click.option(
        "--log-format",
        type=click.Choice(LOG_FORMATS),
        default=None,
        help="Log lines on stderr as text, or as one JSON object per line (time, level, "
        f"logger, message, channel, request_id, ...) [default: text; or {LOG_FORMAT_ENV}].",
    )


def json_option(fn: F) -> F:
    """--json: one JSON object on stdout instead of the text output."""
    return click.option(
        "--json",
        "as_json",
        is_flag=True,
        help="Print one JSON object on stdout (for scripts) instead of text.",
    )(fn)


def verbosity(opts: dict[str, Any]) -> int:
    """-1 for -q, else how many -v, given before the command or after it."""
    ctx = click.get_current_context(silent=True)
    root = ctx.find_root().params if ctx is not None else {}
    if opts.get("quiet") or root.get("quiet"):
        return -1
    return int(opts.get("verbose") or 0) + int(root.get("verbose") or 0)


def log_format(opts: dict[str, Any] | None = None) -> str:
    """The log format, text or json: --log-format after the command, else before it, else
    SNOWFLAKE_LOG_FORMAT, else text."""
    ctx = click.get_current_context(silent=True)
    own = (opts or {}).get("log_format") or (ctx.params.get("log_format") if ctx else None)
    chosen = own or (ctx.find_root().params.get("log_format") if ctx else None)
    if chosen:
        return str(chosen)
    try:
        return env_log_format(os.environ) or "text"
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def json_mode() -> bool:
    """Whether the running command was given --json."""
    ctx = click.get_current_context(silent=True)
    return bool(ctx is not None and ctx.params.get("as_json"))


def setup_logging(verbose: int, fmt: str | None = None) -> None:
    """Library logs on stderr: -1 (-q) none, 0 warnings, 1 INFO, 2 DEBUG; as text or JSON
    lines (``fmt``, by default as :func:`log_format` says)."""
    json_lines = (fmt or log_format()) == "json"
    level = (
        logging.ERROR
        if verbose < 0
        else logging.WARNING
        if verbose == 0
        else logging.INFO
        if verbose == 1
        else logging.DEBUG
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter()
        if json_lines
        else logging.Formatter("%(asctime)s %(levelname)-7s %(name)s %(message)s")
    )
    if verbose <= 0:
        # The command prints a final failure itself, with a hint; the log line would repeat it.
        handler.addFilter(lambda record: record.levelno < logging.ERROR)
    root = logging.getLogger("snowpipe_stream")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


def build_config(opts: dict[str, Any], **extra: Any) -> ClientConfig:
    """A ClientConfig from the command's options, the environment and the profile."""
    var = opts.get("private_key_passphrase_env")
    passphrase = None
    if var:
        if var not in os.environ:
            raise ConfigError(
                f"--private-key-passphrase-env names {var}, but that variable is not set"
            )
        passphrase = os.environ[var]
    key_file = opts.get("private_key_file")
    ca_file = opts.get("ca_file")
    return ClientConfig.from_sources(
        profile_path=opts.get("profile"),
        env=os.environ,
        account=opts.get("account"),
        user=opts.get("user"),
        url=opts.get("url"),
        role=opts.get("role"),
        private_key_file=str(key_file) if key_file is not None else None,
        private_key_passphrase=passphrase,
        ca_file=str(ca_file) if ca_file is not None else None,
        **extra,
    )


def _outage(exc: BaseException) -> bool:
    """A server this run had reached stopped answering: temporary, not a wrong URL."""
    return isinstance(exc, APIConnectionError) and exc.established and exc.retryable


def exit_code(exc: BaseException) -> int:
    """The process exit code for an error (see the README's table)."""
    if isinstance(exc, ConfigError):
        return EXIT_USAGE
    if isinstance(exc, InvalidRowError):
        return EXIT_DATAERR
    if isinstance(exc, ThrottledError | ServerError | CommitTimeoutError | APITimeoutError):
        return EXIT_TEMPFAIL
    if _outage(exc):
        return EXIT_TEMPFAIL
    if isinstance(
        exc,
        APIConnectionError
        | AuthenticationError
        | PermissionDeniedError
        | NotFoundError
        | ChannelInvalidatedError,
    ):
        return EXIT_UNAVAILABLE
    return EXIT_UNAVAILABLE if isinstance(exc, SnowpipeError) else 1


def hint(
    exc: BaseException, fingerprint: str | None = None, *, in_check: bool = False
) -> str | None:
    """What to do about an error, in a line (``in_check``: for ``check``'s own output, which
    shows the fingerprint and names already)."""
    if isinstance(exc, AuthenticationError):
        fp = f" ({fingerprint})" if fingerprint else ""
        return (
            "check the key: compare this key's fingerprint" + fp + " with RSA_PUBLIC_KEY_FP "
            "in DESC USER, and the account and user names"
            + ("" if in_check else "; `snowpipe-stream check` shows both")
        )
    if isinstance(exc, ChannelDroppedError):
        return (
            "the channel was dropped while this command ran; running it again starts a new "
            "channel from the first record (rows committed before the drop stay in the table): "
            "to avoid duplicates, use --restart only for inputs that did not land"
        )
    if isinstance(exc, ChannelInvalidatedError) and exc.reason == "opened_elsewhere":
        return (
            "another writer opened this channel: run one ingest per channel (give each its "
            "own --channel); once the other is done, the same command resumes after the "
            "committed offset"
        )
    if isinstance(exc, ThrottledError | ServerError | CommitTimeoutError) or _outage(exc):
        return "a temporary failure: run the same command again; it resumes where it stopped"
    return None


#: The command line's names for the ClientConfig fields that library messages name.
CLI_NAMES = {
    "ClientConfig.url": "--url / SNOWFLAKE_URL",
    "ClientConfig.ca_file": "--ca-file / SNOWFLAKE_CA_FILE",
}


#: Settings a flag gives, by their ClientConfig key: a message naming the key (as a value given
#: as an argument, so from the flag) names the flag.
FLAG_OF_KEY = {
    "ca_file": "--ca-file",
    "private_key_file": "--private-key-file",
    "max_request_bytes": "--batch-bytes",
}
_KEY_WORD = re.compile(r"(?<![\w.-])(" + "|".join(FLAG_OF_KEY) + r")(?![\w-]| \(from )")


def cli_words(message: str) -> str:
    """A library message in the command line's words: the flags, not the ClientConfig fields
    (a key with ``(from the environment)`` or ``(from profile ...)`` after it stays: the user
    did not type a flag)."""
    for field_name, flag in CLI_NAMES.items():
        message = message.replace(field_name, flag)
    return _KEY_WORD.sub(lambda m: FLAG_OF_KEY[m.group(1)], message)


if TYPE_CHECKING:  # generic from click 8.2 on; the project accepts 8.1
    _IntParamType = click.ParamType[int]
else:
    _IntParamType = click.ParamType


class ByteSize(_IntParamType):
    """A size in bytes: ``4194304``, ``4MiB``, ``512KB`` (KB = 1000, KiB = 1024), in a range."""

    name = "SIZE"

    def __init__(self, minimum: int, maximum: int) -> None:
        self.minimum, self.maximum = minimum, maximum

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            size = value
        else:
            try:
                size = parse_size(str(value))
            except ValueError as exc:
                self.fail(str(exc), param, ctx)
        if size < self.minimum:
            self.fail(f"must be at least {_size(self.minimum)}, got {value}", param, ctx)
        if size > self.maximum:
            self.fail(f"must be at most {_size(self.maximum)}, got {value}", param, ctx)
        return size


def _size(n: int) -> str:
    for unit, factor in (("MiB", 1024**2), ("KiB", 1024)):
        if n >= factor and n % factor == 0:
            return f"{n // factor} {unit} ({n} bytes)"
    return f"{n} bytes"


def fail(exc: BaseException, fingerprint: str | None = None) -> NoReturn:
    """Print the error (and what to do) and exit with its code; with --json, also the error as
    the command's JSON object."""
    message = cli_words(str(exc))
    click.echo(f"error: {message}", err=True)
    h = hint(exc, fingerprint)
    if h:
        click.echo(f"hint: {h}", err=True)
    code = exit_code(exc)
    if json_mode():
        echo_json({"ok": False, "exit_code": code, "error": message, "hint": h})
    sys.exit(code)


def echo_json(doc: dict[str, Any]) -> None:
    """The one JSON object of a --json command, on stdout."""
    click.echo(json.dumps(doc, ensure_ascii=False))


def handle_errors(fn: F) -> F:
    """Turn library errors into messages and exit codes instead of tracebacks."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except SnowpipeError as exc:
            fail(exc)
        except KeyboardInterrupt:
            click.echo("interrupted; run the same command again to resume", err=True)
            sys.exit(EXIT_INTERRUPTED)

    return wrapper  # type: ignore[return-value]


#: Where a pipe option may come from besides its flag: a variable, then a profile key.
PIPE_SOURCES = {
    "database": "SNOWFLAKE_DATABASE",
    "schema": "SNOWFLAKE_SCHEMA",
    "pipe": "SNOWFLAKE_PIPE",
    "channel": "SNOWFLAKE_CHANNEL",
}


def pipe_options(fn: F) -> F:
    """--database, --schema and --pipe (and --channel where the command has it), each from its
    flag, else its SNOWFLAKE_* variable, else its key in the --profile file."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        profile: dict[str, Any] | None = None
        for name, var in PIPE_SOURCES.items():
            if name not in kwargs or kwargs[name]:
                continue
            if profile is None:
                profile = _profile_values(kwargs.get("profile"))
            value = profile.get(name)
            if not isinstance(value, str) or not value.strip():
                where = f", or {name!r} in --profile" if kwargs.get("profile") else ""
                raise click.UsageError(f"Missing option '--{name}' (or {var}{where}).")
            kwargs[name] = value.strip()
        return fn(*args, **kwargs)

    for option in reversed(
        [
            click.option("--database", envvar="SNOWFLAKE_DATABASE", help=_pipe_help("Database")),
            click.option("--schema", envvar="SNOWFLAKE_SCHEMA", help=_pipe_help("Schema")),
            click.option(
                "--pipe",
                envvar="SNOWFLAKE_PIPE",
                help=_pipe_help("Pipe", " (a table's default pipe is <TABLE>-STREAMING)"),
            ),
        ]
    ):
        wrapper = option(wrapper)
    return wrapper  # type: ignore[return-value]


def _pipe_help(what: str, extra: str = "") -> str:
    name = what.lower()
    return f"{what} name{extra} (or {PIPE_SOURCES[name]}, or {name!r} in --profile)."


def _profile_values(path: object) -> dict[str, Any]:
    """The profile's keys, or nothing when there is none or it cannot be read (building the
    config reports that, naming the file)."""
    if path is None:
        return {}
    try:
        doc = json.loads(Path(str(path)).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def need_emulator() -> None:
    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        click.echo(
            "error: the emulator needs its extra: pip install 'snowpipe-stream[emulator]'", err=True
        )
        sys.exit(EXIT_USAGE)
