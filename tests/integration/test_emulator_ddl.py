"""Pipes declared by the user's DDL: the real client appends good and bad rows over loopback."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from snowpipe_stream import PrivateKey
from snowpipe_stream.emulator import Emulator
from snowpipe_stream.emulator._ddl import DdlError
from snowpipe_stream.testing import FakeClock
from tests.clients import open_client
from tests.integration.conftest import ACCOUNT, DB, SCHEMA, USER, make_config

DDL = """
USE DATABASE db;
USE SCHEMA schema;
CREATE TABLE events (
    id NUMBER(10, 2) NOT NULL,
    name VARCHAR(5),
    ok BOOLEAN,
    at TIMESTAMP_NTZ,
    seq INT AUTOINCREMENT
);
CREATE PIPE typed_pipe AS COPY INTO events (id, name, ok, at)
    FROM (SELECT $1:id, $1:who.name, $1:ok, $1:at::timestamp_ntz
          FROM TABLE(DATA_SOURCE(TYPE => 'STREAMING')));
"""


@pytest.fixture
def typed_emu(rsa_key: PrivateKey, clock: FakeClock) -> Iterator[Emulator]:
    with Emulator(users=[(ACCOUNT, USER, rsa_key)], clock=clock, ddl=DDL) as emulator:
        yield emulator


def append(
    emu: Emulator,
    key: PrivateKey,
    clock: FakeClock,
    pipe: str,
    rows: list[dict[str, Any]],
    mode: str = "async",
) -> Any:
    """Append ``rows`` (offset tokens 1..n) on channel "ch" of ``pipe``; the final status."""

    async def main() -> Any:
        config = make_config(emu, key)
        async with open_client(mode, "app", DB, SCHEMA, pipe, config=config, clock=clock) as c:
            channel, _ = await c.open_channel("ch")
            await channel.append_rows(rows, start_offset_token="1", end_offset_token=str(len(rows)))
            await channel.flush()
            assert await channel.wait_for_commit(str(len(rows)), timeout=30) == str(len(rows))
            status = await channel.get_channel_status()
            await channel.close()
            return status

    return asyncio.run(main())


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_bad_rows_are_counted_and_good_rows_read_back_converted(
    mode: str, typed_emu: Emulator, rsa_key: PrivateKey, clock: FakeClock
) -> None:
    rows: list[dict[str, Any]] = [
        {"id": "1.005", "who": {"name": "ann"}, "ok": "yes", "at": "2024-01-02 03:04:05+01:00"},
        {"id": "abc", "who": {"name": "bob"}},  # not a number
        {"id": 2, "who": {"name": "charlotte"}},  # longer than VARCHAR(5)
        {"who": {"name": "dan"}},  # NULL into NOT NULL
        {"id": 3, "ok": 0, "at": 1700000000, "extra": [1]},
    ]

    before_ms = int(clock.time() * 1000)
    status = append(typed_emu, rsa_key, clock, "TYPED_PIPE", rows, mode)
    assert (status.rows_inserted, status.rows_parsed, status.rows_error_count) == (2, 5, 3)
    assert status.last_error_offset_upper_bound == "5"
    assert status.last_error_message == "Column ID: NULL result in a non-nullable column"
    assert before_ms <= status.last_error_timestamp_ms <= int(clock.time() * 1000)
    assert typed_emu.rows(DB, SCHEMA, "TYPED_PIPE") == [
        {"ID": 1.01, "NAME": "ann", "OK": True, "AT": "2024-01-02T03:04:05", "SEQ": 1},
        {"ID": 3, "NAME": None, "OK": False, "AT": "2023-11-14T22:13:20", "SEQ": 2},
    ]
    resp = httpx.get(f"{typed_emu.url}/emulator/v1/errors", params={"pipe": "typed_pipe"})
    resp.raise_for_status()
    errors = resp.json()["errors"]
    assert [(e["channel"], e["offset_token"], e["row"]) for e in errors] == [
        ("ch", "5", rows[1]),
        ("ch", "5", rows[2]),
        ("ch", "5", rows[3]),
    ]
    assert [e["message"] for e in errors] == [
        "Column ID: Numeric value 'abc' is not recognized",
        "Column NAME: String 'charlotte' is too long and would be truncated",
        "Column ID: NULL result in a non-nullable column",
    ]


def test_default_pipe_maps_by_name_and_undeclared_pipes_keep_untyped_rows(
    typed_emu: Emulator, rsa_key: PrivateKey, clock: FakeClock
) -> None:
    status = append(
        typed_emu,
        rsa_key,
        clock,
        "EVENTS-STREAMING",
        [{"ID": "7", "Name": "zed", "ok": "off", "other": 1}, {"id": 8, "ok": "maybe"}],
    )
    assert (status.rows_inserted, status.rows_error_count) == (1, 1)
    assert status.last_error_message == "Column OK: Boolean value 'maybe' is not recognized"
    assert typed_emu.rows(DB, SCHEMA, "EVENTS-STREAMING") == [
        {"ID": 7, "NAME": "zed", "OK": False, "AT": None, "SEQ": 1}
    ]
    # A pipe the DDL does not declare accepts any JSON object, as before.
    status = append(typed_emu, rsa_key, clock, "PIPE", [{"id": "abc"}])
    assert (status.rows_inserted, status.rows_error_count) == (1, 0)
    assert typed_emu.rows(DB, SCHEMA, "PIPE") == [{"id": "abc"}]


def test_ddl_from_a_file_and_refused_ddl(tmp_path: Path, rsa_key: PrivateKey) -> None:
    path = tmp_path / "schema.sql"
    path.write_text(DDL)
    with Emulator(ddl=path) as emu:
        assert emu.state.typed is not None
        assert emu.state.typed.pipe(("DB", "SCHEMA", "TYPED_PIPE")) is not None
    with pytest.raises(DdlError, match="CREATE VIEW is not supported"):
        Emulator(ddl="CREATE VIEW v AS SELECT 1")
    bad = tmp_path / "bad.sql"
    bad.write_text("CREATE TABLE t (g GEOGRAPHY);")
    done = subprocess.run(
        [sys.executable, "-m", "snowpipe_stream.emulator", "--ddl", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "type GEOGRAPHY is not supported" in done.stderr


def test_the_client_warns_and_counts_when_the_table_rejects_rows(
    typed_emu: Emulator, rsa_key: PrivateKey, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    rows = [
        {"id": 1, "who": {"name": "ann"}, "ok": True},
        {"id": "abc", "who": {"name": "bob"}},  # not a number
        {"id": 3, "who": {"name": "toolongname"}},  # over VARCHAR(5)
    ]

    async def main() -> Any:
        config = make_config(typed_emu, rsa_key)
        async with open_client(
            "sync", "app", DB, SCHEMA, "TYPED_PIPE", config=config, clock=clock
        ) as c:
            channel, _ = await c.open_channel("ch")
            await channel.append_rows(rows, "1", "3")
            assert await channel.wait_for_commit("3", timeout=30) == "3"
            return c.stats

    with caplog.at_level("WARNING", "snowpipe_stream.channel"):
        stats = asyncio.run(main())
    assert stats.rows_rejected == 2
    warned = [r.getMessage() for r in caplog.records if "rejected" in r.getMessage()]
    assert len(warned) == 1 and "rejected 2 more rows (2 in all)" in warned[0]
    assert "offset token upper bound 3" in warned[0]


@pytest.mark.parametrize("fmt", ["HEX", "BASE64", "UTF-8", None])
def test_binary_columns_read_the_pipes_binary_input_format_and_the_client_follows_it(
    fmt: str | None, rsa_key: PrivateKey, clock: FakeClock
) -> None:
    # The client learns the format from :pipe-info (base64 when the pipe names none, as
    # Snowflake's SDK does); the typed table decodes with the same format, so bytes arrive whole.
    ddl = "CREATE TABLE db.schema.blobs (b BINARY(8), n INT);"
    data = b"snow\x00fl" if fmt != "UTF-8" else "snöw".encode()
    with Emulator(
        users=[(ACCOUNT, USER, rsa_key)], clock=clock, ddl=ddl, binary_input_format=fmt
    ) as emu:
        status = append(emu, rsa_key, clock, "BLOBS-STREAMING", [{"b": data, "n": 1}])
        assert (status.rows_inserted, status.rows_error_count) == (1, 0)
        assert emu.rows(DB, SCHEMA, "BLOBS-STREAMING") == [{"B": data.hex().upper(), "N": 1}]


@pytest.mark.parametrize(
    ("fmt", "text", "message"),
    [
        ("HEX", "zz", "not a legal hex-encoded value: 'zz'"),
        ("BASE64", "@@@", "not a legal base64-encoded value: '@@@'"),
    ],
)
def test_a_string_that_is_not_in_the_pipes_binary_format_is_an_error_row(
    fmt: str, text: str, message: str, rsa_key: PrivateKey, clock: FakeClock
) -> None:
    ddl = "CREATE TABLE db.schema.blobs (b BINARY);"
    with Emulator(
        users=[(ACCOUNT, USER, rsa_key)], clock=clock, ddl=ddl, binary_input_format=fmt
    ) as emu:
        status = append(emu, rsa_key, clock, "BLOBS-STREAMING", [{"b": text}])
        assert status.rows_error_count == 1
        assert status.last_error_message == f"Column B: The following string is {message}"


def test_autoincrement_goes_on_after_a_restart_of_an_emulator_with_a_state_file(
    rsa_key: PrivateKey, clock: FakeClock, tmp_path: Path
) -> None:
    def run(pipe: str, rows: list[dict[str, Any]]) -> list[Any]:
        with Emulator(
            users=[(ACCOUNT, USER, rsa_key)], clock=clock, ddl=DDL, state=tmp_path / "emu.db"
        ) as emu:
            append(emu, rsa_key, clock, pipe, rows)
            return [r["SEQ"] for r in emu.rows(DB, SCHEMA, pipe)]

    assert run("TYPED_PIPE", [{"id": 1}, {"id": 2}]) == [1, 2]
    # Same table through its default pipe, in a new emulator process on the same state file.
    assert run("EVENTS-STREAMING", [{"ID": 3}, {"ID": 4}]) == [3, 4]
