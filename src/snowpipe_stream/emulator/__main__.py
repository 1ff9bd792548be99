"""``python -m snowpipe_stream.emulator``: serve the emulator until interrupted."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from .._constants import EMULATOR_MAX_REQUEST_BYTES
from . import Emulator


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m snowpipe_stream.emulator",
        description="A local Snowpipe Streaming REST API: real JWT checks, SQLite, faults.",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    p.add_argument("--port", type=int, default=0, help="port (0: any free port)")
    p.add_argument(
        "--state", metavar="PATH", help="SQLite file for rows and channels (default: in memory)"
    )
    p.add_argument(
        "--account",
        action="append",
        default=[],
        help="account of a user to register (repeat together with --user and --public-key)",
    )
    p.add_argument("--user", action="append", default=[], help="user name to register")
    p.add_argument(
        "--public-key",
        action="append",
        default=[],
        metavar="FILE",
        help="PEM public key of the user; repeat for a second key (rotation)",
    )
    p.add_argument(
        "--users",
        metavar="FILE",
        help='JSON list of {"account", "user", "public_key_file" or "public_key"}',
    )
    p.add_argument("--tls", action="store_true", help="serve HTTPS with a generated local CA")
    p.add_argument("--commit-delay-ms", type=float, default=200)
    p.add_argument("--scoped-token-ttl", type=float, default=3600, metavar="SECONDS")
    p.add_argument("--faults", metavar="FILE", help="JSON list of fault rules")
    p.add_argument("--fault-seed", type=int, help="seed for random fault rates")
    p.add_argument(
        "--soft-limits",
        action="store_true",
        help="429 past 10 requests/s or 1 MB/s per channel, like Snowflake",
    )
    p.add_argument(
        "--strict-pipes", action="store_true", help="404 for pipes not declared with --pipe"
    )
    p.add_argument("--pipe", action="append", default=[], metavar="DB.SCHEMA.PIPE")
    p.add_argument(
        "--binary-input-format",
        choices=["HEX", "BASE64", "UTF-8", "NONE"],
        default="HEX",
        help="the pipes' BINARY_INPUT_FORMAT, as :pipe-info answers it (NONE: name none)",
    )
    p.add_argument(
        "--max-request-bytes",
        type=int,
        default=EMULATOR_MAX_REQUEST_BYTES,
        metavar="N",
        help=f"largest append body, compressed or not; 413 past it ({EMULATOR_MAX_REQUEST_BYTES})",
    )
    p.add_argument(
        "--ddl",
        metavar="FILE.sql",
        help="Snowflake DDL (CREATE TABLE / CREATE PIPE): rows of those pipes are type-checked",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="log each decision")
    return p


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
    )


def serve(emulator: Emulator, verbose: bool = False) -> int:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    with emulator:
        print(f"emulator listening on {emulator.url}", flush=True)
        if emulator.ca_path is not None:
            print(f"CA certificate: {emulator.ca_path}", flush=True)
        stop.wait()
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        emulator = make_emulator(args)
    except (OSError, ValueError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return serve(emulator, args.verbose)


if __name__ == "__main__":
    sys.exit(main())
