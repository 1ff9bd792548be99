"""A scripted stand-in for Snowflake behind ``httpx.MockTransport``, for client unit tests.

It answers every endpoint the client uses with just enough state (continuation tokens, a
committed offset per channel, the rows it accepted) and lets a test script the next answers
of one kind of call. Integration tests use the real emulator instead.
"""

from __future__ import annotations

import gzip
import json
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import httpx
import zstandard

from snowpipe_stream import PrivateKey
from snowpipe_stream._jwt import mint_jwt

CONTROL = "https://myorg-acct.snowflakecomputing.com"


@dataclass
class Scripted:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    #: "respond" (the answer above), "lost" (process the call, then fail the connection),
    #: or "drop" (fail the connection without processing).
    action: str = "respond"


def kind_of(request: httpx.Request) -> str:
    path = request.url.path
    if path == "/v2/streaming/hostname":
        return "hostname"
    if path == "/oauth/token":
        return "token"
    if path.endswith(":bulk-channel-status"):
        return "status"
    if path.endswith(":pipe-info"):
        return "pipe_info"
    if path.endswith("/rows"):
        return "append"
    if request.method == "PUT":
        return "open"
    if request.method == "DELETE":
        return "drop"
    return "other"


class FakeSnowflake:
    def __init__(
        self,
        *,
        ingest_host: str = "myorg_acct.ingest.example.com",
        scoped_key: PrivateKey | None = None,
        commit_on_append: bool = True,
        commit_on_status: bool = False,
    ) -> None:
        self.ingest_host = ingest_host
        self.requests: list[httpx.Request] = []
        self.script: dict[str, list[Scripted]] = defaultdict(list)
        self.rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.pending: dict[str, list[tuple[str | None, list[dict[str, Any]]]]] = defaultdict(list)
        self.committed: dict[str, str | None] = {}
        self.sequencer: dict[str, int] = defaultdict(int)
        self.next_cont: dict[str, int] = defaultdict(int)
        self.tokens_issued = 0
        self.scoped_key = scoped_key
        self.commit_on_append = commit_on_append
        self.commit_on_status = commit_on_status
        self.status_code: dict[str, str] = defaultdict(lambda: "SUCCESS")
        #: Rows "Snowflake" rejected, per channel, and the last error (message, offset bound).
        self.rows_error_count: dict[str, int] = defaultdict(int)
        self.last_error: dict[str, tuple[str, str]] = {}
        #: What the status says of Snowflake's average processing latency (ms), if anything.
        self.avg_latency_ms: int | None = None
        #: The pipe's BINARY_INPUT_FORMAT as ``:pipe-info`` answers it (None: names none).
        self.binary_input_format: str | None = "HEX"

    # --- test helpers ---------------------------------------------------------------------

    def then(self, kind: str, *answers: Scripted) -> FakeSnowflake:
        self.script[kind].extend(answers)
        return self

    def calls(self, kind: str) -> list[httpx.Request]:
        return [r for r in self.requests if kind_of(r) == kind]

    def commit_all(self) -> None:
        for channel, batches in self.pending.items():
            for token, rows in batches:
                self.rows[channel].extend(rows)
                if token is not None:
                    self.committed[channel] = token
            batches.clear()

    def mock(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def async_mock(self) -> httpx.MockTransport:
        async def handle(request: httpx.Request) -> httpx.Response:
            await request.aread()
            return self.handle(request)

        return httpx.MockTransport(handle)

    # --- the server -----------------------------------------------------------------------

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        kind = kind_of(request)
        if self.script[kind]:
            scripted = self.script[kind].pop(0)
            if scripted.action == "drop":
                raise httpx.RemoteProtocolError("server disconnected", request=request)
            if scripted.action == "respond":
                body = scripted.body
                content = (
                    json.dumps(body).encode()
                    if not isinstance(body, str | bytes)
                    else body.encode()
                    if isinstance(body, str)
                    else body
                )
                if body is None:
                    content = b""
                return httpx.Response(scripted.status, content=content, headers=scripted.headers)
            self._serve(kind, request)  # "lost": processed, but the answer never arrives
            raise httpx.ReadError("connection reset", request=request)
        return self._serve(kind, request)

    def _channel(self, request: httpx.Request) -> str:
        parts = request.url.raw_path.decode().split("?")[0].split("/")
        i = parts.index("channels")
        return unquote(parts[i + 1])

    def _serve(self, kind: str, request: httpx.Request) -> httpx.Response:
        if kind == "hostname":
            return httpx.Response(200, text=self.ingest_host)
        if kind == "token":
            self.tokens_issued += 1
            if self.scoped_key is not None:
                token, _ = mint_jwt(
                    self.scoped_key, account="x", user="y", now=1_700_000_000, lifetime_secs=3600
                )
            else:
                token = f"scoped-token-{self.tokens_issued}"
            return httpx.Response(200, text=token)
        if kind == "pipe_info":
            fmt = self.binary_input_format
            return httpx.Response(
                200, json={"parameter_overrides": {"binary_input_format": fmt} if fmt else {}}
            )
        if kind == "open":
            ch = self._channel(request)
            self.sequencer[ch] += 1
            self.pending[ch].clear()
            if self.status_code[ch] == "ERR_CHANNEL_HAS_INVALID_ROW_SEQUENCER":
                del self.status_code[ch]  # reopening heals what the row sequencer broke
            body = json.loads(request.content or b"{}")
            if "offset_token" in body:
                self.committed[ch] = body["offset_token"]
            return httpx.Response(
                200,
                json={
                    "next_continuation_token": self._cont(ch),
                    "channel_status": self._status(ch),
                },
            )
        if kind == "append":
            ch = self._channel(request)
            params = request.url.params
            cont = params["continuationToken"]
            if cont.split("-")[0] != str(self.sequencer[ch]):
                return httpx.Response(
                    400,
                    json={
                        "code": "STALE_CONTINUATION_TOKEN_SEQUENCER",
                        "message": "Channel sequencer in the continuation token is stale.",
                    },
                )
            if cont != self._current(ch):  # a token used twice (a retry after a lost answer)
                self.status_code[ch] = "ERR_CHANNEL_HAS_INVALID_ROW_SEQUENCER"
                return httpx.Response(
                    400,
                    json={
                        "code": "ERR_CHANNEL_HAS_INVALID_ROW_SEQUENCER",
                        "message": "The row sequencer is invalid.",
                    },
                )
            content = request.content
            encoding = request.headers.get("Content-Encoding")
            if encoding == "zstd":
                content = zstandard.ZstdDecompressor().decompress(content)
            elif encoding == "gzip":
                content = gzip.decompress(content)
            rows = [json.loads(line) for line in content.splitlines() if line.strip()]
            self.pending[ch].append((params.get("endOffsetToken"), rows))
            if self.commit_on_append:
                self.commit_all()
            return httpx.Response(
                200,
                json={"next_continuation_token": self._cont(ch)},
                headers={"x-snowflake-session": f"session-{ch}"},
            )
        if kind == "status":
            if self.commit_on_status:
                self.commit_all()
            names = json.loads(request.content)["channel_names"]
            return httpx.Response(
                200,
                json={
                    "channel_statuses": {n: self._status(n) for n in names if n in self.sequencer}
                },
            )
        if kind == "drop":
            ch = self._channel(request)
            for table in (self.sequencer, self.committed, self.pending):
                table.pop(ch, None)
            return httpx.Response(200, json={})
        return httpx.Response(404, json={"code": "NOT_FOUND"})

    def _cont(self, ch: str) -> str:
        self.next_cont[ch] += 1
        return f"{self.sequencer[ch]}-{self.next_cont[ch]}"

    def _current(self, ch: str) -> str:
        return f"{self.sequencer[ch]}-{self.next_cont[ch]}"

    def _status(self, ch: str) -> dict[str, Any]:
        return {
            "channel_name": ch,
            "channel_status_code": self.status_code[ch],
            "last_committed_offset_token": self.committed.get(ch),
            "rows_inserted": len(self.rows[ch]),
            "rows_error_count": self.rows_error_count[ch],
            "last_error_message": self.last_error.get(ch, (None, None))[0],
            "last_error_offset_upper_bound": self.last_error.get(ch, (None, None))[1],
            "snowflake_avg_processing_latency_ms": self.avg_latency_ms,
        }
