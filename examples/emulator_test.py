"""Test your own pipeline offline: the emulator, a throw-away key, a scripted fault (README)."""

from snowpipe_stream import Client, ClientConfig, PrivateKey
from snowpipe_stream.emulator import Emulator

key = PrivateKey.generate()  # the emulator knows its public key
with Emulator(users=[("myorg-myacct", "svc", key)]) as emu:
    emu.faults.add(path="/rows$", status=429, count=2, headers={"Retry-After": "1"})
    settings = ClientConfig(account="myorg-myacct", user="svc", private_key=key, url=emu.url)
    with Client("test", "DB", "PUBLIC", "EVENTS", config=settings) as client:
        channel, _ = client.open_channel("ch")
        channel.append_rows([{"id": i} for i in range(100)], "1", "100")
        channel.wait_for_commit("100", timeout=30)
        committed = emu.rows("DB", "PUBLIC", "EVENTS")
        print(client.stats.retries_429, "back-offs;", len(committed), "rows committed")
