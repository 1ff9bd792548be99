"""A diagnosis of a configuration: the steps a client takes before it can stream, one by one.

:func:`diagnose` runs them in order and stops at the first that fails; each answers a
:class:`DiagnosticStep` (name, ok, detail, elapsed, and the error of a failed one). The
``snowpipe-stream check`` command only renders them. A connection failure ends a step in
seconds, as it does for a client (``initial_connect_deadline_secs``).

Steps are small functions in :data:`STEPS`, each taking the :class:`_Context` of the run and
answering its detail, or raising a :class:`SnowpipeError`; a new check (the key's fingerprint
against the user's, a token's expiry, the clock's skew) is one more function in the list.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from ._authorization import describe_credential
from ._clock import SYSTEM_CLOCK, Clock
from ._config import ClientConfig
from ._exceptions import SnowpipeError
from ._jwt import clamp_lifetime, effective_margin, normalize_account, normalize_user
from ._oauth import OAuthCredential
from ._pat import PatCredential
from ._protocol import hostname_op, parse_hostname, parse_scoped_token, token_op
from ._skew import SKEW_WARN_SECS
from ._tokens import JwtManager
from ._transport import Call, Core, Flow, SyncDriver

__all__ = ["STEPS", "DiagnosticStep", "diagnose"]


@dataclass(frozen=True)
class DiagnosticStep:
    """One step of :func:`diagnose`: what was checked, whether it passed, and in how long."""

    name: str
    ok: bool
    #: What the step found (when ok) or what went wrong (the error's message); no secrets.
    detail: str
    #: Seconds the step took.
    elapsed: float
    #: The error that failed the step (None when ok).
    error: SnowpipeError | None = None


@dataclass
class _Context:
    """What the steps of one diagnosis share."""

    config: ClientConfig
    clock: Clock
    core: Core
    driver: SyncDriver
    #: Called with the JWT and the scoped token once both are known (``check --show-token``).
    reveal: Callable[[str, str], None] | None = None
    values: dict[str, str] = field(default_factory=dict)


def _configuration(ctx: _Context) -> str:
    config = ctx.config
    if config.key is None:
        return (
            f"url {config.control_url}; a user-supplied JWT (deprecated: give the private key "
            "instead)"
        )
    return (
        f"url {config.control_url}; account {normalize_account(config.account or '')} and user "
        f"{normalize_user(config.user or '')} (as in the JWT claims)"
    )


def _key(ctx: _Context) -> str:
    """The control-host credential: a key pair (its fingerprint, where it comes from, one JWT
    signed), a programmatic access token (its expiry) or OAuth (its grant)."""
    config = ctx.config
    credential = ctx.core.jwt
    info = describe_credential(credential)
    credential.get_token()  # signs a JWT (or reads the token): a bad key fails here
    if isinstance(credential, JwtManager):
        lifetime = clamp_lifetime(config.jwt_exp_secs)
        margin = effective_margin(config.jwt_refresh_margin_secs, lifetime)
        clamped = (
            f" (jwt_exp_secs={config.jwt_exp_secs:g} clamped into [30, 3600])"
            if lifetime != config.jwt_exp_secs
            else ""
        )
        user = normalize_user(config.user or "")
        source = {"file": "key file", "provider": "key provider", "fixed": "configuration"}
        bits = credential.key_source.key.bits
        return (
            f"fingerprint {info['fingerprint']} ({bits}-bit RSA, from the "
            f"{source.get(str(info['key_source']), info['key_source'])}); JWT lifetime "
            f"{lifetime} s{clamped}, refreshed {margin:g} s before expiry. Snowflake accepts it "
            f"if DESC USER {user} shows this fingerprint as RSA_PUBLIC_KEY_FP or "
            "RSA_PUBLIC_KEY_2_FP"
        )
    if isinstance(credential, PatCredential):
        days = info.get("pat_days_left")
        if days is None:
            return (
                "programmatic access token; its expiry is unknown (set "
                "personal_access_token_expires_at to be warned before it)"
            )
        soon = " — renew it soon" if float(str(days)) < 7 else ""
        return f"programmatic access token, expires in {float(str(days)):.1f} days{soon}"
    if isinstance(credential, OAuthCredential):
        return f"OAuth access token ({info.get('oauth_grant')})"
    return "none: the supplied JWT is sent as it is (deprecated: give the private key instead)"


def _hostname(ctx: _Context) -> str:
    resp = ctx.driver.run(_one(Call(hostname_op())))
    host, url = parse_hostname(
        resp.content, ctx.core.control_url, allow_insecure_http=ctx.config.allow_insecure_http
    )
    ctx.values["host"] = host
    return f"ingest host {host} ({url})"


def _token(ctx: _Context) -> str:
    resp = ctx.driver.run(_one(Call(token_op(ctx.values["host"]))))
    now = ctx.clock.time()
    token, expires_at = parse_scoped_token(resp.content, now)
    if ctx.reveal is not None:
        ctx.reveal(ctx.core.jwt.get_token(), token)
    return f"scoped token of {len(token)} chars, valid {expires_at - now:.0f} s"


def _skew(ctx: _Context) -> str:
    """How far this machine's clock is from Snowflake's, from the answers' ``Date``."""
    ahead = ctx.core.skew.local_ahead_secs()
    if ahead is None:
        return "not measured (no Date header in the answers)"
    if abs(ahead) < 1:
        return "this machine's clock agrees with Snowflake's (within a second)"
    where = "ahead of" if ahead >= 0 else "behind"
    text = f"this machine's clock is {abs(ahead):.0f} s {where} Snowflake's"
    if abs(ahead) > SKEW_WARN_SECS:
        return (
            f"warning: {text} (more than {SKEW_WARN_SECS:g} s); the client schedules its "
            "tokens on Snowflake's clock, but fix the machine's time sync (NTP)"
        )
    return text


#: The steps, in order: (name, function). Each runs only when those before it passed.
STEPS: list[tuple[str, Callable[[_Context], str]]] = [
    ("configuration", _configuration),
    ("credential", _key),
    ("hostname discovery", _hostname),
    ("token exchange", _token),
    ("clock", _skew),
]


def diagnose(
    config: ClientConfig,
    *,
    clock: Clock | None = None,
    transport: httpx.BaseTransport | None = None,
) -> list[DiagnosticStep]:
    """Check ``config`` the way a client starts: the settings, the key (signing a JWT),
    discovering the ingest host, exchanging the JWT for a scoped token.

    Answers the steps run, in order; the last one failed when any did (the later ones are not
    run). Never raises for a failed step: its error is in :attr:`DiagnosticStep.error`.
    """
    return run_steps(config, clock=clock, transport=transport)


def run_steps(
    config: ClientConfig,
    *,
    clock: Clock | None = None,
    transport: httpx.BaseTransport | None = None,
    reveal: Callable[[str, str], None] | None = None,
) -> list[DiagnosticStep]:
    """:func:`diagnose`, and ``reveal`` called with the tokens (for ``check --show-token``)."""
    clock = clock or SYSTEM_CLOCK
    core = Core(config, clock)
    driver = SyncDriver(core, transport)
    ctx = _Context(config, clock, core, driver, reveal)
    steps: list[DiagnosticStep] = []
    try:
        for name, check in STEPS:
            started = clock.monotonic()
            try:
                detail = check(ctx)
            except SnowpipeError as exc:
                steps.append(
                    DiagnosticStep(name, False, str(exc), clock.monotonic() - started, exc)
                )
                break
            steps.append(DiagnosticStep(name, True, detail, clock.monotonic() - started))
    finally:
        driver.close()
    return steps


def _one(effect: Call) -> Flow[httpx.Response]:
    resp = yield effect
    return resp  # type: ignore[no-any-return]
