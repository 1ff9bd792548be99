"""Every error the library raises, rooted at :class:`SnowpipeError`.

::

    SnowpipeError
    ├── ConfigError (ValueError)              a setting is missing or out of range
    │   ├── PrivateKeyError                   the private key cannot be loaded or is not RSA
    │   └── InvalidChannelNameError           a channel name breaks Snowflake's naming rules
    ├── InvalidRowError (ValueError)          a row cannot be sent (NaN, Infinity, ...)
    │   ├── RowTypeError (TypeError)          not a mapping, a non-str key, an unserializable value
    │   └── RowTooLargeError                  one row over the request limit (or HTTP 413)
    ├── APIConnectionError                    no response: connection refused/reset, TLS, DNS
    │   └── APITimeoutError (TimeoutError)    no response in time
    ├── APIStatusError                        Snowflake answered with an error status
    │   ├── BadRequestError                   400
    │   ├── AuthenticationError               401 (after the one retry with fresh credentials)
    │   ├── PermissionDeniedError             403
    │   ├── NotFoundError                     404, or a channel absent from a status answer
    │   ├── ConflictError                     409
    │   ├── ThrottledError                    429 (after the configured back-offs)
    │   ├── ServerError                       5xx (after the configured retries)
    │   └── UnexpectedResponseError           a 2xx answer the client cannot read
    ├── ChannelInvalidatedError               the channel is not ours to write any more: opened by
    │   │                                     another client, or invalid and not recoverable
    │   └── ChannelDroppedError               the channel was dropped under its writer
    ├── OffsetTokenError (ValueError)         an offset token cannot support exactly-once
    ├── ShardingMismatchError                 a sharded channel's channels hold records dealt
    │                                         another way (another ``channels=N``, another key)
    ├── ClosedError (RuntimeError)            a call on a closed client or channel
    └── CommitTimeoutError (TimeoutError)     rows were sent but not committed in time

Errors never carry a private key, passphrase, JWT or scoped token: a status error holds the
HTTP status, Snowflake's error code and message, and the request id, nothing else of the
request. :func:`make_status_error` is the only place that maps a status to a class.
"""

from __future__ import annotations

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ChannelDroppedError",
    "ChannelInvalidatedError",
    "ClosedError",
    "CommitTimeoutError",
    "ConfigError",
    "ConflictError",
    "InvalidChannelNameError",
    "InvalidRowError",
    "NotFoundError",
    "OffsetTokenError",
    "PermissionDeniedError",
    "PrivateKeyError",
    "RowTooLargeError",
    "RowTypeError",
    "ServerError",
    "ShardingMismatchError",
    "SnowpipeError",
    "ThrottledError",
    "UnexpectedResponseError",
    "make_status_error",
]


class SnowpipeError(Exception):
    """The root of every error this library raises."""

    #: Whether trying the same thing again later may succeed.
    retryable: bool = False


class ConfigError(SnowpipeError, ValueError):
    """A configuration value is missing, malformed or out of range.

    The message names the setting and what is accepted.
    """


class PrivateKeyError(ConfigError):
    """The private key cannot be loaded (wrong passphrase, not RSA, unreadable, ...)."""


class InvalidChannelNameError(ConfigError):
    """A channel name breaks the naming rules; nothing was sent.

    The message names the rule and the fix; ``name`` is the rejected name.
    """

    def __init__(self, message: str, *, name: str) -> None:
        super().__init__(message)
        self.name = name


class InvalidRowError(SnowpipeError, ValueError):
    """A row cannot be serialized for Snowflake; it was not buffered and nothing was sent."""


class RowTypeError(InvalidRowError, TypeError):
    """A row is not a mapping with str keys, or holds a value of an unsupported type."""


class RowTooLargeError(InvalidRowError):
    """A single row is larger than the request limit, or Snowflake answered 413."""

    def __init__(
        self,
        message: str,
        *,
        size: int | None = None,
        limit: int | None = None,
        status_code: int | None = None,
    ) -> None:
        super().__init__(message)
        self.size = size
        self.limit = limit
        self.status_code = status_code


class APIConnectionError(SnowpipeError):
    """The request got no response: the connection failed, was reset, or TLS failed."""

    retryable = True

    def __init__(
        self,
        message: str,
        *,
        method: str | None = None,
        url: str | None = None,
        endpoint: str | None = None,
        setting: str | None = None,
        established: bool = False,
    ) -> None:
        super().__init__(message)
        self.method = method
        #: The request's path.
        self.url = url
        #: The server it was sent to: ``scheme://host:port``.
        self.endpoint = endpoint
        #: The ClientConfig field that names that server (``"url"``), or None for the ingest
        #: host, which Snowflake names. ``retryable`` is False for a failure no retry heals
        #: (an untrusted certificate, no TLS on the port, a host name that does not exist).
        self.setting = setting
        #: Whether the client had a successful request before: an outage of a server it
        #: reached (temporary), not a wrong URL.
        self.established = established


class APITimeoutError(APIConnectionError, TimeoutError):
    """The request got no response in time."""


class APIStatusError(SnowpipeError):
    """Snowflake answered with an error status.

    Attributes:
        status_code: the HTTP status.
        code: Snowflake's error code (``"STALE_CONTINUATION_TOKEN_SEQUENCER"``, ``"390144"``, ...)
            or None when the body had none.
        error_message: Snowflake's message (customer data redacted by Snowflake), or None.
        request_id: the ``requestId`` the client sent, to quote to Snowflake support.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        code: str | None = None,
        error_message: str | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.code = code
        self.error_message = error_message
        self.request_id = request_id


class BadRequestError(APIStatusError):
    """400: the request or its payload is malformed."""


class AuthenticationError(APIStatusError):
    """401: the credentials were rejected, also after one retry with fresh ones."""


class PermissionDeniedError(APIStatusError):
    """403: the role lacks a grant on the database, schema, pipe or table."""


class NotFoundError(APIStatusError):
    """404: the database, schema, pipe or channel does not exist (or is not visible)."""


class ConflictError(APIStatusError):
    """409: the channel is busy or was taken over by another client."""


class ThrottledError(APIStatusError):
    """429: Snowflake kept throttling after the configured back-offs."""

    retryable = True


class ServerError(APIStatusError):
    """5xx: Snowflake failed after the configured retries."""

    retryable = True


class UnexpectedResponseError(APIStatusError):
    """Snowflake answered with success, but the body is not what the protocol says."""


class ChannelInvalidatedError(SnowpipeError):
    """The channel is not this writer's any more, and the client will not recover it by itself.

    ``reason`` says why: ``"opened_elsewhere"`` (another client, or another ``open_channel`` of
    this one, opened the channel: its rows are the other writer's business), ``"dropped"``,
    ``"invalid"`` (Snowflake invalidated it and reopening did not help). The rows this channel
    accepted and that are not committed are described by ``uncommitted_rows`` and
    ``uncommitted_range`` (the offset tokens of the first and last of them, where known);
    ``last_committed`` is the channel's committed offset token as the client last saw it.
    Resume by opening the channel again (if it is still yours) from its committed offset token.
    """

    def __init__(
        self,
        message: str,
        *,
        channel: str,
        code: str | None = None,
        recoverable: bool = False,
        reason: str = "invalid",
        last_committed: str | None = None,
        uncommitted_rows: int = 0,
        uncommitted_range: tuple[str | None, str | None] = (None, None),
    ) -> None:
        super().__init__(message)
        self.channel = channel
        self.code = code
        #: Internal: raised by one request for the channel to reopen and replay; a
        #: ChannelInvalidatedError that reaches the caller has ``recoverable`` False.
        self.recoverable = recoverable
        self.reason = reason
        self.last_committed = last_committed
        self.uncommitted_rows = uncommitted_rows
        self.uncommitted_range = uncommitted_range


class ChannelDroppedError(ChannelInvalidatedError):
    """The channel was dropped (by another client, or by this one) while it held rows.

    The client never re-creates a dropped channel by itself: a new channel starts with no
    committed offset token, so replaying into it would duplicate what had committed before.
    """


class OffsetTokenError(SnowpipeError, ValueError):
    """An offset token cannot support exactly-once: reserved, empty, or already in use.

    Raised where the token enters (``append_row`` / ``append_rows`` / ``append_ndjson``),
    before anything of that call is buffered or sent.
    """


class ShardingMismatchError(SnowpipeError):
    """A channel of a sharded channel's family holds records dealt another way; nothing was
    opened (see :meth:`Client.open_sharded_channel <snowpipe_stream.Client.open_sharded_channel>`).

    ``channel`` is the channel and ``committed`` its committed offset token; ``written_with``
    is the number of channels the records were dealt over when that token says so (open with
    that number to resume), or None when the token is not one of this key's; ``channels`` is
    the number asked for. The message says what to do.
    """

    def __init__(
        self,
        message: str,
        *,
        channel: str,
        committed: str,
        written_with: int | None,
        channels: int,
    ) -> None:
        super().__init__(message)
        self.channel = channel
        self.committed = committed
        self.written_with = written_with
        self.channels = channels


class ClosedError(SnowpipeError, RuntimeError):
    """A call on a client or channel that is closed (or abandoned by ``close(wait_for_flush=
    False)``); open a new one."""


class CommitTimeoutError(SnowpipeError, TimeoutError):
    """Rows were sent, but Snowflake did not report them committed within the timeout."""

    retryable = True

    def __init__(
        self,
        message: str,
        *,
        channel: str,
        waited_for: str | None = None,
        last_committed: str | None = None,
    ) -> None:
        super().__init__(message)
        self.channel = channel
        self.waited_for = waited_for
        self.last_committed = last_committed


_STATUS_CLASSES: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    429: ThrottledError,
}


def make_status_error(
    status_code: int,
    *,
    code: str | None,
    error_message: str | None,
    request_id: str | None,
    what: str,
) -> SnowpipeError:
    """Build the typed error for an HTTP error answer to ``what`` (e.g. ``"append to ch1"``)."""
    detail = f"{what}: HTTP {status_code}"
    if code:
        detail += f" {code}"
    if error_message:
        detail += f": {error_message}"
    if request_id:
        detail += f" (request id {request_id})"
    if status_code == 413:
        return RowTooLargeError(detail, status_code=413)
    cls = _STATUS_CLASSES.get(status_code)
    if cls is None:
        cls = ServerError if status_code >= 500 else APIStatusError
    return cls(
        detail,
        status_code=status_code,
        code=code,
        error_message=error_message,
        request_id=request_id,
    )
