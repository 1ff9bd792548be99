"""Structured fields of the library's log records, and a formatter that writes them as JSON.

Log calls that concern a channel, a request or a key pass ``extra=log_fields(...)``, so each
record carries, as attributes, those of these fields that apply (absent ones are not set):

=============== ========================================================================
``channel``     the channel's name
``pipe``        the pipe, as ``DATABASE.SCHEMA.PIPE``
``request_id``  the ``requestId`` of the call (the same on every attempt of it: quote it to
                Snowflake support)
``attempt``     which attempt of the call, from 1
``status``      the HTTP status of the answer (an ``int``)
``endpoint``    which call, as a short bounded name: ``hostname``, ``token``, ``open``,
                ``pipe_info``, ``append``, ``status``, ``drop``
``fingerprint`` the fingerprint (``SHA256:...``) of the private key concerned; never the key
=============== ========================================================================

The message text stays a sentence for people; the fields are for machines. A handler's format
string can name them (``%(channel)s``) when every record it gets has them; :class:`JsonFormatter`
writes one JSON object per line with whichever are present.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Mapping
from typing import Any

__all__ = [
    "FIELDS",
    "LOG_FORMATS",
    "LOG_FORMAT_ENV",
    "JsonFormatter",
    "env_log_format",
    "log_fields",
]

#: The structured fields, in the order :class:`JsonFormatter` writes them.
FIELDS = ("channel", "pipe", "request_id", "attempt", "status", "endpoint", "fingerprint")

#: What ``--log-format`` (of the commands and of the emulator) takes, and the variable that
#: gives it when the flag does not.
LOG_FORMATS = ("text", "json")
LOG_FORMAT_ENV = "SNOWFLAKE_LOG_FORMAT"


def log_fields(
    *,
    channel: str | None = None,
    pipe: str | None = None,
    request_id: str | None = None,
    attempt: int | None = None,
    status: int | None = None,
    endpoint: str | None = None,
    fingerprint: str | None = None,
) -> dict[str, Any]:
    """The ``extra=`` mapping of a log call: the fields given, without the None ones."""
    given = {
        "channel": channel,
        "pipe": pipe,
        "request_id": request_id,
        "attempt": attempt,
        "status": status,
        "endpoint": endpoint,
        "fingerprint": fingerprint,
    }
    return {name: value for name, value in given.items() if value is not None}


def env_log_format(env: Mapping[str, str]) -> str | None:
    """The log format ``SNOWFLAKE_LOG_FORMAT`` names in ``env`` (None when unset or empty);
    ``ValueError`` naming the variable for any other value."""
    raw = env.get(LOG_FORMAT_ENV, "")
    value = raw.strip().lower()
    if not value:
        return None
    if value not in LOG_FORMATS:
        raise ValueError(f"{LOG_FORMAT_ENV}={raw!r}: expected one of {', '.join(LOG_FORMATS)}")
    return value


#: Characters that some readers take for a line end but JSON leaves unescaped (NEL, LINE and
#: PARAGRAPH SEPARATOR), and lone surrogates, which no UTF-8 stream can write. They can only
#: occur inside JSON strings, where ``\\uXXXX`` means the same character.
_UNSAFE = re.compile("[\x85\u2028\u2029\ud800-\udfff]")


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line.

    Keys: ``time`` (ISO 8601, UTC, milliseconds: ``2025-01-31T12:00:00.123Z``), ``level``,
    ``logger``, ``message`` (the record's text, arguments merged), then those of the fields of
    :func:`log_fields` the record carries, then ``exc`` (the formatted traceback) and ``stack``
    when it has them. Text is written as is (not ``\\u``-escaped), except characters that a
    reader could take for a line end.

    Attach it to a handler to get the library's logs as JSON::

        handler = logging.StreamHandler()
        handler.setFormatter(snowpipe_stream.JsonFormatter())
        logging.getLogger("snowpipe_stream").addHandler(handler)
    """

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "time": self.formatTime(record, self.datefmt),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                doc[name] = value
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            doc["exc"] = record.exc_text
        if record.stack_info:
            doc["stack"] = self.formatStack(record.stack_info)
        line = json.dumps(doc, ensure_ascii=False, default=str)
        return _UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", line)

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        """ISO 8601 in UTC with milliseconds (``datefmt``, if given, is a ``strftime`` format
        applied in UTC instead)."""
        utc = time.gmtime(record.created)
        if datefmt:
            return time.strftime(datefmt, utc)
        return time.strftime("%Y-%m-%dT%H:%M:%S", utc) + f".{int(record.msecs):03d}Z"
