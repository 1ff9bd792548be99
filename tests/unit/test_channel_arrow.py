"""append_arrow over MockTransport: the requests it makes are append_ndjson's for the same
NDJSON (same cuts, bodies and offset tokens), and its refusals buffer nothing."""

from __future__ import annotations

from typing import Any

import pytest
import zstandard

from snowpipe_stream import OffsetTokenError, PrivateKey, RowTooLargeError
from snowpipe_stream._arrow import arrow_ndjson
from snowpipe_stream.testing import FakeClock
from tests.clients import run_on_fake
from tests.fakes import FakeSnowflake

pa = pytest.importorskip("pyarrow")
pytestmark = pytest.mark.parametrize("mode", ["sync", "async"])


def table(n: int, first: int = 0) -> Any:
    return pa.table(
        {"i": pa.array(range(first, first + n), pa.int64()), "pad": ["x" * (n % 7 + 30)] * n}
    )


def appends(fake: FakeSnowflake) -> list[tuple[str, bytes]]:
    unzip = zstandard.ZstdDecompressor()
    return [
        (r.url.params["endOffsetToken"], unzip.decompress(r.content, max_output_size=1 << 24))
        for r in fake.calls("append")
    ]


@pytest.mark.parametrize(
    ("start", "end"),
    [("101", "400"), ("f:1", "f:300"), (None, "last"), ("a", "b"), (None, None)],
)
def test_requests_are_append_ndjsons_for_the_same_rows(
    mode: str, rsa_key: PrivateKey, clock: FakeClock, start: str | None, end: str | None
) -> None:
    data = table(300)
    blob, _ = arrow_ndjson(data, "base64")
    seen = []
    for method in ("append_ndjson", "append_arrow"):
        fake = FakeSnowflake()

        async def scenario(client: Any, method: str = method) -> None:
            channel, _ = await client.open_channel("ch")
            await channel.append_row({"before": 1}, offset_token="0")  # a buffered row first
            payload = blob if method == "append_ndjson" else data
            await getattr(channel, method)(payload, start, end)
            await channel.close()

        run_on_fake(mode, fake, clock, rsa_key, scenario, max_request_bytes=1024)
        seen.append(appends(fake))
        assert fake.rows["ch"] == [{"before": 1}, *data.to_pylist()]
    assert seen[0] == seen[1]
    assert len(seen[1]) > 10  # the call was split


def test_a_row_over_the_request_limit_is_refused_and_nothing_is_buffered(
    mode: str, rsa_key: PrivateKey, clock: FakeClock
) -> None:
    fake = FakeSnowflake()
    big = pa.table({"i": [1, 2, 3], "s": ["a" * 50, "b" * 1100, "c"]})

    async def scenario(client: Any) -> None:
        channel, _ = await client.open_channel("ch")
        with pytest.raises(RowTooLargeError, match=r"row 1 is 11\d\d bytes as JSON, over the 1024"):
            await channel.append_arrow(big, "1", "3")
        await channel.append_arrow(table(40), "1", "40")
        await channel.close()

    run_on_fake(mode, fake, clock, rsa_key, scenario, max_request_bytes=1024)
    assert fake.rows["ch"] == table(40).to_pylist()


def test_a_token_in_use_anywhere_in_a_split_call_is_refused_first(
    mode: str, rsa_key: PrivateKey, clock: FakeClock
) -> None:
    fake = FakeSnowflake(commit_on_append=False)

    async def scenario(client: Any) -> None:
        channel, _ = await client.open_channel("ch")
        await channel.append_arrow(table(5), "1", "5")
        await channel.flush()  # sent, not committed: "1".."5" in use
        with pytest.raises(OffsetTokenError, match=r"'5' is already used"):
            await channel.append_arrow(table(100, 5), "5", "104")  # 5 would end a request
        with pytest.raises(OffsetTokenError, match=r"'5' is already used"):
            await channel.append_arrow(table(3), end_offset_token="5")
        await channel.append_arrow(table(100, 5), "6", "105")
        await channel.flush()
        fake.commit_all()
        fake.commit_on_append = True
        await channel.close()

    run_on_fake(mode, fake, clock, rsa_key, scenario, max_request_bytes=1024)
    sent = [token for token, _ in appends(fake)]
    assert sent[0] == "5" and sent[-1] == "105" and len(sent) > 3
    assert fake.rows["ch"] == table(5).to_pylist() + table(100, 5).to_pylist()
