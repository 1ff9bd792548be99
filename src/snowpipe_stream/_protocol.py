"""The Snowpipe Streaming REST protocol, sans I/O: requests to build, answers to parse.

Every function here is pure. :class:`Op` describes one logical call (which host, which
credential, method, path, body); the transport turns it into HTTP, attaches the credential and
retries it. The parsers accept every shape the reference has seen on the wire: plain-text or
JSON hostname and token bodies, ``rows_error_count`` or ``rows_errors``, ``last_error_timestamp``
as milliseconds or ISO text, and error bodies with ``code``, ``error_code``, a numeric
``status_code``, a bare JSON string, or plain text.
"""

from __future__ import annotations

import datetime as dt
import gzip
import ipaddress
import platform
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote, urlsplit

import msgspec
import zstandard

from ._config import require_safe_url
from ._constants import DEFAULT_SCOPED_TOKEN_TTL_SECS, SCOPED_TOKEN_GRANT_TYPE
from ._exceptions import NotFoundError, UnexpectedResponseError
from ._jwt import claim_seconds, read_claims_unverified
from ._names import channel_key, check_channel_name
from ._version import __version__

if TYPE_CHECKING:
    from ._batching import Batch

__all__ = [
    "ChannelStatus",
    "Op",
    "build_user_agent",
    "parse_error_body",
    "parse_hostname",
    "parse_scoped_token",
]

Host = Literal["control", "ingest"]
OpKind = Literal["hostname", "token", "open", "append", "status", "drop", "pipe_info"]

_json_decode = msgspec.json.decode
_json_encode = msgspec.json.encode
SUCCESS = "SUCCESS"

#: Codes that mean the channel must be reopened (the reference, section 5.2).
REOPEN_CODES = frozenset(
    {
        "STALE_CONTINUATION_TOKEN_SEQUENCER",
        "ERR_CHANNEL_HAS_INVALID_ROW_SEQUENCER",
        "ERR_CHANNEL_HAS_INVALID_CLIENT_SEQUENCER",
        "ERR_CHANNEL_MUST_BE_REOPENED",
        "ERR_CHANNEL_MUST_BE_REOPENED_DUE_TO_ROW_SEQ_GAP",
        "ERR_CHANNEL_NO_LONGER_EXISTS",
        "STALE_PIPE_CACHE",
    }
)
#: Of those, the codes that say another client opened the channel after us (Snowflake bumps
#: the client sequencer on every open): the channel is no longer ours to recover.
OPENED_ELSEWHERE_CODES = frozenset(
    {"STALE_CONTINUATION_TOKEN_SEQUENCER", "ERR_CHANNEL_HAS_INVALID_CLIENT_SEQUENCER"}
)
#: Codes (of an answer or of a channel status) that say the channel is gone.
DROPPED_CODES = frozenset(
    {"ERR_CHANNEL_NO_LONGER_EXISTS", "ERR_CHANNEL_DOES_NOT_EXIST_OR_IS_NOT_AUTHORIZED"}
)
#: Body codes that mean "try again" whatever the status.
RETRY_CODES = frozenset({"ERR_GENERAL_EXCEPTION_RETRY_REQUEST", "ERR_OPEN_CHANNEL_IN_PROGRESS"})
#: Body codes that mean "the service is overloaded: back off" whatever the status (Redpanda
#: Connect's streamingv2 treats them as backpressure, like a 429); retried as a 429 is.
BACKPRESSURE_CODES = frozenset(
    {
        "ReceiverSaturated",
        "MemoryThresholdExceeded",
        "MemoryThresholdExceededInContainer",
        "HttpRetryableClientError",
    }
)


@dataclass(frozen=True)
class Op:
    """One logical call to Snowflake."""

    kind: OpKind
    host: Host
    method: str
    path: str
    what: str
    params: Mapping[str, str] | None = None
    content: bytes | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    channel: str | None = None
    #: ``DATABASE.SCHEMA.PIPE`` of a call on a pipe (for log lines).
    pipe: str | None = None
    request_id: str | None = None
    rows: int = 0
    uncompressed_bytes: int = 0


def build_user_agent(app_name: str | None = None) -> str:
    """``snowpipe-stream/<ver> (<os> <arch>) PYTHON/<ver>``, the shape Snowflake recommends."""
    ua = (
        f"snowpipe-stream/{__version__} ({platform.system()} {platform.machine()}) "
        f"PYTHON/{platform.python_version()}"
    )
    return f"{ua} (app={app_name})" if app_name else ua


def _seg(name: str) -> str:
    return quote(name, safe="")


def pipe_name(database: str, schema: str, pipe: str) -> str:
    """A pipe as log lines name it: ``DATABASE.SCHEMA.PIPE``."""
    return f"{database}.{schema}.{pipe}"


def pipe_path(database: str, schema: str, pipe: str, *, data: bool = False) -> str:
    root = "/v2/streaming/data/databases/" if data else "/v2/streaming/databases/"
    return f"{root}{_seg(database)}/schemas/{_seg(schema)}/pipes/{_seg(pipe)}"


_JSON = {"Content-Type": "application/json"}


def hostname_op() -> Op:
    return Op("hostname", "control", "GET", "/v2/streaming/hostname", "discover the ingest host")


def token_op(ingest_host: str) -> Op:
    body = (
        f"grant_type={quote(SCOPED_TOKEN_GRANT_TYPE, safe='')}&scope={quote(ingest_host, safe='')}"
    )
    return Op(
        "token",
        "control",
        "POST",
        "/oauth/token",
        "exchange the JWT for a scoped token",
        content=body.encode("ascii"),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )


def open_op(
    db: str,
    schema: str,
    pipe: str,
    channel: str,
    offset_token: str | None,
    request_id: str,
    *,
    fail_on_uncommitted_rows: bool = False,
) -> Op:
    """Open (or reopen) a channel. With ``fail_on_uncommitted_rows`` Snowflake answers 409
    ``ERR_CHANNEL_HAS_UNCOMMITTED_DATA`` instead of discarding rows another writer has in flight.
    """
    body: dict[str, Any] = {}
    if offset_token is not None:
        body["offset_token"] = offset_token
    if fail_on_uncommitted_rows:
        body["fail_on_uncommitted_rows"] = True
    return Op(
        "open",
        "ingest",
        "PUT",
        f"{pipe_path(db, schema, pipe)}/channels/{_seg(channel)}",
        f"open channel {channel!r}",
        params={"requestId": request_id},
        content=_json_encode(body),
        headers=_JSON,
        channel=channel,
        pipe=pipe_name(db, schema, pipe),
        request_id=request_id,
    )


def pipe_info_op(db: str, schema: str, pipe: str, request_id: str) -> Op:
    """The pipe's information (Snowflake's SDK reads it at start): here, for the pipe's
    BINARY_INPUT_FORMAT."""
    return Op(
        "pipe_info",
        "ingest",
        "POST",
        f"{pipe_path(db, schema, pipe)}:pipe-info",
        f"get the information of pipe {pipe!r}",
        params={"requestId": request_id},
        content=_json_encode({}),
        headers=_JSON,
        pipe=pipe_name(db, schema, pipe),
        request_id=request_id,
    )


#: The pipe's BINARY_INPUT_FORMAT as ``:pipe-info`` names it, and the client's name for it.
_BINARY_INPUT_FORMATS = {"HEX": "hex", "BASE64": "base64", "UTF-8": "utf8", "UTF8": "utf8"}


def parse_binary_input_format(body: bytes, pipe: str) -> str | None:
    """The pipe's binary format (``hex``, ``base64``, ``utf8``) from a ``:pipe-info`` answer
    (``parameter_overrides.binary_input_format``, where Snowflake's SDK reads it), or None when
    the answer names none."""
    doc = _json_object(body, f"get the information of pipe {pipe!r}")
    overrides = doc.get("parameter_overrides")
    raw = overrides.get("binary_input_format") if isinstance(overrides, dict) else None
    if raw is None:
        return None
    fmt = _BINARY_INPUT_FORMATS.get(str(raw).strip().upper())
    if fmt is None:
        raise UnexpectedResponseError(
            f"pipe {pipe!r} has BINARY_INPUT_FORMAT {str(raw)[:40]!r}, which this client does "
            "not know (it knows HEX, BASE64, UTF-8); set binary_format to what the pipe expects",
            status_code=200,
        )
    return fmt


def drop_op(db: str, schema: str, pipe: str, channel: str, request_id: str) -> Op:
    check_channel_name(channel)
    return Op(
        "drop",
        "ingest",
        "DELETE",
        f"{pipe_path(db, schema, pipe)}/channels/{_seg(channel)}",
        f"drop channel {channel!r}",
        params={"requestId": request_id},
        channel=channel,
        pipe=pipe_name(db, schema, pipe),
        request_id=request_id,
    )


def status_op(db: str, schema: str, pipe: str, channels: list[str], request_id: str) -> Op:
    for channel in channels:
        check_channel_name(channel, "channel_names")
    return Op(
        "status",
        "ingest",
        "POST",
        f"{pipe_path(db, schema, pipe)}:bulk-channel-status",
        f"get the status of channel(s) {', '.join(map(repr, channels))}",
        params={"requestId": request_id},
        content=_json_encode({"channel_names": channels}),
        headers=_JSON,
        channel=channels[0] if len(channels) == 1 else None,
        pipe=pipe_name(db, schema, pipe),
        request_id=request_id,
    )


class Compressor:
    """Compresses append bodies; one per channel. Thread-safe: a zstd context is not, so one
    compression runs at a time (zstd and zlib let other threads run meanwhile)."""

    def __init__(self, compression: str) -> None:
        self.encoding = compression
        self._zstd = zstandard.ZstdCompressor(level=1) if compression == "zstd" else None
        self._lock = threading.Lock()

    def body(self, batch: Batch) -> bytes:
        """``batch``'s request body, compressed the first time it is asked for (by whichever
        thread asks first: the appending one ahead of the send, or the sender); its payload is
        then released, so that a batch kept until it commits holds its compressed bytes only."""
        body = batch.body
        if body is None:
            with self._lock:
                body = batch.body
                if body is None:
                    if self._zstd is not None:
                        # zstd writes into a buffer of the worst-case size and shrinks it
                        # in place; kept until its batch commits, that buffer's freed tail
                        # pins the heap (measured: 140 against 80 MB peak RSS for 1 GB
                        # through `ingest`). A copy of the right size costs 0.1 ms a MB.
                        body = bytes(memoryview(self._zstd.compress(batch.payload)))
                    elif self.encoding == "gzip":
                        body = gzip.compress(batch.payload, compresslevel=1)
                    else:
                        body = batch.payload
                    batch.body = body
                    batch.payload = b""
        return body


def append_op(
    db: str,
    schema: str,
    pipe: str,
    channel: str,
    *,
    body: bytes,
    nbytes: int,
    encoding: str,
    rows: int,
    continuation_token: str,
    start_token: str | None,
    end_token: str | None,
    request_id: str,
    session: str | None,
    min_append_ms: int | None = None,
) -> Op:
    """An append of ``body`` (``nbytes`` of NDJSON, sent with Content-Encoding ``encoding``:
    see :meth:`Compressor.body`)."""
    params = {"continuationToken": continuation_token}
    if start_token is not None:
        params["startOffsetToken"] = start_token
    if end_token is not None:
        params["endOffsetToken"] = end_token
    params["requestId"] = request_id
    headers = {"Content-Type": "application/x-ndjson"}
    if encoding != "none":
        headers["Content-Encoding"] = encoding
        headers["x-snowflake-uncompressed-content-length"] = str(nbytes)
    if session:
        headers["x-snowflake-session"] = session
    if min_append_ms is not None:
        # When the oldest row of the request was appended: Snowflake measures latency with it.
        headers["x-snowflake-min-append-timestamp-ms"] = str(min_append_ms)
    return Op(
        "append",
        "ingest",
        "POST",
        f"{pipe_path(db, schema, pipe, data=True)}/channels/{_seg(channel)}/rows",
        f"append to channel {channel!r}",
        params=params,
        content=body,
        headers=headers,
        channel=channel,
        pipe=pipe_name(db, schema, pipe),
        request_id=request_id,
        rows=rows,
        uncompressed_bytes=nbytes,
    )


# --- parsing -----------------------------------------------------------------------------


def _maybe_json(body: bytes) -> Any:
    text = body.strip()
    if text[:1] in (b"{", b"[", b'"'):
        try:
            return _json_decode(text)
        except msgspec.DecodeError:
            return None
    return None


def _text_or_field(body: bytes, field: str, what: str) -> str:
    """The answer's text, or its ``field`` when it is JSON (both shapes are seen)."""
    doc = _maybe_json(body)
    raw = (
        doc.get(field)
        if isinstance(doc, dict)
        else doc
        if isinstance(doc, str)
        else (body.decode("utf-8", "replace"))
    )
    if not isinstance(raw, str) or not raw.strip():
        raise UnexpectedResponseError(f"{what}: the answer holds no {field}", status_code=200)
    return raw


def parse_hostname(
    body: bytes, control_url: str, *, allow_insecure_http: bool = False
) -> tuple[str, str]:
    """Return ``(ingest_host, ingest_base_url)`` from the hostname answer.

    The body is the bare host as text in practice, ``{"hostname": ...}`` in the docs. ``_``
    becomes ``-`` (Snowflake's ingest service fails on underscores) and the host is lowercased.
    A bare host takes the control URL's scheme and port. The ingest URL must pass the rule the
    configured URL passed (:func:`require_safe_url`): a plain-http control URL to loopback
    answering a remote host raises :class:`ConfigError` before the scoped token goes there.
    """
    raw = _text_or_field(body, "hostname", "discover the ingest host")
    host = raw.strip().replace("_", "-").lower()
    control = urlsplit(control_url)
    port = f":{control.port}" if control.port else ""
    if _is_ipv6(host):
        url = f"{control.scheme}://[{host}]{port}"
    elif any(c in host for c in ":/[]@?#") or any(c.isspace() for c in host):
        # Snowflake answers a bare host name; the scheme and port are the control URL's.
        raise UnexpectedResponseError(
            f"discover the ingest host: expected a bare host name, got {host[:80]!r}",
            status_code=200,
        )
    else:
        url = f"{control.scheme}://{host}{port}"
    require_safe_url(
        url,
        allow_insecure_http=allow_insecure_http,
        what=(
            f"the ingest URL {url} (the host GET {control_url}/v2/streaming/hostname answered, "
            "with url's scheme and port)"
        ),
    )
    return host, url


def _is_ipv6(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).version == 6
    except ValueError:
        return False


def parse_scoped_token(body: bytes, now: float) -> tuple[str, float]:
    """Return ``(token, expires_at)``; a JWT's ``exp`` is read (unverified), else 55 min."""
    raw = _text_or_field(body, "token", "exchange the JWT for a scoped token")
    token = raw.strip()
    claims = read_claims_unverified(token)
    exp = claim_seconds(claims.get("exp")) if claims else None
    return token, (exp if exp is not None else now + DEFAULT_SCOPED_TOKEN_TTL_SECS)


def parse_error_body(body: bytes) -> tuple[str | None, str | None]:
    """``(code, message)`` from an error body of any known shape."""
    doc = _maybe_json(body)
    if isinstance(doc, dict):
        code = doc.get("code", doc.get("error_code"))
        if code is None and isinstance(doc.get("status_code"), int):
            code = str(doc["status_code"])
        message = doc.get("message", doc.get("error_message"))
        return (
            str(code) if code is not None else None,
            str(message) if message is not None else None,
        )
    if isinstance(doc, str):
        return doc, None
    text = body.decode("utf-8", "replace").strip()
    if not text:
        return None, None
    # A bare word that looks like a code (ERR_..., STALE_...) is the code; else a message.
    if " " not in text and text.replace("_", "").isalnum() and len(text) <= 100:
        return text, None
    return None, text[:500]


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _opt_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            return None
    return None


def _timestamp_ms(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return int(value)
    if isinstance(value, str):
        s = value.strip()
        if not s:
            return None
        if s.lstrip("-").isdigit():
            return int(s)
        try:
            when = dt.datetime.fromisoformat(s.replace("Z", "+00:00"))
        except ValueError:
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.timezone.utc)
        return int(when.timestamp() * 1000)
    return None


@dataclass(frozen=True)
class ChannelStatus:
    """A channel's state as Snowflake reports it (open answer or bulk status)."""

    channel_name: str
    channel_status_code: str
    last_committed_offset_token: str | None = None
    database_name: str | None = None
    schema_name: str | None = None
    pipe_name: str | None = None
    created_on_ms: int | None = None
    rows_inserted: int = 0
    rows_parsed: int = 0
    rows_error_count: int = 0
    last_error_offset_upper_bound: str | None = None
    last_error_message: str | None = None
    last_error_timestamp_ms: int | None = None
    snowflake_avg_processing_latency_ms: int | None = None

    @property
    def is_valid(self) -> bool:
        """True when the channel is healthy (``SUCCESS``); anything else must be reopened."""
        return self.channel_status_code == SUCCESS

    @property
    def latest_committed_offset_token(self) -> str | None:
        """The official SDK's name for :attr:`last_committed_offset_token`."""
        return self.last_committed_offset_token

    @classmethod
    def from_wire(cls, doc: Mapping[str, Any], name: str | None = None) -> ChannelStatus:
        errors = doc.get("rows_error_count", doc.get("rows_errors"))
        return cls(
            channel_name=str(doc.get("channel_name") or name or ""),
            channel_status_code=str(doc.get("channel_status_code") or "UNKNOWN"),
            last_committed_offset_token=_opt_str(doc.get("last_committed_offset_token")),
            database_name=_opt_str(doc.get("database_name")),
            schema_name=_opt_str(doc.get("schema_name")),
            pipe_name=_opt_str(doc.get("pipe_name")),
            created_on_ms=_opt_int(doc.get("created_on_ms")),
            rows_inserted=_opt_int(doc.get("rows_inserted")) or 0,
            rows_parsed=_opt_int(doc.get("rows_parsed")) or 0,
            rows_error_count=_opt_int(errors) or 0,
            last_error_offset_upper_bound=_opt_str(doc.get("last_error_offset_upper_bound")),
            last_error_message=_opt_str(doc.get("last_error_message")),
            # Snowflake's SDK reads last_error_timestamp_ms; the REST docs say
            # last_error_timestamp: take either.
            last_error_timestamp_ms=_timestamp_ms(
                doc.get("last_error_timestamp_ms", doc.get("last_error_timestamp"))
            ),
            snowflake_avg_processing_latency_ms=_opt_int(
                doc.get("snowflake_avg_processing_latency_ms")
            ),
        )


def _json_object(body: bytes, what: str) -> dict[str, Any]:
    try:
        doc = _json_decode(body)
    except msgspec.DecodeError:
        raise UnexpectedResponseError(
            f"{what}: the answer is not valid JSON ({len(body)} bytes)", status_code=200
        ) from None
    if not isinstance(doc, dict):
        raise UnexpectedResponseError(
            f"{what}: expected a JSON object, got {type(doc).__name__}", status_code=200
        )
    return doc


def parse_open(body: bytes, channel: str) -> tuple[str, ChannelStatus]:
    """``(next_continuation_token, status)`` from an open-channel answer."""
    what = f"open channel {channel!r}"
    doc = _json_object(body, what)
    status_doc = doc.get("channel_status")
    status = ChannelStatus.from_wire(status_doc if isinstance(status_doc, dict) else {}, channel)
    token = doc.get("next_continuation_token")
    if not isinstance(token, str) or not token:
        if not status.is_valid:
            return "", status
        raise UnexpectedResponseError(
            f"{what}: the answer has no next_continuation_token", status_code=200
        )
    return token, status


def parse_append(body: bytes, channel: str) -> str:
    """``next_continuation_token`` from an append answer."""
    doc = _json_object(body, f"append to channel {channel!r}")
    token = doc.get("next_continuation_token")
    if not isinstance(token, str) or not token:
        raise UnexpectedResponseError(
            f"append to channel {channel!r}: the answer has no next_continuation_token",
            status_code=200,
        )
    return token


def _by_channel_key(statuses: Mapping[str, Any]) -> dict[str, Any]:
    """The answer's entries by the :func:`channel_key` of their key, else of their name."""
    out: dict[str, Any] = {}
    for entry in statuses.values():
        if isinstance(entry, dict) and isinstance(entry.get("channel_name"), str):
            out[channel_key(entry["channel_name"])] = entry
    out.update((channel_key(str(key)), entry) for key, entry in statuses.items())
    return out


def parse_bulk_status(
    body: bytes, names: list[str], missing_ok: bool = False
) -> dict[str, ChannelStatus]:
    """Statuses by the caller's names; a name absent from the answer raises NotFoundError
    (with ``missing_ok``, it is left out: Snowflake answers only the channels that exist).

    An entry is found by the name as asked, else by its :func:`channel_key`: Snowflake resolves
    channel names case-insensitively, so it may answer in its own spelling of the name.
    """
    doc = _json_object(body, "get channel status")
    statuses = doc.get("channel_statuses")
    if not isinstance(statuses, dict):
        raise UnexpectedResponseError(
            "get channel status: the answer has no channel_statuses object", status_code=200
        )
    out: dict[str, ChannelStatus] = {}
    by_key: dict[str, Any] | None = None
    for name in names:
        entry = statuses.get(name)
        if entry is None:
            # Channel names are case-insensitive: the answer may spell the name differently.
            if by_key is None:
                by_key = _by_channel_key(statuses)
            entry = by_key.get(channel_key(name))
        if not isinstance(entry, dict):
            if missing_ok and entry is None:
                continue
            raise NotFoundError(
                f"channel {name!r} does not exist on this pipe (absent from the status answer)",
                status_code=404,
                code="CHANNEL_NOT_FOUND",
            )
        out[name] = ChannelStatus.from_wire(entry, name)
    return out
