"""The resume rule of ``ingest`` as a pure function: which input a committed token belongs to."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from snowpipe_stream.cli._identity import (
    IDENTITY_BYTES,
    Content,
    InputId,
    Refusal,
    input_key,
    parse_token,
    resume_point,
)


def content_of(*records: bytes) -> Content:
    c = Content()
    for r in records:
        c.add(r)
    return c


def files(*contents: tuple[str, list[bytes]]) -> Callable[[int, int | None], InputId]:
    """identify(i, count) over in-memory files: (name, records)."""

    def identify(i: int, count: int | None) -> InputId:
        name, records = contents[i]
        c = Content()
        for r in records:
            if c.full or c.count == count:
                break
            c.add(r)
        return c.identity(name)

    return identify


A = ("a.ndjson", [b'{"n":%d}' % i for i in range(1, 101)])
B = ("b.ndjson", [b'{"m":%d}' % i for i in range(1, 51)])


def token_of(
    fmt: str, identify: Callable[[int, int | None], InputId], i: int, s: int, n: int
) -> str:
    """The token of record n of input i, in a chunk that began at record s (as ingest makes it)."""
    before = [identify(j, None) for j in range(i)]
    return f"{input_key(fmt, before, identify(i, s))}:{n}"


def test_keys_are_readable_and_parse_back() -> None:
    key = input_key("ndjson", [], content_of(b'{"n":1}').identity("day 1/x:y.ndjson"))
    token = parse_token(f"{key}:42")
    assert token is not None
    assert token.name == "day_1_x_y.ndjson" and token.count == 1 and token.record == 42
    assert token.key == key and key.startswith("day_1_x_y.ndjson@")
    stream = input_key("ndjson", [], InputId("feed", None, None))
    assert parse_token(f"{stream}:7") == parse_token(f"{stream}:7")
    assert parse_token(f"{stream}:7").count is None  # type: ignore[union-attr]
    for foreign in (
        "500",
        "",
        "a@xyz:1",
        f"{stream}:0",
        f"{stream}:-1",
        f"snowpipe-stream:{stream}:1",
    ):
        assert parse_token(foreign) is None, foreign


def test_content_covers_records_up_to_the_limit() -> None:
    c = Content()
    big = b"x" * (IDENTITY_BYTES // 2)
    c.add(big)
    assert not c.full and c.identity("f").count == 1
    c.add(big)
    assert c.full and c.identity("f").count is None
    # Records, not bytes: the same bytes cut into other records are another identity.
    assert content_of(b"ab", b"c").identity("f") != content_of(b"a", b"bc").identity("f")


def test_no_token_starts_at_the_first_record() -> None:
    r = resume_point("ndjson", ["a"], files(A), "c", None, restart=False)
    assert (r.start, r.skip) == (0, 0)


@pytest.mark.parametrize("chunk_start", [1, 37, 100])
def test_a_token_of_the_same_file_resumes_after_its_record(chunk_start: int) -> None:
    identify = files(A)
    token = token_of("ndjson", identify, 0, chunk_start, 100)
    r = resume_point("ndjson", ["a"], identify, "c", token, restart=False)
    assert (r.start, r.skip) == (0, 100)


def test_a_grown_file_keeps_its_identity() -> None:
    token = token_of("ndjson", files(A), 0, 1, 100)
    grown = ("a.ndjson", [*A[1], b'{"n":101}'])
    assert resume_point("ndjson", ["a"], files(grown), "c", token, restart=False).skip == 100


def test_a_line_after_the_covered_records_may_change() -> None:
    # A run stopped at a bad record 60 after committing 1-59 in a chunk that began at 1: the
    # token covers record 1 only, so fixing record 60 keeps the identity.
    token = token_of("ndjson", files(A), 0, 1, 59)
    fixed = ("a.ndjson", [*A[1][:59], b'{"n":"fixed"}', *A[1][60:]])
    assert resume_point("ndjson", ["a"], files(fixed), "c", token, restart=False).skip == 59


def test_other_inputs_are_refused_with_what_to_do() -> None:
    token = token_of("ndjson", files(A), 0, 1, 100)
    other_name = ("day2.ndjson", A[1])
    rewritten = ("a.ndjson", [b'{"other":1}', *A[1][1:]])
    for inputs, says in (
        ([other_name], "an input named a.ndjson). Nothing was sent"),
        ([rewritten], "a has that name, but not the same first records"),
    ):
        with pytest.raises(Refusal) as err:
            resume_point("ndjson", ["a"], files(*inputs), "c", token, restart=False)
        assert says in str(err.value)
        assert "new --channel" in err.value.hint and "--restart" in err.value.hint
        # --restart sends them from the first record.
        r = resume_point("ndjson", ["a"], files(*inputs), "c", token, restart=True)
        assert (r.start, r.skip) == (0, 0)
    # Another format reads other records: another input too.
    with pytest.raises(Refusal):
        resume_point("csv", ["a"], files(A), "c", token, restart=False)


def test_several_inputs_resume_in_the_one_the_token_names_and_only_in_the_same_order() -> None:
    identify = files(A, B)
    token = token_of("ndjson", identify, 1, 1, 20)  # record 20 of b, read after a
    r = resume_point("ndjson", ["a", "b"], identify, "c", token, restart=False)
    assert (r.start, r.skip) == (1, 20) and r.before == (identify(0, None),)
    # b alone, or after other inputs, is not the b that run read: refused, not skipped.
    with pytest.raises(Refusal):
        resume_point("ndjson", ["b"], files(B), "c", token, restart=False)
    with pytest.raises(Refusal):
        resume_point("ndjson", ["b", "a"], files(B, A), "c", token, restart=False)
    # More inputs after it: fine (they are sent whole).
    r = resume_point("ndjson", ["a", "b", "a2"], files(A, B, A), "c", token, restart=False)
    assert (r.start, r.skip) == (1, 20)


def test_the_same_file_twice_has_two_keys() -> None:
    identify = files(A, A)
    first = token_of("ndjson", identify, 0, 1, 100)
    second = token_of("ndjson", identify, 1, 1, 100)
    assert first != second
    r = resume_point("ndjson", ["a", "a"], identify, "c", second, restart=False)
    assert (r.start, r.skip) == (1, 100)


def test_restart_is_refused_when_the_token_is_of_these_inputs() -> None:
    token = token_of("ndjson", files(A), 0, 1, 100)
    with pytest.raises(Refusal) as err:
        resume_point("ndjson", ["a"], files(A), "c", token, restart=True)
    assert "without --restart to resume" in err.value.hint and "drop-channel" in err.value.hint


def test_foreign_tokens_are_refused_unless_restart() -> None:
    with pytest.raises(Refusal) as err:
        resume_point("ndjson", ["a"], files(A), "c", "500", restart=False)
    assert "did not write" in str(err.value) and "--restart" in err.value.hint
    assert resume_point("ndjson", ["a"], files(A), "c", "500", restart=True).skip == 0


def test_a_stream_is_its_name() -> None:
    def identify(i: int, count: int | None) -> InputId:
        return InputId(["feed", "other"][i], None, None)

    token = f"{input_key('ndjson', [], InputId('feed', None, None))}:9"
    assert resume_point("ndjson", ["<stdin>"], identify, "c", token, restart=False).skip == 9
    with pytest.raises(Refusal):
        resume_point("ndjson", ["<stdin>"], lambda i, c: identify(1, c), "c", token, False)
