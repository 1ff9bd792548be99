"""Sending requests: the retrying request flow (pure) and the two drivers that run flows.

Logic that needs I/O is written once, as a generator of *effects*: :class:`Send` (one HTTP
attempt; the driver attaches the credential), :class:`Sleep`, :class:`Call` (a whole
retrying request, run by :func:`request_flow`) and :class:`Exclusive` (run a sub-flow holding a
lock). :class:`SyncDriver` and :class:`AsyncDriver` run such generators over ``httpx.Client`` /
``httpx.AsyncClient``; they are the only code that sends, sleeps or waits for a lock, and they
mirror each other line for line. The channel's recovery logic, the commit wait and the token
exchange are flows too, so sync and async share every decision.

Locks: the sync driver can run a flow with a *step lock*: every step of the flow (the code
between two effects) runs holding it, and no effect does. Channels use it so that their state
changes are atomic while no lock is held across a request or a sleep, except the one lock that
must be: :class:`Exclusive` is how a channel serializes its appends (each consumes the
continuation token the previous one returned).

Proxies: a request to a loopback host (``localhost``, 127.0.0.0/8, ``::1``) never goes through
a proxy, whatever ``HTTP_PROXY`` / ``HTTPS_PROXY`` / ``ALL_PROXY`` say, so credentials for a
local server (the emulator, a tunnel) cannot leave the machine through one. Each driver holds
two httpx clients sharing one TLS context: ``http``, built as httpx builds any client (it reads
the proxy variables and ``NO_PROXY``), for every other host; and a direct one, for loopback
hosts, whose transport is given explicitly (httpx then reads no proxy variable). A ``transport=``
given by the caller keeps winning: one client, that transport, for every host.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
import ssl
import threading
import uuid
from collections.abc import Callable, Generator
from dataclasses import dataclass, fields
from typing import Any, TypeVar

import httpx

from ._authorization import build_credential
from ._clock import Clock
from ._config import ClientConfig, is_loopback
from ._exceptions import (
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    ChannelInvalidatedError,
    SnowpipeError,
    make_status_error,
)
from ._logfields import log_fields
from ._metrics import CREDENTIAL_KINDS, ENDPOINTS, NOOP, Metrics
from ._protocol import (
    BACKPRESSURE_CODES,
    Op,
    build_user_agent,
    hostname_op,
    parse_error_body,
    parse_hostname,
    parse_scoped_token,
    token_op,
)
from ._retry import UNHEALABLE_FAILURES, Action, Attempts, Outcome, RetryPolicy, decide
from ._skew import ServerClock, SkewEstimator
from ._tokens import CredentialProvider, ScopedTokenCache

__all__ = [
    "BUSY",
    "AsyncDriver",
    "Call",
    "Compute",
    "Core",
    "Exclusive",
    "Send",
    "Sleep",
    "Stats",
    "SyncDriver",
]

_log = logging.getLogger("snowpipe_stream.transport")
_auth_log = logging.getLogger("snowpipe_stream.auth")

T = TypeVar("T")


# --- effects -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Send:
    """One HTTP attempt of ``op``; answers the ``httpx.Response`` whatever its status.

    ``request_id`` is the id every attempt of the call carries, ``retry`` how many attempts
    of it came before (sent as ``retryCount``: how Snowflake tells a retry from a new request).
    """

    op: Op
    request_id: str = ""
    retry: int = 0


@dataclass(frozen=True)
class Sleep:
    seconds: float


@dataclass(frozen=True)
class Call:
    """A whole call with retries; answers a 2xx ``httpx.Response`` or raises a typed error."""

    op: Op


@dataclass(frozen=True)
class Compute:
    """Run ``fn()`` (CPU work, such as compressing a request body) outside the flow's step
    lock; answers its result. The async driver runs it in a worker thread, off the event loop
    (zstd and zlib let other threads run while they work)."""

    fn: Callable[[], Any]


@dataclass(frozen=True)
class Exclusive:
    """Run ``flow`` holding ``lock`` (a ``threading`` lock for the sync driver, an
    ``asyncio.Lock`` for the async one); answers the flow's result. With ``blocking`` False and
    the lock taken, the flow is not run and the answer is :data:`BUSY`."""

    flow: Generator[Any, Any, Any]
    lock: Any
    blocking: bool = True


#: What an :class:`Exclusive` effect answers when it did not get its lock.
BUSY: Any = object()

Effect = Send | Sleep | Call | Compute | Exclusive
Flow = Generator[Effect, Any, T]


# --- shared state --------------------------------------------------------------------------


@dataclass
class Stats:
    """Counters of one client, for tests, the CLI and the demo."""

    jwt_mints: int = 0
    scoped_exchanges: int = 0
    retries_401: int = 0
    retries_429: int = 0
    retries_5xx: int = 0
    reopens: int = 0
    requests: int = 0
    #: Status requests (commit polling) among them.
    status_requests: int = 0
    rows_appended: int = 0
    #: Rows Snowflake rejected (the growth of the channels' ``rows_error_count`` seen).
    rows_rejected: int = 0
    bytes_sent: int = 0
    bytes_on_wire: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    def add(self, **deltas: int) -> None:
        with self._lock:
            for name, delta in deltas.items():
                setattr(self, name, getattr(self, name) + delta)

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


class Core:
    """What every request of one client shares: config, credentials, policy, stats, clock,
    metrics."""

    def __init__(self, config: ClientConfig, clock: Clock, metrics: Metrics = NOOP) -> None:
        self.config = config
        self.clock = clock
        self.metrics = metrics
        #: The credential's mints reported to ``metrics`` so far.
        self._mints_reported = 0
        self._mints_lock = threading.Lock()
        self.random = random.Random()
        self.policy = RetryPolicy(
            retry_on_unauthorized=config.retry_on_unauthorized,
            throttle_backoff_secs=config.throttle_backoff_secs,
            max_throttle_retries=config.max_throttle_retries,
            max_server_retries=config.max_server_retries,
            deadline_secs=config.retry_deadline_secs,
            initial_connect_deadline_secs=config.initial_connect_deadline_secs,
        )
        #: The server's clock as the ``Date`` headers show it; tokens are judged on it.
        self.skew = SkewEstimator()
        self.server_clock = ServerClock(clock, self.skew)
        self.jwt: CredentialProvider = build_credential(config, self.server_clock)
        self.scoped = ScopedTokenCache(config.jwt_refresh_margin_secs)
        self.stats = Stats()
        self.control_url = config.control_url
        self.ingest_host: str | None = None
        self.ingest_url: str | None = None
        #: Whether a request of this client has succeeded: until then connection failures get
        #: ``initial_connect_deadline_secs`` only.
        self.established = False
        #: Each pipe's binary format as its ``:pipe-info`` answered (read once per pipe).
        self.binary_formats: dict[tuple[str, str, str], str] = {}
        self.headers = {
            "Accept": "application/json",
            "Accept-Charset": "UTF-8",
            "User-Agent": build_user_agent(config.app_name),
        }

    @property
    def timeout(self) -> httpx.Timeout:
        return httpx.Timeout(
            self.config.request_timeout_secs, connect=self.config.connect_timeout_secs
        )

    def snapshot_stats(self) -> Stats:
        snap = Stats(**self.stats.as_dict())
        snap.jwt_mints = self.jwt.mint_count
        return snap

    # --- credentials --------------------------------------------------------------------

    def build_request(
        self, client: httpx.Client | httpx.AsyncClient, send: Send, token: str
    ) -> httpx.Request:
        """The HTTP request of one attempt: headers as Snowflake's own SDK sends them (the
        token type named on every call, ``requestId`` and ``retryCount`` on every call)."""
        op = send.op
        headers = {**self.headers, **op.headers, "Authorization": f"Bearer {token}"}
        if op.host == "control":
            base = self.control_url
            headers["X-Snowflake-Authorization-Token-Type"] = self.jwt.token_type
        else:
            assert self.ingest_url is not None
            base = self.ingest_url
            headers["X-Snowflake-Authorization-Token-Type"] = "OAUTH"
        params = dict(op.params or {})
        params.setdefault("requestId", send.request_id or op.request_id or str(uuid.uuid4()))
        params["retryCount"] = str(send.retry)
        return client.build_request(
            op.method, base + op.path, params=params, content=op.content, headers=headers
        )

    def exchange_flow(self) -> Flow[str]:
        """Discover the ingest host (once) and exchange the JWT for a scoped token."""
        if self.ingest_url is None:
            resp = yield Call(hostname_op())
            # Raises ConfigError for a remote host over plain http, before anything goes there.
            self.ingest_host, self.ingest_url = parse_hostname(
                resp.content,
                self.control_url,
                allow_insecure_http=self.config.allow_insecure_http,
            )
            _log.info("ingest host is %s", self.ingest_host)
        assert self.ingest_host is not None
        resp = yield Call(token_op(self.ingest_host))
        now = self.server_clock.time()
        token, expires_at = parse_scoped_token(resp.content, now)
        self.scoped.set(token, expires_at, now, self.clock.monotonic())
        self.stats.add(scoped_exchanges=1)
        self.metrics.token_exchanged()
        _auth_log.info(
            "scoped token exchanged (%d chars, expires in %.0f s)", len(token), expires_at - now
        )
        return token

    def fresh_scoped(self) -> str | None:
        """The scoped token if it needs no exchange (judged on the server's clock)."""
        return self.scoped.fresh(self.server_clock.time(), self.clock.monotonic())

    def sent(self, send: Send, resp: httpx.Response) -> httpx.Response:
        """Log one answered attempt at DEBUG (``-vv``): endpoint, status, bytes, attempt (and
        as fields: channel, pipe, request id, attempt, status, endpoint)."""
        if _log.isEnabledFor(logging.DEBUG):
            op = send.op
            _log.debug(
                "%s %s -> %d (%s: %d bytes sent%s, %d received; attempt %d)",
                op.method,
                op.path,
                resp.status_code,
                op.what,
                len(op.content or b""),
                f" for {op.rows} rows" if op.rows else "",
                len(resp.content),
                send.retry + 1,
                extra=_request_fields(op, send.request_id, send.retry + 1, resp.status_code),
            )
        # httpx ties a response and its stream in a reference cycle (the stream holds the
        # response); the response holds its request, and the request a body of up to
        # max_request_bytes. Only the cyclic GC frees a cycle, and a run that makes few Python
        # objects seldom runs it: 117 requests (372 MB of bodies) were found alive in `ingest
        # --compression none`. The answer is read whole: a plain stream of it breaks the cycle.
        resp.stream = httpx.ByteStream(resp.content)
        return resp

    # --- the retrying request -----------------------------------------------------------

    def request_flow(self, op: Op) -> Flow[httpx.Response]:
        """One logical call: send, classify, retry per the policy; raise a typed error."""
        attempts = Attempts(started=self.clock.monotonic())
        request_id = op.request_id or str(uuid.uuid4())
        while True:
            resp: httpx.Response | None = None
            try:
                resp = yield Send(op, request_id, attempts.total - 1)
                self.skew.observe(resp.headers.get("date"), self.clock.time())
                outcome = _outcome(op, resp, self.jwt.can_refresh or op.host == "ingest")
            except httpx.TransportError as exc:
                outcome = Outcome(op.kind, failure=_failure_kind(exc), established=self.established)
                failure: httpx.TransportError | None = exc
            else:
                failure = None
            self._count_attempt(op, outcome)
            decision = decide(
                self.policy,
                attempts,
                outcome,
                now_wall=self.clock.time(),
                now_mono=self.clock.monotonic(),
                jitter=self.random.random(),
            )
            if decision.action is Action.DONE:
                assert resp is not None
                self.established = True
                return resp
            if decision.action is Action.RETRY:
                assert decision.attempts is not None
                failed, attempts = attempts.total, decision.attempts
                self._log_retry(op, outcome, decision.delay, attempts, request_id, failed)
                if decision.refresh and resp is not None:
                    self._invalidate(op, resp)
                if decision.delay > 0:
                    yield Sleep(decision.delay)
                continue
            raise self._error(
                op, resp, outcome, decision.action, decision.reason, failure, request_id
            )

    def _count_attempt(self, op: Op, outcome: Outcome) -> None:
        """Metrics of one attempt: its endpoint and status, and the credentials minted for it."""
        self.metrics.request(ENDPOINTS[op.kind], outcome.failure or str(outcome.status))
        if op.host == "control":
            minted = self.jwt.mint_count
            with self._mints_lock:
                new = minted - self._mints_reported
                self._mints_reported = max(minted, self._mints_reported)
            if new > 0:
                kind = CREDENTIAL_KINDS.get(self.jwt.token_type, self.jwt.token_type.lower())
                self.metrics.credential_minted(kind, new)

    def _log_retry(
        self,
        op: Op,
        outcome: Outcome,
        delay: float,
        attempts: Attempts,
        request_id: str,
        attempt: int,
    ) -> None:
        """Count and log a retry; ``attempt`` is the number of the attempt that failed."""
        extra = _request_fields(op, request_id, attempt, outcome.status)
        if outcome.status == 401:
            self.stats.add(retries_401=1)
            self.metrics.retried("401")
            _log.warning(
                "received 401 from %s; refreshing credentials and retrying", op.what, extra=extra
            )
        elif outcome.status == 429 or outcome.code in BACKPRESSURE_CODES:
            # Backpressure codes are throttling whatever the status: counted and told as such.
            self.stats.add(retries_429=1)
            self.metrics.retried("429")
            _log.warning(
                "received %s from %s; backing off %.1f s (attempt %d of %d)",
                outcome.status if outcome.status == 429 else f"{outcome.status} {outcome.code}",
                op.what,
                delay,
                attempts.throttle,
                self.policy.max_throttle_retries,
                extra=extra,
            )
        else:
            self.stats.add(retries_5xx=1)
            self.metrics.retried("connection" if outcome.failure else "5xx")
            _log.warning(
                "%s from %s; retrying in %.2f s (attempt %d of %d)",
                _FAILURE_WORDS.get(outcome.failure or "", f"received {outcome.status}"),
                op.what,
                delay,
                attempts.server,
                self.policy.max_server_retries,
                extra=extra,
            )

    def _invalidate(self, op: Op, resp: httpx.Response) -> None:
        auth = resp.request.headers.get("Authorization", "")
        used = auth[7:] if auth.startswith("Bearer ") else None
        if op.host == "control":
            self.jwt.invalidate(used)
        else:
            self.scoped.invalidate(used)

    def _error(
        self,
        op: Op,
        resp: httpx.Response | None,
        outcome: Outcome,
        action: Action,
        reason: str,
        failure: httpx.TransportError | None,
        request_id: str | None = None,
    ) -> SnowpipeError:
        """The typed error of a call that failed; ``request_id`` is the id its requests
        carried (made by :meth:`request_flow` when the op has none)."""
        if failure is not None:
            return self._connection_error(op, outcome, reason, failure)
        assert resp is not None
        code, message = parse_error_body(resp.content)
        if action is Action.REOPEN:
            return ChannelInvalidatedError(
                f"{op.what}: HTTP {resp.status_code} {code or ''}: the channel must be reopened",
                channel=op.channel or "",
                code=code,
                recoverable=True,
            )
        err = make_status_error(
            resp.status_code,
            code=code,
            error_message=message,
            request_id=request_id or op.request_id,
            what=op.what,
        )
        if isinstance(err, AuthenticationError):
            err.args = (f"{err.args[0]}. {self._auth_hint(op)}",)
        return err

    def _connection_error(
        self, op: Op, outcome: Outcome, reason: str, failure: httpx.TransportError
    ) -> APIConnectionError:
        """The error for a request that got no answer: what failed, at which URL (scheme, host
        and port), and the setting that names it."""
        if op.host == "control":
            base, setting = self.control_url, "url"
            where = "ClientConfig.url"
        else:
            base, setting = self.ingest_url or "", None
            where = "the ingest host that hostname discovery of ClientConfig.url answered"
        parts = httpx.URL(base)
        endpoint = f"{parts.scheme}://{parts.host}:{parts.port or _DEFAULT_PORTS[parts.scheme]}"
        detail = f"{type(failure).__name__}: {failure}" if str(failure) else type(failure).__name__
        kind = outcome.failure
        if kind == "tls_verify":
            text = (
                f"the TLS certificate of {endpoint} is not trusted ({detail}); if the server "
                "uses a private certificate authority, give its certificate in "
                "ClientConfig.ca_file (or SSL_CERT_FILE)"
            )
        elif kind == "tls_protocol":
            text = (
                f"TLS with {endpoint} failed ({detail}): the server does not speak TLS there "
                f"(an http:// server?); check the scheme and port in {where}"
            )
        elif kind == "dns":
            text = f"host {parts.host} not found ({detail}); check the host name in {where}"
        else:
            text = (
                f"cannot reach {endpoint}: {_FAILURE_WORDS.get(kind or '', 'network error')} "
                f"({detail}); {reason}. Check {where} and that the server is up"
            )
            if kind == "network" and parts.scheme == "http" and not self.established:
                # A TLS server closes a connection that starts in plain http.
                text += " (a server that speaks https needs an https:// URL)"
        cls = APITimeoutError if kind == "timeout" else APIConnectionError
        err = cls(
            f"{op.what}: {text}",
            method=op.method,
            url=op.path,
            endpoint=endpoint,
            setting=setting,
            established=self.established,
        )
        if kind in UNHEALABLE_FAILURES:
            err.retryable = False
        return err

    def _auth_hint(self, op: Op) -> str:
        if op.host == "ingest" and self.jwt.can_refresh:
            return "The scoped token was rejected also after a fresh token exchange"
        return self.jwt.unauthorized_hint()


def _request_fields(op: Op, request_id: str, attempt: int, status: int | None) -> dict[str, Any]:
    """The log fields of one attempt of ``op``."""
    return log_fields(
        channel=op.channel,
        pipe=op.pipe,
        request_id=request_id or op.request_id,
        attempt=attempt,
        status=status,
        endpoint=op.kind,
    )


def _outcome(op: Op, resp: httpx.Response, can_refresh: bool) -> Outcome:
    status = resp.status_code
    if 200 <= status < 300:
        return Outcome(op.kind, status=status)
    code, _ = parse_error_body(resp.content)
    return Outcome(
        op.kind,
        status=status,
        code=code,
        retry_after=resp.headers.get("Retry-After"),
        can_refresh=can_refresh,
    )


_FAILURE_WORDS = {
    "connect": "connection failed",
    "timeout": "timed out",
    "network": "network error",
}

_DEFAULT_PORTS = {"https": 443, "http": 80}

#: getaddrinfo's "this name does not exist" ("Name or service not known", "nodename nor
#: servname provided"), as opposed to EAI_AGAIN, a resolver that may answer later.
_NO_SUCH_HOST = frozenset(
    code for code in (socket.EAI_NONAME, getattr(socket, "EAI_NODATA", None)) if code is not None
)

#: TLS errors that are a connection closed mid-handshake (may heal), not a verdict.
_TLS_TRANSIENT = (ssl.SSLEOFError, ssl.SSLZeroReturnError, ssl.SSLSyscallError)


def _failure_kind(exc: httpx.TransportError) -> str:
    """Classify a failed attempt: "tls_verify", "tls_protocol" or "dns" (never retried), else
    "timeout", "connect" or "network". httpx chains the socket or ssl error as the cause."""
    cause: BaseException | None = exc
    for _ in range(8):  # httpx -> httpcore -> the socket/ssl error
        if cause is None:
            break
        if isinstance(cause, ssl.SSLCertVerificationError):
            return "tls_verify"
        if isinstance(cause, ssl.SSLError) and not isinstance(cause, _TLS_TRANSIENT):
            return "tls_protocol"
        if isinstance(cause, socket.gaierror) and cause.errno in _NO_SUCH_HOST:
            return "dns"
        cause = cause.__cause__ or cause.__context__
    if isinstance(exc, httpx.TimeoutException):
        return "timeout"
    if isinstance(exc, httpx.ConnectError):
        return "connect"
    return "network"


# --- drivers -------------------------------------------------------------------------------


def tls_context(config: ClientConfig) -> ssl.SSLContext:
    """The TLS context of a client: httpx's (certifi's CAs, or ``SSL_CERT_FILE`` /
    ``SSL_CERT_DIR`` when set), and the CAs of ``config.ca_file`` beside them."""
    context = httpx.create_ssl_context()
    if config.ca_file is not None:
        context.load_verify_locations(cafile=config.ca_file)
    return context


_NO_LOCK = contextlib.nullcontext()


class SyncDriver:
    """Runs flows over ``httpx.Client``: the only sync code that sends or sleeps."""

    def __init__(self, core: Core, transport: httpx.BaseTransport | None = None) -> None:
        self.core = core
        if transport is not None:
            # httpx reads no proxy variables when given a transport: it serves every host.
            self.http = httpx.Client(transport=transport, timeout=core.timeout)
            self._direct = self.http
        else:
            tls = tls_context(core.config)  # one TLS context for both
            self.http = httpx.Client(verify=tls, timeout=core.timeout)
            self._direct = httpx.Client(
                transport=httpx.HTTPTransport(verify=tls), timeout=core.timeout
            )
        self._lock = threading.Lock()
        self._exchange: threading.Event | None = None

    def run(self, flow: Flow[T], step_lock: threading.Lock | None = None) -> T:
        """Run ``flow`` to its end; each of its steps holds ``step_lock`` when one is given."""
        value: Any = None
        error: BaseException | None = None
        step = step_lock if step_lock is not None else _NO_LOCK
        while True:
            try:
                with step:
                    effect = flow.throw(error) if error is not None else flow.send(value)
            except StopIteration as stop:
                return stop.value  # type: ignore[no-any-return]
            value = error = None
            try:
                if isinstance(effect, Send):
                    value = self._send(effect)
                elif isinstance(effect, Call):
                    value = self.run(self.core.request_flow(effect.op))
                elif isinstance(effect, Compute):
                    value = effect.fn()
                elif isinstance(effect, Exclusive):
                    if not effect.lock.acquire(blocking=effect.blocking):
                        value = BUSY
                        continue
                    try:
                        value = self.run(effect.flow, step_lock)
                    finally:
                        effect.lock.release()
                else:
                    self.core.clock.sleep(effect.seconds)
            except Exception as exc:
                error = exc

    def _send(self, send: Send) -> httpx.Response:
        op = send.op
        token = self.core.jwt.get_token() if op.host == "control" else self._scoped_token()
        request = self.core.build_request(self.http, send, token)
        self.core.stats.add(requests=1, bytes_on_wire=len(op.content or b""))
        http = self._direct if is_loopback(request.url.host) else self.http
        return self.core.sent(send, http.send(request))

    def _scoped_token(self) -> str:
        """The scoped token, exchanged by one thread at a time; never a lock across I/O."""
        core = self.core
        while True:
            token = core.fresh_scoped()
            if token is not None:
                return token
            with self._lock:
                token = core.fresh_scoped()
                if token is not None:
                    return token
                waiting = self._exchange
                if waiting is None:
                    self._exchange = done = threading.Event()
            if waiting is not None:
                waiting.wait(core.config.request_timeout_secs * 3)
                continue
            try:
                return self.run(core.exchange_flow())
            finally:
                with self._lock:
                    self._exchange = None
                done.set()

    def close(self) -> None:
        try:
            self.http.close()
        finally:
            if self._direct is not self.http:
                self._direct.close()


class AsyncDriver:
    """Runs flows over ``httpx.AsyncClient``: mirrors :class:`SyncDriver`."""

    def __init__(self, core: Core, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.core = core
        if transport is not None:
            # httpx reads no proxy variables when given a transport: it serves every host.
            self.http = httpx.AsyncClient(transport=transport, timeout=core.timeout)
            self._direct = self.http
        else:
            tls = tls_context(core.config)  # one TLS context for both
            self.http = httpx.AsyncClient(verify=tls, timeout=core.timeout)
            self._direct = httpx.AsyncClient(
                transport=httpx.AsyncHTTPTransport(verify=tls), timeout=core.timeout
            )
        self._exchange: asyncio.Future[None] | None = None

    async def run(self, flow: Flow[T]) -> T:
        value: Any = None
        error: BaseException | None = None
        while True:
            try:
                effect = flow.throw(error) if error is not None else flow.send(value)
            except StopIteration as stop:
                return stop.value  # type: ignore[no-any-return]
            value = error = None
            try:
                if isinstance(effect, Send):
                    value = await self._send(effect)
                elif isinstance(effect, Call):
                    value = await self.run(self.core.request_flow(effect.op))
                elif isinstance(effect, Compute):
                    value = await asyncio.to_thread(effect.fn)
                elif isinstance(effect, Exclusive):
                    if not effect.blocking and effect.lock.locked():
                        value = BUSY
                        continue
                    async with effect.lock:
                        value = await self.run(effect.flow)
                else:
                    await self.core.clock.asleep(effect.seconds)
            except Exception as exc:
                error = exc

    async def _send(self, send: Send) -> httpx.Response:
        op = send.op
        token = self.core.jwt.get_token() if op.host == "control" else await self._scoped_token()
        request = self.core.build_request(self.http, send, token)
        self.core.stats.add(requests=1, bytes_on_wire=len(op.content or b""))
        http = self._direct if is_loopback(request.url.host) else self.http
        return self.core.sent(send, await http.send(request))

    async def _scoped_token(self) -> str:
        core = self.core
        while True:
            token = core.fresh_scoped()
            if token is not None:
                return token
            waiting = self._exchange
            if waiting is not None:
                # Another task is exchanging; wait for it (its failure is its own to report).
                await asyncio.wait([waiting])
                continue
            done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._exchange = done
            try:
                return await self.run(core.exchange_flow())
            finally:
                self._exchange = None
                done.set_result(None)

    async def aclose(self) -> None:
        try:
            await self.http.aclose()
        finally:
            if self._direct is not self.http:
                await self._direct.aclose()
