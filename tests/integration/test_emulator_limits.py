"""Append bodies at and past the emulator's size cap: accepted up to it, 413 past it, and memory
that never depends on what a body or a compressed frame claims.

Snowflake's REST page allows 16 MB per request (its limits page says 4 MB on the wire), and
Snowflake's own SDK sends about 4.3 MB of uncompressed NDJSON per request: the emulator accepts
16 MiB by default, compressed or not, and answers 413 ``ERR_PAYLOAD_TOO_LARGE`` past it.
"""

from __future__ import annotations

import gzip
import io
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import zstandard

from snowpipe_stream import PrivateKey
from snowpipe_stream._constants import EMULATOR_MAX_REQUEST_BYTES
from snowpipe_stream._jwt import mint_jwt
from snowpipe_stream.emulator import Emulator
from snowpipe_stream.emulator import _messages as M
from tests.integration.conftest import ACCOUNT, DB, PIPE, SCHEMA, USER

JSON = {"Accept": "application/json"}
BASE = f"/v2/streaming/databases/{DB}/schemas/{SCHEMA}/pipes/{PIPE}"
DATA = f"/v2/streaming/data/databases/{DB}/schemas/{SCHEMA}/pipes/{PIPE}"
MIB = 1024 * 1024
TOO_LARGE = (413, "ERR_PAYLOAD_TOO_LARGE")


class Ingest:
    """A scoped session on one channel of an emulator at ``url``."""

    def __init__(self, url: str, key: PrivateKey, timeout: float = 30) -> None:
        jwt = mint_jwt(key, account=ACCOUNT, user=USER, now=time.time(), lifetime_secs=600)[0]
        scoped = httpx.post(
            f"{url}/oauth/token",
            headers={**JSON, "Authorization": f"Bearer {jwt}"},
            data={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer"},
        )
        assert scoped.status_code == 200, scoped.text
        self.headers = {**JSON, "Authorization": f"Bearer {scoped.text}"}
        self.http = httpx.Client(base_url=url, headers=self.headers, timeout=timeout)
        opened = self.http.put(f"{BASE}/channels/ch", json={})
        assert opened.status_code == 200, opened.text
        self.cont = opened.json()["next_continuation_token"]

    def close(self) -> None:
        self.http.close()

    def append_path(self) -> str:
        return f"{DATA}/channels/ch/rows?continuationToken={self.cont}&offsetToken=1"

    def append(self, body: bytes | Iterator[bytes], encoding: str | None = None) -> httpx.Response:
        headers = {"Content-Type": "application/x-ndjson"}
        if encoding:
            headers["Content-Encoding"] = encoding
        resp = self.http.post(self.append_path(), content=body, headers=headers)
        if resp.status_code == 200:
            self.cont = resp.json()["next_continuation_token"]
        return resp


def sdk_sized_body() -> bytes:
    """22,000 rows of about 198 bytes: one request of Snowflake's SDK in rowset mode (4.3 MB)."""
    pad = "x" * 150
    return b"".join(
        b'{"n":%d,"source":"official-sdk","pad":"%s"}\n' % (i, pad.encode()) for i in range(22000)
    )


def answer(resp: httpx.Response) -> tuple[int, str]:
    return resp.status_code, resp.json()["code"]


@pytest.fixture
def small_cap(rsa_key: PrivateKey) -> Iterator[tuple[Emulator, Ingest]]:
    with Emulator(
        users=[(ACCOUNT, USER, rsa_key)], max_request_bytes=64 * 1024, commit_delay_ms=0
    ) as emu:
        ingest = Ingest(emu.url, rsa_key)
        yield emu, ingest
        ingest.close()


def test_the_default_cap_is_snowflakes_16_mb_not_the_clients_4() -> None:
    assert EMULATOR_MAX_REQUEST_BYTES == 16 * MIB


@pytest.mark.parametrize("encoding", [None, "zstd", "gzip"])
def test_a_request_of_snowflakes_sdk_size_is_accepted(rsa_key: PrivateKey, encoding: str) -> None:
    raw = sdk_sized_body()
    assert 4 * MIB < len(raw) < 5 * MIB
    body = {
        None: raw,
        "zstd": zstandard.ZstdCompressor().compress(raw),
        "gzip": gzip.compress(raw, compresslevel=1),
    }[encoding]
    with Emulator(users=[(ACCOUNT, USER, rsa_key)], commit_delay_ms=0) as emu:
        ingest = Ingest(emu.url, rsa_key)
        resp = ingest.append(body, encoding)
        ingest.close()
        assert resp.status_code == 200, resp.text
        rows = emu.rows(DB, SCHEMA, PIPE, "ch")
        assert len(rows) == 22000 and rows[-1]["n"] == 21999


@pytest.mark.parametrize("encoding", [None, "zstd", "gzip"])
def test_uncompressed_size_over_the_cap_is_413(
    small_cap: tuple[Emulator, Ingest], encoding: str
) -> None:
    emu, ingest = small_cap
    raw = b'{"a":"' + b"x" * (64 * 1024) + b'"}\n'
    body = {
        None: raw,
        "zstd": zstandard.ZstdCompressor().compress(raw),
        "gzip": gzip.compress(raw),
    }[encoding]
    resp = ingest.append(body, encoding)
    assert answer(resp) == TOO_LARGE
    assert "65536" in resp.json()["message"]
    fits = ingest.append(b'{"a":"' + b"x" * (60 * 1024) + b'"}\n', None)
    assert fits.status_code == 200, fits.text
    assert emu.stats()["requests"]["append 413"] == 1


@pytest.mark.parametrize("declares_size", [True, False])
def test_a_zstd_bomb_is_413_not_inflated(
    small_cap: tuple[Emulator, Ingest], declares_size: bool
) -> None:
    _, ingest = small_cap
    bomb = zstd_bomb(64 * MIB, declares_size)
    assert len(bomb) < 8 * 1024
    assert answer(ingest.append(bomb, "zstd")) == TOO_LARGE


def test_a_zstd_frame_asking_for_a_huge_window_is_413(small_cap: tuple[Emulator, Ingest]) -> None:
    """The decoder would allocate the 128 MiB window a frame asks for: refused before it does."""
    _, ingest = small_cap
    buf = io.BytesIO()
    params = zstandard.ZstdCompressionParameters(window_log=27, write_content_size=False)
    with zstandard.ZstdCompressor(compression_params=params).stream_writer(buf, closefd=False) as w:
        w.write(b'{"a":1}\n')
    assert zstandard.get_frame_parameters(buf.getvalue()).window_size == 128 * MIB
    assert answer(ingest.append(buf.getvalue(), "zstd")) == TOO_LARGE


def test_concatenated_zstd_frames_are_one_body(small_cap: tuple[Emulator, Ingest]) -> None:
    emu, ingest = small_cap
    c = zstandard.ZstdCompressor()
    resp = ingest.append(c.compress(b'{"a":1}\n') + c.compress(b'{"a":2}\n'), "zstd")
    assert resp.status_code == 200, resp.text
    assert emu.rows(DB, SCHEMA, PIPE, "ch") == [{"a": 1}, {"a": 2}]


@pytest.mark.parametrize("encoding", ["zstd", "gzip"])
def test_a_truncated_body_is_a_decoding_error_not_a_size_error(
    small_cap: tuple[Emulator, Ingest], encoding: str
) -> None:
    _, ingest = small_cap
    raw = b"".join(b'{"i":%d}\n' % i for i in range(1000))
    body = zstandard.ZstdCompressor().compress(raw) if encoding == "zstd" else gzip.compress(raw)
    resp = ingest.append(body[: len(body) // 2], encoding)
    assert answer(resp) == (400, "ERR_INVALID_CONTENT_ENCODING")
    assert "truncated" in resp.json()["message"]


def test_a_streamed_body_over_the_cap_is_413(small_cap: tuple[Emulator, Ingest]) -> None:
    _, ingest = small_cap
    chunks = (b'{"a":"' + b"x" * 4000 + b'"}\n' for _ in range(40))  # chunked, no Content-Length
    assert answer(ingest.append(chunks)) == TOO_LARGE


def test_a_content_length_over_the_cap_is_refused_before_the_body_is_read(
    small_cap: tuple[Emulator, Ingest],
) -> None:
    """Headers claiming a terabyte, and no body at all: the answer comes without waiting for it."""
    emu, ingest = small_cap
    host, port = emu.url.removeprefix("http://").split(":")
    head = [
        f"POST {ingest.append_path()} HTTP/1.1",
        f"Host: {host}:{port}",
        *(f"{k}: {v}" for k, v in ingest.headers.items()),
        "Content-Type: application/x-ndjson",
        f"Content-Length: {10**12}",
    ]
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        reply = b""
        while M.PAYLOAD_TOO_LARGE[1].encode() not in reply:
            data = sock.recv(65536)
            assert data, f"connection closed without the code: {reply!r}"
            reply += data
    assert reply.startswith(b"HTTP/1.1 413 ")


def zstd_bomb(size: int, declares_size: bool = True) -> bytes:
    """One zstd frame of ``size`` zero bytes, built a MiB at a time (1 GiB: 33 KB)."""
    buf = io.BytesIO()
    cctx = zstandard.ZstdCompressor(level=1, write_content_size=declares_size)
    with cctx.stream_writer(buf, size=size if declares_size else -1, closefd=False) as w:
        for _ in range(size // MIB):
            w.write(bytes(MIB))
    return buf.getvalue()


# --- memory of a separate emulator process under hostile bodies ------------------------------


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM in /proc status")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
def test_hostile_bodies_keep_the_emulator_within_100_mb_of_idle(
    tmp_path: Path, rsa_key: PrivateKey
) -> None:
    """A 33 KB zstd frame declaring 1 GiB, and 400 MiB streamed plain: both 413, memory flat."""
    (tmp_path / "a.pub").write_text(rsa_key.public_key_pem())
    args = [sys.executable, "-m", "snowpipe_stream.emulator", "--account", ACCOUNT]
    args += ["--user", USER, "--public-key", str(tmp_path / "a.pub")]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    try:
        url = proc.stdout.readline().strip().rsplit(" ", 1)[1]
        ingest = Ingest(url, rsa_key, timeout=60)
        assert ingest.append(sdk_sized_body(), None).status_code == 200  # a legal body first
        idle = peak_rss_mb(proc.pid)

        bomb = zstd_bomb(1024 * MIB)
        assert len(bomb) < 40 * 1024
        assert zstandard.frame_content_size(bomb) == 1024 * MIB
        assert answer(ingest.append(bomb, "zstd")) == TOO_LARGE

        piece = b'{"a":"' + b"x" * (MIB - 9) + b'"}\n'
        assert answer(ingest.append(piece for _ in range(400))) == TOO_LARGE

        ingest.close()
        grown = peak_rss_mb(proc.pid) - idle
        assert grown < 100, f"peak RSS grew {grown:.0f} MB over idle {idle:.0f} MB"
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=10)
        proc.stdout.close()
    assert code == 0


def test_the_command_line_sets_the_cap() -> None:
    from snowpipe_stream.emulator.__main__ import build_parser, make_emulator

    default = make_emulator(build_parser().parse_args([]))
    assert default.state.max_request_bytes == 16 * MIB
    set_ = make_emulator(build_parser().parse_args(["--max-request-bytes", "1000000"]))
    assert set_.state.max_request_bytes == 1_000_000
    assert "--max-request-bytes" in build_parser().format_help()
