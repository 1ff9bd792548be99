"""BatchBuilder.add_lines (append_arrow's cut at known line ends) makes exactly the batches
add_split (append_rows' row-by-row cut) makes, for any lines, tokens and buffered rows."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from snowpipe_stream._batching import Batch, BatchBuilder


def batches(builder: BatchBuilder, out: list[Batch]) -> list[tuple[object, ...]]:
    last = builder.cut()
    every = [*out, *([last] if last else [])]
    return [(b.payload, b.rows, b.start_token, b.end_token, b.tokens) for b in every]


@settings(max_examples=300, deadline=None)
@given(
    max_bytes=st.integers(8, 64),
    before=st.lists(st.integers(1, 8), max_size=4),
    lengths=st.lists(st.integers(1, 8), min_size=2, max_size=40),
    per_row=st.booleans(),
    start=st.one_of(st.none(), st.just("s")),
    end=st.one_of(st.none(), st.just("e")),
)
def test_add_lines_cuts_as_add_split(max_bytes, before, lengths, per_row, start, end):
    blob = b"".join(b"x" * (n - 1) + b"\n" for n in lengths)
    ends = [sum(lengths[: i + 1]) for i in range(len(lengths))]
    tokens = [f"t{i}" for i in range(len(lengths))] if per_row else None
    if tokens:  # per-row tokens come from the first and last (row_tokens)
        start, end = tokens[0], tokens[-1]
    results = []
    for way in ("split", "lines"):
        builder = BatchBuilder(max_bytes)
        out: list[Batch] = []
        for k, n in enumerate(before):  # rows already buffered by earlier calls
            builder.add(b"y" * (n - 1) + b"\n", 1, f"b{k}", f"b{k}", 0.0, out)
        if way == "split":
            split_tokens = tokens or [*([None] * (len(lengths) - 1)), end]
            builder.add_split(blob, split_tokens, start, 0.0, out)
        else:
            builder.add_lines(blob, ends, tokens, start, end, 0.0, out)
        results.append(batches(builder, out))
    assert results[0] == results[1]
