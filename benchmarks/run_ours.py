"""Our client in a process of its own, as ``run_official_sdk.py chunks`` runs Snowflake's: the
same rows, built first, appended 10,000 at a time, then wait for the commit. Arguments: URL
ACCOUNT USER KEY_FILE ROWS RESULT_FILE. The result (JSON) has ``seconds`` from the first append
to the confirmed commit and ``cpu``, the process's CPU time (every thread) over that span."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from snowpipe_stream import Client


def main() -> int:
    url, account, user, key_file, n, result_file = sys.argv[1:7]
    rows = int(n)
    pad = "x" * 150
    batch = [{"n": i, "source": "official-sdk", "pad": pad} for i in range(1, rows + 1)]
    with Client(
        "ours",
        "DB",
        "SCHEMA",
        "PIPE",
        account=account,
        user=user,
        private_key_file=key_file,
        url=url,
    ) as client:
        channel, _ = client.open_channel("our-channel")
        t0, c0 = time.perf_counter(), time.process_time()
        for i in range(0, rows, 10_000):
            chunk = batch[i : i + 10_000]
            channel.append_rows(chunk, str(i + 1), str(i + len(chunk)))
        channel.wait_for_commit(str(rows), timeout=600)
        seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
        inserted = client.get_channel_statuses(["our-channel"])["our-channel"].rows_inserted
    Path(result_file).write_text(
        json.dumps({"seconds": seconds, "cpu": cpu, "rows_inserted": inserted})
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
