"""Metrics: each series moves when what it counts happens (a real prometheus registry; the
OpenTelemetry API through a small recording Meter), and records nothing by default."""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import httpx
import pytest
from opentelemetry.metrics import NoOpMeter
from prometheus_client import CollectorRegistry, generate_latest

from snowpipe_stream import (
    Client,
    Metrics,
    OpenTelemetryMetrics,
    PrivateKey,
    PrometheusMetrics,
)
from snowpipe_stream._metrics import APPEND_BUCKETS, COMMIT_BUCKETS, NOOP
from snowpipe_stream.testing import FakeClock
from tests.clients import run_on_fake
from tests.conftest import find_secrets
from tests.fakes import CONTROL, FakeSnowflake, Scripted, kind_of

PIPE = "DB.SCHEMA.PIPE"
#: How long each append takes on the fake clock (the fake answers that much later).
APPEND_SECS = 0.25


class SlowAppends(FakeSnowflake):
    """Answers every append ``APPEND_SECS`` later on the shared fake clock."""

    def __init__(self, clock: FakeClock, **kw: Any) -> None:
        super().__init__(**kw)
        self.clock = clock

    def handle(self, request: httpx.Request) -> httpx.Response:
        if kind_of(request) == "append":
            self.clock.advance(APPEND_SECS)
        return super().handle(request)


def run(
    mode: str,
    fake: FakeSnowflake,
    clock: FakeClock,
    key: PrivateKey,
    metrics: Metrics | None,
    scenario: Callable[[Any], Awaitable[Any]],
    **cfg: Any,
) -> Any:
    return run_on_fake(mode, fake, clock, key, scenario, metrics=metrics, **cfg)


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float:
    found = registry.get_sample_value(name, labels)
    return 0.0 if found is None else found


def per_channel(registry: CollectorRegistry, name: str, channel: str = "ch") -> float:
    return sample(registry, name, pipe=PIPE, channel=channel)


def per_channel_bucket(registry: CollectorRegistry, name: str, le: str) -> float:
    return sample(registry, f"{name}_bucket", pipe=PIPE, channel="ch", le=le)


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


modes = pytest.mark.parametrize("mode", ["sync", "async"])


# --- the series, through a real client ------------------------------------------------------


@modes
def test_appends_commits_bytes_in_flight_and_latencies(
    mode: str, rsa_key: PrivateKey, clock: FakeClock, registry: CollectorRegistry
) -> None:
    # Commits show only in a status answer, as on Snowflake.
    fake = SlowAppends(clock, commit_on_append=False, commit_on_status=True)
    seen: dict[str, float] = {}

    async def scenario(client: Any) -> None:
        channel, _ = await client.open_channel("ch")
        await channel.append_rows([{"n": 1}, {"n": 2}, {"n": 3}], end_offset_token="3")
        await channel.flush()
        # Accepted, not yet seen committed.
        seen["appended"] = per_channel(registry, "snowpipe_stream_rows_appended_total")
        seen["committed"] = per_channel(registry, "snowpipe_stream_rows_committed_total")
        seen["inflight"] = per_channel(registry, "snowpipe_stream_inflight_bytes")
        clock.advance(1.0)
        await channel.wait_for_commit("3", timeout=5)
        await channel.close()

    run(mode, fake, clock, rsa_key, PrometheusMetrics(registry), scenario)
    nbytes = len(b'{"n":1}\n{"n":2}\n{"n":3}\n')
    assert seen == {"appended": 3, "committed": 0, "inflight": nbytes}
    assert per_channel(registry, "snowpipe_stream_rows_appended_total") == 3
    assert per_channel(registry, "snowpipe_stream_rows_committed_total") == 3
    assert per_channel(registry, "snowpipe_stream_bytes_appended_total") == nbytes
    assert per_channel(registry, "snowpipe_stream_bytes_committed_total") == nbytes
    assert per_channel(registry, "snowpipe_stream_inflight_bytes") == 0
    # Append latency: the request's round trip; commit latency: from the send to the status
    # answer that showed the commit (the append's 0.25 s and the 1 s waited after it).
    assert per_channel(registry, "snowpipe_stream_append_latency_seconds_count") == 1
    assert per_channel(registry, "snowpipe_stream_append_latency_seconds_sum") == APPEND_SECS
    assert per_channel(registry, "snowpipe_stream_commit_latency_seconds_count") == 1
    assert per_channel(registry, "snowpipe_stream_commit_latency_seconds_sum") == 1.25
    commit_le = {
        le: per_channel_bucket(registry, "snowpipe_stream_commit_latency_seconds", le)
        for le in ("1.0", "2.0")
    }
    assert commit_le == {"1.0": 0, "2.0": 1}
    requests = {
        (endpoint, status): sample(
            registry, "snowpipe_stream_requests_total", endpoint=endpoint, status=status
        )
        for endpoint, status in [
            ("hostname", "200"),
            ("scoped_token", "200"),
            ("pipe_info", "200"),
            ("open_channel", "200"),
            ("append_rows", "200"),
        ]
    }
    assert set(requests.values()) == {1}, requests
    assert sample(
        registry, "snowpipe_stream_requests_total", endpoint="channel_status", status="200"
    ) == len(fake.calls("status"))
    assert sample(registry, "snowpipe_stream_credential_mints_total", kind="jwt") == 1
    assert sample(registry, "snowpipe_stream_token_exchanges_total") == 1


@modes
def test_retries_by_cause_and_each_attempt_by_status(
    mode: str, rsa_key: PrivateKey, clock: FakeClock, registry: CollectorRegistry
) -> None:
    fake = FakeSnowflake()
    # A 401 on the exchange: the JWT is minted again. Then each cause once on an append.
    fake.then("token", Scripted(401))
    fake.then("append", Scripted(401), Scripted(429), Scripted(503), Scripted(0, action="drop"))
    stats: dict[str, int] = {}

    async def scenario(client: Any) -> None:
        channel, _ = await client.open_channel("ch")
        await channel.append_row({"n": 1})
        await channel.flush()
        stats.update(client.stats.as_dict())

    run(mode, fake, clock, rsa_key, PrometheusMetrics(registry), scenario)

    def retries(cause: str) -> float:
        return sample(registry, "snowpipe_stream_retries_total", cause=cause)

    def appends(status: str) -> float:
        return sample(
            registry, "snowpipe_stream_requests_total", endpoint="append_rows", status=status
        )

    assert {c: retries(c) for c in ("401", "429", "5xx", "connection")} == {
        "401": 2,
        "429": 1,
        "5xx": 1,
        "connection": 1,
    }
    assert retries("401") == stats["retries_401"] and retries("429") == stats["retries_429"]
    assert retries("5xx") + retries("connection") == stats["retries_5xx"]
    assert [appends(s) for s in ("401", "429", "503", "network", "200")] == [1, 1, 1, 1, 1]
    assert (
        sample(registry, "snowpipe_stream_requests_total", endpoint="scoped_token", status="401")
        == 1
    )
    # Two JWTs (the first was refused), three scoped tokens (the 401 on the append made one).
    assert sample(registry, "snowpipe_stream_credential_mints_total", kind="jwt") == 2
    assert sample(registry, "snowpipe_stream_token_exchanges_total") == 2 == fake.tokens_issued
    # The append, retried, is one batch: appended once.
    assert per_channel(registry, "snowpipe_stream_rows_appended_total") == 1
    assert per_channel(registry, "snowpipe_stream_append_latency_seconds_count") == 1


@modes
def test_a_reopen_and_rejected_rows(
    mode: str, rsa_key: PrivateKey, clock: FakeClock, registry: CollectorRegistry
) -> None:
    fake = FakeSnowflake(commit_on_append=True)

    async def scenario(client: Any) -> None:
        channel, _ = await client.open_channel("ch")
        await channel.append_row({"n": 1}, offset_token="1")
        await channel.flush()
        # The answer to this append is lost after it committed: the retry finds the row
        # sequencer moved, the channel is reopened, and the reopen shows the batch committed.
        fake.then("append", Scripted(0, action="lost"))
        await channel.append_row({"n": 2}, offset_token="2")
        await channel.append_row({"n": 3}, offset_token="3")
        await channel.flush()
        fake.rows_error_count["ch"] = 2
        fake.last_error["ch"] = ("bad value", "3")
        await channel.get_channel_status()
        await channel.close()

    run(mode, fake, clock, rsa_key, PrometheusMetrics(registry), scenario)
    assert per_channel(registry, "snowpipe_stream_reopens_total") == 1
    assert per_channel(registry, "snowpipe_stream_error_rows_total") == 2
    # Every row counted once appended and once committed, whatever the recovery replayed.
    assert [r["n"] for r in fake.rows["ch"]] == [1, 2, 3]
    assert per_channel(registry, "snowpipe_stream_rows_appended_total") == 3
    assert per_channel(registry, "snowpipe_stream_rows_committed_total") == 3
    assert per_channel(registry, "snowpipe_stream_inflight_bytes") == 0


def test_channels_have_their_own_series_and_instances_share_a_registry(
    rsa_key: PrivateKey, clock: FakeClock, registry: CollectorRegistry
) -> None:
    fake = FakeSnowflake()
    first, second = PrometheusMetrics(registry), PrometheusMetrics(registry)  # no clash

    async def scenario(client: Any) -> None:
        for name, rows in (("a", 2), ("b", 5)):
            channel, _ = await client.open_channel(name)
            await channel.append_rows([{"n": i} for i in range(rows)])
            await channel.close()

    run("sync", fake, clock, rsa_key, first, scenario)
    run("sync", fake, clock, rsa_key, second, scenario)
    assert per_channel(registry, "snowpipe_stream_rows_committed_total", "a") == 4
    assert per_channel(registry, "snowpipe_stream_rows_committed_total", "b") == 10


def test_no_secret_or_url_reaches_a_label(
    rsa_key: PrivateKey, clock: FakeClock, registry: CollectorRegistry
) -> None:
    fake = FakeSnowflake(scoped_key=rsa_key)  # scoped tokens that are JWTs
    fake.then("append", Scripted(401))

    async def scenario(client: Any) -> None:
        channel, _ = await client.open_channel("ch")
        await channel.append_row({"n": 1})
        await channel.close()

    run("sync", fake, clock, rsa_key, PrometheusMetrics(registry), scenario)
    text = generate_latest(registry).decode()
    assert 'endpoint="append_rows"' in text
    assert find_secrets(text) == []
    for leak in ("snowflakecomputing", "ingest.example.com", "/v2/", "Bearer", "eyJ"):
        assert leak not in text


# --- the default, the adapters, the extras ----------------------------------------------------


def test_the_default_records_nothing(rsa_key: PrivateKey, clock: FakeClock) -> None:
    settings: dict[str, Any] = {
        "account": "myorg-acct",
        "user": "svc",
        "url": CONTROL,
        "private_key": rsa_key,
        "env": {},
    }
    client = Client("app", "DB", "SCHEMA", "PIPE", **settings)
    try:
        assert client._core.metrics is NOOP
        assert type(NOOP) is Metrics
    finally:
        client.close()
    with pytest.raises(TypeError, match=r"metrics must be a snowpipe_stream\.Metrics"):
        Client("app", "DB", "S", "P", metrics=CollectorRegistry(), **settings)  # type: ignore[arg-type]


class Recorded:
    """One instrument of :class:`RecordingMeter`: its kind, options and measurements."""

    def __init__(self, kind: str, name: str, unit: str, **options: Any) -> None:
        self.kind, self.name, self.unit, self.options = kind, name, unit, options
        self.points: list[tuple[float, dict[str, Any]]] = []

    def add(self, amount: float, attributes: dict[str, Any] | None = None) -> None:
        self.points.append((amount, dict(attributes or {})))

    record = add

    def total(self, **attributes: Any) -> float:
        return sum(v for v, attrs in self.points if attrs == attributes)


class RecordingMeter(NoOpMeter):
    """The OpenTelemetry API's Meter, recording what is created and measured (no SDK)."""

    def __init__(self) -> None:
        super().__init__("test")
        self.made: dict[str, Recorded] = {}

    def _make(self, kind: str, name: str, unit: str, **options: Any) -> Any:
        assert name not in self.made, f"{name} created twice"
        self.made[name] = Recorded(kind, name, unit, **options)
        return self.made[name]

    def create_counter(self, name: str, unit: str = "", description: str = "") -> Any:
        return self._make("counter", name, unit, description=description)

    def create_up_down_counter(self, name: str, unit: str = "", description: str = "") -> Any:
        return self._make("up_down_counter", name, unit, description=description)

    def create_histogram(
        self,
        name: str,
        unit: str = "",
        description: str = "",
        *,
        explicit_bucket_boundaries_advisory: Sequence[float] | None = None,
    ) -> Any:
        return self._make("histogram", name, unit, buckets=explicit_bucket_boundaries_advisory)


@modes
def test_opentelemetry_instruments_through_the_api(
    mode: str, rsa_key: PrivateKey, clock: FakeClock
) -> None:
    meter = RecordingMeter()
    fake = SlowAppends(clock, commit_on_append=False, commit_on_status=True)
    fake.then("append", Scripted(429))

    async def scenario(client: Any) -> None:
        channel, _ = await client.open_channel("ch")
        await channel.append_rows([{"n": 1}, {"n": 2}])
        await channel.flush()
        await channel.close()

    run(mode, fake, clock, rsa_key, OpenTelemetryMetrics(meter), scenario)
    m = meter.made
    ch = {"pipe": PIPE, "channel": "ch"}
    nbytes = len(b'{"n":1}\n{"n":2}\n')
    assert m["snowpipe_stream.rows.appended"].total(**ch) == 2
    assert m["snowpipe_stream.rows.committed"].total(**ch) == 2
    assert m["snowpipe_stream.bytes.appended"].total(**ch) == nbytes
    assert m["snowpipe_stream.bytes.committed"].unit == "By"
    assert m["snowpipe_stream.bytes.committed"].total(**ch) == nbytes
    # The UpDownCounter gets changes: up by the batch, down when it committed.
    inflight = m["snowpipe_stream.bytes.inflight"]
    assert inflight.kind == "up_down_counter"
    assert [v for v, _ in inflight.points] == [nbytes, -nbytes]
    assert m["snowpipe_stream.retries"].total(cause="429") == 1
    assert m["snowpipe_stream.requests"].total(endpoint="append_rows", status="429") == 1
    assert m["snowpipe_stream.credential.mints"].total(kind="jwt") == 1
    assert m["snowpipe_stream.token.exchanges"].total() == 1
    append = m["snowpipe_stream.append.duration"]
    assert (append.kind, append.unit, append.options["buckets"]) == (
        "histogram",
        "s",
        APPEND_BUCKETS,
    )
    # The 429's backoff (2 s on the fake clock) is in the append's latency.
    assert [v for v, _ in append.points] == [2 * APPEND_SECS + 2.0]
    commit = m["snowpipe_stream.commit.duration"]
    assert commit.options["buckets"] == COMMIT_BUCKETS and len(commit.points) == 1


def test_opentelemetry_uses_the_global_meter_by_default() -> None:
    metrics = OpenTelemetryMetrics()
    assert metrics.meter.name == "snowpipe_stream"
    metrics.appended(PIPE, "ch", 1, 10)  # the API's no-op provider: nothing, no error
    metrics.inflight(PIPE, "ch", 10)


@pytest.mark.parametrize(
    ("make", "module"),
    [(PrometheusMetrics, "prometheus_client"), (OpenTelemetryMetrics, "opentelemetry")],
)
def test_a_missing_extra_is_an_import_error_naming_it(
    monkeypatch: pytest.MonkeyPatch, make: Callable[[], Metrics], module: str
) -> None:
    monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(ImportError, match=r'pip install "snowpipe-stream\[metrics\]"'):
        make()
