"""Pin the public surface: other issues and users rely on these names."""

from __future__ import annotations

import snowpipe_stream


def test_public_names() -> None:
    expected = {
        "APIConnectionError",
        "APIStatusError",
        "APITimeoutError",
        "AuthenticationError",
        "BadRequestError",
        "ChannelDroppedError",
        "ChannelInvalidatedError",
        "ClientConfig",
        "Clock",
        "ClosedError",
        "CommitProgress",
        "CommitTimeoutError",
        "ErrorRows",
        "ConfigError",
        "ConflictError",
        "DiagnosticStep",
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
        "AsyncShardedChannel",
        "ShardingMismatchError",
        "SnowpipeError",
        "SystemClock",
        "ThrottledError",
        "TokenState",
        "UnitResult",
        "awrite_unit",
        "write_unit",
        "__version__",
        "diagnose",
    }
    assert expected <= set(snowpipe_stream.__all__)
    for name in snowpipe_stream.__all__:
        assert hasattr(snowpipe_stream, name), name


def test_testing_module() -> None:
    from snowpipe_stream.testing import FakeClock

    clock = FakeClock(start=100.0)
    clock.advance(5)
    clock.sleep(2.0)
    assert clock.time() == 107.0 and clock.monotonic() == 7.0
    assert clock.sleeps == [2.0]
