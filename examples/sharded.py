"""Spread records over 4 channels, exactly once across restarts (README's "Sharding over
several channels (library)")."""

from snowpipe_stream import Client

# Channels clicks-1 .. clicks-4, checked first: records dealt over another number of channels
# there are refused (ShardingMismatchError) before any channel is opened.
with (
    Client("sharded", "MY_DB", "PUBLIC", "EVENTS-STREAMING") as client,
    client.open_sharded_channel("clicks", channels=4) as clicks,
):
    start = clicks.resume_from  # 1 on the first run; after a crash, replay from here
    rows = [{"id": n, "kind": "click"} for n in range(start, start + 5000)]
    clicks.append_rows(rows, first_number=start)  # record n goes to the channel owning it
    print("committed up to", clicks.wait_for_commit(timeout=60) - 1)
