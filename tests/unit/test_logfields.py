"""log_fields and JsonFormatter: one JSON object per line, with the structured fields."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from snowpipe_stream import JsonFormatter
from snowpipe_stream._logfields import FIELDS, log_fields


def record(
    msg: str = "hello %s", args: tuple[object, ...] = ("world",), **extra: object
) -> logging.LogRecord:
    rec = logging.LogRecord(
        "snowpipe_stream.channel", logging.WARNING, __file__, 1, msg, args, None
    )
    rec.created = 1_700_000_000.25  # 2023-11-14T22:13:20.250Z
    rec.msecs = 250.0
    for name, value in extra.items():
        setattr(rec, name, value)
    return rec


def formatted(rec: logging.LogRecord) -> dict[str, object]:
    line = JsonFormatter().format(rec)
    assert "\n" not in line
    doc = json.loads(line)
    assert isinstance(doc, dict)
    return doc


def test_log_fields_drops_none_and_keeps_falsy_values() -> None:
    assert log_fields() == {}
    assert log_fields(channel="c1", pipe=None, attempt=0, status=None) == {
        "channel": "c1",
        "attempt": 0,
    }
    every = log_fields(
        channel="c",
        pipe="DB.S.P",
        request_id="r",
        attempt=2,
        status=429,
        endpoint="append",
        fingerprint="SHA256:x",
    )
    assert tuple(every) == FIELDS


def test_the_base_keys_time_in_utc_with_milliseconds() -> None:
    doc = formatted(record())
    assert doc == {
        "time": "2023-11-14T22:13:20.250Z",
        "level": "WARNING",
        "logger": "snowpipe_stream.channel",
        "message": "hello world",
    }


@contextmanager
def json_lines(name: str) -> Iterator[tuple[logging.Logger, list[str]]]:
    """A logger whose records are formatted by JsonFormatter into the list given with it."""
    logger = logging.getLogger(name)
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, rec: logging.LogRecord) -> None:
            lines.append(self.format(rec))

    handler = Collect()
    handler.setFormatter(JsonFormatter())
    logger.addHandler(handler)
    try:
        yield logger, lines
    finally:
        logger.removeHandler(handler)


def test_the_structured_fields_go_through_a_logger_as_extra() -> None:
    with json_lines("snowpipe_stream.test_logfields") as (logger, lines):
        fields = log_fields(
            channel="c1",
            pipe="DB.S.P",
            request_id="0b1c",
            attempt=2,
            status=429,
            endpoint="append",
            fingerprint="SHA256:abc=",
        )
        logger.warning("received %d", 429, extra=fields)
        logger.warning("no fields")
    first, second = (json.loads(line) for line in lines)
    assert first["message"] == "received 429"
    assert {k: first[k] for k in FIELDS} == fields
    assert first["attempt"] == 2 and first["status"] == 429  # numbers stay numbers
    assert list(first)[4:] == list(FIELDS)  # in the documented order, after the base keys
    assert not set(FIELDS) & set(second)  # absent, not null


def test_none_valued_attributes_are_left_out() -> None:
    doc = formatted(record(channel=None, status=None, request_id="r1"))
    assert "channel" not in doc and "status" not in doc and doc["request_id"] == "r1"


def test_an_exception_is_its_formatted_traceback() -> None:
    try:
        raise ValueError("bad thing")
    except ValueError:
        rec = record(exc_info=sys.exc_info())
    doc = formatted(rec)
    exc = doc["exc"]
    assert isinstance(exc, str)
    assert exc.startswith("Traceback (most recent call last):")
    assert exc.rstrip().endswith("ValueError: bad thing")
    assert "test_an_exception_is_its_formatted_traceback" in exc
    assert "exc" not in formatted(record())


def test_logger_exception_and_stack_info() -> None:
    with json_lines("snowpipe_stream.test_logfields_exc") as (logger, lines):
        try:
            raise KeyError("missing")
        except KeyError:
            logger.exception("callback of channel %s raised", "c1", extra=log_fields(channel="c1"))
        logger.info("where", stack_info=True)
    raised, stacked = (json.loads(line) for line in lines)
    assert raised["level"] == "ERROR" and raised["channel"] == "c1"
    assert "KeyError: 'missing'" in raised["exc"]
    assert stacked["stack"].startswith("Stack (most recent call last):")


@pytest.mark.parametrize(
    "text",
    [
        "café ✓ 雪",  # written as is, not \u-escaped
        'quote " backslash \\ tab \t newline \n end',
        "line\u2028separators\u2029and\x85NEL",
        "lone surrogate \udcff from a file name",
    ],
)
def test_any_text_stays_one_parseable_line(text: str) -> None:
    line = JsonFormatter().format(record("%s", (text,), channel=text))
    assert len(line.splitlines()) == 1  # str.splitlines splits on more than \n
    line.encode("utf-8")  # writable to a UTF-8 stream
    doc = json.loads(line)
    assert doc["message"] == text and doc["channel"] == text


def test_non_ascii_is_written_as_is() -> None:
    line = JsonFormatter().format(record("%s", ("café ✓ 雪",)))
    assert "café ✓ 雪" in line


def test_values_json_cannot_hold_become_text() -> None:
    doc = formatted(record(status=object(), attempt=3))
    assert isinstance(doc["status"], str) and doc["attempt"] == 3


def test_a_datefmt_is_applied_in_utc() -> None:
    line = JsonFormatter(datefmt="%Y-%m-%d %H:%M").format(record())
    assert json.loads(line)["time"] == "2023-11-14 22:13"
