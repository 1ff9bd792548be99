"""Run Snowflake's official Python SDK against a URL; write the results as JSON to a file.

Invoked by test_official_sdk.py in a subprocess: the SDK's Rust runtime keeps threads and
logs to stdout itself. Arguments: URL ACCOUNT USER KEY_FILE ROWS RESULT_FILE.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from snowflake.ingest.streaming import StreamingIngestClient


def main() -> int:
    url, account, user, key_file, n, result_file = sys.argv[1:7]
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
    for i in range(1, rows + 1):
        channel.append_row({"n": i, "source": "official-sdk", "pad": pad}, str(i))
    channel.wait_for_commit(
        lambda token: token is not None and int(token) >= rows, timeout_seconds=120
    )
    st = client.get_channel_statuses(["sdk-channel"])["sdk-channel"]
    channel.close(drop=True)
    client.close()
    result = {
        "opened_at": opened,
        "committed": st.latest_committed_offset_token,
        "rows_inserted": st.rows_inserted_count,
        "status": st.status_code,
    }
    Path(result_file).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
