"""Channels over MockTransport: headers, batching, offset tokens, commits, recovery."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
import zstandard

from snowpipe_stream import (
    ChannelInvalidatedError,
    ClosedError,
    CommitTimeoutError,
    ConflictError,
    InvalidRowError,
    NotFoundError,
    PermissionDeniedError,
    PrivateKey,
    RowTooLargeError,
    RowTypeError,
    UnexpectedResponseError,
)
from snowpipe_stream.testing import FakeClock
from tests.clients import run_on_fake
from tests.fakes import FakeSnowflake, Scripted

pytestmark = pytest.mark.parametrize("mode", ["sync", "async"])


run = run_on_fake


def test_request_sequence_and_headers(mode: str, rsa_key: PrivateKey, clock: FakeClock) -> None:
    fake = FakeSnowflake()

    async def scenario(client: Any) -> None:
        channel, _ = await client.open_channel("my ch/1")
        for i in range(3):
            await channel.append_row({"id": i}, offset_token=str(i + 1))
            await channel.flush()
        assert await channel.wait_for_commit("3", timeout=5) == "3"
        await channel.close()
        await client.drop_channel("my ch/1")

    run(mode, fake, clock, rsa_key, scenario)
    seq = [(r.method, r.url.host, r.url.raw_path.decode().split("?")[0]) for r in fake.requests]
    ingest = "myorg-acct.ingest.example.com"  # "_" became "-"
    base = "/v2/streaming/databases/DB/schemas/SCHEMA/pipes/PIPE"
    rows = "/v2/streaming/data/databases/DB/schemas/SCHEMA/pipes/PIPE/channels/my%20ch%2F1/rows"
    assert seq == [
        ("GET", "myorg-acct.snowflakecomputing.com", "/v2/streaming/hostname"),
        ("POST", "myorg-acct.snowflakecomputing.com", "/oauth/token"),
        ("POST", ingest, f"{base}:pipe-info"),  # the pipe's BINARY_INPUT_FORMAT
        ("PUT", ingest, f"{base}/channels/my%20ch%2F1"),
        ("POST", ingest, rows),
        ("POST", ingest, rows),
        ("POST", ingest, rows),
        ("POST", ingest, f"{base}:bulk-channel-status"),
        ("DELETE", ingest, f"{base}/channels/my%20ch%2F1"),
    ]
    for r in fake.requests:
        assert r.headers["Accept"] == "application/json"
        assert r.headers["User-Agent"].startswith("snowpipe-stream/")
        assert " PYTHON/" in r.headers["User-Agent"]
        control = r.url.host.endswith("snowflakecomputing.com")
        assert (r.headers.get("X-Snowflake-Authorization-Token-Type") == "KEYPAIR_JWT") == control
    token_req = fake.calls("token")[0]
    assert token_req.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert token_req.content == (
        b"grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer"
        b"&scope=myorg-acct.ingest.example.com"
    )
    appends = fake.calls("append")
    first = appends[0]
    assert first.headers["Content-Type"] == "application/x-ndjson"
    assert first.headers["Content-Encoding"] == "zstd"
    raw = zstandard.ZstdDecompressor().decompress(first.content)
    assert raw == b'{"id":0}\n'
    assert first.headers["x-snowflake-uncompressed-content-length"] == str(len(raw))
    assert "x-snowflake-session" not in first.headers
    assert appends[1].headers["x-snowflake-session"] == "session-my ch/1"  # echoed
    params = first.url.params
    assert params["startOffsetToken"] == params["endOffsetToken"] == "1"
    assert len(params["requestId"]) == 36
    # Rows another writer has in flight are waited for, not discarded (as Snowflake's SDK does).
    assert fake.calls("open")[0].content == b'{"fail_on_uncommitted_rows":true}'


@pytest.mark.parametrize("compression", ["gzip", "none"])
def test_other_compressions(
    mode: str, rsa_key: PrivateKey, clock: FakeClock, compression: str
) -> None:
    import gzip

    fake = FakeSnowflake()

    async def scenario(client: Any) -> None:
        channel, _ = await client.open_channel("ch")
        await channel.append_row({"a": "x"})
        await channel.flush()

    run(mode, fake, clock, rsa_key, scenario, compression=compression)
    req = fake.calls("append")[0]
    if compression == "gzip":
        assert req.headers["Content-Encoding"] == "gzip"
        assert gzip.decompress(req.content) == b'{"a":"x"}\n'
    else:
        assert "Content-Encoding" not in req.headers
        assert "x-snowflake-uncompressed-content-length" not in req.headers
        assert req.content == b'{"a":"x"}\n'


def test_retries_reuse_the_request_id(mode: str, rsa_key: PrivateKey, clock: FakeClock) -> None:
    fake = FakeSnowflake(commit_on_append=True).then("append", Scripted(503), Scripted(429))

    async def scenario(client: Any) -> None:
        channel, _ = await client.open_channel("ch")
        await channel.append_row({"a": 1})
        await channel.flush()
        await channel.append_row({"a": 2})
        await channel.flush()

    run(mode, fake, clock, rsa_key, scenario)
    ids = [r.url.params["requestId"] for r in fake.calls("append")]
    assert len(ids) == 4 and ids[0] == ids[1] == ids[2] != ids[3]


@pytest.mark.parametrize(
    ("committed", "expected"),
    [
        # After a committed token of the caller's: the library's own tokens, never an integer
        # (or anything else) a caller may give.
        ("41", ["snowpipe-stream:1", "snowpipe-stream:2"]),
        # After one of the library's: they continue, so none repeats a committed one.
        ("snowpipe-stream:41", ["snowpipe-stream:42", "snowpipe-stream:43"]),
    ],
)
def test_batches_without_a_token_get_the_librarys_own(
    mode: str, rsa_key: PrivateKey, clock: FakeClock, committed: str, expected: list[str]
) -> None:
    fake = FakeSnowflake()
    fake.committed["ch"] = committed
    fake.sequencer["ch"] = 1

    async def scenario(client: Any) -> None:
        channel, status = await client.open_channel("ch")
        assert status.last_committed_offset_token == committed
        await channel.append_rows([{"a": 1}, {"a": 2}])
        await channel.flush()
        await channel.append_row({"a": 3})
        await channel.close()

    run(mode, fake, clock, rsa_key, scenario)
    tokens = [r.url.params["endOffsetToken"] for r in fake.calls("append")]
    assert tokens == expected
    assert fake.committed["ch"] == expected[-1]


def test_batches_respect_the_request_limit_and_keep_order(
    mode: str, rsa_key: PrivateKey, clock: FakeClock
) -> None:
    fake = FakeSnowflake()
    rows = [{"i": i, "pad": "x" * 100} for i in range(200)]

    async def scenario(client: Any) -> None:
        channel, _ = await client.open_channel("ch")
        await channel.append_rows(rows[:150], start_offset_token="1", end_offset_token="150")
        for i in range(150, 200):
            await channel.append_row(rows[i], offset_token=str(i + 1))
        await channel.wait_for_commit("200", timeout=5)

    run(mode, fake, clock, rsa_key, scenario, max_request_bytes=4096)
    appends = fake.calls("append")
    assert len(appends) > 5
    for req in appends:
        assert int(req.headers["x-snowflake-uncompressed-content-length"]) <= 4096
    assert fake.rows["ch"] == rows
    # Interpolated integer tokens: every batch ends on its last row's own token.
    ends = [int(r.url.params["endOffsetToken"]) for r in appends]
    assert ends == sorted(ends) and ends[-1] == 200


def test_bad_rows_raise_before_sending_and_keep_the_buffer(
    mode: str, rsa_key: PrivateKey, clock: FakeClock
) -> None:
    fake = FakeSnowflake()

    async def scenario(client: Any) -> None:
        channel, _ = await client.open_channel("ch")
        await channel.append_row({"ok": 1}, offset_token="1")
        with pytest.raises(InvalidRowError, match="column 'x' is nan"):
            await channel.append_row({"x": float("nan")}, offset_token="2")
        with pytest.raises(RowTypeError, match="key of type int"):
            await channel.append_row({1: "a"}, offset_token="2")
        with pytest.raises(RowTypeError, match="a row must be a mapping"):
            await channel.append_row(["not", "a", "row"], offset_token="2")
        with pytest.raises(RowTypeError, match="row 1 column 'o' has unsupported type object"):
            await channel.append_rows([{"fine": 1}, {"o": object()}])
        with pytest.raises(RowTooLargeError, match="over the 2048-byte request limit"):
            await channel.append_row({"big": "x" * 5000}, offset_token="2")
        assert fake.calls("append") == []
        await channel.append_row({"ok": 2}, offset_token="2")
        await channel.wait_for_commit("2", timeout=5)

    run(mode, fake, clock, rsa_key, scenario, max_request_bytes=2048, max_inflight_bytes=4096)
    assert fake.rows["ch"] == [{"ok": 1}, {"ok": 2}]


def test_wait_for_commit_compares_numerically_and_accepts_a_predicate(
    mode: str, rsa_key: PrivateKey, clock: FakeClock
) -> None:
    fake = FakeSnowflake()

    async def scenario(client: Any) -> None:
        channel, _ = await client.open_channel("ch")
        await channel.append_rows(
            [{"a": i} for i in range(10)], start_offset_token="1", end_offset_token="10"
        )
        # "10" >= "9" numerically, though not as strings.
        assert await channel.wait_for_commit("9", timeout=5) == "10"
        assert await channel.wait_for_commit(lambda t: t == "10", timeout=5) == "10"
        assert await channel.get_latest_committed_offset_token() == "10"

    run(mode, fake, clock, rsa_key, scenario)


def test_commit_timeout(mode: str, rsa_key: PrivateKey, clock: FakeClock) -> None:
    fake = FakeSnowflake(commit_on_append=False)

    async def scenario(client: Any) -> None:
        channel, _ = await client.open_channel("ch")
        await channel.append_row({"a": 1}, offset_token="1")
        with pytest.raises(CommitTimeoutError, match="not committed within 10 s") as info:
            await channel.wait_for_commit("1", timeout=10)
        assert info.value.channel == "ch" and info.value.waited_for == "1"
        fake.commit_all()
        await channel.close()

    run(mode, fake, clock, rsa_key, scenario)
    assert 9.9 <= sum(clock.sleeps) <= 10.1  # polled with back-off up to the timeout


def test_slow_close_warns_every_minute(
    mode: str, rsa_key: PrivateKey, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    fake = FakeSnowflake(commit_on_append=False)

    async def scenario(client: Any) -> None:
        channel, _ = await client.open_channel("ch")
        await channel.append_row({"a": 1})
        with pytest.raises(CommitTimeoutError):
            await channel.close(timeout=150)
        fake.commit_all()

    run(mode, fake, clock, rsa_key, scenario)
    slow = [r for r in caplog.records if "still waiting" in r.getMessage()]
    assert len(slow) == 2 and all(r.levelno == logging.WARNING for r in slow)


def test_stale_continuation_token_means_another_writer_and_is_not_recovered_into(
    mode: str, rsa_key: PrivateKey, clock: FakeClock
) -> None:
    fake = FakeSnowflake(commit_on_append=False)

    async def scenario(client: Any) -> None:
        channel, _ = await client.open_channel("ch")
        await channel.append_row({"n": 1}, offset_token="1")
        await channel.flush()
        fake.commit_all()  # row 1 committed
        assert await channel.wait_for_commit("1", timeout=5) == "1"
        await channel.append_row({"n": 2}, offset_token="2")
        await channel.flush()  # accepted, not committed
        fake.sequencer["ch"] += 1  # another client opened the channel: our token is stale
        fake.pending["ch"].clear()  # ... and the server dropped the uncommitted row 2
        await channel.append_row({"n": 3}, offset_token="3")
        with pytest.raises(ChannelInvalidatedError) as caught:
            await channel.flush()
        err = caught.value
        assert err.reason == "opened_elsewhere" and "another client" in str(err)
        assert err.uncommitted_rows == 2 and err.uncommitted_range == ("2", "3")
        assert err.last_committed == "1"
        # Every later call says so too, and close() does not pretend all went well.
        with pytest.raises(ChannelInvalidatedError):
            await channel.append_row({"n": 4}, offset_token="4")
        with pytest.raises(ChannelInvalidatedError, match="2 rows appended on it"):
            await channel.close()
        with pytest.raises(ChannelInvalidatedError):
            await channel.close()  # as long as they are not committed

    run(mode, fake, clock, rsa_key, scenario)
    assert fake.rows["ch"] == [{"n": 1}]  # nothing was replayed into the other writer's channel
    assert len(fake.calls("open")) == 1  # ... nor was the channel taken back


@pytest.mark.parametrize("action", ["lost", "drop"])
def test_unknown_append_outcome_recovers_exactly_once(
    mode: str, rsa_key: PrivateKey, clock: FakeClock, action: str
) -> None:
    # "lost": the server accepted and committed the batch, but the answer never arrived;
    # "drop": the connection failed before the server saw it.
    fake = FakeSnowflake().then("append", Scripted(0, action=action))

    async def scenario(client: Any) -> Any:
        channel, _ = await client.open_channel("ch")
        await channel.append_rows(
            [{"n": i} for i in range(1, 4)], start_offset_token="1", end_offset_token="3"
        )
        await channel.flush()
        await channel.append_rows(
            [{"n": i} for i in range(4, 7)], start_offset_token="4", end_offset_token="6"
        )
        await channel.wait_for_commit("6", timeout=5)
        return client.stats

    stats = run(mode, fake, clock, rsa_key, scenario)
    assert fake.rows["ch"] == [{"n": i} for i in range(1, 7)]
    assert stats.rows_appended == 6


def test_invalid_status_triggers_recovery(mode: str, rsa_key: PrivateKey, clock: FakeClock) -> None:
    fake = FakeSnowflake(commit_on_append=False)

    async def scenario(client: Any) -> None:
        channel, _ = await client.open_channel("ch")
        await channel.append_row({"n": 1}, offset_token="1")
        await channel.flush()
        fake.status_code["ch"] = "ERR_CHANNEL_MUST_BE_REOPENED"
        fake.pending["ch"].clear()  # the server lost the uncommitted row
        original = fake._serve

        def healed(kind: str, request: Any) -> Any:
            if kind == "open":
                fake.status_code["ch"] = "SUCCESS"
            response = original(kind, request)
            if kind == "append":
                fake.commit_all()
            return response

        fake._serve = healed  # type: ignore[method-assign]
        await channel.wait_for_commit("1", timeout=5)

    run(mode, fake, clock, rsa_key, scenario)
    assert fake.rows["ch"] == [{"n": 1}]


def test_open_with_invalid_status_or_conflict(
    mode: str, rsa_key: PrivateKey, clock: FakeClock
) -> None:
    fake = FakeSnowflake()
    fake.status_code["bad"] = "ERR_TABLE_DOES_NOT_EXIST_NOT_AUTHORIZED"
    # Another writer's rows stay in flight for good: the open waits ~60 s, then says so.
    fake.then("open", *[Scripted(409, {"code": "ERR_CHANNEL_HAS_UNCOMMITTED_DATA"})] * 30)

    async def scenario(client: Any) -> None:
        with pytest.raises(ConflictError, match="still not committed after 60 s") as info:
            await client.open_channel("busy")
        assert info.value.code == "ERR_CHANNEL_HAS_UNCOMMITTED_DATA"
        fake.script["open"].clear()
        with pytest.raises(ChannelInvalidatedError, match="ERR_TABLE_DOES_NOT_EXIST"):
            await client.open_channel("bad")

    run(mode, fake, clock, rsa_key, scenario)
    assert sum(clock.sleeps) <= 60 and clock.sleeps[:4] == [0.5, 1.0, 2.0, 4.0]


def test_open_waits_for_another_writers_rows_to_commit(
    mode: str, rsa_key: PrivateKey, clock: FakeClock
) -> None:
    fake = FakeSnowflake().then(
        "open", *[Scripted(409, {"code": "ERR_CHANNEL_HAS_UNCOMMITTED_DATA"})] * 2
    )

    async def scenario(client: Any) -> None:
        await client.open_channel("ch")

    run(mode, fake, clock, rsa_key, scenario)
    opens = fake.calls("open")
    assert len(opens) == 3 and clock.sleeps == [0.5, 1.0]
    assert all(b'"fail_on_uncommitted_rows":true' in r.content for r in opens)


def test_open_in_progress_409_is_retried(mode: str, rsa_key: PrivateKey, clock: FakeClock) -> None:
    fake = FakeSnowflake().then("open", Scripted(409, {"code": "ERR_OPEN_CHANNEL_IN_PROGRESS"}))

    async def scenario(client: Any) -> None:
        await client.open_channel("ch")

    run(mode, fake, clock, rsa_key, scenario)
    assert len(fake.calls("open")) == 2


def test_unknown_channel_status_is_not_found(
    mode: str, rsa_key: PrivateKey, clock: FakeClock
) -> None:
    fake = FakeSnowflake()

    async def scenario(client: Any) -> None:
        await client.open_channel("ch")
        with pytest.raises(NotFoundError, match="'nope' does not exist"):
            await client.get_channel_statuses(["ch", "nope"])

    run(mode, fake, clock, rsa_key, scenario)


def test_closed_channel_refuses_rows(mode: str, rsa_key: PrivateKey, clock: FakeClock) -> None:
    fake = FakeSnowflake()

    async def scenario(client: Any) -> None:
        channel, _ = await client.open_channel("ch")
        await channel.close()
        with pytest.raises(ClosedError, match="is closed"):
            await channel.append_row({"a": 1})
        new, _ = await client.open_channel("ch")
        old = new
        newer, _ = await client.open_channel("ch")
        with pytest.raises(ClosedError, match="replaced by a newer open_channel"):
            await old.append_row({"a": 1})
        await newer.append_row({"a": 2})

    run(mode, fake, clock, rsa_key, scenario)
    assert fake.rows["ch"] == [{"a": 2}]


def test_stats(mode: str, rsa_key: PrivateKey, clock: FakeClock) -> None:
    fake = FakeSnowflake().then("append", Scripted(401), Scripted(429))

    async def scenario(client: Any) -> Any:
        channel, _ = await client.open_channel("ch")
        await channel.append_rows([{"a": 1}, {"a": 2}])
        await channel.wait_for_commit(lambda committed: committed is not None, timeout=5)
        return client.stats

    stats = run(mode, fake, clock, rsa_key, scenario, compression="none")
    assert stats.jwt_mints == 1
    assert stats.scoped_exchanges == 2
    assert (stats.retries_401, stats.retries_429, stats.retries_5xx) == (1, 1, 0)
    assert stats.rows_appended == 2
    assert stats.bytes_sent == len(b'{"a":1}\n{"a":2}\n')
    assert stats.requests == len(fake.requests)


def test_backpressure_waits_for_commits(mode: str, rsa_key: PrivateKey, clock: FakeClock) -> None:
    # Nothing commits until a status call: with room for ~2 batches in flight, the channel
    # must poll for commits before it sends more.
    fake = FakeSnowflake(commit_on_append=False, commit_on_status=True)
    rows = [{"i": i, "pad": "y" * 200} for i in range(40)]

    async def scenario(client: Any) -> None:
        channel, _ = await client.open_channel("ch")
        for i, row in enumerate(rows, 1):
            await channel.append_row(row, offset_token=str(i))
        await channel.wait_for_commit("40", timeout=30)

    run(mode, fake, clock, rsa_key, scenario, max_request_bytes=1024, max_inflight_bytes=2048)
    assert fake.rows["ch"] == rows
    kinds = [r.url.path.rsplit("/", 1)[-1] for r in fake.requests]
    in_flight = 0
    for kind in kinds:  # never more than 2 appends between two status polls
        in_flight = 0 if kind.endswith("bulk-channel-status") else in_flight + (kind == "rows")
        assert in_flight <= 2


def test_unrecoverable_channel_raises_at_once(
    mode: str, rsa_key: PrivateKey, clock: FakeClock
) -> None:
    fake = FakeSnowflake(commit_on_append=False)

    async def scenario(client: Any) -> None:
        channel, _ = await client.open_channel("ch")
        await channel.append_row({"a": 1}, offset_token="1")
        await channel.flush()
        # The table was dropped: the status says so, and reopening says so too.
        fake.status_code["ch"] = "ERR_TABLE_DOES_NOT_EXIST_NOT_AUTHORIZED"
        with pytest.raises(ChannelInvalidatedError, match="could not be recovered") as info:
            await channel.wait_for_commit("1", timeout=60)
        assert info.value.code == "ERR_TABLE_DOES_NOT_EXIST_NOT_AUTHORIZED"
        assert not info.value.recoverable
        with pytest.raises(ChannelInvalidatedError):
            await channel.append_row({"a": 2})
        with pytest.raises(ChannelInvalidatedError, match="1 row appended on it is not"):
            await client.close()

    run(mode, fake, clock, rsa_key, scenario)
    assert clock.sleeps == []  # no polling until the timeout


def test_rows_older_than_max_client_lag_are_flushed_in_the_background(
    mode: str, rsa_key: PrivateKey, clock: FakeClock
) -> None:
    fake = FakeSnowflake()

    async def scenario(client: Any) -> None:
        channel, _ = await client.open_channel("ch")
        await channel.append_row({"a": 1}, offset_token="1")
        for _ in range(60):  # the flusher looks every few ms of real time
            await asyncio.sleep(0.005)
        assert fake.calls("append") == []  # not old enough on the (fake) clock
        clock.advance(0.06)
        for _ in range(400):
            if fake.calls("append"):
                break
            await asyncio.sleep(0.005)
        assert len(fake.calls("append")) == 1

    run(mode, fake, clock, rsa_key, scenario, max_client_lag=0.05)
    assert fake.rows["ch"] == [{"a": 1}]


def test_untokened_rows_after_a_non_integer_token_are_still_tracked(
    mode: str, rsa_key: PrivateKey, clock: FakeClock
) -> None:
    fake = FakeSnowflake()
    fake.committed["ch"] = "kafka-offset-abc"
    fake.sequencer["ch"] = 1

    async def scenario(client: Any) -> None:
        channel, _ = await client.open_channel("ch")
        await channel.append_rows([{"a": 1}, {"a": 2}])
        await channel.close()  # must not wait forever for an untrackable batch

    run(mode, fake, clock, rsa_key, scenario)
    assert [r.url.params["endOffsetToken"] for r in fake.calls("append")] == ["snowpipe-stream:1"]


def test_append_ndjson_checks_lines_without_parsing_rows(
    mode: str, rsa_key: PrivateKey, clock: FakeClock
) -> None:
    fake = FakeSnowflake()

    async def scenario(client: Any) -> None:
        channel, _ = await client.open_channel("ch")
        await channel.append_ndjson(b'{"n": 1}\n{"n": 2}\r\n\n{"n": 3}', "1", "3")
        with pytest.raises(InvalidRowError, match="line 2 of the NDJSON: invalid JSON"):
            await channel.append_ndjson(b'{"n": 4}\n{"n": \n', "4", "5")
        with pytest.raises(InvalidRowError, match="expected a JSON object, got list"):
            await channel.append_ndjson(b"[1, 2]\n", "4", "4")
        with pytest.raises(RowTooLargeError, match="row 1 is"):
            await channel.append_ndjson(b'{"n": 4}\n{"x": "' + b"y" * 5000 + b'"}\n', "4", "5")
        await channel.append_ndjson(b'{"n": 4}\n', "4", "4")
        await channel.wait_for_commit("4", timeout=5)

    run(mode, fake, clock, rsa_key, scenario, max_request_bytes=4096, max_inflight_bytes=8192)
    assert fake.rows["ch"] == [{"n": 1}, {"n": 2}, {"n": 3}, {"n": 4}]


def test_final_failures_are_logged_at_error(
    mode: str, rsa_key: PrivateKey, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    fake = FakeSnowflake().then("open", Scripted(403, {"code": "ERR_NO_GRANT"}))

    async def scenario(client: Any) -> None:
        with pytest.raises(Exception, match="ERR_NO_GRANT"):
            await client.open_channel("ch")

    run(mode, fake, clock, rsa_key, scenario)
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and errors[0].startswith("PermissionDeniedError: open channel 'ch'")


def test_client_close_flushes_every_channel_even_if_one_fails(
    mode: str, rsa_key: PrivateKey, clock: FakeClock
) -> None:
    fake = FakeSnowflake()

    async def scenario(client: Any) -> None:
        bad, _ = await client.open_channel("bad")
        good, _ = await client.open_channel("good")
        await bad.append_row({"a": 1}, offset_token="1")
        await good.append_row({"b": 1}, offset_token="1")
        fake.then("append", *[Scripted(403, {"code": "ERR_NO_GRANT"})])
        with pytest.raises(PermissionDeniedError, match="ERR_NO_GRANT"):
            await client.close()

    run(mode, fake, clock, rsa_key, scenario)
    assert fake.rows["good"] == [{"b": 1}]


def test_batches_cut_while_a_sender_was_busy_are_sent_by_the_background_flusher(
    mode: str, rsa_key: PrivateKey, clock: FakeClock
) -> None:
    fake = FakeSnowflake()

    async def scenario(client: Any) -> None:
        channel, _ = await client.open_channel("ch")
        core = channel._target._core if mode == "sync" else channel._core
        # As when a flush cut a batch while another thread held the send lock and had just
        # finished: the batch is ready, nothing is buffered, and no caller comes back.
        core.add_row({"a": 1}, "1")
        core.cut()
        assert core.lagging(clock.monotonic(), 100.0)
        for _ in range(400):
            if fake.calls("append"):
                break
            await asyncio.sleep(0.005)
        assert len(fake.calls("append")) == 1

    run(mode, fake, clock, rsa_key, scenario, max_client_lag=100.0)
    assert fake.rows["ch"] == [{"a": 1}]


def test_wait_for_an_inner_token_never_guesses_while_its_rows_are_pending(
    mode: str, rsa_key: PrivateKey, clock: FakeClock
) -> None:
    fake = FakeSnowflake(commit_on_append=False)

    async def scenario(client: Any) -> None:
        channel, _ = await client.open_channel("ch")
        await channel.append_row({"n": 0}, "z-0")
        await channel.flush()
        fake.commit_all()
        assert await channel.wait_for_commit("z-0", timeout=5) == "z-0"
        # "row-a" is inside a batch that ends on a row without a token: not committed yet,
        # although "z-0" >= "row-a" as strings.
        await channel.append_row({"n": 1}, "row-a")
        await channel.append_row({"n": 2})
        await channel.flush()
        with pytest.raises(CommitTimeoutError):
            await channel.wait_for_commit("row-a", timeout=5)
        fake.commit_all()
        assert await channel.wait_for_commit("row-a", timeout=5) == "snowpipe-stream:1"

    run(mode, fake, clock, rsa_key, scenario)


def test_rows_snowflake_rejects_are_logged_and_counted(
    mode: str, rsa_key: PrivateKey, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    fake = FakeSnowflake()
    fake.rows_error_count["ch"] = 2  # rejected before this client: not its news

    async def scenario(client: Any) -> Any:
        channel, _ = await client.open_channel("ch")
        await channel.append_rows([{"n": i} for i in range(1, 4)], "1", "3")
        await channel.wait_for_commit("3", timeout=5)
        fake.rows_error_count["ch"] = 5  # Snowflake rejected 3 of them (ON_ERROR = CONTINUE)
        fake.last_error["ch"] = ("Numeric value 'x' is not recognized (column N)", "3")
        await channel.get_channel_status()
        await channel.get_channel_status()  # no growth: no second warning
        return client.stats

    with caplog.at_level(logging.WARNING, "snowpipe_stream.channel"):
        stats = run(mode, fake, clock, rsa_key, scenario)
    warnings = [r.getMessage() for r in caplog.records if "rejected" in r.getMessage()]
    assert warnings == [
        "channel ch: Snowflake rejected 3 more rows (5 in all); the last error: Numeric value "
        "'x' is not recognized (column N) (offset token upper bound 3). Rejected rows are not "
        "stored: fix them and send them again"
    ]
    assert stats.rows_rejected == 3


def test_on_the_wire_like_snowflakes_own_sdk(
    mode: str, rsa_key: PrivateKey, clock: FakeClock
) -> None:
    # A 503 then success: one request retried; then a lost answer: a replay after the reopen.
    fake = FakeSnowflake(commit_on_append=False).then("append", Scripted(503))

    async def scenario(client: Any) -> None:
        channel, _ = await client.open_channel("ch")
        clock.advance(5)
        await channel.append_row({"n": 1}, "1")  # appended at t0 + 5 s
        clock.advance(2)
        await channel.flush()  # 503, retried with the same id
        fake.then("append", Scripted(0, action="lost"))
        await channel.append_row({"n": 2}, "2")
        await channel.flush()  # processed, answer lost: reopen, replay with a new id
        fake.commit_all()
        assert await channel.wait_for_commit("2", timeout=30) == "2"

    run(mode, fake, clock, rsa_key, scenario)
    for r in fake.requests:
        assert r.url.params["requestId"] and r.url.params["retryCount"].isdigit()
        assert r.headers["Accept-Charset"] == "UTF-8"
        ingest = r.url.host.startswith("myorg-acct.ingest")
        assert r.headers["X-Snowflake-Authorization-Token-Type"] == (
            "OAUTH" if ingest else "KEYPAIR_JWT"
        )
    appends = fake.calls("append")
    first, retried = appends[0], appends[1]
    assert first.url.params["requestId"] == retried.url.params["requestId"]
    assert (first.url.params["retryCount"], retried.url.params["retryCount"]) == ("0", "1")
    start = 1_700_000_000
    assert first.headers["x-snowflake-min-append-timestamp-ms"] == str((start + 5) * 1000)
    lost = appends[2]
    # Its retries repeat its id (the outcome was unknown); the replay after the reopen (under
    # the new client sequencer, "2-...") is a new request.
    same = [a for a in appends[3:] if a.url.params["requestId"] == lost.url.params["requestId"]]
    assert [a.url.params["retryCount"] for a in same] == [str(i) for i in range(1, len(same) + 1)]
    replay = appends[-1]
    assert replay.url.params["continuationToken"].startswith("2-")
    assert replay.url.params["endOffsetToken"] == "2"
    assert replay.url.params["requestId"] != lost.url.params["requestId"]
    assert replay.url.params["retryCount"] == "0"


def test_commit_polling_starts_at_half_the_commit_latency(
    mode: str, rsa_key: PrivateKey, clock: FakeClock
) -> None:
    # Snowflake says commits take ~0.6 s: polling every 50 ms from the start would cost many
    # status requests per commit (the official SDK polls about once a second).
    fake = FakeSnowflake(commit_on_append=False)
    fake.avg_latency_ms = 600
    polls_before_commit = 4

    async def scenario(client: Any) -> Any:
        channel, _ = await client.open_channel("ch")
        await channel.append_row({"n": 1}, "1")
        await channel.flush()

        original = fake._serve

        def serve(kind: str, request: Any) -> Any:
            if kind == "status" and len(fake.calls("status")) >= polls_before_commit:
                fake.commit_all()
            return original(kind, request)

        fake._serve = serve  # type: ignore[method-assign]
        await channel.wait_for_commit("1", timeout=60)
        return client.stats

    stats = run(mode, fake, clock, rsa_key, scenario)
    assert clock.sleeps[:3] == pytest.approx([0.3, 0.45, 0.675])  # from half of 0.6 s
    assert stats.status_requests == len(fake.calls("status")) == polls_before_commit


@pytest.mark.parametrize(
    ("pipe_says", "setting", "expected"),
    [
        ("HEX", None, "00ff"),
        ("BASE64", None, "AP8="),
        (None, None, "AP8="),  # the pipe names none: base64, as Snowflake's SDK does
        ("UTF-8", None, "ok"),
        ("BASE64", "hex", "00ff"),  # a setting wins, and the pipe is not asked
    ],
)
def test_bytes_go_as_the_pipe_expects(
    mode: str,
    rsa_key: PrivateKey,
    clock: FakeClock,
    pipe_says: str | None,
    setting: str | None,
    expected: str,
) -> None:
    fake = FakeSnowflake()
    fake.binary_input_format = pipe_says
    value = b"ok" if pipe_says == "UTF-8" else b"\x00\xff"

    async def scenario(client: Any) -> None:
        first, _ = await client.open_channel("a")
        second, _ = await client.open_channel("b")
        await first.append_row({"b": value}, "1")
        await second.append_row({"b": value}, "1")
        await first.close()
        await second.close()

    cfg = {} if setting is None else {"binary_format": setting}
    run(mode, fake, clock, rsa_key, scenario, **cfg)
    assert fake.rows["a"] == fake.rows["b"] == [{"b": expected}]
    assert len(fake.calls("pipe_info")) == (0 if setting else 1)  # once per pipe and client


def test_a_pipe_format_the_client_cannot_honour_is_a_clear_error(
    mode: str, rsa_key: PrivateKey, clock: FakeClock
) -> None:
    fake = FakeSnowflake()

    async def scenario(client: Any) -> None:
        fake.binary_input_format = "UTF-8"
        channel, _ = await client.open_channel("ch")
        with pytest.raises(InvalidRowError, match=r"not valid UTF-8.*BINARY_INPUT_FORMAT is UTF-8"):
            await channel.append_row({"b": b"\xff"}, "1")
        await channel.close()

    run(mode, fake, clock, rsa_key, scenario)
    fake = FakeSnowflake()
    fake.binary_input_format = "BOGUS"

    async def bogus(client: Any) -> None:
        with pytest.raises(
            UnexpectedResponseError, match=r"BINARY_INPUT_FORMAT 'BOGUS'.*set binary_format"
        ):
            await client.open_channel("ch")

    run(mode, fake, clock, rsa_key, bogus)
    assert fake.calls("open") == []  # learned before opening: nothing opened for nothing
