"""README's "DataFrames and Parquet": its example is examples/dataframes.py, and it runs."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from snowpipe_stream import PrivateKey
from snowpipe_stream.emulator import Emulator
from tests.cli.test_readme import README, ROOT, python_blocks
from tests.conftest import KEYS

pytest.importorskip("pandas")


def test_the_dataframe_example_is_in_the_readme_and_resumes(rsa_key: PrivateKey) -> None:
    assert "## DataFrames and Parquet" in README
    body = (ROOT / "examples" / "dataframes.py").read_text().split('"""', 2)[2].strip()
    assert any(body == block.strip() for block in python_blocks())
    with Emulator(users=[("myorg-myacct", "svc", rsa_key)]) as emu:
        env = {
            **os.environ,
            "SNOWFLAKE_ACCOUNT": "myorg-myacct",
            "SNOWFLAKE_USER": "svc",
            "SNOWFLAKE_URL": emu.url,
            "SNOWFLAKE_PRIVATE_KEY_PATH": str(KEYS / "rsa_key.p8"),
        }
        for run in (1, 2):  # the second run resumes after the first
            out = subprocess.run(
                [sys.executable, str(ROOT / "examples" / "dataframes.py")],
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            assert out.returncode == 0, out.stderr
            assert out.stdout.strip() == f"committed up to {2000 * run}"
        rows = emu.rows("MY_DB", "PUBLIC", "EVENTS-STREAMING", "frames-1")
        assert [r["id"] for r in rows] == list(range(1, 4001))
        assert rows[0] == {"id": 1, "kind": "click"} and rows[1000] == {"id": 1001, "score": 0.5}
