"""Run Snowflake's official Python SDK against a URL; write the results as JSON to a file.

Invoked by test_official_sdk.py in a subprocess: the SDK's Rust runtime keeps threads and
logs to stdout itself. Arguments: URL ACCOUNT USER KEY_FILE ROWS RESULT_FILE [MODE].

MODE ``rows`` (the default) appends row by row with a token each; ``chunks`` (the benchmark)
builds the rows first and appends them 10,000 at a time, as the benchmark of our client does.
``seconds`` in the result is the time from the first append to the confirmed commit, ``cpu``
the process's CPU time (every thread, user + system) over the same span.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from snowflake.ingest.streaming import StreamingIngestClient


def main() -> int:
    url, account, user, key_file, n, result_file = sys.argv[1:7]
    mode = sys.argv[7] if len(sys.argv) > 7 else "rows"
    rows = int(n)
    props = {
        "account": account,
        "user": user,
        "url": url,
        "private_key": Path(key_file).read_text(),
        # Stay on the /rows path: otherwise the SDK uploads large batches to cloud storage.
        # Nothing else is set: the SDK batches as it does by default (about 4.3 MB a request).
        "max_buffered_kb_for_rowset_mode": "10000000",
        "max_rowset_payload_size_mb": "100",
    }
    client = StreamingIngestClient("official-sdk", "DB", "SCHEMA", "PIPE", properties=props)
    channel, status = client.open_channel("sdk-channel")
    opened = status.latest_committed_offset_token
    pad = "x" * 150  # rows of about 200 bytes, as in a typical event stream
    if mode == "chunks":
        batch = [{"n": i, "source": "official-sdk", "pad": pad} for i in range(1, rows + 1)]
        t0, c0 = time.perf_counter(), time.process_time()
        for i in range(0, rows, 10_000):
            chunk = batch[i : i + 10_000]
            channel.append_rows(chunk, str(i + 1), str(i + len(chunk)))
    else:
        t0, c0 = time.perf_counter(), time.process_time()
        for i in range(1, rows + 1):
            channel.append_row({"n": i, "source": "official-sdk", "pad": pad}, str(i))
    channel.wait_for_commit(
        lambda token: token is not None and int(token) >= rows, timeout_seconds=600
    )
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    st = client.get_channel_statuses(["sdk-channel"])["sdk-channel"]
    channel.close(drop=True)
    client.close()
    result = {
        "opened_at": opened,
        "committed": st.latest_committed_offset_token,
        "rows_inserted": st.rows_inserted_count,
        "status": st.status_code,
        "seconds": seconds,
        "cpu": cpu,
    }
    Path(result_file).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
