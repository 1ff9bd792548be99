"""Metrics: what a client does, counted for Prometheus or OpenTelemetry.

A client reports to one :class:`Metrics` (``Client(..., metrics=PrometheusMetrics())``). The
base class records nothing: it is the default, and each of its methods costs one call per
batch or request, never per row. :class:`PrometheusMetrics` (``prometheus-client``) and
:class:`OpenTelemetryMetrics` (the ``opentelemetry-api`` only: the application brings the SDK
and its exporter) record; both are installed with ``pip install "snowpipe-stream[metrics]"``
and imported only when one is made. A subclass of :class:`Metrics` may record elsewhere: its
methods are called from the client's threads (or its event loop), some while a channel's state
lock is held, so they must be quick, thread-safe and must not raise.

The series (Prometheus names; the OpenTelemetry instrument in brackets):

=====================================================  ==================  ====================
``snowpipe_stream_rows_appended_total``                pipe, channel       ``rows.appended``
``snowpipe_stream_rows_committed_total``               pipe, channel       ``rows.committed``
``snowpipe_stream_bytes_appended_total``               pipe, channel       ``bytes.appended``
``snowpipe_stream_bytes_committed_total``              pipe, channel       ``bytes.committed``
``snowpipe_stream_error_rows_total``                   pipe, channel       ``error_rows``
``snowpipe_stream_reopens_total``                      pipe, channel       ``reopens``
``snowpipe_stream_inflight_bytes`` (gauge)             pipe, channel       ``bytes.inflight``
``snowpipe_stream_append_latency_seconds`` (hist.)     pipe, channel       ``append.duration``
``snowpipe_stream_commit_latency_seconds`` (hist.)     pipe, channel       ``commit.duration``
``snowpipe_stream_requests_total``                     endpoint, status    ``requests``
``snowpipe_stream_retries_total``                      cause               ``retries``
``snowpipe_stream_credential_mints_total``             kind                ``credential.mints``
``snowpipe_stream_token_exchanges_total``              (none)              ``token.exchanges``
=====================================================  ==================  ====================

(OpenTelemetry instruments are named ``snowpipe_stream.<name>``; attributes as the labels.)

- Rows and bytes appended count each batch once, when Snowflake accepts it (a replay after a
  recovery is not counted again); bytes are the uncompressed NDJSON. Committed rows and bytes,
  and the commit latency, move when the client sees the commit: in a status answer (commit
  polling: ``wait_for_commit``, ``close``, backpressure, the watcher of ``on_commit``) or a
  reopen. A client that only appends sees no commit until it asks.
- Append latency: from sending a batch to Snowflake's acceptance, retries included. Commit
  latency: from the batch's first send to the status answer that shows it committed.
- ``requests_total``: every attempt, by endpoint (:data:`ENDPOINTS`: ``append_rows``,
  ``channel_status``, ``open_channel``, ``drop_channel``, ``pipe_info``, ``scoped_token``,
  ``hostname``) and status (the HTTP status, or ``timeout``, ``connect``, ``network``,
  ``dns``, ``tls_verify``, ``tls_protocol`` for an attempt that got no answer).
- ``retries_total`` by cause: ``401`` (credentials refreshed), ``429`` (throttled, including
  Snowflake's backpressure codes), ``5xx`` (a server error, 408 or 499) and ``connection`` (no
  answer). ``Client.stats`` counts the last two together as ``retries_5xx``.
- ``credential_mints_total`` by kind (``jwt``, ``oauth``): control-host credentials made (a
  supplied JWT or a PAT is never minted); ``token_exchanges_total``: scoped ingest tokens.

Labels never carry a secret: no token, key or URL with a channel name in it. Cardinality: the
per-channel series make one series per channel (nine names, the histograms with their buckets),
and the pipe label is ``DATABASE.SCHEMA.PIPE`` as the client was given it. A few hundred
channels are fine; do not make channel names from unbounded values (a timestamp, a request
id), or every new channel adds series that stay until the process ends.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ._version import __version__

if TYPE_CHECKING:
    from opentelemetry.metrics import Meter
    from prometheus_client import CollectorRegistry

__all__ = [
    "ENDPOINTS",
    "INSTALL_HINT",
    "Metrics",
    "OpenTelemetryMetrics",
    "PrometheusMetrics",
    "pipe_label",
]

INSTALL_HINT = 'pip install "snowpipe-stream[metrics]"'

#: The endpoint label of each kind of request (a bounded set: never a URL).
ENDPOINTS = {
    "append": "append_rows",
    "status": "channel_status",
    "open": "open_channel",
    "drop": "drop_channel",
    "pipe_info": "pipe_info",
    "token": "scoped_token",
    "hostname": "hostname",
}

#: The kind label of each control-host credential type.
CREDENTIAL_KINDS = {"KEYPAIR_JWT": "jwt", "OAUTH": "oauth", "PROGRAMMATIC_ACCESS_TOKEN": "pat"}

#: Histogram buckets, in seconds: an append takes milliseconds to seconds (a throttled one,
#: retries included, longer); a commit about a second on Snowflake, more under load.
APPEND_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
COMMIT_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)


def pipe_label(database: str, schema: str, pipe: str) -> str:
    """The ``pipe`` label of a client's series: ``DATABASE.SCHEMA.PIPE`` as given."""
    return f"{database}.{schema}.{pipe}"


class Metrics:
    """Receives what a client does; this base class records nothing (the default).

    Subclass it to record elsewhere; see the module documentation for when each method is
    called. ``pipe`` is ``DATABASE.SCHEMA.PIPE``.
    """

    def appended(self, pipe: str, channel: str, rows: int, nbytes: int) -> None:
        """Snowflake accepted a batch of ``rows`` rows, ``nbytes`` bytes of NDJSON."""

    def append_latency(self, pipe: str, channel: str, seconds: float) -> None:
        """A batch was accepted ``seconds`` after it was sent (retries included)."""

    def committed(
        self, pipe: str, channel: str, rows: int, nbytes: int, seconds: float | None
    ) -> None:
        """A batch is seen committed, ``seconds`` after its first send (None: not sent by this
        channel, or its send time is unknown)."""

    def inflight(self, pipe: str, channel: str, nbytes: int) -> None:
        """The channel now keeps ``nbytes`` bytes sent and not known to be committed."""

    def reopened(self, pipe: str, channel: str) -> None:
        """The channel is being reopened to recover (its uncommitted batches are replayed)."""

    def error_rows(self, pipe: str, channel: str, rows: int) -> None:
        """Snowflake rejected ``rows`` more rows of the channel (its ``rows_error_count``)."""

    def request(self, endpoint: str, status: str) -> None:
        """One attempt of a request got ``status`` (an HTTP status, or why there was none)."""

    def retried(self, cause: str) -> None:
        """A request is retried after ``cause``: ``401``, ``429``, ``5xx`` or ``connection``."""

    def credential_minted(self, kind: str, count: int = 1) -> None:
        """``count`` control-host credentials of ``kind`` (``jwt``, ``oauth``) were made."""

    def token_exchanged(self) -> None:
        """A scoped ingest token was obtained."""


NOOP = Metrics()


def _missing(what: str, module: str) -> ImportError:
    return ImportError(
        f"{what} needs {module}, which is not installed; install it with: {INSTALL_HINT}"
    )


# --- Prometheus ----------------------------------------------------------------------------

_CHANNEL = ("pipe", "channel")


class _PrometheusSeries:
    """The collectors of one registry (a registry refuses a name twice: they are shared)."""

    def __init__(self, registry: Any) -> None:
        from prometheus_client import Counter, Gauge, Histogram

        def counter(name: str, doc: str, labels: Sequence[str] = _CHANNEL) -> Any:
            return Counter(f"snowpipe_stream_{name}", doc, labels, registry=registry)

        self.rows_appended = counter("rows_appended", "Rows Snowflake accepted (appends).")
        self.rows_committed = counter("rows_committed", "Rows seen committed.")
        self.bytes_appended = counter(
            "bytes_appended", "Bytes of NDJSON Snowflake accepted (uncompressed)."
        )
        self.bytes_committed = counter("bytes_committed", "Bytes of NDJSON seen committed.")
        self.error_rows = counter("error_rows", "Rows Snowflake rejected (rows_error_count).")
        self.reopens = counter("reopens", "Channel reopens to recover.")
        self.requests = counter(
            "requests", "Request attempts by endpoint and status.", ("endpoint", "status")
        )
        self.retries = counter("retries", "Retried requests by cause.", ("cause",))
        self.mints = counter("credential_mints", "Control-host credentials made.", ("kind",))
        self.exchanges = counter("token_exchanges", "Scoped ingest tokens obtained.", ())
        self.inflight = Gauge(
            "snowpipe_stream_inflight_bytes",
            "Bytes sent and not known to be committed (kept for replay).",
            _CHANNEL,
            registry=registry,
        )
        self.append_latency = Histogram(
            "snowpipe_stream_append_latency_seconds",
            "Seconds from sending a batch to its acceptance, retries included.",
            _CHANNEL,
            registry=registry,
            buckets=APPEND_BUCKETS,
        )
        self.commit_latency = Histogram(
            "snowpipe_stream_commit_latency_seconds",
            "Seconds from a batch's first send to the status answer that shows it committed.",
            _CHANNEL,
            registry=registry,
            buckets=COMMIT_BUCKETS,
        )


_series: weakref.WeakKeyDictionary[Any, _PrometheusSeries] = weakref.WeakKeyDictionary()
_series_lock = threading.Lock()


class PrometheusMetrics(Metrics):
    """Records into a ``prometheus_client`` registry (the default one when None is given).

    Instances on one registry share its collectors, so several clients (one per pipe) can
    each get ``PrometheusMetrics(registry)``. Serve the registry as your application does
    (``prometheus_client.start_http_server``); ``snowpipe-stream ingest --metrics-port``
    serves its own.
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        try:
            import prometheus_client
        except ImportError as exc:
            raise _missing("PrometheusMetrics", "prometheus-client") from exc
        self.registry = registry if registry is not None else prometheus_client.REGISTRY
        with _series_lock:
            series = _series.get(self.registry)
            if series is None:
                series = _series[self.registry] = _PrometheusSeries(self.registry)
        self._s = series

    def appended(self, pipe: str, channel: str, rows: int, nbytes: int) -> None:
        self._s.rows_appended.labels(pipe, channel).inc(rows)
        self._s.bytes_appended.labels(pipe, channel).inc(nbytes)

    def append_latency(self, pipe: str, channel: str, seconds: float) -> None:
        self._s.append_latency.labels(pipe, channel).observe(seconds)

    def committed(
        self, pipe: str, channel: str, rows: int, nbytes: int, seconds: float | None
    ) -> None:
        self._s.rows_committed.labels(pipe, channel).inc(rows)
        self._s.bytes_committed.labels(pipe, channel).inc(nbytes)
        if seconds is not None:
            self._s.commit_latency.labels(pipe, channel).observe(seconds)

    def inflight(self, pipe: str, channel: str, nbytes: int) -> None:
        self._s.inflight.labels(pipe, channel).set(nbytes)

    def reopened(self, pipe: str, channel: str) -> None:
        self._s.reopens.labels(pipe, channel).inc()

    def error_rows(self, pipe: str, channel: str, rows: int) -> None:
        self._s.error_rows.labels(pipe, channel).inc(rows)

    def request(self, endpoint: str, status: str) -> None:
        self._s.requests.labels(endpoint, status).inc()

    def retried(self, cause: str) -> None:
        self._s.retries.labels(cause).inc()

    def credential_minted(self, kind: str, count: int = 1) -> None:
        self._s.mints.labels(kind).inc(count)

    def token_exchanged(self) -> None:
        self._s.exchanges.inc()


# --- OpenTelemetry -------------------------------------------------------------------------


class OpenTelemetryMetrics(Metrics):
    """Records through the OpenTelemetry metrics API on ``meter`` (by default
    ``opentelemetry.metrics.get_meter("snowpipe_stream")``: the global meter provider's,
    which records nothing until the application installs an SDK provider).

    Bytes in flight is an UpDownCounter (per channel, its changes are added), the latencies
    histograms in seconds with bucket advice (:data:`APPEND_BUCKETS`, :data:`COMMIT_BUCKETS`).
    """

    def __init__(self, meter: Meter | None = None) -> None:
        try:
            from opentelemetry import metrics as otel
        except ImportError as exc:
            raise _missing("OpenTelemetryMetrics", "opentelemetry-api") from exc
        if meter is None:
            meter = otel.get_meter("snowpipe_stream", __version__)
        self.meter = meter

        def counter(name: str, unit: str, doc: str) -> Any:
            return meter.create_counter(f"snowpipe_stream.{name}", unit=unit, description=doc)

        self._rows_appended = counter("rows.appended", "{row}", "Rows Snowflake accepted.")
        self._rows_committed = counter("rows.committed", "{row}", "Rows seen committed.")
        self._bytes_appended = counter(
            "bytes.appended", "By", "Bytes of NDJSON Snowflake accepted (uncompressed)."
        )
        self._bytes_committed = counter("bytes.committed", "By", "Bytes seen committed.")
        self._error_rows = counter("error_rows", "{row}", "Rows Snowflake rejected.")
        self._reopens = counter("reopens", "{reopen}", "Channel reopens to recover.")
        self._requests = counter("requests", "{request}", "Request attempts.")
        self._retries = counter("retries", "{retry}", "Retried requests by cause.")
        self._mints = counter("credential.mints", "{credential}", "Credentials made.")
        self._exchanges = counter("token.exchanges", "{token}", "Scoped tokens obtained.")
        self._inflight = meter.create_up_down_counter(
            "snowpipe_stream.bytes.inflight",
            unit="By",
            description="Bytes sent and not known to be committed (kept for replay).",
        )
        self._append_latency = meter.create_histogram(
            "snowpipe_stream.append.duration",
            unit="s",
            description="Seconds from sending a batch to its acceptance, retries included.",
            explicit_bucket_boundaries_advisory=APPEND_BUCKETS,
        )
        self._commit_latency = meter.create_histogram(
            "snowpipe_stream.commit.duration",
            unit="s",
            description="Seconds from a batch's first send to the answer showing it committed.",
            explicit_bucket_boundaries_advisory=COMMIT_BUCKETS,
        )
        #: The last in-flight figure of each channel (the UpDownCounter takes changes).
        self._inflight_seen: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()

    def appended(self, pipe: str, channel: str, rows: int, nbytes: int) -> None:
        attrs = {"pipe": pipe, "channel": channel}
        self._rows_appended.add(rows, attrs)
        self._bytes_appended.add(nbytes, attrs)

    def append_latency(self, pipe: str, channel: str, seconds: float) -> None:
        self._append_latency.record(seconds, {"pipe": pipe, "channel": channel})

    def committed(
        self, pipe: str, channel: str, rows: int, nbytes: int, seconds: float | None
    ) -> None:
        attrs = {"pipe": pipe, "channel": channel}
        self._rows_committed.add(rows, attrs)
        self._bytes_committed.add(nbytes, attrs)
        if seconds is not None:
            self._commit_latency.record(seconds, attrs)

    def inflight(self, pipe: str, channel: str, nbytes: int) -> None:
        with self._lock:
            change = nbytes - self._inflight_seen.get((pipe, channel), 0)
            self._inflight_seen[pipe, channel] = nbytes
        if change:
            self._inflight.add(change, {"pipe": pipe, "channel": channel})

    def reopened(self, pipe: str, channel: str) -> None:
        self._reopens.add(1, {"pipe": pipe, "channel": channel})

    def error_rows(self, pipe: str, channel: str, rows: int) -> None:
        self._error_rows.add(rows, {"pipe": pipe, "channel": channel})

    def request(self, endpoint: str, status: str) -> None:
        self._requests.add(1, {"endpoint": endpoint, "status": status})

    def retried(self, cause: str) -> None:
        self._retries.add(1, {"cause": cause})

    def credential_minted(self, kind: str, count: int = 1) -> None:
        self._mints.add(count, {"kind": kind})

    def token_exchanged(self) -> None:
        self._exchanges.add(1)
