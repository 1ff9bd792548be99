"""Every error the emulator answers, in one place; tests import these too.

Each is ``(HTTP status, code, message)``, with Snowflake's codes where the reference knows them.
"""

from __future__ import annotations

ErrorSpec = tuple[int, str, str]

JWT_INVALID: ErrorSpec = (401, "390144", "JWT token is invalid.")
SCOPED_TOKEN_INVALID: ErrorSpec = (401, "390303", "Invalid OAuth access token.")
SCOPED_TOKEN_EXPIRED: ErrorSpec = (401, "390318", "OAuth access token expired.")
#: A PAT that is unknown, expired, revoked or disabled: Snowflake answers all alike (the
#: drivers' tests assert this code and text, e.g. gosnowflake ``auth_test.go``).
PAT_INVALID: ErrorSpec = (401, "394400", "Programmatic access token is invalid.")
ACCEPT_MISSING: ErrorSpec = (400, "391902", "Unsupported Accept header null is specified")
STALE_CONTINUATION: ErrorSpec = (
    400,
    "STALE_CONTINUATION_TOKEN_SEQUENCER",
    "Channel sequencer in the continuation token is stale. Please reopen the channel",
)
INVALID_ROW_SEQUENCER: ErrorSpec = (
    400,
    "ERR_CHANNEL_HAS_INVALID_ROW_SEQUENCER",
    "The row sequencer in the continuation token is invalid (was it used twice?). "
    "Please reopen the channel",
)
CHANNEL_MUST_BE_REOPENED: ErrorSpec = (
    409,
    "ERR_CHANNEL_MUST_BE_REOPENED",
    "The channel is invalid. Please reopen the channel",
)
CONTINUATION_REQUIRED: ErrorSpec = (
    400,
    "ERR_CONTINUATION_TOKEN_REQUIRED",
    "The continuationToken query parameter is required",
)
CHANNEL_NOT_FOUND: ErrorSpec = (
    404,
    "ERR_CHANNEL_DOES_NOT_EXIST_OR_IS_NOT_AUTHORIZED",
    "Channel does not exist or is not authorized",
)
CHANNEL_NO_LONGER_EXISTS: ErrorSpec = (
    400,
    "ERR_CHANNEL_NO_LONGER_EXISTS",
    "The channel no longer exists (it was dropped). Open it again to start a new one",
)
PIPE_NOT_FOUND: ErrorSpec = (
    404,
    "ERR_PIPE_DOES_NOT_EXIST_OR_NOT_AUTHORIZED",
    "Pipe does not exist or is not authorized",
)
UNCOMMITTED_DATA: ErrorSpec = (
    409,
    "ERR_CHANNEL_HAS_UNCOMMITTED_DATA",
    "The channel has uncommitted data and fail_on_uncommitted_rows is true",
)
PAYLOAD_TOO_LARGE: ErrorSpec = (
    413,
    "ERR_PAYLOAD_TOO_LARGE",
    "The request payload exceeds the maximum size",
)
BAD_ENCODING: ErrorSpec = (
    400,
    "ERR_INVALID_CONTENT_ENCODING",
    "The body cannot be decoded with its Content-Encoding",
)
BAD_REQUEST_BODY: ErrorSpec = (400, "ERR_INVALID_REQUEST_BODY", "The request body is invalid")
INVALID_CHANNEL_NAME: ErrorSpec = (
    400,
    "ERR_INVALID_CHANNEL_NAME",
    "The channel name is invalid",
)
THROTTLED: ErrorSpec = (
    429,
    "ERR_THROTTLED",
    "Too many requests for this channel; retry with back-off",
)
NOT_FOUND: ErrorSpec = (404, "ERR_NOT_FOUND", "No such endpoint")
ADMIN_LOOPBACK_ONLY: ErrorSpec = (403, "ERR_FORBIDDEN", "The admin API answers loopback only")
INJECTED: ErrorSpec = (500, "ERR_INJECTED_FAULT", "Injected fault")

#: The channel status code of a healthy channel.
SUCCESS = "SUCCESS"
#: The message recorded for a row that is not a JSON object (ON_ERROR=CONTINUE).
ROW_NOT_AN_OBJECT = "Row is not a valid JSON object"

OPEN_IN_PROGRESS: ErrorSpec = (
    409,
    "ERR_OPEN_CHANNEL_IN_PROGRESS",
    "Another request is opening this channel; retry",
)
GENERAL_RETRY: ErrorSpec = (
    503,
    "ERR_GENERAL_EXCEPTION_RETRY_REQUEST",
    "A transient error occurred; retry the request",
)
INVALID_CLIENT_SEQUENCER: ErrorSpec = (
    400,
    "ERR_CHANNEL_HAS_INVALID_CLIENT_SEQUENCER",
    "The channel was opened by another client. Please reopen the channel",
)
ROW_SEQ_GAP: ErrorSpec = (
    409,
    "ERR_CHANNEL_MUST_BE_REOPENED_DUE_TO_ROW_SEQ_GAP",
    "A gap in the row sequence was detected. Please reopen the channel",
)
STALE_PIPE_CACHE: ErrorSpec = (
    400,
    "STALE_PIPE_CACHE",
    "A pipe with this name was recently dropped. The server cache has been updated. "
    "Please reopen the channel and try again",
)
DATABASE_NOT_FOUND: ErrorSpec = (
    404,
    "ERR_DATABASE_DOES_NOT_EXIST_OR_NOT_AUTHORIZED",
    "Database does not exist or is not authorized",
)
TABLE_NOT_FOUND: ErrorSpec = (
    404,
    "ERR_TABLE_DOES_NOT_EXIST_NOT_AUTHORIZED",
    "Table does not exist or is not authorized",
)
# Backpressure: Redpanda Connect backs off on these codes whatever the status; the service's
# status for them is not documented, the emulator answers 503.
RECEIVER_SATURATED: ErrorSpec = (503, "ReceiverSaturated", "The receiver is saturated; back off")
MEMORY_THRESHOLD: ErrorSpec = (
    503,
    "MemoryThresholdExceeded",
    "The memory threshold is exceeded; back off",
)
MEMORY_THRESHOLD_CONTAINER: ErrorSpec = (
    503,
    "MemoryThresholdExceededInContainer",
    "The container's memory threshold is exceeded; back off",
)
HTTP_RETRYABLE_CLIENT: ErrorSpec = (
    503,
    "HttpRetryableClientError",
    "A retryable client error occurred; back off",
)

#: Every code a fault rule may name (``{"code": ...}``): code -> (HTTP status, message).
#: The table in docs/protocol.md lists them with the client's reaction and their tests.
KNOWN_CODES: dict[str, tuple[int, str]] = {
    code: (status, message)
    for status, code, message in (
        JWT_INVALID,
        SCOPED_TOKEN_INVALID,
        SCOPED_TOKEN_EXPIRED,
        ACCEPT_MISSING,
        STALE_CONTINUATION,
        INVALID_ROW_SEQUENCER,
        INVALID_CLIENT_SEQUENCER,
        CHANNEL_MUST_BE_REOPENED,
        ROW_SEQ_GAP,
        STALE_PIPE_CACHE,
        CONTINUATION_REQUIRED,
        CHANNEL_NOT_FOUND,
        CHANNEL_NO_LONGER_EXISTS,
        PIPE_NOT_FOUND,
        DATABASE_NOT_FOUND,
        TABLE_NOT_FOUND,
        UNCOMMITTED_DATA,
        OPEN_IN_PROGRESS,
        PAYLOAD_TOO_LARGE,
        BAD_ENCODING,
        BAD_REQUEST_BODY,
        INVALID_CHANNEL_NAME,
        THROTTLED,
        GENERAL_RETRY,
        RECEIVER_SATURATED,
        MEMORY_THRESHOLD,
        MEMORY_THRESHOLD_CONTAINER,
        HTTP_RETRYABLE_CLIENT,
        INJECTED,
    )
}
