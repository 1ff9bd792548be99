"""Key rotation against the real emulator: ALTER USER as the emulator mirrors it, and a client
that follows a replaced key file (or a provider) without a caller-visible error."""

from __future__ import annotations

import os
from pathlib import Path

import httpx

from snowpipe_stream import Client, PrivateKey
from snowpipe_stream.emulator import Emulator
from snowpipe_stream.testing import FakeClock

from .conftest import ACCOUNT, DB, PIPE, SCHEMA, USER, make_config


def _write(path: Path, key: PrivateKey) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(key.private_key_pem())
    os.replace(tmp, path)


def test_put_user_sets_unsets_and_leaves_slots(
    emu: Emulator, rsa_key: PrivateKey, other_key: PrivateKey
) -> None:
    url = f"{emu.url}/emulator/v1/users/{ACCOUNT}/{USER}"
    assert httpx.get(url).json() == {
        "rsa_public_key_fp": rsa_key.fingerprint,
        "rsa_public_key_2_fp": None,
    }
    answer = httpx.put(url, json={"rsa_public_key_2": other_key.public_key_body()}).json()
    assert answer == {
        "rsa_public_key_fp": rsa_key.fingerprint,
        "rsa_public_key_2_fp": other_key.fingerprint,
    }
    # null unsets; an absent key leaves its slot as it is.
    answer = httpx.put(url, json={"rsa_public_key": None}).json()
    assert answer == {"rsa_public_key_fp": None, "rsa_public_key_2_fp": other_key.fingerprint}
    bad = httpx.put(url, json={"rsa_public_key_3": None})
    assert bad.status_code == 400


def test_a_replaced_key_file_is_followed_through_a_full_rotation(
    tmp_path: Path, rsa_key: PrivateKey, other_key: PrivateKey, clock: FakeClock
) -> None:
    path = tmp_path / "rsa_key.p8"
    _write(path, rsa_key)
    with Emulator(users=[(ACCOUNT, USER, rsa_key)], clock=clock, scoped_token_ttl=120) as emu:
        config = make_config(emu, rsa_key).replace(private_key=None, private_key_file=str(path))
        with Client("rot", DB, SCHEMA, PIPE, config=config, clock=clock) as client:
            channel, _ = client.open_channel("rot")
            channel.append_rows([{"n": 1}], "1", "1")
            channel.flush()
            # The security team's three steps.
            emu.set_user_keys(ACCOUNT, USER, rsa_public_key_2=other_key)
            _write(path, other_key)
            emu.set_user_keys(ACCOUNT, USER, rsa_public_key=None)
            # The scoped token outlives the key that obtained it (until it expires)...
            channel.append_rows([{"n": 2}], "2", "2")
            channel.flush()
            # ...and the next exchange is signed with the new key.
            clock.advance(200)
            channel.append_rows([{"n": 3}], "3", "3")
            channel.flush()
            channel.wait_for_commit("3", timeout=30)
            stats = client.stats
        stats_emu = emu.stats()
        rows = emu.rows(DB, SCHEMA, PIPE, "rot")
    assert [r["n"] for r in rows] == [1, 2, 3]
    assert stats.retries_401 == 0
    assert stats_emu["jwts_rejected"] == 0
    assert stats_emu["jwts_with_removed_key"] == 0
    assert stats.scoped_exchanges == 2


def test_a_provider_is_asked_again_after_a_401_and_the_caller_sees_nothing(
    rsa_key: PrivateKey, other_key: PrivateKey, clock: FakeClock
) -> None:
    current = [rsa_key]
    with Emulator(users=[(ACCOUNT, USER, rsa_key)], clock=clock, scoped_token_ttl=120) as emu:
        config = make_config(emu, rsa_key).replace(
            private_key=None, private_key_provider=lambda: current[0], jwt_exp_secs=3600
        )
        with Client("prov", DB, SCHEMA, PIPE, config=config, clock=clock) as client:
            channel, _ = client.open_channel("prov")
            channel.append_rows([{"n": 1}], "1", "1")
            channel.flush()
            emu.set_user_keys(ACCOUNT, USER, rsa_public_key_2=other_key)
            current[0] = other_key
            emu.set_user_keys(ACCOUNT, USER, rsa_public_key=None)
            clock.advance(200)  # the scoped token expires; the cached JWT is the old key's
            channel.append_rows([{"n": 2}], "2", "2")
            channel.flush()
            channel.wait_for_commit("2", timeout=30)
            stats = client.stats
        stats_emu = emu.stats()
        rows = emu.rows(DB, SCHEMA, PIPE, "prov")
    assert [r["n"] for r in rows] == [1, 2]
    # One 401 (the cached JWT signed with the removed key), then the provider's new key.
    assert stats.retries_401 == 1
    assert stats_emu["jwts_with_removed_key"] == 1
