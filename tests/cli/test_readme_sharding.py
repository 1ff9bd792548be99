"""README's "Sharding over several channels (library)": its example is examples/sharded.py,
and it runs, resuming where the last run stopped."""

from __future__ import annotations

import os
import subprocess
import sys

from snowpipe_stream import PrivateKey
from snowpipe_stream._sharding import owner
from snowpipe_stream.emulator import Emulator
from tests.cli.test_readme import README, ROOT, python_blocks
from tests.conftest import KEYS


def test_the_sharding_example_is_in_the_readme_and_resumes(rsa_key: PrivateKey) -> None:
    assert "**Sharding over several channels (library).**" in README
    body = (ROOT / "examples" / "sharded.py").read_text().split('"""', 2)[2].strip()
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
                [sys.executable, str(ROOT / "examples" / "sharded.py")],
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            assert out.returncode == 0, out.stderr
            assert out.stdout.strip() == f"committed up to {5000 * run}"
        every = []
        for k in range(1, 5):
            ids = [r["id"] for r in emu.rows("MY_DB", "PUBLIC", "EVENTS-STREAMING", f"clicks-{k}")]
            assert ids == [n for n in range(1, 10_001) if owner(n, 4) == k - 1]
            every += ids
        assert sorted(every) == list(range(1, 10_001))
