"""CSV inputs as the user meant: no BOM in a column name, TSV and other delimiters, nulls, typed
values with every digit kept, ragged rows named by file:line. The installed command, against the
emulator."""

from __future__ import annotations

from pathlib import Path

from snowpipe_stream.emulator import Emulator
from tests.cli.test_cli import emu, ingest

__all__ = ["emu"]


def rows(emu: Emulator, channel: str) -> list[dict[str, object]]:
    return list(emu.rows("DB", "S", "P", channel))


def test_a_tsv_with_a_bom_and_empty_cells(emu: Emulator, tmp_path: Path) -> None:
    data = tmp_path / "people.tsv"
    data.write_bytes("\ufeffid\tname\tnote\n1\tAda, L.\t\n2\tBob\tx\n".encode())
    out = ingest(emu, str(data), channel="tsv")
    assert out.returncode == 0, out.stderr
    assert rows(emu, "tsv") == [
        {"id": "1", "name": "Ada, L.", "note": None},
        {"id": "2", "name": "Bob", "note": "x"},
    ]
    other = tmp_path / "people.txt"
    other.write_text("id;name\n1;a\n")
    for channel, delimiter in (("semi", ";"), ("tab", "\\t")):
        if delimiter == "\\t":
            other.write_text("id\tname\n1\ta\n")
        out = ingest(
            emu, str(other), channel=channel, extra=("--format", "csv", "--delimiter", delimiter)
        )
        assert out.returncode == 0, out.stderr
        assert rows(emu, channel) == [{"id": "1", "name": "a"}]
    out = ingest(emu, str(other), channel="bad", extra=("--format", "csv", "--delimiter", ";;"))
    assert out.returncode == 2 and "--delimiter" in out.stderr


def test_null_value_and_no_null(emu: Emulator, tmp_path: Path) -> None:
    data = tmp_path / "n.csv"
    data.write_text("a,b\nNULL,\n")
    out = ingest(emu, str(data), channel="nv", extra=("--null-value", "NULL"))
    assert out.returncode == 0, out.stderr
    assert rows(emu, "nv") == [{"a": None, "b": ""}]
    out = ingest(emu, str(data), channel="nn", extra=("--no-null",))
    assert out.returncode == 0, out.stderr
    assert rows(emu, "nn") == [{"a": "NULL", "b": ""}]
    out = ingest(emu, str(data), channel="x", extra=("--no-null", "--null-value", "NULL"))
    assert out.returncode == 2 and "contradict" in out.stderr


def test_infer_types_keeps_every_digit(emu: Emulator, tmp_path: Path) -> None:
    data = tmp_path / "t.csv"
    big = "123456789012345678901234567890.123456789012345678901"
    data.write_text(
        f"i,neg,d,e,big,t,f,zip,word,empty\n42,-7,0.10,1.5e3,{big},TRUE,false,007,hello,\n"
    )
    out = ingest(emu, str(data), channel="typed", extra=("--infer-types",))
    assert out.returncode == 0, out.stderr
    raw = emu.state.rows_ndjson("DB", "S", "P", "typed")
    assert raw == (
        b'{"i":42,"neg":-7,"d":0.10,"e":1.5E+3,"big":' + big.encode() + b',"t":true,'
        b'"f":false,"zip":"007","word":"hello","empty":null}\n'
    ), raw
    # Without --infer-types: strings (Snowflake converts them to the column's type).
    out = ingest(emu, str(data), channel="strings")
    assert out.returncode == 0, out.stderr
    assert rows(emu, "strings")[0]["i"] == "42" and rows(emu, "strings")[0]["t"] == "TRUE"


def test_a_ragged_row_names_file_and_line(emu: Emulator, tmp_path: Path) -> None:
    data = tmp_path / "r.csv"
    data.write_text("a,b\n1,2\n3\n4,5\n")
    out = ingest(emu, str(data), channel="r")
    assert out.returncode == 65
    assert f"{data}:3: 1 fields, but the header has 2" in out.stderr
    assert rows(emu, "r") == [{"a": "1", "b": "2"}]
    # A TSV read as CSV: the message says what it looks like.
    tsv = tmp_path / "looks.csv"
    tsv.write_text("a\tb\n1\t2\n3,4\n")
    out = ingest(emu, str(tsv), channel="t")
    assert out.returncode == 65 and "--delimiter" in out.stderr, out.stderr
