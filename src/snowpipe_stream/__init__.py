"""Stream rows into Snowflake through the Snowpipe Streaming REST API.

The library owns authentication: give it an RSA private key and it mints key-pair JWTs,
refreshes them before they expire, exchanges them for scoped ingest tokens, and recovers from
401 and 429 answers without bothering the caller.
"""

from ._channel import AsyncChannel, Channel, CommitProgress, ErrorRows
from ._client import AsyncClient, Client
from ._clock import Clock, SystemClock
from ._config import ClientConfig
from ._diagnose import DiagnosticStep, diagnose
from ._exceptions import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ChannelDroppedError,
    ChannelInvalidatedError,
    ClosedError,
    CommitTimeoutError,
    ConfigError,
    ConflictError,
    InvalidChannelNameError,
    InvalidRowError,
    NotFoundError,
    OffsetTokenError,
    PermissionDeniedError,
    PrivateKeyError,
    RowTooLargeError,
    RowTypeError,
    ServerError,
    ShardingMismatchError,
    SnowpipeError,
    ThrottledError,
    UnexpectedResponseError,
)
from ._keys import PrivateKey
from ._logfields import JsonFormatter
from ._metrics import Metrics, OpenTelemetryMetrics, PrometheusMetrics
from ._protocol import ChannelStatus
from ._resume import ReplayMismatchError, UnitResult, awrite_unit, write_unit
from ._sharded import AsyncShardedChannel, ShardedChannel
from ._tokens import JwtManager, TokenState
from ._version import __version__

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AsyncChannel",
    "AsyncClient",
    "AsyncShardedChannel",
    "AuthenticationError",
    "BadRequestError",
    "Channel",
    "ChannelDroppedError",
    "ChannelInvalidatedError",
    "ChannelStatus",
    "Client",
    "ClientConfig",
    "Clock",
    "ClosedError",
    "CommitProgress",
    "CommitTimeoutError",
    "ConfigError",
    "ConflictError",
    "DiagnosticStep",
    "ErrorRows",
    "InvalidChannelNameError",
    "InvalidRowError",
    "JsonFormatter",
    "JwtManager",
    "Metrics",
    "NotFoundError",
    "OffsetTokenError",
    "OpenTelemetryMetrics",
    "PermissionDeniedError",
    "PrivateKey",
    "PrivateKeyError",
    "PrometheusMetrics",
    "ReplayMismatchError",
    "RowTooLargeError",
    "RowTypeError",
    "ServerError",
    "ShardedChannel",
    "ShardingMismatchError",
    "SnowpipeError",
    "SystemClock",
    "ThrottledError",
    "TokenState",
    "UnexpectedResponseError",
    "UnitResult",
    "__version__",
    "awrite_unit",
    "diagnose",
    "write_unit",
]
