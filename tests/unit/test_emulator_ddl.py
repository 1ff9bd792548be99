"""The emulator's DDL parser: tables, pipes, default pipes, refusals."""

from __future__ import annotations

import pytest

from snowpipe_stream.emulator._ddl import NOW, ColumnType, DdlError, Mapping, parse_ddl

DDL = """
USE DATABASE db;
USE SCHEMA s;
CREATE OR REPLACE TABLE events (
    id NUMBER(10, 2) NOT NULL,
    name VARCHAR(5) DEFAULT 'x',
    seq INT AUTOINCREMENT,
    ident BIGINT IDENTITY(10, 5),
    at TIMESTAMP_NTZ DEFAULT CURRENT_TIMESTAMP(),
    "Quoted" TEXT,
    payload VARIANT
);
CREATE PIPE IF NOT EXISTS ev_pipe COMMENT = 'not AS here' AS
    COPY INTO events (id, "Quoted", payload)
    FROM (SELECT $1:id::number(5, 1), $1:q, $1 FROM TABLE(DATA_SOURCE(TYPE => 'STREAMING')));
GRANT INSERT ON TABLE events TO ROLE loader;
CREATE SCHEMA other;
"""


def test_table_columns_types_and_constraints() -> None:
    t = parse_ddl(DDL).table(("DB", "S", "EVENTS"))
    assert t is not None
    cols = {c.name: c for c in t.columns}
    assert list(cols) == ["ID", "NAME", "SEQ", "IDENT", "AT", "Quoted", "PAYLOAD"]
    assert cols["ID"].type == ColumnType("NUMBER", 10, 2) and not cols["ID"].nullable
    assert cols["NAME"].type == ColumnType("TEXT", length=5)
    assert (cols["NAME"].has_default, cols["NAME"].default) == (True, "x")
    assert cols["SEQ"].identity == (1, 1) and cols["IDENT"].identity == (10, 5)
    assert cols["SEQ"].type == ColumnType("NUMBER", 38, 0)
    assert cols["AT"].default == NOW and cols["AT"].type.kind == "TIMESTAMP_NTZ"
    assert cols["Quoted"].type == ColumnType("TEXT", length=16_777_216)
    assert cols["PAYLOAD"].type.kind == "VARIANT"


def test_pipe_maps_select_items_to_listed_columns() -> None:
    pipe = parse_ddl(DDL).pipe(("db", "s", "ev_pipe"))
    assert pipe is not None and pipe.table.key == ("DB", "S", "EVENTS")
    assert pipe.mappings == (
        Mapping("ID", ("id",), ColumnType("NUMBER", 5, 1)),
        Mapping("Quoted", ("q",), None),
        Mapping("PAYLOAD", (), None),
    )


def test_default_pipe_maps_by_name_and_unknown_pipes_are_none() -> None:
    schema = parse_ddl(DDL)
    pipe = schema.pipe(("DB", "S", "EVENTS-STREAMING"))
    assert pipe is not None and pipe.mappings is None and pipe.table.key[2] == "EVENTS"
    assert schema.pipe(("DB", "S", "NOPE")) is None
    assert schema.pipe(("DB", "S", "NOPE-STREAMING")) is None


def test_unqualified_names_match_any_database_and_schema() -> None:
    schema = parse_ddl(
        "CREATE TABLE t (a INT); CREATE PIPE p AS COPY INTO t FROM "
        "(SELECT $1:a FROM TABLE(DATA_SOURCE(TYPE => 'STREAMING')))"
    )
    assert schema.pipe(("ANY", "WHERE", "P")) is not None
    assert schema.pipe(("ANY", "WHERE", "T-STREAMING")) is not None


def test_positional_mapping_without_a_column_list() -> None:
    schema = parse_ddl(
        "CREATE TABLE t (a INT, b TEXT); CREATE PIPE p AS COPY INTO t FROM "
        "(SELECT $1:x.y, CAST($1:z AS BOOLEAN) FROM TABLE(DATA_SOURCE(TYPE => 'STREAMING')))"
    )
    pipe = schema.pipe(("D", "S", "P"))
    assert pipe is not None
    assert pipe.mappings == (
        Mapping("A", ("x", "y"), None),
        Mapping("B", ("z",), ColumnType("BOOLEAN")),
    )


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("CREATE VIEW v AS SELECT 1", "CREATE VIEW is not supported"),
        ("INSERT INTO t VALUES (1)", "statement not supported by the emulator: 'INSERT"),
        ("CREATE TABLE t (g GEOGRAPHY)", "column G of table T: type GEOGRAPHY is not supported"),
        ("CREATE TABLE t (v VECTOR(FLOAT, 3))", "type VECTOR(FLOAT, 3) is not supported"),
        ("CREATE TABLE t (a INT DEFAULT UUID_STRING())", "DEFAULT UUID_STRING() is not"),
        (
            "CREATE PIPE p AS COPY INTO t FROM (SELECT $1:a FROM "
            "TABLE(DATA_SOURCE(TYPE => 'STREAMING')))",
            "table t is not declared",
        ),
        (
            "CREATE TABLE t (a INT); CREATE PIPE p AS COPY INTO t FROM @stage",
            "pipe P: only COPY INTO <table> FROM (SELECT",
        ),
        (
            "CREATE TABLE t (a INT); CREATE PIPE p AS COPY INTO t FROM (SELECT UPPER($1:a) "
            "FROM TABLE(DATA_SOURCE(TYPE => 'STREAMING')))",
            "select item UPPER(GET_PATH($1, 'a')) is not supported",
        ),
        (
            "CREATE TABLE t (a INT); CREATE PIPE p AS COPY INTO t FROM (SELECT $1:a, $1:b "
            "FROM TABLE(DATA_SOURCE(TYPE => 'STREAMING')))",
            "2 select items for 1 columns",
        ),
        ("CREATE TABLE t (a NUMBER(40, 0))", "NUMBER(40,0) is not a valid precision"),
    ],
)
def test_refused_statements_name_the_problem(sql: str, message: str) -> None:
    with pytest.raises(DdlError) as info:
        parse_ddl(sql)
    assert message in str(info.value)
