"""Defaults and limits, named once. The library, the CLI and the emulator import them."""

from __future__ import annotations

# --- Key-pair JWTs ------------------------------------------------------------------------
#: Snowflake rejects a key-pair JWT valid for more than an hour after ``iat``; the official
#: SDKs use 59 minutes, which leaves a minute for clock drift.
DEFAULT_JWT_LIFETIME_SECS = 3540
MIN_JWT_LIFETIME_SECS = 30
MAX_JWT_LIFETIME_SECS = 3600
#: Refresh a token when it has this many seconds or fewer left. Early enough that a request
#: signed just before the threshold still arrives with a valid token, so we never provoke the
#: 401-refresh-retry round trip in the normal course of things.
DEFAULT_JWT_REFRESH_MARGIN_SECS = 30.0
#: Minimum RSA key size Snowflake accepts; smaller keys load with a warning.
MIN_RSA_KEY_BITS = 2048

# --- Scoped (ingest) tokens ---------------------------------------------------------------
#: When the scoped token is opaque (not a JWT we can read ``exp`` from), assume it lives this
#: long. Snowflake does not document the TTL; 55 minutes is what working clients assume.
DEFAULT_SCOPED_TOKEN_TTL_SECS = 55 * 60
SCOPED_TOKEN_GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"

# --- Retry policy (the seed's contract) ---------------------------------------------------
DEFAULT_RETRY_ON_UNAUTHORIZED = True
DEFAULT_THROTTLE_BACKOFF_SECS = 2.0
DEFAULT_MAX_THROTTLE_RETRIES = 5
#: A Retry-After larger than this is treated as this.
MAX_RETRY_AFTER_SECS = 60.0
DEFAULT_SERVER_ERROR_RETRIES = 5
INITIAL_BACKOFF_SECS = 0.5
MAX_BACKOFF_SECS = 8.0
DEFAULT_RETRY_DEADLINE_SECS = 120.0
#: Until a client's first successful request, connection failures (refused, reset, timed out)
#: are retried for this long only: a wrong URL or a server that is down should fail in
#: seconds, while an outage after the first success keeps the whole retry budget to heal.
DEFAULT_INITIAL_CONNECT_DEADLINE_SECS = 3.0

# --- HTTP ---------------------------------------------------------------------------------
DEFAULT_CONNECT_TIMEOUT_SECS = 10.0
DEFAULT_REQUEST_TIMEOUT_SECS = 60.0

# --- Channels and batching ----------------------------------------------------------------
#: Snowflake's current per-request payload limit for the REST append.
DEFAULT_MAX_REQUEST_BYTES = 4 * 1024 * 1024
#: The most a user may configure (older Snowflake docs allow 16 MB requests).
MAX_REQUEST_BYTES_LIMIT = 16 * 1024 * 1024
#: What the emulator accepts per append by default, compressed or not: Snowflake's REST page
#: allows 16 MB per request (its limits page says 4 MB on the wire); Snowflake's own SDK sends
#: about 4.3 MB of uncompressed NDJSON per request. ``Emulator(max_request_bytes=...)`` changes it.
EMULATOR_MAX_REQUEST_BYTES = 16 * 1024 * 1024
DEFAULT_MAX_CLIENT_LAG_SECS = 1.0
DEFAULT_MAX_INFLIGHT_BYTES = 64 * 1024 * 1024
DEFAULT_CLOSE_TIMEOUT_SECS = 300.0
DEFAULT_COMPRESSION = "zstd"
COMPRESSIONS = ("zstd", "gzip", "none")
#: How BINARY values travel as JSON text: the pipe's BINARY_INPUT_FORMAT (HEX, BASE64, UTF-8).
BINARY_FORMATS = ("hex", "base64", "utf8")
#: What Snowflake's SDK assumes when the pipe's information names no format.
DEFAULT_PIPE_BINARY_FORMAT = "base64"
#: Offset tokens that the library makes up for batches whose last row has no token of the
#: caller's start with this; a caller's token may not (so the two can never collide).
AUTO_OFFSET_TOKEN_PREFIX = "snowpipe-stream:"
#: Closing after an error leaves a ``with`` block: wait this long at most for commits (in all).
DEFAULT_EXIT_CLOSE_TIMEOUT_SECS = 10.0
