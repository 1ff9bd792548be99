"""``python -m snowpipe_stream.emulator``: serve the emulator until interrupted."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any, NoReturn

from .._constants import EMULATOR_MAX_REQUEST_BYTES
from .._logfields import LOG_FORMAT_ENV, LOG_FORMATS, JsonFormatter, env_log_format
from . import (
    DEFAULT_KEEP_ALIVE_TIMEOUT,
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_READ_TIMEOUT,
    Emulator,
)

#: The usage line's command when run as ``python -m``; the CLI passes its own.
PROG = "python -m snowpipe_stream.emulator"

DESCRIPTION = """\
  Serve a local Snowpipe Streaming REST API (/v2/streaming) until interrupted:
  real key-pair JWT checks, scoped tokens, channels and commits in SQLite,
  scripted faults.

  Register users with --account/--user/--public-key, --users FILE, or later
  with POST /emulator/v1/users. Then point a client at the printed URL
  (SNOWFLAKE_URL). The admin API (/emulator/v1/...) answers loopback only."""


class _ClickStyleParser(argparse.ArgumentParser):
    """argparse help laid out like the other commands' (click): ``Usage:``, ``Options:``."""

    def format_usage(self) -> str:
        return super().format_usage().replace("usage: ", "Usage: ", 1)

    def format_help(self) -> str:
        text = super().format_help()
        text = text.replace("usage: ", "Usage: ", 1)
        return text.replace("\noptions:\n", "\nOptions:\n", 1)

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(2, f"Try '{self.prog} --help' for help.\n\nError: {message}\n")


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=32, width=80)


def build_parser(prog: str = PROG) -> argparse.ArgumentParser:
    p = _ClickStyleParser(
        prog=prog,
        usage="%(prog)s [OPTIONS]",
        description=DESCRIPTION,
        formatter_class=_HelpFormatter,
        add_help=False,
    )
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="Address to listen on [default: 127.0.0.1; 0.0.0.0 for every interface].",
    )
    p.add_argument("--port", type=int, default=0, help="Port [default: 0, any free port].")
    p.add_argument(
        "--advertise-host",
        metavar="HOST",
        help="Ingest host to answer GET /v2/streaming/hostname with [default: the host each "
        "client reached].",
    )
    p.add_argument(
        "--state",
        metavar="PATH",
        help="SQLite file to keep rows and channels in across restarts [default: memory].",
    )
    p.add_argument(
        "--account",
        action="append",
        default=[],
        help="Account of the user to register (with --user and --public-key).",
    )
    p.add_argument("--user", action="append", default=[], help="Name of the user to register.")
    p.add_argument(
        "--public-key",
        action="append",
        default=[],
        metavar="FILE",
        help="PEM public key of the user (snowpipe-stream keygen writes rsa_key.pub); "
        "repeat for a second key (rotation).",
    )
    p.add_argument(
        "--users",
        metavar="FILE",
        help='JSON list of users: {"account", "user", "public_key_file" or "public_key"}.',
    )
    p.add_argument(
        "--tls",
        action="store_true",
        help="Serve HTTPS with a generated local CA (its path is printed; clients trust it "
        "with SSL_CERT_FILE).",
    )
    p.add_argument(
        "--commit-delay-ms",
        type=float,
        default=200,
        metavar="MS",
        help="How long an accepted batch waits before it counts as committed [default: 200].",
    )
    p.add_argument(
        "--scoped-token-ttl",
        type=float,
        default=3600,
        metavar="SECONDS",
        help="Lifetime of the scoped tokens it issues [default: 3600].",
    )
    p.add_argument(
        "--faults",
        metavar="FILE",
        help='JSON list of fault rules, e.g. [{"path": "/rows$", "status": 503, "count": 2}].',
    )
    p.add_argument(
        "--fault-seed", type=int, metavar="N", help="Seed for fault rules' random rates."
    )
    p.add_argument(
        "--soft-limits",
        action="store_true",
        help="Answer 429 past 10 requests/s or 1 MB/s per channel, like Snowflake.",
    )
    p.add_argument(
        "--strict-pipes",
        action="store_true",
        help="Answer 404 for pipes not declared with --pipe [default: any pipe exists].",
    )
    p.add_argument(
        "--pipe",
        action="append",
        default=[],
        metavar="DB.SCHEMA.PIPE",
        help="A pipe that exists (with --strict-pipes); repeat for more.",
    )
    p.add_argument(
        "--read-timeout",
        type=_positive_float,
        default=DEFAULT_READ_TIMEOUT,
        metavar="SECONDS",
        help="Close a connection whose request head is not whole in this time, or that is "
        f"silent this long within a body [default: {DEFAULT_READ_TIMEOUT:g}].",
    )
    p.add_argument(
        "--keep-alive-timeout",
        type=_positive_float,
        default=DEFAULT_KEEP_ALIVE_TIMEOUT,
        metavar="SECONDS",
        help="Close a connection idle this long between requests "
        f"[default: {DEFAULT_KEEP_ALIVE_TIMEOUT:g}].",
    )
    p.add_argument(
        "--max-connections",
        type=int,
        default=DEFAULT_MAX_CONNECTIONS,
        metavar="N",
        help="Connections served at once; requests on more get 503 "
        f"[default: {DEFAULT_MAX_CONNECTIONS}].",
    )
    p.add_argument(
        "--binary-input-format",
        choices=["HEX", "BASE64", "UTF-8", "NONE"],
        default="HEX",
        help="The pipes' BINARY_INPUT_FORMAT, as :pipe-info answers it (NONE: name none) "
        "[default: HEX].",
    )
    p.add_argument(
        "--max-request-bytes",
        type=int,
        default=EMULATOR_MAX_REQUEST_BYTES,
        metavar="N",
        help="Largest append body, compressed or not; 413 past it "
        f"[default: {EMULATOR_MAX_REQUEST_BYTES}].",
    )
    p.add_argument(
        "--ddl",
        metavar="FILE.sql",
        help="Snowflake DDL (CREATE TABLE / CREATE PIPE): rows of those pipes are checked "
        "and converted like Snowflake's [default: none].",
    )
    p.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="Log each decision (INFO); rejections and warnings are logged anyway.",
    )
    p.add_argument(
        "--log-format",
        choices=LOG_FORMATS,
        default=None,
        help="Log lines on stderr as text, or as one JSON object per line "
        f"[default: text; or {LOG_FORMAT_ENV}].",
    )
    p.add_argument("-h", "--help", action="help", help="Show this message and exit.")
    return p


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, got {text}")
    return value


def users_from_args(args: argparse.Namespace) -> list[dict[str, Any]]:
    users: list[dict[str, Any]] = []
    if args.users:
        doc = json.loads(Path(args.users).read_text())
        if not isinstance(doc, list):
            raise ValueError(f"{args.users}: expected a JSON list of users")
        for entry in doc:
            keys = list(entry.get("public_keys") or [])
            if "public_key" in entry:
                keys.append(entry["public_key"])
            for name in ("public_key_file", "public_key_files"):
                files = entry.get(name) or []
                for f in [files] if isinstance(files, str) else files:
                    keys.append((Path(args.users).parent / f).read_text())
            users.append({"account": entry["account"], "user": entry["user"], "public_keys": keys})
    if (args.account or args.user) and not args.public_key:
        raise ValueError(
            "--account and --user register a user only with --public-key FILE (the user's "
            "public key, as snowpipe-stream keygen writes it); for several users use --users FILE"
        )
    if args.public_key:
        if len(args.account) != 1 or len(args.user) != 1:
            raise ValueError(
                "--public-key needs exactly one --account and one --user "
                "(use --users FILE for several users)"
            )
        users.append(
            {
                "account": args.account[0],
                "user": args.user[0],
                "public_keys": [Path(f).read_text() for f in args.public_key],
            }
        )
    return users


def make_emulator(args: argparse.Namespace) -> Emulator:
    faults: list[Any] = []
    if args.faults:
        doc = json.loads(Path(args.faults).read_text())
        faults = doc if isinstance(doc, list) else [doc]
    return Emulator(
        users=users_from_args(args),
        tls=args.tls,
        host=args.host,
        port=args.port,
        state=args.state,
        commit_delay_ms=args.commit_delay_ms,
        scoped_token_ttl=args.scoped_token_ttl,
        faults=faults,
        fault_seed=args.fault_seed,
        soft_limits=args.soft_limits,
        strict_pipes=args.strict_pipes,
        pipes=args.pipe,
        binary_input_format=None
        if args.binary_input_format == "NONE"
        else args.binary_input_format,
        max_request_bytes=args.max_request_bytes,
        ddl=Path(args.ddl) if args.ddl else None,
        advertise_host=args.advertise_host,
        read_timeout=args.read_timeout,
        keep_alive_timeout=args.keep_alive_timeout,
        max_connections=args.max_connections,
    )


def serve(emulator: Emulator, verbose: bool = False, log_format: str = "text") -> int:
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, handlers=[handler])
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(emulator)
        except RuntimeError as exc:  # uvicorn has logged why (a port in use, most often)
            print(
                f"error: {exc}; is another program on that port? --port 0 takes a free one",
                file=sys.stderr,
            )
            return 2
        if log_format == "json":
            # uvicorn gave its loggers their own text handlers when the emulator started.
            uvicorn_log = logging.getLogger("uvicorn")
            uvicorn_log.handlers[:] = []
            uvicorn_log.propagate = True
        print(f"emulator listening on {emulator.url}", flush=True)
        if emulator.ca_path is not None:
            print(f"CA certificate: {emulator.ca_path}", flush=True)
        stop.wait()
    return 0


def main(argv: list[str] | None = None, prog: str = PROG) -> int:
    args = build_parser(prog).parse_args(argv)
    try:
        log_format = args.log_format or env_log_format(os.environ) or "text"
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        emulator = make_emulator(args)
    except (OSError, ValueError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return serve(emulator, args.verbose, log_format)


if __name__ == "__main__":
    sys.exit(main())
