"""``ClientConfig.send_in_background``: a sender thread per channel, against the real emulator.

The appending thread checks, buffers, cuts and compresses; the channel's thread makes the
requests, one at a time and in order. What must hold: appends return while a request is out
(that is the point), the caller is held back once ``READY_BATCHES`` wait (memory), every row
lands once and in order through faults, and an error of a send reaches the caller (the next
call raises it, before buffering anything) without losing the batch that failed.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from snowpipe_stream import AsyncClient, BadRequestError, Client, PrivateKey
from snowpipe_stream._channel import _SendThread
from snowpipe_stream.emulator import Emulator, FaultRule
from snowpipe_stream.testing import FakeClock
from tests.integration.conftest import ACCOUNT, DB, PIPE, SCHEMA, USER, make_config

REQUEST = 4096  # max_request_bytes: every call below is about one request


def lines(first: int, last: int) -> bytes:
    """NDJSON rows ``first..last``, about 100 bytes each."""
    return b"".join(b'{"n":%d,"pad":"%s"}\n' % (n, b"p" * 80) for n in range(first, last + 1))


def landed(emu: Emulator, channel: str) -> list[int]:
    return [row["n"] for row in emu.rows(DB, SCHEMA, PIPE, channel)]


def wait_until(condition: Callable[[], bool], what: str, secs: float = 20) -> None:
    deadline = time.monotonic() + secs
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.005)


class GatedTransport(httpx.BaseTransport):
    """The real HTTP transport, except that appends wait for ``gate`` (set: they go)."""

    def __init__(self) -> None:
        self._inner = httpx.HTTPTransport()
        self.gate = threading.Event()
        self.gate.set()
        self.waiting = 0
        self.appends = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path.endswith("/rows"):
            self.waiting += 1
            self.gate.wait(30)
            self.waiting -= 1
            self.appends += 1
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()


def test_appends_return_while_a_request_is_out_and_wait_when_batches_pile_up(
    rsa_key: PrivateKey, clock: FakeClock
) -> None:
    transport = GatedTransport()
    with Emulator(users=[(ACCOUNT, USER, rsa_key)], clock=clock, commit_delay_ms=0) as emu:
        config = make_config(emu, rsa_key, send_in_background=True, max_request_bytes=REQUEST)
        with Client("app", DB, SCHEMA, PIPE, config=config, clock=clock, transport=transport) as c:
            channel, _ = c.open_channel("bg")
            transport.gate.clear()
            # Call k hands over rows 40k+1..40k+40 (~4 KB: a request each; a call cuts the
            # batch before it). The first batch goes out and waits at the gate; the caller
            # goes on: without the sender thread this call would wait with it.
            done: list[int] = []

            def appends(first_call: int, calls: int) -> None:
                for k in range(first_call, first_call + calls):
                    channel.append_ndjson(lines(40 * k + 1, 40 * k + 40), None, str(40 * k + 40))
                    done.append(k)

            # Calls 0 and 1: call 1 cuts batch 0, which the thread takes to the gate.
            appends(0, 2)
            wait_until(lambda: transport.waiting == 1, "the first append did not go out")
            # READY_BATCHES more batches may wait: calls 2 and 3 cut batches 1 and 2.
            appends(2, _SendThread.READY_BATCHES)
            assert len(channel._core.ready) == _SendThread.READY_BATCHES
            # One more batch is one too many: this call is held until the sender takes one.
            held = threading.Thread(target=appends, args=(4, 1))
            held.start()
            held.join(0.3)
            assert held.is_alive(), "an append went on with READY_BATCHES + 1 batches waiting"
            assert done == [0, 1, 2, 3]
            transport.gate.set()
            held.join(10)
            assert not held.is_alive() and done == [0, 1, 2, 3, 4]
            assert channel.wait_for_commit("200", timeout=60) == "200"
            channel.close()
        assert landed(emu, "bg") == list(range(1, 201))


def test_every_row_once_in_order_through_faults(rsa_key: PrivateKey, clock: FakeClock) -> None:
    faults = [
        {"path": "/rows$", "method": "POST", "status": 429, "rate": 0.05},
        {"path": "/rows$", "method": "POST", "status": 503, "rate": 0.05},
        {"path": "/rows$", "method": "POST", "action": "lost_response", "rate": 0.05},
        {"path": "/rows$", "method": "POST", "status": 409, "rate": 0.03},
    ]
    emu = Emulator(
        users=[(ACCOUNT, USER, rsa_key)],
        clock=clock,
        faults=faults,
        fault_seed=11,
        commit_delay_ms=0,
    )
    with emu:
        config = make_config(emu, rsa_key, send_in_background=True, max_request_bytes=REQUEST)
        with Client("app", DB, SCHEMA, PIPE, config=config, clock=clock) as client:
            channel, _ = client.open_channel("faults")
            # 20,000 rows in calls of 100 (~10 KB: each split over about three requests)
            for k in range(200):
                channel.append_ndjson(lines(100 * k + 1, 100 * k + 100), None, str(100 * k + 100))
            assert channel.wait_for_commit("20000", timeout=3600) == "20000"
            channel.close()
        stats = emu.stats()["requests"]
        assert landed(emu, "faults") == list(range(1, 20_001))
    # The faults fired (else this proves nothing about them).
    assert any(k.startswith("append 429") for k in stats), stats
    assert any(k.startswith("append 409") for k in stats), stats


def test_an_error_of_a_send_is_raised_by_the_next_call_and_its_batch_is_sent_again(
    rsa_key: PrivateKey, clock: FakeClock
) -> None:
    with Emulator(users=[(ACCOUNT, USER, rsa_key)], clock=clock, commit_delay_ms=0) as emu:
        config = make_config(emu, rsa_key, send_in_background=True, max_request_bytes=REQUEST)
        with Client("app", DB, SCHEMA, PIPE, config=config, clock=clock) as client:
            channel, _ = client.open_channel("err")
            sender = channel._sender
            assert sender is not None
            emu.faults.extend([FaultRule(path="/rows$", method="POST", status=400, count=1)])
            channel.append_ndjson(lines(1, 40), None, "40")
            channel.flush()  # batch 1..40 goes to the thread, which is answered 400
            wait_until(lambda: sender._error is not None, "the send did not fail")
            # The next call raises the error, and buffers nothing of its own.
            with pytest.raises(BadRequestError):
                channel.append_ndjson(lines(41, 80), None, "80")
            assert channel._core.builder.rows == 0
            # The call after that goes on; the failed batch is sent first, then the new rows.
            channel.append_ndjson(lines(81, 120), None, "120")
            assert channel.wait_for_commit("120", timeout=60) == "120"
            channel.close()
        assert landed(emu, "err") == [*range(1, 41), *range(81, 121)]


def test_close_sends_what_a_failed_background_send_left(
    rsa_key: PrivateKey, clock: FakeClock
) -> None:
    with Emulator(users=[(ACCOUNT, USER, rsa_key)], clock=clock, commit_delay_ms=0) as emu:
        config = make_config(emu, rsa_key, send_in_background=True, max_request_bytes=REQUEST)
        client = Client("app", DB, SCHEMA, PIPE, config=config, clock=clock)
        channel, _ = client.open_channel("left")
        sender = channel._sender
        assert sender is not None
        emu.faults.extend([FaultRule(path="/rows$", method="POST", status=400, count=1)])
        channel.append_ndjson(lines(1, 30), None, "30")
        channel.flush()
        wait_until(lambda: sender._error is not None, "the send did not fail")
        channel.close()  # sends the batch again: it commits, and close returns
        client.close()
        assert sender._thread is not None
        sender._thread.join(5)
        assert not sender._thread.is_alive()
        assert landed(emu, "left") == list(range(1, 31))


def test_abandoning_the_client_stops_the_sender_and_a_rerun_resumes(
    rsa_key: PrivateKey, clock: FakeClock
) -> None:
    with Emulator(users=[(ACCOUNT, USER, rsa_key)], clock=clock, commit_delay_ms=0) as emu:
        config = make_config(emu, rsa_key, send_in_background=True, max_request_bytes=REQUEST)
        client = Client("app", DB, SCHEMA, PIPE, config=config, clock=clock)
        channel, _ = client.open_channel("gone")
        for k in range(30):
            channel.append_ndjson(lines(40 * k + 1, 40 * k + 40), None, str(40 * k + 40))
        client.close(wait_for_flush=False)
        sender = channel._sender
        assert sender is not None and sender._thread is not None
        sender._thread.join(10)
        assert not sender._thread.is_alive()
        with Client("app", DB, SCHEMA, PIPE, config=config, clock=clock) as again:
            channel, status = again.open_channel("gone")
            done = int(status.last_committed_offset_token or 0)
            assert done % 40 == 0
            for k in range(done // 40, 30):
                channel.append_ndjson(lines(40 * k + 1, 40 * k + 40), None, str(40 * k + 40))
        assert landed(emu, "gone") == list(range(1, 1201))


def test_a_request_body_is_compressed_once_and_the_rows_released(
    rsa_key: PrivateKey, clock: FakeClock
) -> None:
    # The first append is answered 409 (channel invalidated): the channel reopens and sends
    # the batch again, with the body made the first time; the batches kept until they commit
    # hold their compressed bytes only.
    faults = [{"path": "/rows$", "method": "POST", "status": 409, "count": 1}]
    bodies: list[bytes] = []

    class Recording(httpx.HTTPTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            if request.method == "POST" and request.url.path.endswith("/rows"):
                bodies.append(request.read())
            return super().handle_request(request)

    class Counting:
        def __init__(self, inner: Any) -> None:
            self.inner, self.calls = inner, 0

        def compress(self, data: bytes) -> bytes:
            self.calls += 1
            return self.inner.compress(data)  # type: ignore[no-any-return]

    emu = Emulator(users=[(ACCOUNT, USER, rsa_key)], clock=clock, faults=faults, commit_delay_ms=0)
    with emu:
        config = make_config(emu, rsa_key, send_in_background=True, max_request_bytes=REQUEST)
        with Client(
            "app", DB, SCHEMA, PIPE, config=config, clock=clock, transport=Recording()
        ) as c:
            channel, _ = c.open_channel("once")
            counting = Counting(channel._core.compressor._zstd)
            channel._core.compressor._zstd = counting  # type: ignore[assignment]
            channel.append_ndjson(lines(1, 40), None, "40")
            channel.flush()
            wait_until(lambda: len(bodies) >= 2, "the batch was not sent again")
            kept = [*channel._core.inflight, *channel._core.ready]
            assert kept and all(b.payload == b"" and b.body is not None for b in kept)
            assert channel.wait_for_commit("40", timeout=60) == "40"
        assert landed(emu, "once") == list(range(1, 41))
    assert len(bodies) == 2 and bodies[0] == bodies[1]
    assert counting.calls == 1


def test_the_async_client_compresses_off_the_event_loop(
    rsa_key: PrivateKey, clock: FakeClock
) -> None:
    # AsyncClient has no sender thread; its request bodies are compressed in a worker thread
    # (the Compute effect), so the event loop's other tasks run meanwhile.
    threads: list[threading.Thread] = []

    class Recording:
        def __init__(self, inner: Any) -> None:
            self.inner = inner

        def compress(self, data: bytes) -> bytes:
            threads.append(threading.current_thread())
            return self.inner.compress(data)  # type: ignore[no-any-return]

    async def main(emu: Emulator) -> None:
        config = make_config(emu, rsa_key, max_request_bytes=REQUEST)
        async with AsyncClient("app", DB, SCHEMA, PIPE, config=config, clock=clock) as client:
            channel, _ = await client.open_channel("off")
            channel._core.compressor._zstd = Recording(channel._core.compressor._zstd)  # type: ignore[assignment]
            for k in range(5):
                await channel.append_ndjson(lines(40 * k + 1, 40 * k + 40), None, str(40 * k + 40))
            assert await channel.wait_for_commit("200", timeout=60) == "200"

    with Emulator(users=[(ACCOUNT, USER, rsa_key)], clock=clock, commit_delay_ms=0) as emu:
        asyncio.run(main(emu))
        assert landed(emu, "off") == list(range(1, 201))
    assert len(threads) == 5
    assert all(t is not threading.main_thread() for t in threads)
