"""Client overhead per row with no network (MockTransport), and end to end into the emulator."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import msgspec

from snowpipe_stream import Client, PrivateKey
from snowpipe_stream.cli._events import events
from snowpipe_stream.emulator import Emulator

DB, SCHEMA, PIPE = "DB", "S", "P"


def _instant_snowflake() -> httpx.MockTransport:
    """Answers every call at once: the cost measured is the client's own."""
    counter = iter(range(1, 10**9))

    def handle(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.endswith("/hostname"):
            return httpx.Response(200, text="ingest.example.com")
        if path == "/oauth/token":
            return httpx.Response(200, text="scoped")
        if path.endswith("/rows"):
            return httpx.Response(200, json={"next_continuation_token": f"c{next(counter)}"})
        if path.endswith(":bulk-channel-status"):
            name = json.loads(request.content)["channel_names"][0]
            return httpx.Response(
                200,
                json={
                    "channel_statuses": {
                        name: {
                            "channel_status_code": "SUCCESS",
                            "last_committed_offset_token": None,
                        }
                    }
                },
            )
        return httpx.Response(
            200,
            json={
                "next_continuation_token": "c0",
                "channel_status": {"channel_status_code": "SUCCESS"},
            },
        )

    return httpx.MockTransport(handle)


def make_client(
    key: PrivateKey,
    compression: str,
    url: str = "https://acct.example.com",
    transport: Any = None,
    **kw: Any,
) -> Client:
    return Client(
        "bench",
        DB,
        SCHEMA,
        PIPE,
        account="acct",
        user="u",
        private_key=key,
        url=url,
        compression=compression,
        max_client_lag=0,
        transport=transport,
        allow_insecure_http=True,
        max_inflight_bytes=1 << 40,
        **kw,
    )


def per_row_overhead(key: PrivateKey, rows: list[dict[str, Any]]) -> list[str]:
    size = len(msgspec.json.encode(rows[0]))
    lines = [
        "## Client overhead per row, no network",
        "",
        f"{len(rows):,} rows of ~{size} bytes; MockTransport answers at once.",
        "",
        "| call | compression | µs/row |",
        "|---|---|---|",
    ]
    enc = msgspec.json.Encoder()
    blobs = [enc.encode_lines(rows[i : i + 1000]) for i in range(0, len(rows), 1000)]
    tokens = [str(i) for i in range(1, len(rows) + 1)]
    for compression in ("none", "zstd"):
        for method in ("append_row", "append_row(token)", "append_rows", "append_ndjson"):
            best = float("inf")
            for _ in range(3):
                with make_client(key, compression, transport=_instant_snowflake()) as client:
                    channel, _ = client.open_channel("bench")
                    t0 = time.perf_counter()
                    if method == "append_row":
                        for row in rows:
                            channel.append_row(row)
                    elif method == "append_row(token)":  # a token per row: checked, kept
                        for row, token in zip(rows, tokens, strict=True):
                            channel.append_row(row, token)
                    elif method == "append_rows":
                        for i in range(0, len(rows), 1000):
                            channel.append_rows(rows[i : i + 1000])
                    else:  # the same rows as NDJSON already encoded, 1,000 lines a call
                        for blob in blobs:
                            channel.append_ndjson(blob)
                    channel.flush()
                    best = min(best, time.perf_counter() - t0)
                    channel._core.closed = "by the benchmark"  # nothing commits in the mock
            lines.append(f"| `{method}` | {compression} | {best / len(rows) * 1e6:.2f} |")
    lines.append("")
    return lines


def emulator_ingest(key: PrivateKey, rows: list[dict[str, Any]]) -> list[str]:
    """The emulator alone: pre-encoded 4 MiB zstd batches posted back to back."""
    import zstandard

    from snowpipe_stream._jwt import mint_jwt

    blob = msgspec.json.Encoder().encode_lines(rows)
    cuts, start = [], 0
    while start < len(blob):
        end = blob.rfind(b"\n", start, start + 4 * 1024 * 1024) + 1
        cuts.append(blob[start:end])
        start = end
    bodies = [zstandard.ZstdCompressor(level=1).compress(c) for c in cuts]
    with Emulator(users=[("acct", "u", key)], commit_delay_ms=0) as emu:
        jwt = mint_jwt(key, account="acct", user="u", now=time.time(), lifetime_secs=600)[0]
        h = {"Accept": "application/json"}
        with httpx.Client(base_url=emu.url, headers=h, timeout=60) as http:
            token = http.post(
                "/oauth/token",
                headers={"Authorization": f"Bearer {jwt}"},
                data={"scope": "127.0.0.1"},  # a scoped token is bound to its host
            ).text
            http.headers["Authorization"] = f"Bearer {token}"
            base = f"/v2/streaming/databases/{DB}/schemas/{SCHEMA}/pipes/{PIPE}"
            cont = http.put(f"{base}/channels/raw", json={}).json()["next_continuation_token"]
            t0 = time.perf_counter()
            for i, body in enumerate(bodies):
                resp = http.post(
                    f"/v2/streaming/data/databases/{DB}/schemas/{SCHEMA}/pipes/{PIPE}"
                    "/channels/raw/rows",
                    params={"continuationToken": cont, "endOffsetToken": str(i)},
                    content=body,
                    headers={"Content-Type": "application/x-ndjson", "Content-Encoding": "zstd"},
                )
                cont = resp.json()["next_continuation_token"]
            dt = time.perf_counter() - t0
    return [
        "## Emulator ingest alone",
        "",
        f"{len(blob) / 1e6:.0f} MB of NDJSON in {len(bodies)} zstd requests: "
        f"{len(blob) / dt / 1e6:.0f} MB/s ({len(rows) / dt:,.0f} rows/s)",
        "",
    ]


def run() -> list[str]:
    key = PrivateKey.generate()
    rows = events(200_000)
    return per_row_overhead(key, rows) + emulator_ingest(key, rows)
