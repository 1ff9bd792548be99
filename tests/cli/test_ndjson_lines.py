"""``snowpipe-stream ingest`` checks every NDJSON line on its own (issue 9 item 5)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from snowpipe_stream import PrivateKey
from snowpipe_stream.emulator import Emulator
from tests.cli.test_cli import ACCOUNT, USER, ingest


@pytest.fixture
def emu(rsa_key: PrivateKey) -> Iterator[Emulator]:
    with Emulator(users=[(ACCOUNT, USER, rsa_key)], commit_delay_ms=20) as emulator:
        yield emulator


def test_lines_that_only_join_into_objects_stop_the_ingest(emu: Emulator, tmp_path: Path) -> None:
    data = tmp_path / "joined.ndjson"
    # Lines 2-4 join with commas into three array elements, but none is one JSON object.
    data.write_bytes(b'{"id":1}\n{"id":2},{"id":3}\n{"id":4,"tags":[0\n{"x":1}]}\n{"id":5}\n')
    out = ingest(emu, str(data))
    assert out.returncode == 65, out.stderr
    assert f"{data}:2: invalid JSON" in out.stderr
    # What came before the bad line is committed; nothing after it was sent.
    assert emu.rows("DB", "S", "P", "c1") == [{"id": 1}]
