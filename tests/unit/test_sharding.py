"""The rule of records dealt over N channels, and the sharded channel's decisions (pure):
where a rerun resumes, what it skips, what a commit wait waits for, what it refuses."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from snowpipe_stream import OffsetTokenError, ShardingMismatchError
from snowpipe_stream._batching import row_tokens, token_reached
from snowpipe_stream._sharding import (
    MAX_CHANNELS,
    STRIPE,
    ShardPlan,
    channel_names,
    check_family,
    check_key,
    check_shards,
    family,
    last_owned,
    next_owned,
    owner,
    parse_record_token,
    record_token,
    resume_point,
)
from snowpipe_stream.cli import _shards


def test_the_cli_deals_by_the_same_rule() -> None:
    assert _shards.owner is owner and _shards.STRIPE == STRIPE
    assert _shards.channel_names is channel_names and _shards.family is family
    assert _shards.MAX_CHANNELS == MAX_CHANNELS == len(family("c")) - 1


def test_owners_by_stripe() -> None:
    assert [owner(n, 3) for n in (1, STRIPE, STRIPE + 1, 3 * STRIPE, 3 * STRIPE + 1)] == [
        0,
        0,
        1,
        2,
        0,
    ]
    assert {owner(n, 1) for n in range(1, 5 * STRIPE)} == {0}


@given(k=st.integers(0, 7), shards=st.integers(1, 8), at=st.integers(0, 20 * STRIPE))
def test_next_and_last_owned_are_the_nearest_records_of_the_channel(
    k: int, shards: int, at: int
) -> None:
    k %= shards
    after = next(n for n in range(at + 1, at + 2 + shards * STRIPE) if owner(n, shards) == k)
    assert next_owned(k, at, shards) == after
    before = next((n for n in range(at, 0, -1) if owner(n, shards) == k), 0)
    assert last_owned(k, at, shards) == before


@st.composite
def crashed_runs(draw: st.DrawFn) -> tuple[int, int, list[int]]:
    """A run of ``total`` records over ``shards`` channels that stopped with each channel at
    some point of its own records: ``(shards, total, committed)`` (0: nothing committed)."""
    shards = draw(st.integers(1, 6))
    total = draw(st.integers(0, 12 * STRIPE))
    committed = []
    for k in range(shards):
        owned = [n for n in range(1, total + 1) if owner(n, shards) == k]
        committed.append(draw(st.sampled_from([0, *owned])) if owned else 0)
    return shards, total, committed


@given(run=crashed_runs(), data=st.data())
def test_replaying_from_resume_from_sends_every_record_once(
    run: tuple[int, int, list[int]], data: st.DataObject
) -> None:
    shards, total, committed = run
    plan = ShardPlan("k", shards, committed)
    is_in = [n <= committed[owner(n, shards)] for n in range(1, total + 2)]
    # resume_from is the smallest record its owner has not committed.
    assert plan.resume_from == is_in.index(False) + 1
    assert plan.resume_from == resume_point(committed, shards)
    # The caller replays from there (or from anywhere before it), in calls of any size.
    start = data.draw(st.integers(1, plan.resume_from))
    sent: dict[int, list[int]] = {k: [] for k in range(shards)}
    # Call sizes drawn up front, the last call taking the rest: a draw per call made slow
    # examples (thousands of one-record calls) that a busy machine could not finish in time.
    sizes = iter(data.draw(st.lists(st.integers(1, 3 * STRIPE), max_size=12)))
    n = start
    while n <= total:
        count = min(next(sizes, total - n + 1), total - n + 1)
        assert plan.check(n, count, "first_number") == n
        for part in plan.parts(n, count):
            assert part.first == n + part.start and part.last == n + part.stop - 1
            sent[part.channel].extend(range(part.first, part.last + 1))
            plan.given(part)
        plan.last = n + count - 1
        n += count
    every = sorted(r for rs in sent.values() for r in rs)
    assert every == [r for r in range(1, total + 1) if not is_in[r - 1]]  # once each
    for k, records in sent.items():
        assert records == sorted(records)  # in order within the channel
        assert all(owner(r, shards) == k and r > committed[k] for r in records)
    # Every record is in now: where a rerun would start.
    ends = [max([committed[k], *sent[k]]) for k in range(shards)]
    assert plan.current([plan.token(end) if end else None for end in ends]) == total + 1


@given(run=crashed_runs(), number=st.integers(1, 14 * STRIPE))
def test_a_commit_wait_waits_for_each_channels_last_record_up_to_the_number(
    run: tuple[int, int, list[int]], number: int
) -> None:
    shards, total, committed = run
    plan = ShardPlan("k", shards, committed)
    given_to: dict[int, list[int]] = {k: [] for k in range(shards)}
    for part in plan.parts(1, total):
        given_to[part.channel].extend(range(part.first, part.last + 1))
        plan.given(part)
    for targets, upto in ((plan.targets(number), number), (plan.targets(None), total)):
        for k in range(shards):
            mine = [r for r in given_to[k] if r <= upto]
            assert targets[k] == (mine[-1] if mine else 0)


@given(
    key=st.text(st.characters(blacklist_categories=("Cc", "Cs", "Zs")), min_size=1),
    shards=st.integers(1, MAX_CHANNELS),
    first=st.integers(1, 10**12),
    count=st.integers(1, 5000),
)
def test_a_parts_tokens_give_every_row_its_own_and_compare_as_numbers(
    key: str, shards: int, first: int, count: int
) -> None:
    key = key.strip() or "k"
    last = first + count - 1
    start, end = record_token(key, shards, first), record_token(key, shards, last)
    assert parse_record_token(end) == (key, shards, last)
    tokens = row_tokens(start, end, count)
    assert tokens is not None and tokens[count // 2] == record_token(
        key, shards, first + count // 2
    )
    assert token_reached(end, start) and (count == 1 or not token_reached(start, end))


def test_tokens_of_other_writers_do_not_parse() -> None:
    for token in (None, "", "17", "k:17", "k/0:1", "k/4:017", "/4:1", "k/4:", "k/x:1", "k/4:-1"):
        assert parse_record_token(token) is None, token
    assert parse_record_token("a/b:c/4:17") == ("a/b:c", 4, 17)


def test_keys_and_numbers_of_channels_are_checked() -> None:
    assert check_key("orders") == "orders"
    for bad in ("", " k", "k\n", "snowpipe-stream:x"):
        with pytest.raises(ValueError, match="key"):
            check_key(bad)
    with pytest.raises(TypeError, match="key must be a str"):
        check_key(3)
    assert check_shards(64) == 64
    for wrong in (0, 65):
        with pytest.raises(ValueError, match="from 1 to 64"):
            check_shards(wrong)
    with pytest.raises(TypeError):
        check_shards(True)


def test_numbers_must_increase_and_the_message_says_so() -> None:
    plan = ShardPlan("k", 2, [0, 0])
    for part in plan.parts(1, 1500):
        plan.given(part)
    plan.last = 1500
    with pytest.raises(OffsetTokenError) as caught:
        plan.check(1400, 200, "first_number")
    message = str(caught.value)
    assert "record 1,400 .. 1,599 given after record 1,500" in message
    assert "must increase" in message and "nothing of this call was buffered" in message
    assert plan.last == 1500
    with pytest.raises(TypeError, match="int"):
        plan.check("7", 1, "number")
    with pytest.raises(ValueError, match=">= 1"):
        ShardPlan("k", 1, [0]).check(0, 1, "number")


# --- the family check: another N, another writer ---------------------------------------------


def test_a_family_written_with_another_number_is_refused_naming_it() -> None:
    held = {"ev-1": "records/3:4000", "ev-2": "records/3:2000", "ev-3": None}
    for shards in (1, 2, 4, 9):
        with pytest.raises(ShardingMismatchError) as caught:
            check_family("ev", "records", shards, held)
        err = caught.value
        assert (err.channel, err.committed, err.written_with, err.channels) == (
            "ev-1",
            "records/3:4000",
            3,
            shards,
        )
        assert "Open it with channels=3 to resume" in str(err)
        assert "drop the channels 'ev-1', 'ev-2' first" in str(err)
    with pytest.raises(ShardingMismatchError, match="channels=1 to resume"):
        check_family("ev", "records", 3, {"ev": "records/1:12"})
    assert check_family("ev", "records", 3, held) == [4000, 2000, 0]


def test_another_writers_token_in_one_of_these_channels_is_refused() -> None:
    # Others' tokens elsewhere in the family, or another key's, are not this run's business.
    assert check_family("ev", "records", 2, {"ev-7": "x:1", "ev": "other/4:9"}) == [0, 0]
    for token in ("17", "other/2:1000", "snowpipe-stream:3"):
        with pytest.raises(ShardingMismatchError, match="did not write") as caught:
            check_family("ev", "records", 2, {"ev-2": token})
        assert caught.value.written_with is None and caught.value.channel == "ev-2"
    with pytest.raises(ShardingMismatchError, match="belongs to channel 'ev-1'"):
        check_family("ev", "records", 2, {"ev-2": "records/2:5"})
    with pytest.raises(ShardingMismatchError, match="not one of the channels 'ev-1', 'ev-2'"):
        check_family("ev", "records", 2, {"ev-5": "records/2:5"})


def test_resume_from_follows_the_commits_as_seen() -> None:
    plan = ShardPlan("k", 2, [1000, 0])
    assert plan.resume_from == 1001
    assert plan.current([None, None]) == 1001  # never behind what the channels opened with
    assert plan.current(["k/2:1000", "k/2:1500"]) == 1501
    assert plan.current(["k/2:2500", "k/2:2000"]) == 2501
    assert plan.current(["x", "k/3:9999"]) == 1001  # not ours: not counted
