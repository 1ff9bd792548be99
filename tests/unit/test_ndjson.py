"""Row checking and encoding; the check of NDJSON that is already encoded (client and emulator)."""

from __future__ import annotations

import datetime as dt
import enum
import itertools
import json
import uuid
from collections import OrderedDict
from decimal import Decimal
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from snowpipe_stream import InvalidRowError, PrivateKey, RowTypeError
from snowpipe_stream._ndjson import (
    encode_lines,
    encode_row,
    line_problem,
    object_block,
    object_lines,
    prepare,
    prepare_many,
)
from snowpipe_stream.emulator._rows import split_rows
from snowpipe_stream.testing import FakeClock
from tests.clients import run_on_fake
from tests.fakes import FakeSnowflake


class Color(enum.IntEnum):
    RED = 1


class Name(str, enum.Enum):
    ADA = "ada"


def decode(row: object, fmt: str = "hex") -> object:
    return json.loads(encode_row(prepare(row, fmt)))


def test_value_types() -> None:
    row = {
        "none": None,
        "bool": True,
        "int": 7,
        "float": 1.5,
        "str": 'é\n"',
        "bytes": b"\x00\xff",
        "ba": bytearray(b"\x01"),
        "list": [1, "a", None],
        "tuple": (1, 2),
        "set": {3},
        "nested": {"k": [b"\x02", {"d": dt.date(2024, 1, 2)}]},
        "dt": dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc),
        "naive": dt.datetime(2024, 1, 2, 3, 4, 5, 600000),
        "time": dt.time(1, 2, 3),
        "dec": Decimal("12.340"),
        "uuid": uuid.UUID(int=1),
        "enum": Color.RED,
        "sname": Name.ADA,
    }
    assert decode(row) == {
        "none": None,
        "bool": True,
        "int": 7,
        "float": 1.5,
        "str": 'é\n"',
        "bytes": "00ff",
        "ba": "01",
        "list": [1, "a", None],
        "tuple": [1, 2],
        "set": [3],
        "nested": {"k": ["02", {"d": "2024-01-02"}]},
        "dt": "2024-01-02T03:04:05Z",
        "naive": "2024-01-02T03:04:05.600000",
        "time": "01:02:03",
        "dec": "12.340",
        "uuid": "00000000-0000-0000-0000-000000000001",
        "enum": 1,
        "sname": "ada",
    }
    assert decode({"b": b"\x00\xff"}, "base64") == {"b": "AP8="}


def test_input_is_not_mutated_and_plain_rows_pass_through() -> None:
    row = {"b": b"\x01"}
    prepare(row)
    assert row == {"b": b"\x01"}
    plain = {"a": 1, "f": 2.5, "l": [1, 2.0, "x", None, True]}
    assert prepare(plain) is plain
    mapping = OrderedDict(a=1)
    assert prepare(mapping) == {"a": 1}


@pytest.mark.parametrize(
    ("row", "error", "match"),
    [
        ({"x": float("nan")}, InvalidRowError, "column 'x' is nan"),
        ({"x": float("inf")}, InvalidRowError, "column 'x' is inf"),
        ({"x": [1, float("-inf")]}, InvalidRowError, r"column 'x'\[1\] is -inf"),
        ({"x": {"y": float("nan")}}, InvalidRowError, r"column 'x'\['y'\] is nan"),
        ({"x": Decimal("NaN")}, InvalidRowError, "Decimal"),
        ({1: "a"}, RowTypeError, "key of type int"),
        ({"x": {2: "a"}}, RowTypeError, "key of type int"),
        ({"x": object()}, RowTypeError, "column 'x' has unsupported type object"),
        ("text", RowTypeError, "row is a str; a row must be a mapping"),
        ([("a", 1)], RowTypeError, "row is a list"),
    ],
)
def test_bad_rows(row: object, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        prepare(row)


def test_cyclic_values_are_caught() -> None:
    cyclic: list[object] = [1]
    cyclic.append(cyclic)
    with pytest.raises(RowTypeError, match="nested more than 64 levels"):
        prepare({"c": cyclic})


def test_lone_surrogates_are_invalid_rows() -> None:
    with pytest.raises(InvalidRowError, match="not valid Unicode"):
        encode_row(prepare({"k\udc80": 1}))
    with pytest.raises(InvalidRowError, match="row 1 holds a str that is not valid Unicode"):
        encode_lines(prepare_many([{"a": "ok"}, {"a": "\udc80"}]))


def test_prepare_many_names_the_row() -> None:
    with pytest.raises(InvalidRowError, match="row 2 column 'v' is nan"):
        prepare_many([{"v": 1.0}, {"v": 2.0}, {"v": float("nan")}])


def test_encode_lines_one_row_per_line() -> None:
    blob = encode_lines(prepare_many([{"a": 1}, {"b": "x\ny"}]))
    assert blob == b'{"a":1}\n{"b":"x\\ny"}\n'


# --- NDJSON that is already encoded: append_ndjson's check and the emulator's ----------------

#: Three lines, none of them one JSON object, that join with commas into three array elements
#: (issue 9 item 5): a check that counts the elements of the comma-joined lines lets them through.
JOINED = b'{"id":2},{"id":3}\n{"id":4,"tags":[0\n{"x":1}]}\n'


def oracle(body: bytes) -> tuple[bytes, int, list[int]]:
    """The rule, plainly: split at newlines, decode each non-blank line on its own.

    Returns what ``object_lines`` must: the object lines as they are, each with a newline; their
    count; the numbers of the other non-blank lines.
    """
    lines = body.split(b"\n")
    if body.endswith(b"\n"):
        lines.pop()
    good: list[bytes] = []
    bad: list[int] = []
    for number, line in enumerate(lines, 1):
        if not line.strip(b" \t\r"):
            continue
        try:
            row = msgspec.json.decode(line)
        except (msgspec.DecodeError, UnicodeDecodeError):
            bad.append(number)
            continue
        if type(row) is dict:
            good.append(line)
        else:
            bad.append(number)
    return b"".join(line + b"\n" for line in good), len(good), bad


_text = st.text(max_size=6)  # any Unicode: multi-byte UTF-8 once encoded
_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(10**12), 10**12)
    # No huge floats: merged fragments could glue digits into a number out of a double's range,
    # where the oracle and the rule part on purpose (test_numbers_are_checked_for_syntax_only).
    | st.floats(-1e6, 1e6, allow_nan=False)
    | _text
)
_values = st.recursive(
    _scalars,
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(_text, kids, max_size=3),
    max_leaves=6,
)
_flat_objects = st.dictionaries(_text, _scalars, max_size=3)
_objects = (
    st.dictionaries(_text, _values, max_size=3)
    | _flat_objects
    # Arrays of objects: cut at their commas, they give lines that start with { and end with }.
    | st.dictionaries(_text, st.lists(_flat_objects, min_size=1, max_size=3), max_size=2)
)
_blank = st.sampled_from([b"", b" ", b"\t", b"\r", b" \t\r"])
_pad = st.sampled_from([b"", b"", b" ", b"\t", b"\r", b" \r"])
_junk = st.sampled_from(
    [b"\x0c{}", b"{}{}", b"{} {}", b"{},{}", b'{"a":1}]', b"]", b",", b"{", b"}", b"\xef\xbb\xbf{}"]
)
_in_string = st.sampled_from(
    [
        b"\xc3\xa9",
        b"\xf0\x9f\x98\x80",
        b"\xff",
        b"\xc3",
        b"\xed\xa0\x80",
        b"\xf4\x90\x80\x80",
        b"\xc0\xaf",
    ]
)


_small_objects = st.sampled_from(
    [{}, {"a": 1}, {"a": {}}, {"a": [{}]}, {"a": [{"b": 1}, {}], "c": {"d": []}}]
)


@st.composite
def _fragments(draw: st.DrawFn, pure: bool) -> list[bytes]:
    """Values written one after another, then cut into lines.

    A cut puts a newline before a byte, or in place of a comma. ``pure``: objects separated by
    nothing or a space, cut before structural bytes (where JSON allows whitespace) into as many
    lines as there are objects: still n valid objects over n lines, and lines that start with
    ``{`` or end with ``}``, yet most are not one object each. Only the line boundaries tell.
    """
    kinds = _small_objects | _objects if pure else _small_objects | _objects | _values
    values = [msgspec.json.encode(v) for v in draw(st.lists(kinds, min_size=1 + pure, max_size=4))]
    sep = draw(st.sampled_from([b"", b" "] if pure else [b",", b"", b" ", b", "]))
    stream = sep.join(values)
    if pure:
        places = [i for i in range(1, len(stream)) if stream[i] in b",:{}[]"]
        # Mostly where a line would end with } or start with {, as rows do.
        likely = [i for i in places if stream[i - 1] == ord("}") or stream[i] == ord("{")]
        at = st.sampled_from(likely or [0]) | st.sampled_from(places or [0])
        count = min(len(values) - 1, len(places))
        cuts = draw(st.lists(at, min_size=count, max_size=count))
        if len(set(cuts)) != count:
            cuts = []
        bounds = [0, *sorted(cuts), len(stream)]
        return [stream[i:j] for i, j in itertools.pairwise(bounds)]
    between = [sum(len(v) + len(sep) for v in values[:i]) for i in range(1, len(values))]
    structural = [i for i, c in enumerate(stream) if c in b',:{}[]"']
    at = st.integers(0, len(stream))
    for pool in (structural, between):
        if pool:
            at = st.sampled_from(pool) | at
    count = draw(st.sampled_from([len(values) - 1, len(values), 1, 2]))
    lines, start = [], 0
    for cut in sorted(set(draw(st.lists(at, min_size=count, max_size=count)))):
        if cut < start:
            continue
        lines.append(stream[start:cut])
        start = cut + 1 if stream[cut : cut + 1] == b"," and draw(st.booleans()) else cut
    lines.append(stream[start:])
    return lines


@st.composite
def _line_groups(draw: st.DrawFn) -> list[bytes]:
    kinds = ["object", "padded", "value", "blank", "junk", "utf8", "fragments"]
    kind = draw(st.sampled_from(kinds))
    if kind == "object":
        return [msgspec.json.encode(draw(_objects))]
    if kind == "padded":
        return [draw(_pad) + msgspec.json.encode(draw(_objects)) + draw(_pad)]
    if kind == "value":
        return [msgspec.json.encode(draw(_values))]
    if kind == "blank":
        return [draw(_blank)]
    if kind == "junk":
        return [draw(_junk)]
    if kind == "utf8":
        return [b'{"s":"' + draw(_in_string) + b'"}']
    return draw(_fragments(pure=False))


@st.composite
def bodies(draw: st.DrawFn) -> bytes:
    if draw(st.booleans()):
        groups = draw(st.lists(_line_groups(), max_size=8))
    else:  # object lines around one group of fragments: the ground of the whole-body check
        row = _objects.map(msgspec.json.encode) | _in_string.map(lambda s: b'{"s":"%s"}' % s)
        rows = st.lists(row.map(lambda line: [line]), max_size=2)
        groups = [*draw(rows), draw(_fragments(pure=True)), *draw(rows)]
    body = b"\n".join(line for group in groups for line in group)
    body += draw(st.sampled_from([b"\n", b"\n", b""]))
    if draw(st.booleans()):
        body = body.replace(b"\n", b"\r\n")
    return body


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=bodies())
def test_client_and_emulator_checks_agree_with_a_plain_per_line_parse(body: bytes) -> None:
    expected = oracle(body)
    assert object_lines(body) == expected
    assert split_rows(body) == expected
    for number in expected[2]:
        assert line_problem(body.split(b"\n")[number - 1]) is not None


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=bodies())
def test_object_block_says_n_only_when_every_line_is_one_object(body: bytes) -> None:
    # The reader of `ingest` trusts a block object_block counts (the channel does not check it
    # again): it must never count a body with a line that is not exactly one object.
    if not body.endswith(b"\n"):
        body += b"\n"
    expected = oracle(body)
    n = object_block(body)
    lines = body[:-1].split(b"\n")
    if n:
        assert expected == (body, n, []) and len(lines) == n
    # And it takes the usual body whole: every line an object from its first byte to its last
    # (before the line ending), no blank line, one kind of line ending.
    crlf = all(line.endswith(b"\r") for line in lines)
    bare = [line[:-1] if crlf else line for line in lines]
    usual = all(line[:1] == b"{" and line[-1:] == b"}" for line in bare)
    if usual and expected[1] == len(lines) and not expected[2]:
        assert n == len(lines)


@pytest.mark.parametrize("check", [object_lines, split_rows])
def test_lines_that_only_join_into_objects_are_not_rows(check: Any) -> None:
    assert check(JOINED) == (b"", 0, [1, 2, 3])
    assert check(b'{"id":1}\n' + JOINED + b'{"id":5}\n') == (b'{"id":1}\n{"id":5}\n', 2, [2, 3, 4])
    # Lines that each start with { and end with }, but one object spans them.
    assert check(b'{"a":[{"b":1}\n{"c":2}]}\n') == (b"", 0, [1, 2])


@pytest.mark.parametrize("check", [object_lines, split_rows])
@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"", (b"", 0, [])),
        (b"\n\r\n \n", (b"", 0, [])),
        (b'{"a":1}', (b'{"a":1}\n', 1, [])),
        (b'{"a":1}\r\n{"a":2}\r\n', (b'{"a":1}\r\n{"a":2}\r\n', 2, [])),
        (b'\n{"a":1}\n\n[1]\n', (b'{"a":1}\n', 1, [4])),  # blank lines keep their numbers
        (b' {"a":1}\t\n', (b' {"a":1}\t\n', 1, [])),
        (b'{"a":1} {"a":2}\n', (b"", 0, [1])),
        (b'{"s":"\xc3\xa9"}\n{"s":"\xff"}\n', (b'{"s":"\xc3\xa9"}\n', 1, [2])),
        (b'{"s":"\xed\xa0\x80"}\n', (b"", 0, [1])),  # an encoded surrogate is not UTF-8
    ],
)
def test_object_lines_cases(
    check: Any, body: bytes, expected: tuple[bytes, int, list[int]]
) -> None:
    assert check(body) == expected == oracle(body)


def test_the_usual_body_is_checked_whole_and_returned_as_is() -> None:
    body = encode_lines([{"n": i, "s": "é"} for i in range(1000)])
    assert object_lines(body)[0] is body
    crlf = body.replace(b"\n", b"\r\n")
    assert object_lines(crlf)[0] is crlf


def test_numbers_are_checked_for_syntax_only() -> None:
    # RFC 8259 leaves a number's range to the reader; Snowflake judges values by their column.
    body = b'{"a":1e999}\n{"a":-1e400}\n'
    assert object_lines(body) == (body, 2, [])
    assert object_lines(b'{"a":1e}\n') == (b"", 0, [1])


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        (b'{"a":1}', None),
        (b' {"a":1}\r\n', None),
        (b"[1, 2]", "expected a JSON object, got list"),
        (b'"s"', "expected a JSON object, got str"),
        (b"-1.5", "expected a JSON object, got number"),
        (b"null", "expected a JSON object, got null"),
        (b'{"id":2},{"id":3}', "invalid JSON: JSON is malformed: trailing characters"),
        (b'{"id":4,"tags":[0', "invalid JSON: Input data was truncated"),
        (b'{"s":"\xff"}', "invalid JSON: not UTF-8 text"),
    ],
)
def test_line_problem(line: bytes, problem: str | None) -> None:
    found = line_problem(line)
    if problem is None:
        assert found is None
    else:
        assert found is not None and found.startswith(problem), found


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_append_ndjson_rejects_lines_that_only_join_into_objects(
    mode: str, rsa_key: PrivateKey, clock: FakeClock
) -> None:
    fake = FakeSnowflake()

    async def scenario(client: Any) -> None:
        channel, _ = await client.open_channel("ch")
        with pytest.raises(InvalidRowError, match=r"^line 1 of the NDJSON: invalid JSON"):
            await channel.append_ndjson(JOINED, "1", "3")
        with pytest.raises(InvalidRowError, match=r"^line 3 of the NDJSON: invalid JSON"):
            await channel.append_ndjson(b'{"id":1}\n\n' + JOINED, "1", "4")
        await channel.append_ndjson(b'{"id":1}\n', "1", "1")
        await channel.wait_for_commit("1", timeout=5)

    run_on_fake(mode, fake, clock, rsa_key, scenario)
    assert fake.rows["ch"] == [{"id": 1}]
