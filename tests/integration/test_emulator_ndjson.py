"""The emulator's own check of append bodies, over raw HTTP: one JSON object per line."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from snowpipe_stream import PrivateKey
from snowpipe_stream.emulator import Emulator
from snowpipe_stream.emulator import _messages as M
from snowpipe_stream.testing import FakeClock
from tests.integration.conftest import DB, PIPE, SCHEMA
from tests.integration.test_emulator import Session

#: Three lines, none of them one JSON object, that join with commas into three array elements.
JOINED = b'{"id":2},{"id":3}\n{"id":4,"tags":[0\n{"x":1}]}\n'


@pytest.fixture
def session(emu: Emulator, rsa_key: PrivateKey, clock: FakeClock) -> Iterator[Session]:
    s = Session(emu, rsa_key, clock)
    yield s
    s.close()


def test_lines_that_only_join_into_objects_are_error_rows(
    session: Session, clock: FakeClock, emu: Emulator
) -> None:
    cont = session.open().json()["next_continuation_token"]
    resp = session.append(cont, b'{"id":1}\n' + JOINED + b'{"id":5}\n', token="5")
    assert resp.status_code == 200, resp.text
    clock.advance(1)
    st = session.status("ch")["ch"]
    assert (st["rows_inserted"], st["rows_parsed"], st["rows_error_count"]) == (2, 5, 3)
    assert st["last_error_offset_upper_bound"] == "5"
    assert st["last_error_message"] == f"{M.ROW_NOT_AN_OBJECT} (line 4 of the request)"
    assert emu.rows(DB, SCHEMA, PIPE) == [{"id": 1}, {"id": 5}]


def test_blank_lines_crlf_and_bad_utf8(session: Session, clock: FakeClock, emu: Emulator) -> None:
    cont = session.open().json()["next_continuation_token"]
    body = b'{"s":"\xc3\xa9"}\r\n\r\n{"s":"\xff"}\r\n {"n":2} \r\n'
    resp = session.append(cont, body, token="3")
    assert resp.status_code == 200, resp.text
    clock.advance(1)
    st = session.status("ch")["ch"]
    assert (st["rows_inserted"], st["rows_error_count"]) == (2, 1)
    assert st["last_error_message"].endswith("(line 3 of the request)")  # blank lines count
    assert emu.rows(DB, SCHEMA, PIPE) == [{"s": "é"}, {"n": 2}]
