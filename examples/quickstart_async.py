"""The same with asyncio (README's async example)."""

import asyncio

from snowpipe_stream import AsyncClient


async def main() -> None:
    async with AsyncClient("quickstart", "MY_DB", "PUBLIC", "EVENTS-STREAMING") as client:
        channel, status = await client.open_channel("events-2")
        start = int(status.last_committed_offset_token or 0)
        rows = [{"id": i, "kind": "view"} for i in range(start + 1, start + 1001)]
        await channel.append_rows(rows, str(start + 1), str(start + 1000))
        await channel.wait_for_commit(str(start + 1000), timeout=60)
        print("committed up to", channel.latest_committed_offset_token)


asyncio.run(main())
