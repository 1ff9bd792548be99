"""The HTTP face of the emulator: an ASGI app (Starlette requests and responses).

Routes mirror Snowpipe Streaming's REST API on one port: the control endpoints (hostname,
token exchange, key-pair JWT) and the ingest endpoints (channels, rows, status; scoped token),
plus the admin API under ``/emulator/v1`` (loopback only). The app is a plain ASGI callable so
that fault injection can cut a connection mid-answer the way a network would.
"""

from __future__ import annotations

import base64
import ipaddress
import logging
import re
import threading
import time
from collections import Counter, deque
from email.utils import formatdate
from typing import Any
from urllib.parse import parse_qs, unquote

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from .._clock import Clock
from .._jwt import JwtRejected, read_claims_unverified
from . import _messages as M
from ._auth import SLOTS, UNCHANGED, Authority, PatRejected, ScopedTokenRejected, Users
from ._faults import FaultPlan, FaultRule
from ._page import PAGE
from ._state import EmulatorError, EmulatorState, decode_body
from ._wire import WireLog

_log = logging.getLogger("snowpipe_stream.emulator")
_encode = msgspec.json.encode
_decode = msgspec.json.decode


def _json(doc: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(_encode(doc), status, headers=headers, media_type="application/json")


def _error(
    spec_status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> Response:
    return _json({"code": code, "message": message}, spec_status, headers)


async def _read_body(request: Request, limit: int) -> bytes:
    """An append body, read chunk by chunk: 413 past ``limit`` bytes, refused before reading
    when ``Content-Length`` already says so (memory never holds more than ``limit``)."""
    declared = request.headers.get("content-length", "").strip()
    if declared.isdigit() and int(declared) > limit:
        raise EmulatorError(
            M.PAYLOAD_TOO_LARGE,
            f"The request body ({declared} bytes) exceeds {limit} bytes; "
            "split it into smaller requests",
        )
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise EmulatorError(
                M.PAYLOAD_TOO_LARGE,
                f"The request body exceeds {limit} bytes; split it into smaller requests",
            )
        chunks.append(chunk)
    return b"".join(chunks)


def _is_loopback(host: str | None) -> bool:
    if host is None:
        return False
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


#: A host name as a Host header may carry it (letters, digits, ``-``, ``_``; dot-separated).
_HOST_NAME = re.compile(r"(?!-)[A-Za-z0-9_-]{1,63}(?:\.(?!-)[A-Za-z0-9_-]{1,63})*\.?")


def reached_host(header: str | None) -> str | None:
    """The host a request's ``Host`` header names (port dropped), or ``None`` if it names none
    validly: an IP address or a DNS name, nothing a client could not connect to."""
    if not header:
        return None
    value = header.strip()
    if value.startswith("["):
        inner, sep, rest = value[1:].partition("]")
        if not sep or (rest and not (rest.startswith(":") and rest[1:].isdigit())):
            return None
        try:
            return str(ipaddress.IPv6Address(inner))
        except ValueError:
            return None
    host, sep, port = value.rpartition(":")
    if not sep:
        host = value
    elif not port.isdigit():
        return None
    if len(host) > 253 or not _HOST_NAME.fullmatch(host):
        return None
    return host.rstrip(".").lower()


#: How many of the latest requests the live page can show.
RECENT_REQUESTS = 200


class Stats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: Counter[str] = Counter()
        #: The latest requests (for the live page): time, method, path, status, latency, fault.
        self.recent: deque[dict[str, Any]] = deque(maxlen=RECENT_REQUESTS)
        self.jwts_rejected = 0
        self.scoped_tokens_issued = 0
        self.scoped_tokens_rejected = 0
        self.expired_tokens_rejected = 0
        #: JWTs signed with a key that was registered on their user and since removed.
        self.jwts_with_removed_key = 0
        self.pats_rejected = 0
        self.oauth_tokens_rejected = 0

    def count(self, endpoint: str, status: int) -> None:
        with self._lock:
            self.requests[f"{endpoint} {status}"] += 1

    def note(self, method: str, path: str, status: int, started: float, fault: str | None) -> None:
        entry = {
            "time_ms": int(time.time() * 1000),
            "method": method,
            "path": path,
            "status": status,
            "ms": round((time.perf_counter() - started) * 1000, 1),
            "fault": fault,
        }
        with self._lock:
            self.recent.append(entry)

    def bump(self, name: str) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + 1)


class EmulatorApp:
    def __init__(
        self,
        state: EmulatorState,
        authority: Authority,
        users: Users,
        faults: FaultPlan,
        clock: Clock,
        default_host: str,
        advertise_host: str | None = None,
    ) -> None:
        self.state = state
        self.authority = authority
        self.users = users
        self.faults = faults
        self.clock = clock
        #: The ingest host when a request names none (no valid ``Host`` header).
        self.host = default_host
        #: The ingest host to announce whatever host a client reached (``--advertise-host``).
        self.advertise_host = advertise_host
        self.stats = Stats()
        self.wire = WireLog()
        #: Refuse requests that lack what Snowflake's SDK sends (see ``_wire``).
        self.strict_wire = False

    def stats_doc(self) -> dict[str, Any]:
        s = self.stats
        with s._lock:
            return {
                "requests": dict(sorted(s.requests.items())),
                "rows_committed": self.state.store.committed_rows(),
                "jwts_rejected": s.jwts_rejected,
                "scoped_tokens_issued": s.scoped_tokens_issued,
                "scoped_tokens_rejected": s.scoped_tokens_rejected,
                "expired_tokens_rejected": s.expired_tokens_rejected,
                "jwts_with_removed_key": s.jwts_with_removed_key,
                "pats_rejected": s.pats_rejected,
                "oauth_tokens_rejected": s.oauth_tokens_rejected,
                "faults_fired": self.faults.fired,
                "wire_missing": dict(sorted(self.wire.missing.items())),
                "retries": dict(sorted(self.wire.retries.items())),
                "request_ids_reused": dict(sorted(self.wire.reused.items())),
            }

    def overview(self) -> dict[str, Any]:
        """What the live page shows: channels, the latest requests, faults, users (their key
        fingerprints only), and the counters."""
        with self.stats._lock:
            recent = list(self.stats.recent)
        return {
            "channels": self.state.overview(),
            "requests": recent[::-1],
            "faults": {
                "armed": [r.as_dict() for r in self.faults.rules],
                "fired": self.faults.fired,
            },
            "users": [
                {"account": account, "user": user, "fingerprints": sorted(keys)}
                for (account, user), keys in sorted(self.users.snapshot().items())
            ],
            "stats": self.stats_doc(),
        }

    # --- ASGI entry -----------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        send = self._dated(send)
        request = Request(scope, receive)
        raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
        path = raw_path.split(b"?", 1)[0].decode("latin-1")
        method = request.method
        if path == "/favicon.ico":  # browsers ask; the page has none
            await Response(b"", 204)(scope, receive, send)
            return
        if path.startswith("/emulator/v1/") or (path == "/" and method == "GET"):
            response = await self._admin(request, path)
            await response(scope, receive, send)
            return
        started = time.perf_counter()
        endpoint, params = _route(method, path)
        lacking = self.wire.note(
            endpoint,
            request.headers.get("user-agent", ""),
            request.headers.keys(),
            request.query_params,
        )
        if lacking and self.strict_wire:
            response = _error(
                400,
                "ERR_INVALID_REQUEST",
                f"The request lacks what Snowflake's SDK sends: {', '.join(lacking)}",
            )
            self.stats.count(endpoint, 400)
            self.stats.note(method, path, 400, started, None)
            await response(scope, receive, send)
            return
        fault = self.faults.match(method, path) if endpoint != "admin" else None
        fired = _describe(fault) if fault is not None else None
        if fault is not None and fault.action == "drop_connection":
            _log.info("fault: dropping the connection of %s %s", method, path)
            self.stats.count(endpoint, 0)
            self.stats.note(method, path, 0, started, fired)
            await _cut(send)
            return
        if fault is not None and fault.action == "respond":
            response = self._fault_response(fault, scoped=endpoint not in ("hostname", "token"))
        else:
            try:
                response = await self._serve(request, endpoint, params)
            except EmulatorError as err:
                response = _error(err.status, err.code, err.message, err.headers)
        if fault is not None and fault.action == "lost_response":
            _log.info("fault: losing the answer (%d) to %s %s", response.status_code, method, path)
            self.stats.count(endpoint, 0)
            self.stats.note(method, path, 0, started, fired)
            await _cut(send)
            return
        self.stats.count(endpoint, response.status_code)
        self.stats.note(method, path, response.status_code, started, fired)
        await response(scope, receive, send)

    def _dated(self, send: Send) -> Send:
        """Every answer carries a ``Date`` from the emulator's clock (a shared ``FakeClock``
        in tests), as Snowflake's carry its own: clients estimate clock skew from it."""

        async def send_dated(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"date"]
                headers.append((b"date", formatdate(self.clock.time(), usegmt=True).encode()))
                message = {**message, "headers": headers}
            await send(message)

        return send_dated

    def _fault_response(self, rule: FaultRule, scoped: bool) -> Response:
        status, body = rule.response(scoped)
        content = (
            body
            if isinstance(body, bytes)
            else (body.encode() if isinstance(body, str) else _encode(body))
        )
        return Response(content, status, headers=rule.headers, media_type="application/json")

    # --- endpoints ------------------------------------------------------------------------

    async def _serve(self, request: Request, endpoint: str, params: list[str]) -> Response:
        if endpoint == "unknown":
            raise EmulatorError(M.NOT_FOUND)
        if endpoint == "telemetry":
            return _json({"success": True, "data": "", "code": "", "message": ""})
        if endpoint == "oauth_token_request":
            form = parse_qs((await request.body()).decode("utf-8", "replace"))
            status, doc = self.authority.oauth_token_request(
                request.headers.get("authorization"),
                {k: v[0] for k, v in form.items()},
                self.clock.time(),
            )
            return _json(doc, status, headers={"Cache-Control": "no-store"})
        if "application/json" not in request.headers.get("accept", ""):
            raise EmulatorError(M.ACCEPT_MISSING)
        now = self.clock.time()
        if endpoint in ("hostname", "token"):
            account, user = self._check_jwt(request, now)
            if endpoint == "hostname":
                return Response(self._advertised(request), 200, media_type="text/plain")
            form = parse_qs((await request.body()).decode("utf-8", "replace"))
            scope = (form.get("scope") or [self._advertised(request)])[0]
            token, _ = self.authority.issue(f"{account}.{user}", scope, now)
            self.stats.bump("scoped_tokens_issued")
            return Response(token, 200, media_type="text/plain")
        self._check_scoped(request, now)
        db, schema, pipe = params[0], params[1], params[2]
        if endpoint == "append":
            q = request.query_params
            raw = decode_body(
                await _read_body(request, self.state.max_request_bytes),
                request.headers.get("content-encoding"),
                self.state.max_request_bytes,
            )
            offset_token = q.get("endOffsetToken") or q.get("offsetToken") or None
            nxt = self.state.append(
                db, schema, pipe, params[3], q.get("continuationToken"), offset_token, raw
            )
            session = base64.b64encode(f"{self.host}:{params[3]}".encode()).decode()
            return _json({"next_continuation_token": nxt}, headers={"x-snowflake-session": session})
        if endpoint == "open":
            return _json(
                self.state.open_channel(db, schema, pipe, params[3], await _body_object(request))
            )
        if endpoint == "drop":
            self.state.drop(db, schema, pipe, params[3])
            return _json({})
        if endpoint == "status":
            body = await _body_object(request)
            names = body.get("channel_names")
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                raise EmulatorError(M.BAD_REQUEST_BODY, "channel_names must be a list of str")
            return _json(self.state.bulk_status(db, schema, pipe, names))
        if endpoint == "pipe_info":
            return _json(_pipe_info(db, schema, pipe, self.state.binary_input_format))
        raise EmulatorError(M.NOT_FOUND)

    def _bearer(self, request: Request) -> str | None:
        auth = request.headers.get("authorization", "")
        return auth[7:].strip() if auth[:7].lower() == "bearer " else None

    def _check_jwt(self, request: Request, now: float) -> tuple[str, str]:
        """The caller of a control-host endpoint, by the credential its token type names."""
        token = self._bearer(request)
        kind = request.headers.get("x-snowflake-authorization-token-type", "").upper()
        if token is not None and kind == "PROGRAMMATIC_ACCESS_TOKEN":
            try:
                return self.authority.check_pat(token, now)
            except PatRejected as why:
                self.stats.bump("pats_rejected")
                _log.warning("PAT rejected on %s %s: %s", request.method, request.url.path, why)
                raise EmulatorError(M.PAT_INVALID) from None
        if token is not None and kind == "OAUTH":
            try:
                return self.authority.check_oauth(token, now)
            except ScopedTokenRejected as why:
                self.stats.bump("oauth_tokens_rejected")
                _log.warning(
                    "OAuth token rejected on %s %s: %s", request.method, request.url.path, why
                )
                if why.expired:
                    self.stats.bump("expired_tokens_rejected")
                    raise EmulatorError(M.SCOPED_TOKEN_EXPIRED) from None
                raise EmulatorError(M.SCOPED_TOKEN_INVALID) from None
        try:
            if token is None:
                raise JwtRejected("no bearer token")
            return self.authority.check_jwt(token, now)
        except JwtRejected as why:
            self.stats.bump("jwts_rejected")
            if token is not None and self._signed_with_removed_key(token):
                self.stats.bump("jwts_with_removed_key")
            if "expired" in str(why) or "an hour ago" in str(why):
                self.stats.bump("expired_tokens_rejected")
            # A development tool: say which check failed, in the log and never in the answer.
            _log.warning(
                "JWT rejected on %s %s: %s%s",
                request.method,
                request.url.path,
                why,
                "" if self.users.snapshot() else " (no users are registered)",
            )
            raise EmulatorError(M.JWT_INVALID) from None

    def _signed_with_removed_key(self, token: str) -> bool:
        claims = read_claims_unverified(token) or {}
        iss, sub = str(claims.get("iss", "")), str(claims.get("sub", ""))
        account, _, user = sub.partition(".")
        fingerprint = iss[len(sub) + 1 :] if iss.startswith(sub + ".") else ""
        return bool(fingerprint) and self.users.was_removed(account, user, fingerprint)

    def _reached(self, request: Request) -> str:
        """The host this request reached (its ``Host`` header), else the default host."""
        return reached_host(request.headers.get("host")) or self.advertise_host or self.host

    def _advertised(self, request: Request) -> str:
        """The ingest host to announce: ``advertise_host`` if set, else the host the client
        reached, so a client that came in by name or by a LAN address is sent back there."""
        return self.advertise_host or self._reached(request)

    def _check_scoped(self, request: Request, now: float) -> None:
        token = self._bearer(request)
        try:
            if token is None:
                raise ScopedTokenRejected("no bearer token")
            self.authority.check_scoped(token, now, self._reached(request))
        except ScopedTokenRejected as why:
            self.stats.bump("scoped_tokens_rejected")
            _log.info("scoped token rejected on %s %s: %s", request.method, request.url.path, why)
            if why.expired:
                self.stats.bump("expired_tokens_rejected")
                raise EmulatorError(M.SCOPED_TOKEN_EXPIRED) from None
            raise EmulatorError(M.SCOPED_TOKEN_INVALID) from None

    # --- admin ----------------------------------------------------------------------------

    async def _admin(self, request: Request, path: str) -> Response:
        client = request.client.host if request.client else None
        if not _is_loopback(client):
            return _error(*M.ADMIN_LOOPBACK_ONLY)
        if path == "/":
            return Response(PAGE, 200, media_type="text/html; charset=utf-8")
        what, method = path[len("/emulator/v1/") :], request.method
        try:
            if what == "overview" and method == "GET":
                return _json(self.overview())
            if what == "rows" and method == "GET":
                q = request.query_params
                missing = [k for k in ("database", "schema", "pipe") if not q.get(k)]
                if missing:
                    return _error(
                        400,
                        "ERR_MISSING_PARAMETER",
                        f"query parameter(s) required: {', '.join(missing)}",
                    )
                data = self.state.rows_ndjson(
                    q["database"], q["schema"], q["pipe"], q.get("channel") or None
                )
                return Response(data, 200, media_type="application/x-ndjson")
            if what == "errors" and method == "GET":
                # Rows refused by a DDL-declared pipe: channel, offset token, row, message.
                q = request.query_params
                typed = self.state.typed
                with self.state.lock:
                    kept = list(typed.errors) if typed is not None else []
                errors = [
                    e
                    for e in kept
                    if all(
                        q.get(k) is None or str(e[k]).upper() == q[k].upper()
                        for k in ("database", "schema", "pipe", "channel")
                    )
                ]
                return _json({"errors": errors})
            if what == "stats" and method == "GET":
                return _json(self.stats_doc())
            if what == "faults" and method == "POST":
                doc = _decode(await request.body())
                self.faults.extend(doc if isinstance(doc, list) else [doc])
                return _json({"rules": [r.as_dict() for r in self.faults.rules]})
            if what == "faults" and method == "DELETE":
                self.faults.clear()
                return _json({"rules": []})
            if what == "faults" and method == "GET":
                return _json({"rules": [r.as_dict() for r in self.faults.rules]})
            if what == "users" and method == "POST":
                doc = _decode(await request.body())
                fp = self.users.add(doc["account"], doc["user"], doc["public_key"])
                return _json({"fingerprint": fp})
            if what.startswith("users/"):
                return await self._admin_user(request, what.split("/")[1:])
            if what == "oauth/clients" and method == "POST":
                doc = _decode(await request.body())
                return _json(self.authority.add_oauth_client(doc["account"], doc["user"]))
            if what.startswith("oauth/clients/") and method == "DELETE":
                client_id = unquote(what[len("oauth/clients/") :])
                if self.authority.revoke_oauth_client(client_id):
                    return _json({"revoked": client_id})
                return _error(404, "ERR_NOT_FOUND", f"no OAuth client {client_id!r}")
        except (ValueError, KeyError, TypeError, msgspec.DecodeError) as exc:
            return _error(400, "ERR_INVALID_REQUEST_BODY", f"bad admin request: {exc}")
        return _error(*M.NOT_FOUND)

    async def _admin_user(self, request: Request, parts: list[str]) -> Response:
        """``/emulator/v1/users/{account}/{user}[...]``: the user's keys as ``ALTER USER``
        and ``DESC USER`` see them."""
        method = request.method
        if len(parts) == 2 and method in ("PUT", "GET"):
            account, user = unquote(parts[0]), unquote(parts[1])
            if method == "GET":
                return _json(self.users.describe(account, user))
            doc = _decode(await request.body())
            if not isinstance(doc, dict) or set(doc) - set(SLOTS):
                raise ValueError(f"the body must be an object with keys {', '.join(SLOTS)}")
            values = {slot: doc.get(slot, UNCHANGED) for slot in SLOTS}
            return _json(self.users.set_keys(account, user, **values))
        if len(parts) == 3 and parts[2] == "pats" and method == "POST":
            doc = _decode(await request.body())
            if not isinstance(doc, dict):
                raise ValueError("the body must be an object with name and days_to_expiry")
            token, exp = self.authority.issue_pat(
                unquote(parts[0]),
                unquote(parts[1]),
                doc["name"],
                doc.get("days_to_expiry", 15),
                self.clock.time(),
            )
            return _json({"token": token, "name": str(doc["name"]).upper(), "expires_at": exp})
        if len(parts) == 4 and parts[2] == "pats" and method == "DELETE":
            if self.authority.revoke_pat(unquote(parts[0]), unquote(parts[1]), unquote(parts[3])):
                return _json({"revoked": unquote(parts[3]).upper()})
            return _error(404, "ERR_NOT_FOUND", f"no PAT named {unquote(parts[3])!r}")
        return _error(*M.NOT_FOUND)


def _describe(rule: FaultRule) -> str:
    """A fault rule in a few words, for the live page's request list."""
    what = rule.code or (rule.action if rule.action != "respond" else str(rule.status or 500))
    return f"{what} on {rule.method + ' ' if rule.method else ''}{rule.path}"


async def _body_object(request: Request) -> dict[str, Any]:
    body = await request.body()
    if not body.strip():
        return {}
    try:
        doc = _decode(body)
    except msgspec.DecodeError:
        raise EmulatorError(M.BAD_REQUEST_BODY, "The body is not valid JSON") from None
    if not isinstance(doc, dict):
        raise EmulatorError(M.BAD_REQUEST_BODY, "The body must be a JSON object")
    return doc


def _channel_segment(segment: str) -> str:
    """A channel name from its path segment, as sent: never resolved as a dot segment.

    Bytes that are not UTF-8 become lone surrogates, which the name rules refuse (400), instead
    of U+FFFD, which would silently name another channel.
    """
    return unquote(segment, errors="surrogateescape")


def _route(method: str, path: str) -> tuple[str, list[str]]:
    """``(endpoint, decoded path parameters)`` for a request."""
    if path == "/v2/streaming/hostname" and method == "GET":
        return "hostname", []
    if path == "/oauth/token" and method == "POST":
        return "token", []
    if path == "/oauth/token-request" and method == "POST":
        return "oauth_token_request", []
    if path == "/telemetry/send/sessionless" and method == "POST":
        return "telemetry", []
    parts = path.split("/")
    # ['', 'v2', 'streaming', ('data',) 'databases', db, 'schemas', s, 'pipes', p, ...]
    if parts[:3] != ["", "v2", "streaming"]:
        return "unknown", []
    rest = parts[3:]
    data = bool(rest) and rest[0] == "data"
    if data:
        rest = rest[1:]
    if len(rest) < 6 or rest[0] != "databases" or rest[2] != "schemas" or rest[4] != "pipes":
        return "unknown", []
    db, schema = unquote(rest[1]), unquote(rest[3])
    pipe_seg, tail = rest[5], rest[6:]
    if not tail and ":" in pipe_seg and method == "POST" and not data:
        pipe_raw, _, action = pipe_seg.partition(":")
        pipe = unquote(pipe_raw)
        if action == "bulk-channel-status":
            return "status", [db, schema, pipe]
        if action == "pipe-info":
            return "pipe_info", [db, schema, pipe]
        return "unknown", []
    pipe = unquote(pipe_seg)
    if len(tail) == 2 and tail[0] == "channels" and not data:
        if method == "PUT":
            return "open", [db, schema, pipe, _channel_segment(tail[1])]
        if method == "DELETE":
            return "drop", [db, schema, pipe, _channel_segment(tail[1])]
    if (
        data
        and len(tail) == 3
        and tail[0] == "channels"
        and tail[2] == "rows"
        and (method == "POST")
    ):
        return "append", [db, schema, pipe, _channel_segment(tail[1])]
    return "unknown", []


def _pipe_info(db: str, schema: str, pipe: str, binary_input_format: str | None) -> dict[str, Any]:
    """The stage and encryption object the official SDK asks for at start-up.

    The SDK only uploads to the stage in file mode, which the emulator cannot serve; with its
    rowset-mode properties it never does, but it still requires a well-formed answer.
    """
    stage = {
        "expiry_time_ms": 4_102_444_800_000,  # 2100-01-01
        "location_type": "S3",
        "location": f"snowpipe-stream-emulator/{db}/{schema}/{pipe}/",
        "use_s3_regional_url": False,
        "use_fips": False,
        "region": "us-west-2",
        "end_point": None,
        "storage_account": None,
        "storage_endpoint": None,
        "bucket_name": "snowpipe-stream-emulator",
        "path_prefix": f"{db}/{schema}/{pipe}/",
        "is_client_side_encrypted": True,
        "creds": {"AWS_KEY_ID": "EMULATOR", "AWS_SECRET_KEY": "EMULATOR", "AWS_TOKEN": "EMULATOR"},
        # The SDK's tuning parameters; a large rowset-mode buffer keeps it on the /rows path.
        "parameters": {
            "max_client_lag_seconds": 1,
            "rowset_flush_threshold_kb": 4096,
            "max_buffered_kb_for_rowset_mode": 65_535,
            "rowset_threshold_lookback_seconds": 10,
            "rowset_threshold_ewma_weight": 50,
            "target_file_size_compressed_mb": 100,
            "cpu_throttle_high_watermark_percent": 95,
            "cpu_throttle_low_watermark_percent": 80,
            "mem_throttle_high_watermark_percent": 95,
            "mem_throttle_low_watermark_percent": 80,
        },
    }
    return {
        "rowset_stage_location": stage,
        "durable_stage_location": stage,
        "encryption_info": {
            "pipe_key": base64.b64encode(b"\x00" * 32).decode(),
            "pipe_key_id": 1,
            "diversifier": "emulator",
            "encryption_version": 1,
        },
        # Where Snowflake's SDK reads the pipe's BINARY_INPUT_FORMAT (HEX, BASE64 or UTF-8).
        "parameter_overrides": (
            {"binary_input_format": binary_input_format} if binary_input_format else {}
        ),
    }


async def _cut(send: Send) -> None:
    """Cut the connection mid-answer: announce a body, send part of it, then stop.

    The server closes the connection when the app returns without completing the answer, so
    the client sees a network failure and cannot tell whether the request took effect.
    """
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"content-length", b"64")],
        }
    )
    await send({"type": "http.response.body", "body": b'{"next', "more_body": True})
