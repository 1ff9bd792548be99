"""Arrow values to the NDJSON Snowflake expects (``_arrow``), type by type."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from decimal import Decimal
from typing import Any

import msgspec
import pytest

from snowpipe_stream import InvalidRowError, RowTypeError
from snowpipe_stream._arrow import arrow_ndjson, dataframe_table
from snowpipe_stream._ndjson import encode_lines, prepare_many

pa = pytest.importorskip("pyarrow")

T = dt.datetime(2024, 1, 2, 3, 4, 5, 123456)
UTC = dt.timezone.utc

# (name, values, Arrow type, the JSON text of each value). Every column also gets a null.
CASES: list[tuple[str, list[Any], Any, list[str]]] = [
    ("int8", [-128, 127], pa.int8(), ["-128", "127"]),
    ("int16", [-32768, 7], pa.int16(), ["-32768", "7"]),
    ("int32", [-(2**31), 0], pa.int32(), ["-2147483648", "0"]),
    ("int64", [2**63 - 1, -1], pa.int64(), ["9223372036854775807", "-1"]),
    ("uint8", [255, 0], pa.uint8(), ["255", "0"]),
    ("uint16", [65535, 1], pa.uint16(), ["65535", "1"]),
    ("uint32", [2**32 - 1, 2], pa.uint32(), ["4294967295", "2"]),
    ("uint64", [2**64 - 1, 3], pa.uint64(), ["18446744073709551615", "3"]),
    ("float16", [1.5, -2.0], pa.float16(), ["1.5", "-2"]),
    ("float32", [0.1, 1e20], pa.float32(), ["0.1", "1e+20"]),
    ("float64", [0.1, -1e-7], pa.float64(), ["0.1", "-1e-7"]),
    ("bool", [True, False], pa.bool_(), ["true", "false"]),
    ("string", ['say "hi"', "a\\b"], pa.string(), ['"say \\"hi\\""', '"a\\\\b"']),
    ("large_string", ["\u00e9\u4e2d\U0001f600", ""], pa.large_string(), ['"é中😀"', '""']),
    ("string_view", ["x\ny", "tab\t"], pa.string_view(), ['"x\\ny"', '"tab\\t"']),
    ("binary", [b"\x00\xff", b""], pa.binary(), ['"00ff"', '""']),
    ("large_binary", [b"ab"], pa.large_binary(), ['"6162"']),
    ("fixed_size_binary", [b"\x01\x02\x03"], pa.binary(3), ['"010203"']),
    ("binary_view", [b"\x10"], pa.binary_view(), ['"10"']),
    (
        "decimal128(10,2)",
        [Decimal("1.50"), Decimal("-0.01")],
        pa.decimal128(10, 2),
        ["1.50", "-0.01"],
    ),
    (
        "decimal128(38,9)",
        [Decimal("12345678901234567890123456789.123456789")],
        pa.decimal128(38, 9),
        ['"12345678901234567890123456789.123456789"'],
    ),
    ("decimal256(40,0)", [Decimal(10**39)], pa.decimal256(40, 0), ['"1' + "0" * 39 + '"']),
    ("date32", [dt.date(2024, 1, 2)], pa.date32(), ['"2024-01-02"']),
    ("date64", [dt.date(1969, 12, 31)], pa.date64(), ['"1969-12-31"']),
    ("time32[s]", [dt.time(1, 2, 3)], pa.time32("s"), ['"01:02:03"']),
    ("time32[ms]", [dt.time(1, 2, 3, 4000)], pa.time32("ms"), ['"01:02:03.004"']),
    ("time64[us]", [dt.time(23, 59, 59, 999999)], pa.time64("us"), ['"23:59:59.999999"']),
    ("time64[ns]", [dt.time(0, 0)], pa.time64("ns"), ['"00:00:00.000000000"']),
    ("timestamp[s]", [T], pa.timestamp("s"), ['"2024-01-02T03:04:05"']),
    ("timestamp[ms]", [T], pa.timestamp("ms"), ['"2024-01-02T03:04:05.123"']),
    ("timestamp[us]", [T], pa.timestamp("us"), ['"2024-01-02T03:04:05.123456"']),
    ("timestamp[ns]", [T], pa.timestamp("ns"), ['"2024-01-02T03:04:05.123456000"']),
    (
        "timestamp[ms, UTC]",
        [T.replace(tzinfo=UTC)],
        pa.timestamp("ms", "UTC"),
        ['"2024-01-02T03:04:05.123+00:00"'],
    ),
    (
        "timestamp[us, +05:30]",
        [T.replace(tzinfo=UTC)],
        pa.timestamp("us", "+05:30"),
        ['"2024-01-02T08:34:05.123456+05:30"'],
    ),
    (
        "timestamp[s, Europe/Paris]",
        [T.replace(tzinfo=UTC), dt.datetime(2024, 7, 1, tzinfo=UTC)],
        pa.timestamp("s", "Europe/Paris"),
        ['"2024-01-02T04:04:05+01:00"', '"2024-07-01T02:00:00+02:00"'],
    ),
    ("list<int64>", [[1, None, 3], []], pa.list_(pa.int64()), ["[1,null,3]", "[]"]),
    ("large_list<string>", [["a", '"']], pa.large_list(pa.string()), ['["a","\\""]']),
    ("fixed_size_list<float64>[2]", [[0.5, 1.0]], pa.list_(pa.float64(), 2), ["[0.5,1]"]),
    (
        "list<list<bool>>",
        [[[True], None, []]],
        pa.list_(pa.list_(pa.bool_())),
        ["[[true],null,[]]"],
    ),
    (
        "struct",
        [{"a": 1, "b": "x", "c": None}],
        pa.struct([("a", pa.int32()), ("b", pa.string()), ("c", pa.binary())]),
        ['{"a":1,"b":"x","c":null}'],
    ),
    (
        "struct<struct, list>",
        [{"inner": {"t": dt.date(2024, 1, 1)}, "xs": [1]}],
        pa.struct([("inner", pa.struct([("t", pa.date32())])), ("xs", pa.list_(pa.int8()))]),
        ['{"inner":{"t":"2024-01-01"},"xs":[1]}'],
    ),
    (
        "map<string, int64>",
        [[("k", 1), ('q"', None)], []],
        pa.map_(pa.string(), pa.int64()),
        ['{"k":1,"q\\"":null}', "{}"],
    ),
    ("map<int32, string>", [[(7, "seven")]], pa.map_(pa.int32(), pa.string()), ['{"7":"seven"}']),
    (
        "dictionary<int8, string>",
        ["red", "blue", "red"],
        pa.dictionary(pa.int8(), pa.string()),
        ['"red"', '"blue"', '"red"'],
    ),
    ("null", [None], pa.null(), ["null"]),
]


def lines(table: Any, binary_format: str = "hex") -> list[str]:
    blob, count = arrow_ndjson(table, binary_format)
    text = blob.decode()
    assert text.endswith("\n") or count == 0
    out = text.split("\n")[:-1]
    assert len(out) == count == table.num_rows
    return out


@pytest.mark.parametrize(("name", "values", "type_", "expected"), CASES, ids=[c[0] for c in CASES])
def test_each_arrow_type_becomes_the_json_snowflake_expects(name, values, type_, expected):
    column = pa.array([*values, None], type_)
    got = lines(pa.table({"v": column}))
    assert got == [f'{{"v":{e}}}' for e in [*expected, "null"]]
    for line in got:
        msgspec.json.decode(line)  # every line is JSON


def test_the_type_table_covers_at_least_30_types():
    assert len({str(c[2]) for c in CASES}) >= 30


def test_all_the_types_in_one_table_sliced_and_in_several_batches():
    """The same texts when the columns sit side by side, start at an offset (a slice) and come
    in batches: offsets and validity bitmaps are read where they start, not at 0."""
    columns = {}
    expected_rows: list[list[str]] = [[], []]
    for name, values, type_, texts in CASES:
        vals = (values * 2)[:2]
        txt = (texts * 2)[:2]
        columns[name] = pa.array([values[0], *vals, None], type_).slice(1, 3)
        for i in range(2):
            expected_rows[i].append(msgspec.json.encode(name).decode() + ":" + txt[i])
    table = pa.table(columns)
    want = ["{" + ",".join(r) + "}" for r in expected_rows]
    nulls = "{" + ",".join(msgspec.json.encode(c[0]).decode() + ":null" for c in CASES) + "}"
    assert lines(table) == [*want, nulls]
    batches = [table.slice(0, 1).to_batches()[0], table.slice(1).to_batches()[0]]
    assert lines(pa.Table.from_batches(batches)) == [*want, nulls]
    assert arrow_ndjson(iter(batches))[0] == arrow_ndjson(table)[0]


def test_same_json_as_append_rows_for_the_values_they_share():
    rows = [
        {"i": 1, "f": 2.5, "b": True, "s": 'q"\\\x01\u2028', "raw": b"\x00\x01", "xs": [1, None]},
        {"i": None, "f": None, "b": None, "s": None, "raw": None, "xs": None},
        {"i": -5, "f": -0.125, "b": False, "s": "", "raw": b"", "xs": []},
    ]
    table = pa.Table.from_pylist(rows)
    assert arrow_ndjson(table)[0] == encode_lines(prepare_many(rows, "hex"))
    assert arrow_ndjson(table, "base64")[0] == encode_lines(prepare_many(rows, "base64"))


def test_binary_formats_follow_the_channel():
    table = pa.table({"b": pa.array([b"hi\n", b"\xff\x00"], pa.binary())})
    assert lines(table, "hex") == ['{"b":"68690a"}', '{"b":"ff00"}']
    assert lines(table, "base64") == ['{"b":"aGkK"}', '{"b":"/wA="}']
    assert lines(table.slice(0, 1), "utf8") == ['{"b":"hi\\n"}']
    with pytest.raises(InvalidRowError, match=r"row 1 column 'b' .*not valid UTF-8"):
        arrow_ndjson(table, "utf8")


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
@pytest.mark.parametrize("type_", [pa.float64(), pa.float32()])
def test_nan_and_infinity_are_refused_naming_the_row_and_column(bad, type_):
    table = pa.table({"ok": [1, 2, 3], "score": pa.array([1.0, None, bad], type_)})
    with pytest.raises(InvalidRowError, match=r"row 2 column 'score' is .*JSON has no NaN"):
        arrow_ndjson(table)
    nested = pa.table({"xs": pa.array([[1.0], [bad]], pa.list_(type_))})
    with pytest.raises(InvalidRowError, match=r"column 'xs' \(an item\)"):
        arrow_ndjson(nested)


def test_row_numbers_count_across_batches():
    batches = [
        pa.record_batch({"x": pa.array([1.0, 2.0])}),
        pa.record_batch({"x": pa.array([3.0, float("nan")])}),
    ]
    with pytest.raises(InvalidRowError, match=r"row 3 column 'x'"):
        arrow_ndjson(batches)


def test_types_without_a_json_form_are_refused_with_advice():
    table = pa.table({"d": pa.array([dt.timedelta(seconds=1)], pa.duration("s"))})
    with pytest.raises(RowTypeError, match=r"column 'd' has Arrow type duration\[s\].*int64"):
        arrow_ndjson(table)
    keys = pa.table({"m": pa.array([[(1.5, 1)]], pa.map_(pa.float64(), pa.int8()))})
    with pytest.raises(RowTypeError, match=r"column 'm' is a map with double keys"):
        arrow_ndjson(keys)


def test_duplicate_column_names_are_refused():
    table = pa.Table.from_arrays([pa.array([1]), pa.array([2])], names=["a", "a"])
    with pytest.raises(RowTypeError, match=r"column 'a' appears more than once"):
        arrow_ndjson(table)


def test_column_names_are_json_escaped():
    table = pa.table({'we"ird\\': [1], "é": [2]})
    assert lines(table) == ['{"we\\"ird\\\\":1,"é":2}']


def test_empty_inputs():
    assert arrow_ndjson(pa.table({"a": pa.array([], pa.int8())})) == (b"", 0)
    assert arrow_ndjson([]) == (b"", 0)
    assert lines(pa.table({"x": [1, 2]}).drop_columns(["x"])) == ["{}", "{}"]


def test_wrong_input_types_are_named():
    with pytest.raises(TypeError, match=r"got dict"):
        arrow_ndjson({"a": [1]})
    with pytest.raises(TypeError, match=r"item 0 of data is a int"):
        arrow_ndjson([1])


def test_dataframes_convert_through_arrow():
    pd = pytest.importorskip("pandas")
    pl = pytest.importorskip("polars")
    frame = {"id": [1, 2], "name": ["a", None], "at": [T, T]}
    want = [
        '{"id":1,"name":"a","at":"2024-01-02T03:04:05.123456"}',
        '{"id":2,"name":null,"at":"2024-01-02T03:04:05.123456"}',
    ]
    assert lines(dataframe_table(pl.DataFrame(frame))) == want
    pandas_df = pd.DataFrame(frame, index=[10, 11])
    pandas_df["at"] = pandas_df["at"].astype("datetime64[us]")
    assert lines(dataframe_table(pandas_df)) == want  # the index is not a column
    with pytest.raises(RowTypeError, match=r"cannot be converted to Arrow"):
        dataframe_table(pd.DataFrame({"mixed": [1, "a"]}))
    with pytest.raises(TypeError, match=r"pandas or polars DataFrame, got list"):
        dataframe_table([1])


def test_the_library_imports_without_pyarrow_and_names_the_extra_when_used():
    code = (
        "import sys; sys.modules['pyarrow'] = None\n"
        "import snowpipe_stream\n"
        "from snowpipe_stream._arrow import arrow_ndjson\n"
        "try:\n"
        "    arrow_ndjson([])\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert 'pip install "snowpipe-stream[arrow]"' in out.stdout
