"""The JWT manager: clamping, refresh by margin, invalidation, single flight. No sleeping."""

from __future__ import annotations

import asyncio
import logging
import threading

import pytest

import snowpipe_stream._tokens as tokens_mod
from snowpipe_stream import ConfigError, JwtManager, PrivateKey, TokenState
from snowpipe_stream._jwt import read_claims_unverified
from snowpipe_stream._tokens import SuppliedJwt, token_state
from snowpipe_stream.testing import FakeClock


def manager(key: PrivateKey, clock: FakeClock, **kw: object) -> JwtManager:
    return JwtManager("myorg-acct", "svc_user", key, clock=clock, **kw)  # type: ignore[arg-type]


def messages(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == level]


def test_seed_contract_short_lifetime_is_clamped_with_one_warning(
    rsa_key: PrivateKey, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="snowpipe_stream")
    jm = manager(rsa_key, clock, lifetime_secs=10)
    assert jm.lifetime_secs == 30
    token = jm.get_token()  # a fresh token before the first request
    claims = read_claims_unverified(token)
    assert claims is not None and claims["exp"] - claims["iat"] == 30
    for _ in range(5):
        jm.get_token()
        clock.advance(20)
    warnings = [m for m in messages(caplog, logging.WARNING) if "jwt_exp_secs" in m]
    assert warnings == ["jwt_exp_secs=10 is outside [30, 3600]; using 30 seconds"]


def test_long_lifetime_is_clamped_to_an_hour(
    rsa_key: PrivateKey, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    jm = manager(rsa_key, clock, lifetime_secs=7200)
    assert jm.lifetime_secs == 3600
    assert any("7200" in m and "3600" in m for m in messages(caplog, logging.WARNING))


def test_in_range_lifetime_gives_no_warning(
    rsa_key: PrivateKey, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    manager(rsa_key, clock, lifetime_secs=3540).get_token()
    assert messages(caplog, logging.WARNING) == []


def test_margin_not_below_lifetime_is_halved_with_one_warning(
    rsa_key: PrivateKey, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    jm = manager(rsa_key, clock, lifetime_secs=60, refresh_margin_secs=60)
    assert jm.refresh_margin_secs == 30
    assert len([m for m in messages(caplog, logging.WARNING) if "margin" in m]) == 1


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"refresh_margin_secs": -1}, "must not be negative"),
        ({"lifetime_secs": "soon"}, "must be a number"),
        ({"refresh_margin_secs": float("nan")}, "NaN"),
    ],
)
def test_bad_numbers_are_config_errors(
    rsa_key: PrivateKey, clock: FakeClock, kw: dict[str, object], match: str
) -> None:
    with pytest.raises(ConfigError, match=match):
        manager(rsa_key, clock, **kw)


def test_missing_account_user_or_key(rsa_key: PrivateKey) -> None:
    with pytest.raises(ConfigError, match="account"):
        JwtManager("", "u", rsa_key)
    with pytest.raises(ConfigError, match="user"):
        JwtManager("a", " ", rsa_key)
    with pytest.raises(ConfigError, match="PrivateKey"):
        JwtManager("a", "u", "-----BEGIN PRIVATE KEY-----")  # type: ignore[arg-type]


def test_refresh_at_25s_left_with_margin_30(
    rsa_key: PrivateKey, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="snowpipe_stream")
    jm = manager(rsa_key, clock, lifetime_secs=300, refresh_margin_secs=30)
    first = jm.get_token()
    assert jm.expires_at == pytest.approx(clock.time() + 300, abs=1)
    clock.advance(300 - 25 - (clock.time() % 1))  # 25 s left
    second = jm.get_token()
    assert second != first
    first_claims, second_claims = read_claims_unverified(first), read_claims_unverified(second)
    assert first_claims is not None and second_claims is not None
    assert second_claims["iat"] > first_claims["iat"]
    assert jm.mint_count == 2
    infos = messages(caplog, logging.INFO)
    assert infos[0].startswith(
        "JWT refreshed (reason=initial, remaining TTL=none, margin=30s, lifetime=300s"
    )
    assert infos[1].startswith("JWT refreshed (reason=margin, remaining TTL=25s")


def test_reuse_at_31s_left_logs_debug(
    rsa_key: PrivateKey, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="snowpipe_stream")
    jm = manager(rsa_key, clock, lifetime_secs=300, refresh_margin_secs=30)
    first = jm.get_token()
    assert jm.expires_at is not None
    clock.advance(jm.expires_at - 31 - clock.time())  # exactly 31 s left
    assert jm.get_token() == first
    assert jm.mint_count == 1
    assert "reusing cached JWT (31 s left)" in messages(caplog, logging.DEBUG)


def test_invalidate_mints_anew_and_logs_the_reason(
    rsa_key: PrivateKey, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    jm = manager(rsa_key, clock)
    first = jm.get_token()
    assert jm.state() is TokenState.FRESH
    jm.invalidate()
    assert jm.state() is TokenState.INVALID
    assert jm.expires_at is None
    second = jm.get_token()
    assert second != first  # differs even within the same second (jti)
    assert jm.mint_count == 2
    assert any("reason=invalidated" in m for m in messages(caplog, logging.INFO))


def test_invalidate_with_an_old_token_keeps_the_new_one(
    rsa_key: PrivateKey, clock: FakeClock
) -> None:
    jm = manager(rsa_key, clock)
    old = jm.get_token()
    jm.invalidate(old)
    new = jm.get_token()
    # A second request that failed with the old token must not throw away the new one.
    jm.invalidate(old)
    assert jm.get_token() == new
    assert jm.mint_count == 2


def test_token_state_is_pure() -> None:
    assert token_state(None, 100, 30) is TokenState.INVALID
    assert token_state(100, 100, 30) is TokenState.INVALID
    assert token_state(130, 100, 30) is TokenState.STALE
    assert token_state(131, 100, 30) is TokenState.FRESH


def _slow_mint(monkeypatch: pytest.MonkeyPatch) -> None:
    """Widen the race window: signing takes 20 ms, so unguarded threads would all mint."""
    real = tokens_mod.mint_jwt

    def slow(*args, **kwargs):  # type: ignore[no-untyped-def]
        threading.Event().wait(0.02)
        return real(*args, **kwargs)

    monkeypatch.setattr(tokens_mod, "mint_jwt", slow)


def test_single_flight_across_32_threads(
    rsa_key: PrivateKey, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    jm = manager(rsa_key, clock, lifetime_secs=300)
    jm.get_token()
    clock.advance(290)  # stale
    _slow_mint(monkeypatch)
    barrier = threading.Barrier(32)
    results: list[str] = []
    lock = threading.Lock()

    def worker() -> None:
        barrier.wait()
        token = jm.get_token()
        with lock:
            results.append(token)

    threads = [threading.Thread(target=worker) for _ in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert len(results) == 32
    assert len(set(results)) == 1
    assert jm.mint_count == 2  # the initial one and exactly one refresh


def test_single_flight_across_100_tasks(
    rsa_key: PrivateKey, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    jm = manager(rsa_key, clock, lifetime_secs=300)
    _slow_mint(monkeypatch)

    async def one(i: int) -> str:
        # Half the tasks ask from the loop, half from worker threads, all at once.
        if i % 2:
            return await asyncio.to_thread(jm.get_token)
        await asyncio.sleep(0)
        return jm.get_token()

    async def main() -> list[str]:
        return list(await asyncio.gather(*(one(i) for i in range(100))))

    tokens = asyncio.run(main())
    assert len(tokens) == 100
    assert len(set(tokens)) == 1
    assert jm.mint_count == 1


def test_supplied_jwt_is_used_as_is() -> None:
    provider = SuppliedJwt("  header.payload.sig  ")
    assert provider.get_token() == "header.payload.sig"
    assert provider.can_refresh is False
    assert provider.expires_at is None
    provider.invalidate()
    assert provider.get_token() == "header.payload.sig"
    assert "payload" not in repr(provider)


def test_manager_repr_has_no_token(rsa_key: PrivateKey, clock: FakeClock) -> None:
    jm = manager(rsa_key, clock)
    token = jm.get_token()
    text = repr(jm)
    assert token not in text and token.split(".")[1] not in text
    assert rsa_key.fingerprint in text


def test_a_token_past_its_expiry_is_refreshed_with_reason_expired(
    rsa_key: PrivateKey, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    jm = manager(rsa_key, clock, lifetime_secs=60)
    first = jm.get_token()
    clock.advance(600)  # idle for ten minutes: the cached token is long expired
    assert jm.state() is TokenState.INVALID
    assert jm.get_token() != first
    assert any(
        m.startswith("JWT refreshed (reason=expired") for m in messages(caplog, logging.INFO)
    )
