"""JSON-array inputs are streamed with a bounded buffer, and their errors name the record and
the byte offset. The splitter over in-memory bytes, then the installed command against the
emulator."""

from __future__ import annotations

import io
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from benchmarks import bench_inputs

from snowpipe_stream import PrivateKey
from snowpipe_stream.cli._jsonarray import CHUNK, Elements
from snowpipe_stream.cli._readers import BadInput
from snowpipe_stream.emulator import Emulator
from tests.cli.test_cli import committed, emu, ingest

__all__ = ["emu"]


def elements(data: bytes, chunk: int = CHUNK) -> list[Any]:
    items = list(Elements("f.json", io.BytesIO(data), BadInput, chunk=chunk))
    for _, (value, text), size in items:  # each element's own text, parsed: the same object
        assert json.loads(text) == value and size == len(text)
    return [value for _, (value, _), _ in items]


def error(data: bytes, chunk: int = CHUNK) -> BadInput:
    with pytest.raises(BadInput) as info:
        elements(data, chunk)
    return info.value


DOCS = [
    [{"n": i, "s": "é✓" * (i % 3), "f": 1.25e-3 * i, "big": 10**20 + i} for i in range(40)],
    [],
    [{"nested": [1, {"a": [2, 3]}], "t": True, "z": None}],
]


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 64, CHUNK])
def test_every_element_whatever_the_chunk_boundaries(chunk: int) -> None:
    for doc in DOCS:
        for text in (json.dumps(doc), json.dumps(doc, indent=2, ensure_ascii=False)):
            assert elements(text.encode(), chunk) == doc
    # A number that ends where a chunk ends is not cut short.
    assert elements(b'[{"n": 123456}]', chunk) == [{"n": 123456}]
    # A single object is one record; whitespace only: none.
    assert elements(b' {"a": 1} \n', chunk) == [{"a": 1}]
    assert elements(b" \n", chunk) == []


def test_sizes_are_bytes_in_the_file() -> None:
    data = '[{"s": "é"}, {"s": "ab"}]'.encode()
    sizes = [size for _, _, size in Elements("f", io.BytesIO(data), BadInput)]
    assert sizes == [len('{"s": "é"}'.encode()), len(b'{"s": "ab"}')]


def test_errors_name_the_record_and_the_byte() -> None:
    cases = [
        (b'[{"a":1},{"a":2} {"a":3}]', 3, 17, "expected ',' or ']'"),
        (
            b'[{"a":1},[1]]',
            2,
            9,
            "record 2 is an array, not an object",
        ),
        (b'[{"a":1},{"a" 2}]', 2, 14, "invalid JSON: Expecting ':' delimiter"),
        (b'[{"a":1},', 2, 9, "the array is not closed"),
        (b'[{"a":1}] x', 1, 10, "more data after the end"),
        (b"42", 1, 0, "not a JSON array or object"),
    ]
    for data, index, offset, reason in cases:
        for chunk in (3, CHUNK):
            exc = error(data, chunk)
            assert (exc.line, exc.unit, reason in exc.reason) == (index, "record", True), (
                data,
                exc,
            )
            assert exc.offset == offset, (data, exc)
            assert str(exc).startswith(f"f.json: record {index} (byte {offset}): ")
        exc = error(b'[{"a":"\xff"}]', chunk)
        assert str(exc).startswith("f.json: not UTF-8 text at byte 7 "), exc


def test_a_large_array_is_held_a_chunk_at_a_time() -> None:
    rows = [{"n": i, "pad": "x" * 100} for i in range(40_000)]
    data = json.dumps(rows).encode()
    assert len(data) > 4_000_000
    reader = Elements("big.json", io.BytesIO(data), BadInput)
    count = sum(1 for _ in reader)
    assert count == 40_000
    # Never more than two chunks and a record: not the 4 MB file.
    assert reader.peak <= 2 * CHUNK + 200, reader.peak


def test_ingest_of_a_one_line_array_names_the_bad_record(emu: Emulator, tmp_path: Path) -> None:
    data = tmp_path / "rows.json"
    good = [json.dumps({"n": i}) for i in range(1, 6)]
    bad = [*good[:2], '{"n": 3,}', *good[3:]]
    data.write_text("[" + ",".join(bad) + "]")
    out = ingest(emu, str(data))
    assert out.returncode == 65, out.stderr
    offset = len("[" + ",".join(good[:2]) + ",") + len('{"n": 3,')
    assert f"{data}: record 3 (byte {offset}): invalid JSON" in out.stderr, out.stderr
    assert f"hint: fix {data} record 3 (byte {offset})" in out.stderr
    assert committed(emu) == [1, 2]
    data.write_text("[" + ",\n ".join(good) + "]")  # fixed (and laid out otherwise)
    out = ingest(emu, str(data))
    assert out.returncode == 0, out.stderr
    assert "ingested 3 new rows" in out.stdout and committed(emu) == [1, 2, 3, 4, 5]
    # Pretty-printed, with a number no float holds: sent as written, on one line.
    exact = tmp_path / "exact.json"
    exact.write_text('[\n  {\n    "d": 0.1000000000000000000001,\n    "s": "a b"\n  }\n]\n')
    out = ingest(emu, str(exact), channel="exact")
    assert out.returncode == 0, out.stderr
    raw = emu.state.rows_ndjson("DB", "S", "P", "exact")
    assert raw.count(b"\n") == 1 and raw.endswith(b"\n")
    exact_d = Decimal("0.1000000000000000000001")
    assert json.loads(raw, parse_float=Decimal) == {"d": exact_d, "s": "a b"}
    # A record the channel refuses (too large) is named as a record too, not a line.
    big = tmp_path / "big.json"
    big.write_text(json.dumps([{"n": 1}, {"n": 2, "blob": "x" * 5000}]))
    out = ingest(emu, str(big), channel="big", extra=("--batch-bytes", "4096"))
    assert out.returncode == 65 and f"{big}: record 2: " in out.stderr, out.stderr
    assert "over the 4096-byte request limit" in out.stderr


def test_the_inputs_benchmark_runs(rsa_key: PrivateKey, tmp_path: Path) -> None:
    lines = bench_inputs.inputs(rsa_key, tmp_path, 1, gz_rows=1000)
    assert any(line.startswith("| JSON array, one line | ") for line in lines), lines
