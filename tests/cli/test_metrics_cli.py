"""``ingest --metrics-port``: /metrics is served while the run goes, its figures are what
landed in the emulator, and the port is closed when the run ends.

The run reads stdin, so the test decides when records arrive: it feeds some, waits (polling
with a deadline, never a guessed sleep) until the scrape shows them committed, checks the
figures against the emulator, feeds more, and checks again.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from snowpipe_stream.emulator import Emulator
from tests.cli.test_cli import EXE, PIPE_ARGS, committed, emu, env_for

__all__ = ["emu"]  # the fixture, shared with test_cli

PIPE_LABEL = "DB.S.P"
LABELS = {"pipe": PIPE_LABEL, "channel": "c1"}
DEADLINE_SECS = 30.0


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(url: str) -> Samples:
    """Every sample of ``/metrics``: (name, labels) -> value."""
    resp = httpx.get(url, timeout=5)
    assert resp.status_code == 200
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(resp.text)
        for s in family.samples
    }


def figure(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def committed_figure(url: str) -> float:
    return figure(scrape(url), "snowpipe_stream_rows_committed_total", **LABELS)


def wait_for(condition: object, what: str) -> None:
    deadline = time.monotonic() + DEADLINE_SECS
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def feed(proc: subprocess.Popen[bytes], start: int, n: int) -> None:
    assert proc.stdin is not None
    proc.stdin.write(
        b"".join(json.dumps({"n": i, "pad": "x" * 30}).encode() + b"\n" for i in range(start, n))
    )
    proc.stdin.flush()


def test_metrics_are_served_during_the_run_and_match_the_emulator(emu: Emulator) -> None:
    # The first append is throttled once: the retry shows in the figures.
    httpx.post(
        f"{emu.url}/emulator/v1/faults",
        json={"path": "/rows$", "method": "POST", "status": 429, "count": 1},
        timeout=10,
    ).raise_for_status()
    args = [EXE, "ingest", "-", "--input-id", "feed", *PIPE_ARGS, "--channel", "c1"]
    proc = subprocess.Popen(
        [*args, "--metrics-port", "0", "--no-progress"],
        env=env_for(emu, SNOWFLAKE_MAX_CLIENT_LAG="0.05", SNOWFLAKE_THROTTLE_BACKOFF_SECS="0.05"),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert proc.stderr is not None
        # The first thing the run says (before it connects): where the metrics are.
        first = proc.stderr.readline().decode()
        found = re.fullmatch(r"serving metrics on (http://127\.0\.0\.1:(\d+)/metrics)\n", first)
        assert found, first
        url, port = found.group(1), int(found.group(2))

        feed(proc, 1, 401)
        wait_for(lambda: committed_figure(url) == 400, "400 rows never showed committed")
        samples = scrape(url)
        assert committed(emu) == list(range(1, 401))
        assert figure(samples, "snowpipe_stream_rows_appended_total", **LABELS) == 400
        assert figure(samples, "snowpipe_stream_bytes_committed_total", **LABELS) == figure(
            samples, "snowpipe_stream_bytes_appended_total", **LABELS
        )
        assert figure(samples, "snowpipe_stream_inflight_bytes", **LABELS) == 0
        assert figure(samples, "snowpipe_stream_retries_total", cause="429") == 1
        requests = emu.stats()["requests"]
        for status in ("200", "429"):
            assert (
                figure(
                    samples, "snowpipe_stream_requests_total", endpoint="append_rows", status=status
                )
                == requests[f"append {status}"]
            )
        assert figure(samples, "snowpipe_stream_token_exchanges_total") == 1
        assert figure(samples, "snowpipe_stream_credential_mints_total", kind="jwt") == 1

        # More records, while the same run goes on: the figures follow.
        feed(proc, 401, 651)
        wait_for(lambda: committed_figure(url) == 650, "650 rows never showed committed")
        assert committed(emu) == list(range(1, 651))
        out, err = proc.communicate(timeout=60)  # closes stdin: the end of the input
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err.decode()
    assert "ingested 650 new rows" in out.decode()
    # The port is closed with the run.
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0


def test_a_port_in_use_is_a_usage_error_before_anything_is_sent(emu: Emulator) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [EXE, "ingest", "-", "--input-id", "feed", *PIPE_ARGS, "--channel", "c1"],
            env=env_for(emu, SNOWFLAKE_METRICS_PORT=str(port)),
            input=b'{"n": 1}\n',
            capture_output=True,
            timeout=60,
            check=False,
        )
    stderr = result.stderr.decode()
    assert result.returncode == 2, stderr
    assert f"error: cannot serve metrics on 127.0.0.1:{port}: the port is in use" in stderr
    assert emu.stats()["requests"] == {}  # nothing was sent


def test_serve_metrics_closes_its_port_however_the_run_ends(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import prometheus_client

    from snowpipe_stream.cli._metrics import serve_metrics

    try:
        with (
            pytest.raises(RuntimeError, match="the run failed"),
            serve_metrics("127.0.0.1", 0, quiet=False) as metrics,
        ):
            assert metrics is not None
            metrics.appended(PIPE_LABEL, "c1", 7, 70)
            url = capsys.readouterr().err.split("serving metrics on ")[1].strip()
            samples = scrape(url)
            appended = figure(samples, "snowpipe_stream_rows_appended_total", **LABELS)
            assert appended == 7
            raise RuntimeError("the run failed")
    finally:
        prometheus_client.enable_created_metrics()  # type: ignore[no-untyped-call]
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0
    with serve_metrics("127.0.0.1", None, quiet=False) as nothing:
        assert nothing is None


def test_without_the_extra_the_run_exits_2_naming_it(emu: Emulator) -> None:
    # prometheus-client hidden as if the [metrics] extra were not installed.
    argv = ["snowpipe-stream", "ingest", "-", "--input-id", "feed", *PIPE_ARGS, "--channel", "c1"]
    code = (
        f"import sys; sys.modules['prometheus_client'] = None; sys.argv = {argv!r}; "
        "from snowpipe_stream.cli import main; main()"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        env=env_for(emu, SNOWFLAKE_METRICS_PORT="0"),
        input=b'{"n": 1}\n',
        capture_output=True,
        timeout=60,
        check=False,
    )
    stderr = result.stderr.decode()
    assert result.returncode == 2, stderr
    assert "--metrics-port needs prometheus-client, which is not installed" in stderr
    assert 'install it with: pip install "snowpipe-stream[metrics]"' in stderr
    assert "Traceback" not in stderr
    assert emu.stats()["requests"] == {}
