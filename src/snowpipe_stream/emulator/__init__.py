"""An embedded Snowpipe Streaming emulator: real HTTP, real JWT checks, SQLite, faults.

::

    from snowpipe_stream.emulator import Emulator

    with Emulator(users=[("myorg-acct", "svc", private_key)]) as emu:
        client = Client("app", "DB", "S", "P", account="myorg-acct", user="svc",
                        private_key=private_key, url=emu.url)
        ...
        emu.rows("DB", "S", "P")          # what was committed

Run it as a server with ``python -m snowpipe_stream.emulator --help``.
"""

from __future__ import annotations

import logging
import tempfile
import threading
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

try:
    import starlette  # noqa: F401
    import uvicorn  # noqa: F401
except ImportError as _missing:  # pragma: no cover - exercised in a subprocess
    raise ImportError(
        f"snowpipe_stream.emulator needs the emulator extra ({_missing.name} is missing): "
        'pip install "snowpipe-stream[emulator]"',
        name=_missing.name,
    ) from _missing

from .._clock import SYSTEM_CLOCK, Clock
from .._constants import EMULATOR_MAX_REQUEST_BYTES
from ._app import EmulatorApp, reached_host
from ._auth import UNCHANGED, Authority, PublicKeyLike, Users
from ._ddl import parse_ddl
from ._faults import FaultPlan, FaultRule
from ._state import EmulatorState
from ._store import Store
from ._tls import make_certificates
from ._types import BINARY_FORMATS, TypedPipes

__all__ = ["Emulator", "FaultPlan", "FaultRule"]

_log = logging.getLogger("snowpipe_stream.emulator")

#: Seconds for a request head to arrive whole, or between two reads of a body.
DEFAULT_READ_TIMEOUT = 30.0
#: Seconds an idle connection stays open between requests.
DEFAULT_KEEP_ALIVE_TIMEOUT = 30.0
#: Connections served at once (well under the usual 1024 open files of a process).
DEFAULT_MAX_CONNECTIONS = 500

UserSpec = tuple[str, str, PublicKeyLike] | tuple[str, str, list[PublicKeyLike]] | Mapping[str, Any]


def _ddl_text(ddl: str | Path) -> str:
    """The SQL of ``ddl``: a Path or the name of an existing file is read, else it is SQL."""
    if isinstance(ddl, Path):
        return ddl.read_text(encoding="utf-8")
    if "\n" not in ddl and len(ddl) < 4096 and ddl.strip().lower().endswith(".sql"):
        return Path(ddl).read_text(encoding="utf-8")
    return ddl


def no_users_hint(url: str) -> str:
    """What to do when no user is registered: every JWT is refused until one is."""
    return (
        "no users are registered, so every request will be refused (401). Register a public "
        "key (make a pair with: snowpipe-stream keygen --out DIR):\n"
        f"  curl -X POST {url}/emulator/v1/users -H 'Content-Type: application/json' "
        '-d \'{"account": "ACCOUNT", "user": "USER", '
        '"public_key": "<the RSA_PUBLIC_KEY value keygen printed>"}\'\n'
        "or restart with --account ACCOUNT --user USER --public-key DIR/rsa_key.pub"
    )


class _QuietCuts(logging.Filter):
    """Uvicorn logs an error each time a fault cuts an answer short; that is the point."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "without completing response" not in record.getMessage()


class Emulator:
    """The emulator, served by uvicorn in a background thread on an ephemeral port.

    Args:
        users: ``(account, user, public_key_or_keys)`` tuples or dicts with those keys
            (``public_key`` / ``public_keys``); keys as PEM, base64 body or key objects.
        clock: the time source (share a ``FakeClock`` with the client to age tokens).
        tls: serve HTTPS with a generated CA (``ca_path``); clients trust it via
            ``SSL_CERT_FILE`` or ``verify=``.
        state: a SQLite file to keep committed rows and channels in (default: memory).
        commit_delay_ms: how long an accepted batch waits before it counts as committed.
        scoped_token_ttl: lifetime of the scoped tokens it issues, in seconds.
        oauth_token_ttl: lifetime of the OAuth access tokens ``POST /oauth/token-request``
            issues to registered clients (:meth:`add_oauth_client`), in seconds.
        faults: fault rules to start with; ``fault_seed`` seeds their random rates.
        soft_limits: answer 429 past 10 requests/s or 1 MB/s per channel.
        strict_pipes: answer 404 for pipes not in ``pipes`` ("DB.SCHEMA.PIPE").
        max_request_bytes: the largest append body, on the wire and uncompressed (16 MiB by
            default, what Snowflake's REST page allows); larger bodies are answered 413.
        ddl: Snowflake DDL (SQL text, or the path of a .sql file) declaring tables and pipes:
            rows appended to those pipes (and to each table's default pipe
            ``<TABLE>-STREAMING``) are converted to the column types, and rows that do not
            fit are counted as error rows (``GET /emulator/v1/errors`` lists them). Other
            pipes accept any JSON object, as without DDL.
        advertise_host: the ingest host ``GET /v2/streaming/hostname`` answers. By default
            it is the host each client reached (its ``Host`` header), so a client that came
            in as ``localhost`` or by a LAN address is sent back there.
        read_timeout: seconds a connection may take to send a request head, or stay silent
            in the middle of a body, before it is closed.
        keep_alive_timeout: seconds an idle connection is kept open between requests.
        strict_wire: refuse (400) requests that lack what Snowflake's SDK always sends (the
            token type header, ``requestId``, ``retryCount``, ...); ``stats()["wire_missing"]``
            counts them either way.
        max_connections: connections served at once; requests on more are answered 503
            (and their connection closed).
    """

    def __init__(
        self,
        users: Iterable[UserSpec] = (),
        clock: Clock | None = None,
        tls: bool = False,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        state: str | Path | None = None,
        commit_delay_ms: float = 200,
        scoped_token_ttl: float = 3600,
        oauth_token_ttl: float = 600,
        faults: Iterable[Any] = (),
        fault_seed: int | None = None,
        soft_limits: bool = False,
        strict_pipes: bool = False,
        pipes: Iterable[str] = (),
        max_request_bytes: int = EMULATOR_MAX_REQUEST_BYTES,
        binary_input_format: str | None = "HEX",
        ddl: str | Path | None = None,
        advertise_host: str | None = None,
        read_timeout: float = DEFAULT_READ_TIMEOUT,
        keep_alive_timeout: float = DEFAULT_KEEP_ALIVE_TIMEOUT,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        strict_wire: bool = False,
    ) -> None:
        if binary_input_format is not None and binary_input_format not in BINARY_FORMATS:
            raise ValueError(
                f"binary_input_format must be one of {', '.join(BINARY_FORMATS)} or None, "
                f"got {binary_input_format!r}"
            )
        if read_timeout <= 0 or keep_alive_timeout <= 0:
            raise ValueError("read_timeout and keep_alive_timeout must be more than 0 seconds")
        if max_connections < 1:
            raise ValueError("max_connections must be at least 1")
        if advertise_host is not None and reached_host(advertise_host) != advertise_host.lower():
            raise ValueError(
                f"advertise_host must be a bare host name or IP address, got {advertise_host!r}"
            )
        self.read_timeout = read_timeout
        self.keep_alive_timeout = keep_alive_timeout
        self.max_connections = max_connections
        self.clock = clock or SYSTEM_CLOCK
        self.host, self.port, self.tls = host, port, tls
        self.users = Users()
        for spec in users:
            self.add_user(spec)
        self.faults = FaultPlan(fault_seed)
        self.faults.extend(faults)
        self.store = Store(str(state) if state is not None else None)
        self._state_path = Path(state) if state is not None else None
        self.state = EmulatorState(
            self.clock,
            self.store,
            commit_delay=commit_delay_ms / 1000,
            max_request_bytes=max_request_bytes,
            binary_input_format=binary_input_format,
            soft_limits=soft_limits,
            strict_pipes=strict_pipes,
            pipes=tuple(pipes),
        )
        if ddl is not None:
            self.state.typed = TypedPipes(parse_ddl(_ddl_text(ddl)), store=self.store)
        self.authority = Authority(self.users, scoped_token_ttl, oauth_token_ttl)
        default = advertise_host or ("127.0.0.1" if host in ("0.0.0.0", "::", "") else host)
        self.app = EmulatorApp(
            self.state,
            self.authority,
            self.users,
            self.faults,
            self.clock,
            default,
            advertise_host=advertise_host,
        )
        self.app.strict_wire = strict_wire
        self.ca_path: Path | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self.url = ""

    # --- users ----------------------------------------------------------------------------

    def add_user(
        self,
        spec: UserSpec | None = None,
        *,
        account: str | None = None,
        user: str | None = None,
        public_key: PublicKeyLike | None = None,
    ) -> list[str]:
        """Register a user's public key(s); return their fingerprints."""
        if spec is not None:
            if isinstance(spec, Mapping):
                account, user = spec["account"], spec["user"]
                keys = spec.get("public_keys") or [spec["public_key"]]
            else:
                account, user, k = spec
                keys = k if isinstance(k, list) else [k]
        else:
            keys = [public_key]
        if not account or not user or not keys or any(k is None for k in keys):
            raise ValueError("a user needs an account, a user name and a public key")
        return [self.users.add(account, user, k) for k in keys if k is not None]

    def set_user_keys(
        self,
        account: str,
        user: str,
        *,
        rsa_public_key: PublicKeyLike | None = UNCHANGED,
        rsa_public_key_2: PublicKeyLike | None = UNCHANGED,
    ) -> dict[str, str | None]:
        """``ALTER USER``: set a slot to a key, unset it with None, leave it by omitting it.

        Returns ``{"rsa_public_key_fp": ..., "rsa_public_key_2_fp": ...}`` as ``DESC USER``
        shows them. Scoped tokens already issued stay valid until they expire: Snowflake's
        rotation procedure (https://docs.snowflake.com/en/user-guide/key-pair-auth) documents
        no revocation of issued tokens when a key is unset, and a scoped token is verified by
        its issuer's signature, not by the user's key. JWTs signed with the removed key are
        refused from that moment.
        """
        return self.users.set_keys(
            account, user, rsa_public_key=rsa_public_key, rsa_public_key_2=rsa_public_key_2
        )

    def add_pat(self, account: str, user: str, name: str, days_to_expiry: float = 15) -> str:
        """``ALTER USER ... ADD PAT name DAYS_TO_EXPIRY = n``: the new secret (15 days by
        default, as Snowflake's). Expired or revoked, it is answered 401 ``394400``."""
        token, _ = self.authority.issue_pat(account, user, name, days_to_expiry, self.clock.time())
        return token

    def revoke_pat(self, account: str, user: str, name: str) -> bool:
        """``ALTER USER ... REMOVE PAT name``; False when the user had no such PAT."""
        return self.authority.revoke_pat(account, user, name)

    def add_oauth_client(self, account: str, user: str) -> dict[str, str]:
        """Register an OAuth client for the user: ``{"client_id", "client_secret",
        "refresh_token"}`` for ``POST /oauth/token-request`` (client-credentials or
        refresh-token grant; access tokens live ``oauth_token_ttl`` seconds)."""
        return self.authority.add_oauth_client(account, user)

    def revoke_oauth_client(self, client_id: str) -> bool:
        """Remove the client; its tokens are refused from now on."""
        return self.authority.revoke_oauth_client(client_id)

    # --- reading back ---------------------------------------------------------------------

    def rows(self, database: str, schema: str, pipe: str, channel: str | None = None) -> list[Any]:
        """Every committed row of the pipe (or one channel), in commit order."""
        return self.state.rows(database, schema, pipe, channel)

    def iter_rows(
        self, database: str, schema: str, pipe: str, channel: str | None = None
    ) -> Iterator[Any]:
        """The committed rows of :meth:`rows`, one at a time (a committed batch in memory)."""
        for batch in self.state.iter_batches(database, schema, pipe, channel):
            yield from batch

    def stats(self) -> dict[str, Any]:
        """The counters ``GET /emulator/v1/stats`` answers."""
        return self.app.stats_doc()

    # --- serving --------------------------------------------------------------------------

    def start(self) -> Emulator:
        import uvicorn

        from ._server import protocol_class

        ssl: dict[str, Any] = {}
        if self.tls:
            if self._state_path is not None:
                directory = self._state_path.parent / (self._state_path.name + ".tls")
            else:
                self._tmp = tempfile.TemporaryDirectory(prefix="snowpipe-stream-emulator-")
                directory = Path(self._tmp.name)
            self.ca_path, cert, key = make_certificates(directory, self.app.host)
            ssl = {"ssl_certfile": str(cert), "ssl_keyfile": str(key)}
        logging.getLogger("uvicorn.error").addFilter(_QuietCuts())
        config = uvicorn.Config(
            self.app,
            host=self.host,
            port=self.port,
            log_level="warning",
            access_log=False,
            lifespan="off",
            # The app dates its answers with its own clock (see EmulatorApp._dated).
            date_header=False,
            http=protocol_class(self.read_timeout, self.keep_alive_timeout),
            loop="asyncio",
            # uvicorn counts this connection too, and answers 503 from this many on.
            limit_concurrency=self.max_connections + 1,
            **ssl,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, daemon=True, name="snowpipe-stream-emulator"
        )
        self._thread.start()
        ready = threading.Event()
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError(f"the emulator could not listen on {self.host}:{self.port}")
            ready.wait(0.005)
        sock = self._server.servers[0].sockets[0]
        self.port = sock.getsockname()[1]
        scheme = "https" if self.tls else "http"
        host = f"[{self.app.host}]" if ":" in self.app.host else self.app.host
        self.url = f"{scheme}://{host}:{self.port}"
        _log.info("emulator listening on %s", self.url)
        if not self.users.snapshot():
            _log.warning(no_users_hint(self.url))
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.store.close()
        if self._tmp is not None:
            self._tmp.cleanup()

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"Emulator(url={self.url!r}, tls={self.tls})"
