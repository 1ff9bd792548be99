"""Append a pandas DataFrame and an Arrow table, resuming after the last committed row
(README's "DataFrames and Parquet")."""

import pandas as pd
import pyarrow as pa

from snowpipe_stream import Client

with Client("frames", "MY_DB", "PUBLIC", "EVENTS-STREAMING") as client:
    channel, status = client.open_channel("frames-1")
    start = int(status.last_committed_offset_token or 0)
    df = pd.DataFrame({"id": range(start + 1, start + 1001), "kind": "click"})
    channel.append_dataframe(df, str(start + 1), str(start + 1000))
    table = pa.table({"id": range(start + 1001, start + 2001), "score": [0.5] * 1000})
    channel.append_arrow(table, str(start + 1001), str(start + 2000))
    channel.wait_for_commit(str(start + 2000), timeout=60)
    print("committed up to", channel.latest_committed_offset_token)
