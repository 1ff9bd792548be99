"""README's "DataFrames and Parquet": its example is examples/dataframes.py, and it runs."""

from __future__ import annotations

import pytest

from snowpipe_stream import PrivateKey
from snowpipe_stream.emulator import Emulator
from tests.cli.test_readme import README, example_in_readme, run_example

pytest.importorskip("pandas")


def test_the_dataframe_example_is_in_the_readme_and_resumes(rsa_key: PrivateKey) -> None:
    assert "## DataFrames and Parquet" in README
    assert example_in_readme("dataframes.py")
    with Emulator(users=[("myorg-myacct", "svc", rsa_key)]) as emu:
        for run in (1, 2):  # the second run resumes after the first
            assert run_example(emu, "dataframes.py") == f"committed up to {2000 * run}"
        rows = emu.rows("MY_DB", "PUBLIC", "EVENTS-STREAMING", "frames-1")
        assert [r["id"] for r in rows] == list(range(1, 4001))
        assert rows[0] == {"id": 1, "kind": "click"} and rows[1000] == {"id": 1001, "score": 0.5}
