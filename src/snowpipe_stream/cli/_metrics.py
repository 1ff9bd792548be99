"""``--metrics-port``: serve a run's Prometheus metrics on ``/metrics`` while it runs."""

from __future__ import annotations

import errno
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click

from .._exceptions import ConfigError
from .._metrics import INSTALL_HINT, PrometheusMetrics


def metrics_options(fn: Any) -> Any:
    """--metrics-port and --metrics-host (or SNOWFLAKE_METRICS_PORT / _HOST)."""
    fn = click.option(
        "--metrics-host",
        envvar="SNOWFLAKE_METRICS_HOST",
        default="127.0.0.1",
        show_default=True,
        help="Address to serve --metrics-port on (0.0.0.0: every interface).",
    )(fn)
    return click.option(
        "--metrics-port",
        envvar="SNOWFLAKE_METRICS_PORT",
        type=click.IntRange(0, 65535),
        default=None,
        help="Serve Prometheus metrics on http://HOST:PORT/metrics while the run goes (0: any "
        "free port, printed on stderr). Needs the [metrics] extra.",
    )(fn)


@contextmanager
def serve_metrics(host: str, port: int | None, quiet: bool) -> Iterator[PrometheusMetrics | None]:
    """Serve a fresh registry's metrics on ``host:port`` for the ``with`` block; yield the
    :class:`PrometheusMetrics` that records into it (None without a port). The port is closed
    when the block ends, however it ends."""
    if port is None:
        yield None
        return
    try:
        import prometheus_client
    except ImportError:
        raise ConfigError(
            f"--metrics-port needs prometheus-client, which is not installed; install it "
            f"with: {INSTALL_HINT}"
        ) from None
    # One series per counter: the *_created samples say nothing a scrape needs here.
    prometheus_client.disable_created_metrics()  # type: ignore[no-untyped-call]
    registry = prometheus_client.CollectorRegistry()
    try:
        server, thread = prometheus_client.start_http_server(port, host, registry)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            why = "the port is in use; choose another --metrics-port (0: any free port)"
        elif exc.errno == errno.EACCES:
            why = "permission denied (ports below 1024 need privileges)"
        else:
            why = f"{exc.strerror or exc}; check --metrics-host"
        raise ConfigError(f"cannot serve metrics on {host}:{port}: {why}") from None
    if not quiet:
        bound = server.server_address[1]
        shown = f"[{host}]" if ":" in host else host
        click.echo(f"serving metrics on http://{shown}:{bound}/metrics", err=True)
    try:
        yield PrometheusMetrics(registry)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
