"""Stream 1,000 rows, resuming after the last committed one (README's sync example)."""

from snowpipe_stream import Client

# Credentials from SNOWFLAKE_ACCOUNT, SNOWFLAKE_USER and SNOWFLAKE_PRIVATE_KEY_PATH.
with Client("quickstart", "MY_DB", "PUBLIC", "EVENTS-STREAMING") as client:
    channel, status = client.open_channel("events-1")
    start = int(status.last_committed_offset_token or 0)  # resume after a restart
    for i in range(start + 1, start + 1001):
        channel.append_row({"id": i, "kind": "click"}, offset_token=str(i))
    channel.wait_for_commit(str(start + 1000), timeout=60)
    print("committed up to", channel.latest_committed_offset_token)
