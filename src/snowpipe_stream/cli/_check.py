"""``snowpipe-stream check``: the configuration, the key, host discovery and a token exchange."""

from __future__ import annotations

from typing import Any

import click

from .._exceptions import SnowpipeError
from .._jwt import clamp_lifetime, effective_margin, normalize_account, normalize_user
from ._common import build_config, connection_options, fail, setup_logging


@click.command("check")
@click.option(
    "--show-token",
    is_flag=True,
    help="Also print the JWT and scoped token (secrets: handle with care).",
)
@connection_options
def command(show_token: bool, **opts: Any) -> None:
    """Check the configuration and key, then discover the ingest host and exchange a token."""
    from .._clock import SYSTEM_CLOCK
    from .._protocol import hostname_op, parse_hostname, parse_scoped_token, token_op
    from .._transport import Call, Core, SyncDriver

    setup_logging(opts["verbose"])
    try:
        config = build_config(opts)
    except SnowpipeError as exc:
        fail(exc)
    key = config.key
    click.echo(f"url:          {config.control_url}")
    if key is None:
        click.echo("credential:   a user-supplied JWT (deprecated; give the private key instead)")
    else:
        lifetime = clamp_lifetime(config.jwt_exp_secs)
        margin = effective_margin(config.jwt_refresh_margin_secs, lifetime)
        click.echo(
            f"account:      {normalize_account(config.account or '')} (as in the JWT claims)"
        )
        click.echo(f"user:         {normalize_user(config.user or '')}")
        click.echo(f"fingerprint:  {key.fingerprint} ({key.bits}-bit RSA)")
        clamped = (
            f" (jwt_exp_secs={config.jwt_exp_secs:g} clamped into [30, 3600])"
            if lifetime != config.jwt_exp_secs
            else ""
        )
        click.echo(f"JWT lifetime: {lifetime} s{clamped}; refreshed {margin:g} s before expiry")
    core = Core(config, SYSTEM_CLOCK)
    driver = SyncDriver(core)
    fingerprint = key.fingerprint if key is not None else None
    try:
        resp = driver.run(_one(Call(hostname_op())))
        host, url = parse_hostname(
            resp.content, core.control_url, allow_insecure_http=config.allow_insecure_http
        )
        click.echo(f"ok: hostname discovery: ingest host {host} ({url})")
        resp = driver.run(_one(Call(token_op(host))))
        token, expires_at = parse_scoped_token(resp.content, SYSTEM_CLOCK.time())
        click.echo(
            f"ok: token exchange: scoped token of {len(token)} chars, valid "
            f"{expires_at - SYSTEM_CLOCK.time():.0f} s"
        )
        if show_token:
            click.echo(f"JWT: {core.jwt.get_token()}")
            click.echo(f"scoped token: {token}")
    except SnowpipeError as exc:
        fail(exc, fingerprint)
    finally:
        driver.close()
    click.echo("all checks passed")


def _one(effect: Any) -> Any:
    resp = yield effect
    return resp
