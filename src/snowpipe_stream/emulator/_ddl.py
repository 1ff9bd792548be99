"""The user's own Snowflake DDL, parsed with sqlglot's Snowflake dialect (no I/O here).

Understood: ``CREATE [OR REPLACE] TABLE`` (columns, types, NOT NULL, DEFAULT, AUTOINCREMENT /
IDENTITY), ``CREATE [OR REPLACE] PIPE p AS COPY INTO t [(cols)] FROM (SELECT $1:c1,
$1:c2::type, ... FROM TABLE(DATA_SOURCE(TYPE => 'STREAMING')))``, and ``USE DATABASE`` /
``USE SCHEMA`` (which qualify later names). Every table also has its default pipe
``<TABLE>-STREAMING``, which maps JSON keys to columns by name. Statements that change nothing
the emulator models (GRANT, ALTER, CREATE DATABASE/SCHEMA/ROLE/..., SET) are ignored; anything
else the emulator cannot honour (a pipe reading a stage, a select item other than ``$1:path``)
is refused with a :class:`DdlError` naming the statement.

Names follow Snowflake: unquoted identifiers are upper-cased, quoted ones kept as written. Pipe
and table lookups are upper-cased like the emulator's pipe keys. A name given without database
or schema (and no ``USE``) matches any database or schema.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any, TypeVar

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

__all__ = [
    "NOW",
    "Column",
    "ColumnType",
    "DdlError",
    "Mapping",
    "Pipe",
    "Schema",
    "Table",
    "parse_ddl",
]

#: The DEFAULT of a column set to the current time or date (CURRENT_TIMESTAMP(), SYSDATE(), ...).
NOW = "<now>"

Key = tuple[str, str, str]
_V = TypeVar("_V")


class DdlError(ValueError):
    """DDL the emulator cannot honour; the message names the statement and the problem."""


@dataclass(frozen=True)
class ColumnType:
    """A Snowflake type, reduced to what validation needs.

    ``kind`` is one of NUMBER, FLOAT, TEXT, BOOLEAN, DATE, TIME, TIMESTAMP_NTZ, TIMESTAMP_LTZ,
    TIMESTAMP_TZ, BINARY, VARIANT, OBJECT, ARRAY. ``precision``/``scale`` for NUMBER (scale
    also the fractional digits of TIME and TIMESTAMP_*), ``length`` for TEXT and BINARY.
    """

    kind: str
    precision: int | None = None
    scale: int | None = None
    length: int | None = None

    def __str__(self) -> str:
        if self.kind == "NUMBER":
            return f"NUMBER({self.precision},{self.scale})"
        if self.length is not None:
            return f"{'VARCHAR' if self.kind == 'TEXT' else self.kind}({self.length})"
        return self.kind


@dataclass(frozen=True)
class Column:
    name: str
    type: ColumnType
    nullable: bool = True
    #: A JSON value (converted like an input value), ``NOW``, or None for no DEFAULT.
    default: Any = None
    has_default: bool = False
    #: ``(start, increment)`` for AUTOINCREMENT / IDENTITY columns.
    identity: tuple[int, int] | None = None


@dataclass(frozen=True)
class Table:
    key: Key
    columns: tuple[Column, ...]

    def column(self, name: str) -> Column | None:
        for c in self.columns:
            if c.name == name:
                return c
        return None


@dataclass(frozen=True)
class Mapping:
    """One select item of a pipe: the JSON path it reads, the cast it applies, where it goes."""

    column: str
    path: tuple[str, ...]
    cast: ColumnType | None = None


@dataclass(frozen=True)
class Pipe:
    key: Key
    table: Table
    #: None for a default pipe (JSON keys mapped to columns by name).
    mappings: tuple[Mapping, ...] | None


class Schema:
    """Tables and pipes declared by DDL; :meth:`pipe` also answers default pipes."""

    def __init__(self) -> None:
        self.tables: dict[Key, Table] = {}
        self.pipes: dict[Key, Pipe] = {}

    def __bool__(self) -> bool:
        return bool(self.tables or self.pipes)

    def table(self, key: Key) -> Table | None:
        return _lookup(self.tables, key)

    def pipe(self, key: Key) -> Pipe | None:
        """The pipe ``(DB, SCHEMA, PIPE)`` (upper-case), declared or default; None if neither."""
        key = (key[0].upper(), key[1].upper(), key[2].upper())
        found = _lookup(self.pipes, key)
        if found is not None:
            return found
        if key[2].endswith("-STREAMING"):
            table = self.table((key[0], key[1], key[2][: -len("-STREAMING")]))
            if table is not None:
                return Pipe(key, table, None)
        return None


def _lookup(d: dict[Key, _V], key: Key) -> _V | None:
    key = (key[0].upper(), key[1].upper(), key[2].upper())
    if key in d:
        return d[key]
    for k, v in d.items():
        if k[2] == key[2] and k[1] in ("", key[1]) and k[0] in ("", key[0]):
            return v
    return None


# --- parsing ------------------------------------------------------------------------------

_IGNORED = (exp.Grant, exp.Set, exp.Alter, exp.Comment, exp.Drop)
_IGNORED_KINDS = {
    "DATABASE",
    "SCHEMA",
    "ROLE",
    "USER",
    "WAREHOUSE",
    "STAGE",
    "FILE FORMAT",
    "SEQUENCE",
}


def _ident(node: exp.Expression | None) -> str:
    if node is None:
        return ""
    if isinstance(node, exp.Identifier):
        return node.name if node.quoted else node.name.upper()
    return node.name.upper()


def _int(node: Any) -> int:
    return int(node.this.name if isinstance(node, exp.DataTypeParam) else node.name)


def column_type(dt: exp.DataType, where: str) -> ColumnType:
    """The :class:`ColumnType` of a sqlglot data type; a DdlError for unsupported types."""
    T = exp.DataType.Type
    try:
        params = [_int(p) for p in dt.expressions]
    except ValueError:  # VECTOR(FLOAT, 3) and other types whose parameters are not sizes
        raise DdlError(
            f"{where}: type {dt.sql('snowflake')} is not supported by the emulator"
        ) from None
    t = dt.this
    if t == T.DECIMAL:
        p = params[0] if params else 38
        s = params[1] if len(params) > 1 else 0
        if not 1 <= p <= 38 or not 0 <= s <= min(p, 37):
            raise DdlError(f"{where}: NUMBER({p},{s}) is not a valid precision and scale")
        return ColumnType("NUMBER", p, s)
    if t in (T.INT, T.BIGINT, T.SMALLINT, T.TINYINT):
        return ColumnType("NUMBER", 38, 0)  # synonyms of NUMBER(38,0) in Snowflake
    if t in (T.DOUBLE, T.FLOAT):
        return ColumnType("FLOAT")
    if t in (T.VARCHAR, T.TEXT, T.CHAR, T.NCHAR, T.NVARCHAR):
        if params:
            return ColumnType("TEXT", length=params[0])
        # CHAR without a length is CHAR(1) in Snowflake; VARCHAR's maximum is 16 MB.
        return ColumnType("TEXT", length=1 if t in (T.CHAR, T.NCHAR) else 16_777_216)
    if t == T.BOOLEAN:
        return ColumnType("BOOLEAN")
    if t == T.DATE:
        return ColumnType("DATE")
    if t == T.TIME:
        return ColumnType("TIME", scale=params[0] if params else 9)
    stamps = {
        T.TIMESTAMP: "TIMESTAMP_NTZ",  # TIMESTAMP_TYPE_MAPPING's default
        T.DATETIME: "TIMESTAMP_NTZ",
        T.TIMESTAMPNTZ: "TIMESTAMP_NTZ",
        T.TIMESTAMPLTZ: "TIMESTAMP_LTZ",
        T.TIMESTAMPTZ: "TIMESTAMP_TZ",
    }
    if t in stamps:
        return ColumnType(stamps[t], scale=params[0] if params else 9)
    if t in (T.BINARY, T.VARBINARY):
        return ColumnType("BINARY", length=params[0] if params else 8_388_608)
    if t in (T.VARIANT, T.OBJECT, T.ARRAY):
        return ColumnType(t.name)
    raise DdlError(f"{where}: type {dt.sql('snowflake')} is not supported by the emulator")


def _default(node: exp.Expression, where: str) -> Any:
    if isinstance(node, exp.Null):
        return None
    if isinstance(node, exp.Boolean):
        return bool(node.this)
    if isinstance(node, exp.Neg) and isinstance(node.this, exp.Literal):
        return "-" + node.this.name
    if isinstance(node, exp.Literal):
        return node.name  # numbers too, as text: converted exactly by the column's type
    if isinstance(node, (exp.CurrentTimestamp, exp.CurrentDate, exp.CurrentTime)) or (
        isinstance(node, exp.Anonymous)
        and node.name.upper() in ("SYSDATE", "GETDATE", "LOCALTIMESTAMP", "SYSTIMESTAMP")
    ):
        return NOW
    raise DdlError(
        f"{where}: DEFAULT {node.sql('snowflake')} is not supported by the emulator "
        "(use a literal or CURRENT_TIMESTAMP())"
    )


def _column(cd: exp.ColumnDef, table: str) -> Column:
    name = _ident(cd.this)
    where = f"column {name} of table {table}"
    kind = cd.args.get("kind")
    if not isinstance(kind, exp.DataType):
        raise DdlError(f"{where}: a column needs a type")
    ctype = column_type(kind, where)
    nullable, default, has_default = True, None, False
    identity: tuple[int, int] | None = None
    for cons in cd.args.get("constraints") or []:
        k = cons.args.get("kind")
        if isinstance(k, exp.NotNullColumnConstraint):
            nullable = bool(k.args.get("allow_null"))
        elif isinstance(k, exp.DefaultColumnConstraint):
            default, has_default = _default(k.this, where), True
        elif isinstance(k, exp.AutoIncrementColumnConstraint):
            identity = (1, 1)
        elif isinstance(k, exp.GeneratedAsIdentityColumnConstraint):
            start, inc = k.args.get("start"), k.args.get("increment")
            identity = (
                int(start.sql()) if start is not None else 1,
                int(inc.sql()) if inc is not None else 1,
            )
    return Column(name, ctype, nullable, default, has_default, identity)


class _Context:
    def __init__(self, database: str, schema: str) -> None:
        self.database, self.schema = database, schema

    def key(self, table: exp.Table) -> Key:
        db = _ident(table.args.get("catalog")) or self.database
        schema = _ident(table.args.get("db")) or self.schema
        return (db.upper(), schema.upper(), _ident(table.this).upper())


def _path(node: exp.Expression, where: str) -> tuple[str, ...] | None:
    """The JSON path of ``$1:a.b`` (``()`` for ``$1`` itself); None if it is neither."""
    if isinstance(node, exp.Parameter) and node.name == "1":
        return ()
    if isinstance(node, exp.JSONExtract) and isinstance(node.this, exp.Parameter):
        if node.this.name != "1":
            return None
        keys: list[str] = []
        for part in node.expression.expressions:
            if isinstance(part, exp.JSONPathRoot):
                continue
            if not isinstance(part, exp.JSONPathKey):
                raise DdlError(f"{where}: only object keys are supported in paths")
            keys.append(str(part.this))
        return tuple(keys)
    return None


def _mapping(item: exp.Expression, column: str, where: str) -> Mapping:
    node = item.this if isinstance(item, exp.Alias) else item
    cast: ColumnType | None = None
    if isinstance(node, (exp.Cast, exp.TryCast)):
        cast = column_type(node.args["to"], where)
        node = node.this
    path = _path(node, where)
    if path is None:
        raise DdlError(
            f"{where}: select item {item.sql('snowflake')} is not supported by the emulator "
            "(use $1:key or $1:key::type)"
        )
    return Mapping(column, path, cast)


_NAME = r'(?:"[^"]*"|[A-Za-z_$][\w$]*)'
_PIPE_RE = re.compile(
    rf"\s*(?:OR\s+REPLACE\s+)?PIPE\s+(?:IF\s+NOT\s+EXISTS\s+)?"
    rf"(?P<name>{_NAME}(?:\s*\.\s*{_NAME}){{0,2}})"
    r".*?\bAS\s+(?P<copy>COPY\b.*)",
    re.IGNORECASE | re.DOTALL,
)


def _pipe(command: exp.Command, ctx: _Context, schema: Schema, text: str) -> None:
    """``CREATE [OR REPLACE] PIPE [IF NOT EXISTS] name [options] AS COPY INTO ...``.

    sqlglot keeps CREATE PIPE as an opaque command: only its name and the ``AS`` that starts
    the COPY are found here; the name and the COPY statement are then parsed by sqlglot.
    """
    body = str(command.args.get("expression") or "")
    m = _PIPE_RE.match(body)
    if m is None:
        raise DdlError(f"CREATE PIPE needs a name and AS COPY INTO ...: {text[:80]!r}")
    pipe_table = sqlglot.parse_one(m["name"], read="snowflake", into=exp.Table)
    pipe_key = ctx.key(pipe_table)
    copy_sql = m["copy"]
    where = f"pipe {'.'.join(p for p in pipe_key if p)}"
    try:
        copy = sqlglot.parse_one(copy_sql, read="snowflake")
    except ParseError as exc:
        raise DdlError(f"{where}: cannot parse its COPY statement: {exc}") from None
    if not isinstance(copy, exp.Copy):
        raise DdlError(f"{where}: expected AS COPY INTO <table> FROM (SELECT ...)")
    target = copy.this
    names: list[str] | None = None
    if isinstance(target, exp.Schema):
        names = [_ident(e) for e in target.expressions]
        target = target.this
    table = schema.table(ctx.key(target))
    if table is None:
        raise DdlError(f"{where}: table {target.sql('snowflake')} is not declared before it")
    files = copy.args.get("files") or []
    select = files[0].this if files and isinstance(files[0], exp.Subquery) else None
    if not isinstance(select, exp.Select) or "DATA_SOURCE" not in select.sql("snowflake").upper():
        raise DdlError(
            f"{where}: only COPY INTO <table> FROM (SELECT ... FROM "
            "TABLE(DATA_SOURCE(TYPE => 'STREAMING'))) is supported"
        )
    items = select.expressions
    targets = names if names is not None else [c.name for c in table.columns]
    if len(items) > len(targets):
        raise DdlError(f"{where}: {len(items)} select items for {len(targets)} columns")
    mappings = []
    for item, col in zip(items, targets[: len(items)], strict=True):
        if table.column(col) is None:
            raise DdlError(f"{where}: table {table.key[2]} has no column {col}")
        mappings.append(_mapping(item, col, where))
    schema.pipes[pipe_key] = Pipe(pipe_key, table, tuple(mappings))


def parse_ddl(sql: str, database: str = "", schema: str = "") -> Schema:
    """The tables and pipes that ``sql`` declares; a :class:`DdlError` for what it cannot honour."""
    out = Schema()
    ctx = _Context(database.upper(), schema.upper())
    sqlglot_log = logging.getLogger("sqlglot")
    level = sqlglot_log.level
    sqlglot_log.setLevel(logging.ERROR)  # it warns when it falls back to a Command (CREATE PIPE)
    try:
        statements = sqlglot.parse(sql, read="snowflake")
    except ParseError as exc:
        raise DdlError(f"cannot parse the DDL: {exc}") from None
    finally:
        sqlglot_log.setLevel(level)
    for st in statements:
        if st is None:
            continue
        text = st.sql("snowflake")
        if isinstance(st, exp.Use):
            kind = (st.args.get("kind") or exp.Var(this="")).name.upper()
            t = st.this
            if kind == "DATABASE":
                ctx.database, ctx.schema = _ident(t.this).upper(), ""
            elif kind == "SCHEMA" or (kind == "" and isinstance(t, exp.Table)):
                if t.args.get("db") is not None:
                    ctx.database = _ident(t.args["db"]).upper()
                ctx.schema = _ident(t.this).upper()
            continue
        if isinstance(st, exp.Create):
            kind = str(st.args.get("kind") or "").upper()
            if kind == "TABLE":
                sch = st.this
                if not isinstance(sch, exp.Schema) or st.args.get("expression") is not None:
                    raise DdlError(f"CREATE TABLE needs a column list: {text[:80]!r}")
                key = ctx.key(sch.this)
                cols = tuple(
                    _column(cd, key[2]) for cd in sch.expressions if isinstance(cd, exp.ColumnDef)
                )
                out.tables[key] = Table(key, cols)
                continue
            if kind in _IGNORED_KINDS:
                continue
            raise DdlError(f"CREATE {kind} is not supported by the emulator: {text[:80]!r}")
        if isinstance(st, exp.Command) and st.name.upper() == "CREATE":
            rest = str(st.args.get("expression") or "").upper().split()
            rest = [w for w in rest if w not in ("OR", "REPLACE")]
            if rest and rest[0] == "PIPE":
                _pipe(st, ctx, out, text)
                continue
            if rest and (rest[0] in _IGNORED_KINDS or " ".join(rest[:2]) in _IGNORED_KINDS):
                continue
        if isinstance(st, _IGNORED):
            continue
        raise DdlError(f"statement not supported by the emulator: {text[:80]!r}")
    return out
