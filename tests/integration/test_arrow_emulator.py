"""append_arrow / append_dataframe: the real client against the real emulator over loopback.

A typed table (DDL) checks the converted values the way Snowflake would: a value of the wrong
form for its column is an error row, counted in the channel's status.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable, Iterator
from decimal import Decimal
from typing import Any

import msgspec
import pytest

from snowpipe_stream import InvalidRowError, OffsetTokenError, PrivateKey
from snowpipe_stream.emulator import Emulator
from snowpipe_stream.testing import FakeClock
from tests.clients import open_client
from tests.integration.conftest import ACCOUNT, DB, SCHEMA, USER, make_config

pa = pytest.importorskip("pyarrow")

modes = pytest.mark.parametrize("mode", ["sync", "async"])

DDL = """
USE DATABASE db;
USE SCHEMA schema;
CREATE TABLE typed (
    id NUMBER(38, 0) NOT NULL,
    amount NUMBER(10, 2),
    big NUMBER(38, 9),
    score FLOAT,
    ok BOOLEAN,
    name VARCHAR(20),
    raw BINARY(8),
    day DATE,
    tod TIME(6),
    at_ntz TIMESTAMP_NTZ(9),
    at_tz TIMESTAMP_TZ(3),
    tags ARRAY,
    attrs OBJECT,
    v VARIANT
);
"""
TYPED_PIPE = "TYPED-STREAMING"  # the table's default pipe: JSON keys match columns by name


def typed_table() -> Any:
    utc = dt.timezone.utc
    return pa.table(
        {
            "id": pa.array([1, 2, 3], pa.int64()),
            "amount": pa.array([Decimal("12.34"), None, Decimal("-0.05")], pa.decimal128(10, 2)),
            "big": pa.array(
                [Decimal("12345678901234567890123456789.123456789"), Decimal(0), None],
                pa.decimal128(38, 9),
            ),
            "score": pa.array([0.1, -2.5, None], pa.float32()),
            "ok": [True, False, None],
            "name": pa.array(["ann", 'say "hi"', None]).dictionary_encode(),
            "raw": pa.array([b"\x00\xff", b"", None], pa.binary()),
            "day": pa.array([dt.date(2024, 2, 29), None, dt.date(1970, 1, 1)], pa.date32()),
            "tod": pa.array([dt.time(23, 59, 59, 999999), None, dt.time(0)], pa.time64("us")),
            "at_ntz": pa.array(
                [dt.datetime(2024, 1, 2, 3, 4, 5, 123456), None, dt.datetime(1999, 12, 31)],
                pa.timestamp("ns"),
            ),
            "at_tz": pa.array(
                [dt.datetime(2024, 1, 2, 3, 4, 5, 678000, tzinfo=utc), None, None],
                pa.timestamp("ms", "+05:30"),
            ),
            "tags": pa.array([["a", "b"], [], None], pa.list_(pa.string())),
            "attrs": pa.array(
                [{"k": 1, "when": dt.date(2024, 1, 1)}, None, {"k": None, "when": None}],
                pa.struct([("k", pa.int16()), ("when", pa.date32())]),
            ),
            "v": pa.array([[("x", 1.5)], [], None], pa.map_(pa.string(), pa.float64())),
        }
    )


EXPECTED = [
    {
        "ID": 1,
        "AMOUNT": Decimal("12.34"),
        "BIG": Decimal("12345678901234567890123456789.123456789"),
        "SCORE": Decimal("0.1"),
        "OK": True,
        "NAME": "ann",
        "RAW": "00FF",
        "DAY": "2024-02-29",
        "TOD": "23:59:59.999999",
        "AT_NTZ": "2024-01-02T03:04:05.123456",
        "AT_TZ": "2024-01-02T08:34:05.678+05:30",
        "TAGS": ["a", "b"],
        "ATTRS": {"k": 1, "when": "2024-01-01"},
        "V": {"x": Decimal("1.5")},
    },
    {
        "ID": 2,
        "AMOUNT": None,
        "BIG": 0,
        "SCORE": Decimal("-2.5"),
        "OK": False,
        "NAME": 'say "hi"',
        "RAW": "",
        "DAY": None,
        "TOD": None,
        "AT_NTZ": None,
        "AT_TZ": None,
        "TAGS": [],
        "ATTRS": None,
        "V": {},
    },
    {
        "ID": 3,
        "AMOUNT": Decimal("-0.05"),
        "BIG": None,
        "SCORE": None,
        "OK": None,
        "NAME": None,
        "RAW": None,
        "DAY": "1970-01-01",
        "TOD": "00:00:00",
        "AT_NTZ": "1999-12-31T00:00:00",
        "AT_TZ": None,
        "TAGS": None,
        "ATTRS": {"k": None, "when": None},
        "V": None,
    },
]


exact = msgspec.json.Decoder(float_hook=Decimal).decode


@pytest.fixture
def typed_emu(rsa_key: PrivateKey, clock: FakeClock) -> Iterator[Emulator]:
    with Emulator(users=[(ACCOUNT, USER, rsa_key)], clock=clock, ddl=DDL) as emulator:
        yield emulator


def run(
    mode: str,
    emu: Emulator,
    key: PrivateKey,
    clock: FakeClock,
    pipe: str,
    scenario: Callable[[Any], Awaitable[Any]],
    **cfg: Any,
) -> Any:
    async def main() -> Any:
        config = make_config(emu, key, **cfg)
        async with open_client(mode, "app", DB, SCHEMA, pipe, config=config, clock=clock) as c:
            return await scenario(c)

    return asyncio.run(main())


@modes
def test_every_converted_value_is_accepted_by_its_typed_column(
    mode: str, typed_emu: Emulator, rsa_key: PrivateKey, clock: FakeClock
) -> None:
    async def scenario(client: Any) -> Any:
        channel, _ = await client.open_channel("ch")
        await channel.append_arrow(typed_table(), "1", "3")
        assert await channel.wait_for_commit("3", timeout=30) == "3"
        status = await channel.get_channel_status()
        await channel.close()
        return status

    status = run(mode, typed_emu, rsa_key, clock, TYPED_PIPE, scenario)
    assert (status.rows_inserted, status.rows_error_count) == (3, 0), status.last_error_message
    # Read back exactly: the 38-digit NUMBER is not rounded anywhere.
    stored = typed_emu.state.rows_ndjson(DB, SCHEMA, TYPED_PIPE)
    assert [exact(line) for line in stored.splitlines()] == EXPECTED


def test_a_value_its_column_refuses_is_an_error_row_not_a_lost_batch(
    typed_emu: Emulator, rsa_key: PrivateKey, clock: FakeClock
) -> None:
    """The emulator's validation is really applied to what append_arrow sends."""
    table = pa.table({"id": [1, 2], "name": ["fits", "x" * 21]})  # VARCHAR(20)

    async def scenario(client: Any) -> Any:
        channel, _ = await client.open_channel("ch")
        await channel.append_arrow(table, end_offset_token="2")
        assert await channel.wait_for_commit("2", timeout=30) == "2"
        status = await channel.get_channel_status()
        await channel.close()
        return status

    status = run("sync", typed_emu, rsa_key, clock, TYPED_PIPE, scenario)
    assert (status.rows_inserted, status.rows_error_count) == (1, 1)
    assert "too long" in status.last_error_message


@modes
def test_a_table_larger_than_a_request_is_split_and_lands_once_in_order(
    mode: str, emu: Emulator, rsa_key: PrivateKey, clock: FakeClock
) -> None:
    """3,000 rows of ~60 bytes over 4 KB requests: about 45 requests, each ending at a row
    token of the caller's (tokens 1001..4000 interpolated from the first and last)."""
    n = 3000
    table = pa.table({"n": pa.array(range(n), pa.int32()), "pad": ["p" * 40] * n})
    batches = table.to_batches(max_chunksize=700)

    async def scenario(client: Any) -> Any:
        channel, _ = await client.open_channel("big")
        await channel.append_arrow(iter(batches), "1001", "4000")
        assert await channel.wait_for_commit("2500", timeout=60) in {
            str(k) for k in range(2500, 4001)
        }
        assert await channel.wait_for_commit("4000", timeout=60) == "4000"
        await channel.close()
        return client.stats

    stats = run(mode, emu, rsa_key, clock, "PIPE", scenario, max_request_bytes=4096)
    assert emu.rows(DB, SCHEMA, "PIPE", "big") == table.to_pylist()
    assert stats.rows_appended == n
    appends = stats.requests - stats.status_requests
    assert appends >= n * 60 // 4096  # split: about 45 appends (plus the open and so on)


def test_offset_token_rules_are_append_rows_rules(
    emu: Emulator, rsa_key: PrivateKey, clock: FakeClock
) -> None:
    table = pa.table({"x": [1.0, 2.0]})

    async def scenario(client: Any) -> Any:
        channel, _ = await client.open_channel("tokens")
        await channel.append_arrow(table, end_offset_token="a")
        with pytest.raises(OffsetTokenError, match="already used"):
            await channel.append_arrow(table, end_offset_token="a")
        with pytest.raises(OffsetTokenError, match="reserved"):
            await channel.append_arrow(table, end_offset_token="snowpipe-stream:9")
        with pytest.raises(InvalidRowError, match=r"row 1 column 'x' is nan"):
            await channel.append_arrow(pa.table({"x": [1.0, float("nan")]}), "b", "c")
        await channel.append_arrow(pa.table({"x": pa.array([], pa.float64())}), "d", "d")
        assert await channel.wait_for_commit("a", timeout=30) == "a"
        await channel.close()

    run("sync", emu, rsa_key, clock, "PIPE", scenario)
    assert emu.rows(DB, SCHEMA, "PIPE", "tokens") == [{"x": 1}, {"x": 2}]  # nothing else


@modes
def test_dataframes_from_pandas_and_polars(
    mode: str, emu: Emulator, rsa_key: PrivateKey, clock: FakeClock
) -> None:
    pd = pytest.importorskip("pandas")
    pl = pytest.importorskip("polars")
    data = {"id": [1, 2], "name": ["a", None], "raw": [b"\x01", b"\x02"]}

    async def scenario(client: Any) -> Any:
        channel, _ = await client.open_channel("frames")
        await channel.append_dataframe(pd.DataFrame(data), "1", "2")
        await channel.append_dataframe(pl.DataFrame(data), "3", "4")
        assert await channel.wait_for_commit("4", timeout=30) == "4"
        await channel.close()

    run(mode, emu, rsa_key, clock, "PIPE", scenario)
    want = [{"id": 1, "name": "a", "raw": "01"}, {"id": 2, "name": None, "raw": "02"}]
    assert emu.rows(DB, SCHEMA, "PIPE", "frames") == want * 2


def test_binary_goes_as_the_pipe_format_says(rsa_key: PrivateKey, clock: FakeClock) -> None:
    table = pa.table({"raw": pa.array([b"\xfb\xff"], pa.binary())})

    async def scenario(client: Any) -> Any:
        channel, _ = await client.open_channel("b64")
        await channel.append_arrow(table, end_offset_token="1")
        assert await channel.wait_for_commit("1", timeout=30) == "1"
        await channel.close()

    with Emulator(
        users=[(ACCOUNT, USER, rsa_key)], clock=clock, binary_input_format="BASE64"
    ) as emu:
        run("sync", emu, rsa_key, clock, "PIPE", scenario)
        assert emu.rows(DB, SCHEMA, "PIPE", "b64") == [{"raw": "+/8="}]
