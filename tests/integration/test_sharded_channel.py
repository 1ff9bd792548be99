"""Sharded channels: records spread over N channels, exactly once across a crash and a rerun;
another N refused before any channel is opened; a bad call buffers nothing. The real client
against the real emulator."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from snowpipe_stream import (
    AsyncClient,
    AsyncShardedChannel,
    Client,
    ClosedError,
    InvalidRowError,
    OffsetTokenError,
    PrivateKey,
    RowTooLargeError,
    ShardedChannel,
    ShardingMismatchError,
)
from snowpipe_stream._sharding import family, owner, parse_record_token
from snowpipe_stream.emulator import Emulator
from snowpipe_stream.testing import FakeClock
from tests.integration.conftest import DB, PIPE, SCHEMA, make_config


def record(n: int) -> dict[str, Any]:
    return {"n": n, "pad": "p" * 24}


def ndjson(first: int, last: int) -> bytes:
    return b"".join(json.dumps(record(n)).encode() + b"\n" for n in range(first, last + 1))


def landed(emu: Emulator, channel: str) -> list[int]:
    return [row["n"] for row in emu.rows(DB, SCHEMA, PIPE, channel)]


def assert_once_in_order(emu: Emulator, name: str, shards: int, total: int) -> None:
    """Each channel holds exactly the records it owns, in order; together, each record once."""
    every: list[int] = []
    for k in range(1, shards + 1):
        rows = landed(emu, f"{name}-{k}")
        assert rows == [n for n in range(1, total + 1) if owner(n, shards) == k - 1], k
        every += rows
    assert sorted(every) == list(range(1, total + 1))


def existing(emu: Emulator, names: list[str]) -> set[str]:
    return set(emu.state.bulk_status(DB, SCHEMA, PIPE, names)["channel_statuses"])


def committed_records(sharded: ShardedChannel | AsyncShardedChannel) -> list[int]:
    out = []
    for token in sharded.committed_offset_tokens.values():
        parsed = parse_record_token(token)
        out.append(parsed[2] if parsed else 0)
    return out


# --- a crash mid-run, then a rerun with the same N: every record once --------------------------


def test_a_crash_mid_run_then_a_replay_from_resume_from_lands_every_record_once(
    emu: Emulator, rsa_key: PrivateKey, clock: FakeClock
) -> None:
    total = 100_000
    # Small requests: each channel sends as its buffer fills, so at the crash every channel
    # stops at its own point, some with records in flight, some with records only buffered.
    small = make_config(emu, rsa_key, max_request_bytes=20_000)
    client = Client("app", DB, SCHEMA, PIPE, config=small, clock=clock)
    try:
        sharded = client.open_sharded_channel("big", channels=4)
        assert sharded.resume_from == 1
        n = 1
        for size in [1_234] * 20:  # calls that do not line up with the stripes
            sharded.append_ndjson(ndjson(n, n + size - 1), first_number=n)
            n += size
        assert sharded.wait_for_commit(20_000, timeout=60) > 20_000
        while n <= 70_000:
            size = min(777, 70_001 - n)
            sharded.append_rows([record(m) for m in range(n, n + size)], first_number=n)
            n += size
    finally:
        client.close(wait_for_flush=False)  # the crash: nothing more is sent or waited for

    with Client("app", DB, SCHEMA, PIPE, config=make_config(emu, rsa_key), clock=clock) as again:
        with again.open_sharded_channel("big", channels=4) as resumed:
            start = resumed.resume_from
            points = committed_records(resumed)
            assert 20_000 < start <= 70_000
            assert max(points) > start  # some channel has records past it: they are skipped
            assert len(set(points)) == 4  # each channel stopped at its own point
            n = start
            while n <= total:
                if n % 5 == 0:
                    resumed.append_row(record(n), n)
                    n += 1
                    continue
                size = min(2_500, total - n + 1)
                resumed.append_rows([record(m) for m in range(n, n + size)], n)
                n += size
            assert resumed.wait_for_commit(timeout=120) == total + 1
        assert resumed.resume_from == total + 1
    assert_once_in_order(emu, "big", 4, total)


def test_the_async_sharded_channel_resumes_after_a_crash(
    emu: Emulator, rsa_key: PrivateKey, clock: FakeClock
) -> None:
    total = 30_000

    async def first_run() -> None:
        config = make_config(emu, rsa_key, max_request_bytes=16_000)
        client = AsyncClient("app", DB, SCHEMA, PIPE, config=config, clock=clock)
        try:
            sharded = await client.open_sharded_channel("aio", channels=3, key="orders")
            for n in range(1, 12_001, 1_500):
                await sharded.append_ndjson(ndjson(n, n + 1_499), n)
            assert await sharded.wait_for_commit(timeout=60) == 12_001
            for n in range(12_001, 21_001, 900):
                await sharded.append_rows([record(m) for m in range(n, n + 900)], n)
        finally:
            await client.aclose(wait_for_flush=False)  # the crash

    async def second_run() -> int:
        config = make_config(emu, rsa_key)
        async with AsyncClient("app", DB, SCHEMA, PIPE, config=config, clock=clock) as client:
            sharded = await client.open_sharded_channel("aio", channels=3, key="orders")
            async with sharded:
                start = sharded.resume_from
                assert 12_000 < start <= 21_000 and max(committed_records(sharded)) > start
                for n in range(start, total + 1):
                    await sharded.append_row(record(n), n)
                await sharded.flush()
                assert await sharded.wait_for_commit(15_000, timeout=60) > 15_000
            return sharded.resume_from

    asyncio.run(first_run())
    assert asyncio.run(second_run()) == total + 1
    assert_once_in_order(emu, "aio", 3, total)
    assert emu.rows(DB, SCHEMA, PIPE, "aio-1")[0] == record(1)


# --- another N is refused before any channel is opened ----------------------------------------


def test_another_number_of_channels_is_refused_before_any_channel_is_opened(
    emu: Emulator, rsa_key: PrivateKey, clock: FakeClock
) -> None:
    config = make_config(emu, rsa_key)
    with Client("app", DB, SCHEMA, PIPE, config=config, clock=clock) as client:
        # Another writer's records in a channel of the family are not this run's business.
        other, _ = client.open_channel("fam-7")
        other.append_row({"n": 1}, "1")
        other.close()
        with client.open_sharded_channel("fam", channels=3) as sharded:
            sharded.append_rows([record(n) for n in range(1, 2_501)], 1)
        requests = emu.stats()["requests"]
        opens, statuses = requests.get("open 200", 0), requests.get("status 200", 0)
        for shards in (1, 2, 4, 9):
            with pytest.raises(ShardingMismatchError) as caught:
                client.open_sharded_channel("fam", channels=shards)
            err = caught.value
            assert err.written_with == 3 and err.channels == shards
            assert "Open it with channels=3 to resume" in str(err)
            assert err.committed.startswith("records/3:")
        requests = emu.stats()["requests"]
        assert requests.get("open 200", 0) == opens  # no channel was opened
        assert requests.get("status 200", 0) == statuses + 4  # one status request each
        assert existing(emu, family("fam")) == {"fam-1", "fam-2", "fam-3", "fam-7"}
        with client.open_sharded_channel("fam", channels=3) as sharded:
            assert sharded.resume_from == 2_501  # the same N resumes
    assert landed(emu, "fam-7") == [1]
    assert_once_in_order(emu, "fam", 3, 2_500)


def test_a_channel_holding_another_writers_records_is_refused(
    emu: Emulator, rsa_key: PrivateKey, clock: FakeClock
) -> None:
    config = make_config(emu, rsa_key)
    with Client("app", DB, SCHEMA, PIPE, config=config, clock=clock) as client:
        plain, _ = client.open_channel("mixed-2")
        plain.append_row({"n": 1}, "17")
        plain.close()
        with pytest.raises(
            ShardingMismatchError, match="'mixed-2' has committed offset token '17'"
        ):
            client.open_sharded_channel("mixed", channels=2)
        with client.open_sharded_channel("keyed", channels=2, key="a") as sharded:
            sharded.append_rows([record(n) for n in range(1, 1_501)], 1)
        with pytest.raises(ShardingMismatchError, match="key 'b' did not write"):
            client.open_sharded_channel("keyed", channels=2, key="b")
    assert existing(emu, family("mixed")) == {"mixed-2"}


# --- a bad call buffers nothing ----------------------------------------------------------------


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_out_of_order_numbers_and_bad_rows_are_refused_with_nothing_buffered(
    mode: str, emu: Emulator, rsa_key: PrivateKey, clock: FakeClock
) -> None:
    async def scenario(sharded: Any) -> None:
        async def call(name: str, *args: Any) -> None:
            result = getattr(sharded, name)(*args)
            if asyncio.iscoroutine(result):
                await result

        await call("append_rows", [record(n) for n in range(1, 1_501)], 1)
        pending = repr(sharded)
        for bad in (
            ("append_rows", [record(n) for n in range(1_400, 2_600)], 1_400),
            ("append_ndjson", ndjson(1_500, 1_600), 1_500),
            ("append_row", record(7), 7),
        ):
            with pytest.raises(OffsetTokenError, match="given after record 1,500") as caught:
                await call(*bad)
            assert "record numbers must increase" in str(caught.value)
            assert repr(sharded) == pending  # nothing of it buffered
        # A bad row in the call's second stripe: its first stripe is not buffered either.
        rows = [record(n) for n in range(1_501, 2_601)]
        rows[-1] = {"n": float("nan")}
        with pytest.raises(InvalidRowError, match="row 1099"):
            await call("append_rows", rows, 1_501)
        with pytest.raises(InvalidRowError, match="line 1100"):
            await call("append_ndjson", ndjson(1_501, 2_599) + b"{oops\n", 1_501)
        # A row over the request limit in the call's second part (record 2,001, channel 1).
        huge = [*(record(n) for n in range(1_501, 2_001)), {"n": 2_001, "pad": "x" * 70_000}]
        with pytest.raises(RowTooLargeError):
            await call("append_rows", huge, 1_501)
        assert repr(sharded) == pending and sharded.last_number == 1_500
        await call("append_rows", [record(n) for n in range(1_501, 2_601)], 1_501)
        await call("close")
        with pytest.raises(ClosedError, match="open it again"):
            await call("append_row", record(2_601), 2_601)

    config = make_config(emu, rsa_key, max_request_bytes=65_536)
    if mode == "sync":
        with Client("app", DB, SCHEMA, PIPE, config=config, clock=clock) as client:
            asyncio.run(scenario(client.open_sharded_channel("order", channels=2)))
    else:

        async def main() -> None:
            async with AsyncClient("app", DB, SCHEMA, PIPE, config=config, clock=clock) as c:
                await scenario(await c.open_sharded_channel("order", channels=2))

        asyncio.run(main())
    assert_once_in_order(emu, "order", 2, 2_600)


def test_leaving_the_with_block_on_an_error_sends_nothing_more(
    emu: Emulator, rsa_key: PrivateKey, clock: FakeClock
) -> None:
    config = make_config(emu, rsa_key)
    with Client("app", DB, SCHEMA, PIPE, config=config, clock=clock) as client:
        with pytest.raises(KeyError), client.open_sharded_channel("half", channels=2) as sharded:
            sharded.append_rows([record(n) for n in range(1, 1_001)], 1)
            sharded.wait_for_commit(timeout=30)
            sharded.append_rows([record(n) for n in range(1_001, 2_501)], 1_001)  # buffered
            raise KeyError("the job failed")
        assert "closed='left its with block on KeyError'" in repr(sharded)
        with pytest.raises(ClosedError):
            sharded.flush()
        assert landed(emu, "half-1") == list(range(1, 1_001))  # the half work was not sent
        assert existing(emu, ["half-2"]) == {"half-2"} and landed(emu, "half-2") == []
        with client.open_sharded_channel("half", channels=2) as again:
            assert again.resume_from == 1_001
            assert "key='records', resume_from=1001, pending_rows=0)" in repr(again)
            again.append_rows([record(n) for n in range(1, 2_501)], 1)  # 1-1,000 skipped
    assert_once_in_order(emu, "half", 2, 2_500)


def test_leaving_an_async_with_block_on_an_error_sends_nothing_more(
    emu: Emulator, rsa_key: PrivateKey, clock: FakeClock
) -> None:
    async def main() -> None:
        config = make_config(emu, rsa_key)
        async with AsyncClient("app", DB, SCHEMA, PIPE, config=config, clock=clock) as client:
            with pytest.raises(KeyError):
                async with await client.open_sharded_channel("ahalf", channels=2) as sharded:
                    await sharded.append_rows([record(n) for n in range(1, 1_001)], 1)
                    await sharded.wait_for_commit(timeout=30)
                    await sharded.append_rows([record(n) for n in range(1_001, 2_501)], 1_001)
                    raise KeyError("the job failed")
            assert "closed='left its with block on KeyError'" in repr(sharded)
            async with await client.open_sharded_channel("ahalf", channels=2) as again:
                assert again.resume_from == 1_001

    asyncio.run(main())
    assert landed(emu, "ahalf-1") == list(range(1, 1_001)) and landed(emu, "ahalf-2") == []
