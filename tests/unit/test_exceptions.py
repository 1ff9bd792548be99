"""The error tree and the one status-to-class mapping."""

from __future__ import annotations

import pytest

import snowpipe_stream as sp
from snowpipe_stream._exceptions import make_status_error


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, sp.BadRequestError),
        (401, sp.AuthenticationError),
        (403, sp.PermissionDeniedError),
        (404, sp.NotFoundError),
        (409, sp.ConflictError),
        (429, sp.ThrottledError),
        (500, sp.ServerError),
        (503, sp.ServerError),
        (418, sp.APIStatusError),
    ],
)
def test_status_maps_to_class(status: int, cls: type[sp.APIStatusError]) -> None:
    err = make_status_error(
        status, code="X_CODE", error_message="it broke", request_id="rid-1", what="append to ch1"
    )
    assert type(err) is cls
    assert isinstance(err, sp.APIStatusError)
    assert err.status_code == status and err.code == "X_CODE" and err.request_id == "rid-1"
    assert str(err) == f"append to ch1: HTTP {status} X_CODE: it broke (request id rid-1)"


def test_413_is_row_too_large() -> None:
    err = make_status_error(413, code=None, error_message=None, request_id=None, what="append")
    assert isinstance(err, sp.RowTooLargeError) and err.status_code == 413


def test_tree_shape() -> None:
    assert issubclass(sp.PrivateKeyError, sp.ConfigError)
    assert issubclass(sp.ConfigError, ValueError)
    assert issubclass(sp.RowTypeError, TypeError) and issubclass(
        sp.RowTypeError, sp.InvalidRowError
    )
    assert issubclass(sp.InvalidRowError, ValueError)
    assert issubclass(sp.APITimeoutError, sp.APIConnectionError)
    assert issubclass(sp.APITimeoutError, TimeoutError)
    assert issubclass(sp.CommitTimeoutError, TimeoutError)
    for cls in (
        sp.ConfigError,
        sp.InvalidRowError,
        sp.APIConnectionError,
        sp.APIStatusError,
        sp.ChannelInvalidatedError,
        sp.CommitTimeoutError,
        sp.ShardingMismatchError,
    ):
        assert issubclass(cls, sp.SnowpipeError)
    assert sp.ThrottledError.retryable and sp.ServerError.retryable
    assert not sp.AuthenticationError.retryable
