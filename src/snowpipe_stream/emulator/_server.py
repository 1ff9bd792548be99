"""The emulator's HTTP/1.1 connections: uvicorn's h11 protocol with a read timeout.

Uvicorn times a connection out only between requests (``timeout_keep_alive``, armed after a
response). A client that connects and sends nothing, half a request head, or half a body is
held forever. Here:

- the request head (request line and headers) must arrive whole within ``read_timeout`` of
  its first byte (of the connection, for the first request): trickling bytes does not extend
  it;
- while a body is being read, ``read_timeout`` may pass between two reads at most;
- when it runs out the connection is closed. While uvicorn itself has paused reading (a large
  body waiting for the app), the clock does not run.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

_log = logging.getLogger("snowpipe_stream.emulator")


class TimedH11Protocol(H11Protocol):
    """:class:`H11Protocol` with a read timeout (see the module)."""

    read_timeout: float = 30.0
    keep_alive_timeout: float = 30.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # uvicorn's own setting is an int of seconds; tests and users may want less than one.
        self.timeout_keep_alive = self.keep_alive_timeout  # type: ignore[assignment]
        self._read_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        state = self.conn.their_state
        if state is h11.SEND_BODY:
            self._arm()  # idle time between body reads
        elif state is h11.IDLE:
            if self._read_timer is None:
                self._arm()  # a head's deadline: later bytes of the same head do not extend it
        else:
            self._disarm()  # the request is whole: the app's turn, then keep-alive

    def _arm(self) -> None:
        self._disarm()
        self._read_timer = self.loop.call_later(self.read_timeout, self._read_timed_out)

    def _disarm(self) -> None:
        if self._read_timer is not None:
            self._read_timer.cancel()
            self._read_timer = None

    def _read_timed_out(self) -> None:
        self._read_timer = None
        if self.transport.is_closing():
            return
        if self.flow.read_paused:
            self._arm()  # we stopped reading, not the client
            return
        if self.conn.their_state not in (h11.IDLE, h11.SEND_BODY):
            return
        if self.conn.their_state is h11.IDLE and self.timeout_keep_alive_task is not None:
            return  # between requests: the keep-alive timeout applies
        client = f"{self.client[0]}:{self.client[1]}" if self.client else "a client"
        _log.info(
            "closing the connection of %s: no complete request within %g s (read timeout)",
            client,
            self.read_timeout,
        )
        self.transport.close()


def protocol_class(read_timeout: float, keep_alive_timeout: float) -> type[TimedH11Protocol]:
    """A :class:`TimedH11Protocol` subclass with these timeouts (uvicorn takes a class)."""
    return type(
        "EmulatorH11Protocol",
        (TimedH11Protocol,),
        {"read_timeout": read_timeout, "keep_alive_timeout": keep_alive_timeout},
    )
