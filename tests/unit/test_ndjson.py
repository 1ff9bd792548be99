"""Row checking and encoding."""

from __future__ import annotations

import datetime as dt
import enum
import json
import uuid
from collections import OrderedDict
from decimal import Decimal

import pytest

from snowpipe_stream import InvalidRowError, RowTypeError
from snowpipe_stream._ndjson import encode_lines, encode_row, prepare, prepare_many


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
