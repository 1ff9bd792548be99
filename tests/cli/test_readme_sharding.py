"""README's "Sharding over several channels (library)": its example is examples/sharded.py,
and it runs, resuming where the last run stopped."""

from __future__ import annotations

from snowpipe_stream import PrivateKey
from snowpipe_stream._sharding import owner
from snowpipe_stream.emulator import Emulator
from tests.cli.test_readme import README, example_in_readme, run_example


def test_the_sharding_example_is_in_the_readme_and_resumes(rsa_key: PrivateKey) -> None:
    assert "**Sharding over several channels (library).**" in README
    assert example_in_readme("sharded.py")
    with Emulator(users=[("myorg-myacct", "svc", rsa_key)]) as emu:
        for run in (1, 2):  # the second run resumes after the first
            assert run_example(emu, "sharded.py") == f"committed up to {5000 * run}"
        every = []
        for k in range(1, 5):
            ids = [r["id"] for r in emu.rows("MY_DB", "PUBLIC", "EVENTS-STREAMING", f"clicks-{k}")]
            assert ids == [n for n in range(1, 10_001) if owner(n, 4) == k - 1]
            every += ids
        assert sorted(every) == list(range(1, 10_001))
