"""One JSON value into one Snowflake column type, case by case, each with where its rule is from.

Values arrive as the emulator decodes them: a JSON number with a fraction or an exponent is a
``Decimal``. ``Err("text")`` means the row is refused with a message containing the text. Where
the documentation is silent, the comment says "docs silent" and what the emulator chose.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest

from snowpipe_stream.emulator._ddl import Column, ColumnType, parse_ddl
from snowpipe_stream.emulator._types import ConversionError, convert, convert_row

NUM = "https://docs.snowflake.com/en/sql-reference/data-types-numeric"
LOGICAL = "https://docs.snowflake.com/en/sql-reference/data-types-logical"
TEXT = "https://docs.snowflake.com/en/sql-reference/data-types-text"
DATETIME = "https://docs.snowflake.com/en/sql-reference/data-types-datetime"
TO_TS = "https://docs.snowflake.com/en/sql-reference/functions/to_timestamp"
BIN = "https://docs.snowflake.com/en/user-guide/binary-input-output"
SEMI = "https://docs.snowflake.com/en/sql-reference/data-types-semistructured"
CONV = "https://docs.snowflake.com/en/sql-reference/data-type-conversion"
ROUND = "https://docs.snowflake.com/en/sql-reference/functions/round"


@dataclass(frozen=True)
class Err:
    text: str


def T(kind: str, precision: int | None = None, scale: int | None = None, length: int | None = None):
    return ColumnType(kind, precision, scale, length)


N38 = T("NUMBER", 38, 0)
N52 = T("NUMBER", 5, 2)
TS = T("TIMESTAMP_NTZ", scale=9)
LTZ = T("TIMESTAMP_LTZ", scale=9)
TZ = T("TIMESTAMP_TZ", scale=9)

CASES: list[tuple[ColumnType, Any, Any, str]] = [
    # --- NUMBER / DECIMAL / INT ---------------------------------------------------------
    (N38, 42, 42, NUM),  # an integer fits NUMBER(38,0)
    (N38, "42", 42, CONV),  # VARCHAR -> NUMBER is a supported conversion
    (N38, " 7 ", 7, CONV),  # docs silent on blanks around digits: chose to trim, as casts do
    (N38, "abc", Err("Numeric value 'abc' is not recognized"), CONV),
    (N38, "1e3", 1000, NUM),  # numeric constants accept exponents
    (N38, Decimal("2.5"), 3, ROUND),  # scale 0 rounds half away from zero (ROUND's mode)
    (N38, Decimal("-2.5"), -3, ROUND),  # ... away from zero for negatives too
    (N52, Decimal("1.005"), Decimal("1.01"), ROUND),  # rounded to the scale
    (N52, Decimal("999.99"), Decimal("999.99"), NUM),  # 3 digits left of the point: fits (5-2)
    (N52, 1000, Err("Number out of representable range"), NUM),  # 4 > precision - scale
    (N52, Decimal("999.995"), Err("out of representable range"), NUM),  # rounds up past it
    (T("NUMBER", 2, 0), 999, Err("out of representable range"), NUM),  # "999 ... not NUMBER(2,0)"
    (N38, "1" * 38, int("1" * 38), NUM),  # 38 digits fit NUMBER(38,0)
    (N38, "1" * 39, Err("out of representable range"), NUM),  # 39 do not
    (N38, True, 1, LOGICAL),  # BOOLEAN -> number: TRUE is 1
    (N38, "NaN", Err("is not recognized"), NUM),  # NaN is a FLOAT value only
    (N38, {"a": 1}, Err("is not recognized"), CONV),  # OBJECT -> NUMBER is not a conversion
    # --- FLOAT / DOUBLE / REAL ----------------------------------------------------------
    (T("FLOAT"), Decimal("1.5"), 1.5, NUM),
    (T("FLOAT"), "3.25", 3.25, CONV),
    (T("FLOAT"), "NaN", "NaN", NUM),  # FLOAT accepts 'NaN', 'inf', '-inf'
    (T("FLOAT"), "-inf", "-inf", NUM),
    (T("FLOAT"), "x1", Err("Numeric value 'x1' is not recognized"), CONV),
    (T("FLOAT"), Decimal("1e400"), Err("out of representable range"), NUM),  # past double
    # --- VARCHAR / STRING / TEXT --------------------------------------------------------
    (T("TEXT", length=5), "hello", "hello", TEXT),  # length counts characters
    (T("TEXT", length=5), "héllo", "héllo", TEXT),  # ... not bytes
    (T("TEXT", length=5), "hello!", Err("is too long and would be truncated"), TEXT),
    (T("TEXT", length=10), 12, "12", CONV),  # NUMBER -> VARCHAR
    (T("TEXT", length=10), True, "true", LOGICAL),  # BOOLEAN -> text is 'true'/'false'
    (T("TEXT", length=20), {"a": 1}, '{"a":1}', SEMI),  # docs silent on layout: compact JSON
    # --- BOOLEAN ------------------------------------------------------------------------
    (T("BOOLEAN"), True, True, LOGICAL),
    (T("BOOLEAN"), "yes", True, LOGICAL),  # 'true','t','yes','y','on','1' -> TRUE
    (T("BOOLEAN"), "ON", True, LOGICAL),  # case-insensitive
    (T("BOOLEAN"), "off", False, LOGICAL),  # 'false','f','no','n','off','0' -> FALSE
    (T("BOOLEAN"), "0", False, LOGICAL),
    (T("BOOLEAN"), 0, False, LOGICAL),  # zero -> FALSE
    (T("BOOLEAN"), Decimal("0.5"), True, LOGICAL),  # any non-zero -> TRUE
    (T("BOOLEAN"), "maybe", Err("Boolean value 'maybe' is not recognized"), LOGICAL),
    # --- DATE / TIME / TIMESTAMP --------------------------------------------------------
    (T("DATE"), "2024-02-29", "2024-02-29", DATETIME),
    (T("DATE"), "2023-02-29", Err("Date '2023-02-29' is not recognized"), DATETIME),
    (T("DATE"), "2024-02-29T23:00:00", "2024-02-29", DATETIME),  # time part dropped
    (T("TIME", scale=9), "13:45:07.5", "13:45:07.5", DATETIME),
    (T("TIME", scale=0), "13:45:07.5", "13:45:07", DATETIME),  # docs silent: chose truncation
    (T("TIME", scale=9), "25:00:00", Err("Time '25:00:00' is not recognized"), DATETIME),
    (TS, "2024-01-02T03:04:05.123456789", "2024-01-02T03:04:05.123456789", DATETIME),
    (TS, "2024-01-02 03:04:05+05:00", "2024-01-02T03:04:05", DATETIME),  # NTZ drops the offset
    (LTZ, "2024-01-02 03:04:05+05:00", "2024-01-01T22:04:05+00:00", DATETIME),  # to UTC (session)
    (TZ, "2024-01-02 03:04:05+05:00", "2024-01-02T03:04:05+05:00", DATETIME),  # offset kept
    (TZ, "2024-01-02 03:04:05", "2024-01-02T03:04:05+00:00", DATETIME),  # session TZ: UTC here
    (TS, "1700000000", "2023-11-14T22:13:20", TO_TS),  # integer string < 31536000000: seconds
    (TS, "1700000000123", "2023-11-14T22:13:20.123", TO_TS),  # ... below 31536000000000: ms
    (TS, 1700000000123456, "2023-11-14T22:13:20.123456", TO_TS),  # ... microseconds
    (TS, "yesterday", Err("Timestamp 'yesterday' is not recognized"), DATETIME),
    # --- BINARY -------------------------------------------------------------------------
    (T("BINARY", length=8), "48656c6C6f", "48656C6C6F", BIN),  # hex is the default format
    (T("BINARY", length=8), "xyz", Err("not a legal hex-encoded value"), BIN),
    (T("BINARY", length=2), "AABBCC", Err("too long"), BIN),  # BINARY(n): n bytes at most
    # --- VARIANT / OBJECT / ARRAY -------------------------------------------------------
    (T("VARIANT"), {"a": [1, "x"]}, {"a": [1, "x"]}, SEMI),  # any JSON value, as it came
    (T("OBJECT"), {"a": 1}, {"a": 1}, SEMI),
    (T("OBJECT"), [1], Err("to OBJECT"), SEMI),  # docs silent on a non-object: chose refusal
    (T("ARRAY"), [1, 2], [1, 2], SEMI),
    (T("ARRAY"), 5, Err("to ARRAY"), SEMI),  # docs silent: chose refusal over wrapping
]


@pytest.mark.parametrize(
    ("ctype", "value", "expected", "source"),
    CASES,
    ids=[f"{c[0]}-{c[1]!r}"[:60] for c in CASES],
)
def test_value_into_type(ctype: ColumnType, value: Any, expected: Any, source: str) -> None:
    assert source.startswith("https://docs.snowflake.com/")
    if isinstance(expected, Err):
        with pytest.raises(ConversionError) as info:
            convert(value, ctype)
        assert expected.text in str(info.value)
    else:
        got = convert(value, ctype)
        assert got == expected and type(got) is type(expected)


def test_there_are_at_least_40_cases() -> None:
    assert len(CASES) >= 40


# --- rows through a pipe ------------------------------------------------------------------

DDL = """
CREATE TABLE t (
    id INT NOT NULL,
    name VARCHAR(3) DEFAULT 'abc',
    seq INT AUTOINCREMENT START 10 INCREMENT 5,
    at TIMESTAMP_LTZ DEFAULT CURRENT_TIMESTAMP(),
    "Flag" BOOLEAN
);
CREATE PIPE p AS COPY INTO t (id, "Flag") FROM
    (SELECT $1:user.id::number, $1:flag FROM TABLE(DATA_SOURCE(TYPE => 'STREAMING')));
"""
SCHEMA = parse_ddl(DDL)


def _counter() -> Any:
    seen: dict[str, int] = {}

    def identity(c: Column) -> int:
        assert c.identity is not None
        start, inc = c.identity
        seen[c.name] = seen.get(c.name, start - inc) + inc
        return seen[c.name]

    return identity


def test_default_pipe_fills_defaults_identity_and_maps_names_case_insensitively() -> None:
    # PIPE object page: DEFAULT and AUTOINCREMENT columns are supported; docs silent on key
    # case for the default pipe: chose exact name first, then case-insensitive.
    pipe = SCHEMA.pipe(("D", "S", "T-STREAMING"))
    assert pipe is not None
    ident = _counter()
    row = convert_row(pipe, {"id": "7", "Flag": "yes", "extra": 1}, ident, 0.0)
    assert row == {
        "ID": 7,
        "NAME": "abc",
        "SEQ": 10,
        "AT": "1970-01-01T00:00:00+00:00",
        "Flag": True,
    }
    assert convert_row(pipe, {"ID": 8, "name": None}, ident, 0.0)["SEQ"] == 15
    # An explicit null is kept: DEFAULT applies only to a column the row leaves out.
    assert convert_row(pipe, {"ID": 8, "name": None}, ident, 0.0)["NAME"] is None


def test_not_null_and_bad_values_name_the_column() -> None:
    pipe = SCHEMA.pipe(("D", "S", "T-STREAMING"))
    assert pipe is not None
    with pytest.raises(ConversionError, match=r"^Column ID: NULL result in a non-nullable column"):
        convert_row(pipe, {"name": "x"}, _counter(), 0.0)
    with pytest.raises(ConversionError, match=r"^Column NAME: String 'abcd' is too long"):
        convert_row(pipe, {"id": 1, "name": "abcd"}, _counter(), 0.0)


def test_named_pipe_reads_paths_and_casts_before_the_column() -> None:
    pipe = SCHEMA.pipe(("D", "S", "P"))
    assert pipe is not None
    row = convert_row(
        pipe, {"user": {"id": Decimal("4.6")}, "flag": 0, "name": "zz"}, _counter(), 0
    )
    # NAME is not selected by the pipe: its DEFAULT applies, the row's "name" is not read.
    assert (row["ID"], row["Flag"], row["NAME"]) == (5, False, "abc")
    with pytest.raises(ConversionError, match=r"^Column ID: Numeric value 'x' is not"):
        convert_row(pipe, {"user": {"id": "x"}}, _counter(), 0)
    with pytest.raises(ConversionError, match=r"^Column ID: NULL result"):
        convert_row(pipe, {"user": "not an object"}, _counter(), 0)


def test_typed_pipes_check_a_batch_and_keep_error_rows_verbatim() -> None:
    import msgspec

    from snowpipe_stream.emulator._types import TypedPipes

    typed = TypedPipes(parse_ddl("CREATE TABLE t (n NUMBER(3, 1), seq INT AUTOINCREMENT)"))
    pipe = typed.pipe(("D", "S", "T-STREAMING"))
    assert pipe is not None
    data, rows, bad = typed.check(pipe, b'{"n":1.25}\n{"n":1e999}\n{"n":"2"}\n', 0.0)
    assert (data, rows) == (b'{"N":1.3,"SEQ":1}\n{"N":2.0,"SEQ":2}\n', 2)
    assert [(msgspec.json.encode(r), m) for r, m in bad] == [
        (
            b'{"n":1e999}',
            "Column N: Number out of representable range: type NUMBER(3,1), value 1E+999",
        )
    ]
    # The AUTOINCREMENT counter belongs to the table and goes on across batches.
    assert typed.check(pipe, b'{"n":0}\n', 0.0)[0] == b'{"N":0.0,"SEQ":3}\n'
    typed.record(pipe.key, "ch", "7", bad, 1.5)
    assert typed.errors[-1]["offset_token"] == "7" and typed.errors[-1]["timestamp_ms"] == 1500


def test_binary_reads_each_binary_input_format() -> None:
    t = ColumnType("BINARY", length=4)
    assert convert("c0ffee", t, "HEX") == "C0FFEE"
    assert convert("wP/u", t, "BASE64") == "C0FFEE"
    assert convert("hé", t, "UTF-8") == "68C3A9"
    with pytest.raises(ConversionError, match="legal base64-encoded value"):
        convert("c0ffee!", t, "BASE64")
    with pytest.raises(ConversionError, match="too long"):
        convert("AAAAAAAA", t, "BASE64")  # 6 bytes into BINARY(4)
