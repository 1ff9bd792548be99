"""The credential-rotation proof in real time: 90 s of steady appends with 30 s JWTs and 30 s
scoped tokens, the key rotated twice through its file and the PAT once through its file.

Marked ``realtime`` and left out of ``make test`` (it takes 90 s by design): ``make
test-realtime`` runs it. The same scenario on a shared FakeClock (six simulated hours, clock
jumps included) is tests/reliability/test_credential_rotation.py, in every run.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from snowpipe_stream import Client, ClientConfig, PrivateKey
from snowpipe_stream.emulator import Emulator

ACCOUNT, USER = "rt-acct", "svc"
SECONDS = 90.0
STEP = 0.5
#: Seconds into the run -> what changes.
KEY_ROTATIONS = (20.0, 55.0)
PAT_ROTATION = 40.0


def _replace(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


@pytest.mark.realtime
def test_ninety_real_seconds_of_rotations_with_30_s_tokens(
    tmp_path: Path, rsa_key: PrivateKey
) -> None:
    from tests.conftest import KNOWN_SECRETS

    key_file, pat_file = tmp_path / "rsa_key.p8", tmp_path / "pat.txt"
    _replace(key_file, rsa_key.private_key_pem())
    with Emulator(users=[(ACCOUNT, USER, rsa_key)], scoped_token_ttl=30) as emu:
        pat = emu.add_pat(ACCOUNT, USER, "pat0", days_to_expiry=1)
        KNOWN_SECRETS.add(pat)
        _replace(pat_file, pat.encode())
        common = {"account": ACCOUNT, "url": emu.url, "max_client_lag": 0}
        jwt_config = ClientConfig(
            user=USER,
            private_key_file=str(key_file),
            jwt_exp_secs=30,
            **common,  # type: ignore[arg-type]
        )
        pat_config = ClientConfig(personal_access_token_file=str(pat_file), **common)  # type: ignore[arg-type]
        pending = list(KEY_ROTATIONS)
        pat_done = False
        slot = "rsa_public_key"
        start = time.monotonic()
        step = 0
        with (
            Client("jwt", "DB", "S", "P", config=jwt_config) as jwt_client,
            Client("pat", "DB", "S", "P", config=pat_config) as pat_client,
        ):
            jwt_channel, _ = jwt_client.open_channel("jwt")
            pat_channel, _ = pat_client.open_channel("pat")
            while (elapsed := time.monotonic() - start) < SECONDS:
                if pending and elapsed >= pending[0]:
                    pending.pop(0)
                    new = PrivateKey.generate()
                    free = "rsa_public_key_2" if slot == "rsa_public_key" else "rsa_public_key"
                    emu.set_user_keys(ACCOUNT, USER, **{free: new})  # type: ignore[arg-type]
                    _replace(key_file, new.private_key_pem())
                    emu.set_user_keys(ACCOUNT, USER, **{slot: None})  # type: ignore[arg-type]
                    slot = free
                if not pat_done and elapsed >= PAT_ROTATION:
                    pat_done = True
                    fresh = emu.add_pat(ACCOUNT, USER, "pat1", days_to_expiry=1)
                    KNOWN_SECRETS.add(fresh)
                    _replace(pat_file, fresh.encode())
                    emu.revoke_pat(ACCOUNT, USER, "pat0")
                step += 1
                for channel in (jwt_channel, pat_channel):
                    channel.append_rows([{"step": step}], str(step), str(step))
                    channel.flush()
                time.sleep(STEP)  # real time is what this test is about
            jwt_channel.wait_for_commit(str(step), timeout=60)
            pat_channel.wait_for_commit(str(step), timeout=60)
            jwt_stats = jwt_client.stats
        stats = emu.stats()
        jwt_rows = emu.rows("DB", "S", "P", "jwt")
        pat_rows = emu.rows("DB", "S", "P", "pat")
    assert not pending and pat_done
    assert [r["step"] for r in jwt_rows] == list(range(1, step + 1))
    assert [r["step"] for r in pat_rows] == list(range(1, step + 1))
    assert stats["jwts_with_removed_key"] == 0 and stats["pats_rejected"] == 0
    # 30 s JWTs renewed on the way (about every 15 s: the margin is halved for short ones).
    assert jwt_stats.jwt_mints >= SECONDS / 15 - 1
    assert stats["scoped_tokens_issued"] >= 2 * (SECONDS / 30)
