"""Every error the emulator answers, in one place; tests import these too.

Each is ``(HTTP status, code, message)``, with Snowflake's codes where the reference knows them.
"""

from __future__ import annotations

ErrorSpec = tuple[int, str, str]

JWT_INVALID: ErrorSpec = (401, "390144", "JWT token is invalid.")
SCOPED_TOKEN_INVALID: ErrorSpec = (401, "390303", "Invalid OAuth access token.")
SCOPED_TOKEN_EXPIRED: ErrorSpec = (401, "390318", "OAuth access token expired.")
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
