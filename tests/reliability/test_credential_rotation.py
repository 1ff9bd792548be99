"""Six simulated hours in which every credential changes under a running job.

On one FakeClock shared with the emulator: a key-pair client whose key is rotated every 40
simulated minutes by Snowflake's procedure (register the new key in the free slot, replace the
key file, unset the old slot; then the other way round), a PAT client whose token is rotated
through its file (new PAT, new file, old PAT revoked), and the machine's clock jumping by 40 s
four times (+40, -40, -40, +40). Nothing reaches the caller, every row lands exactly once, and
no request carries a removed key once the client has reloaded.
"""

from __future__ import annotations

import os
from pathlib import Path

from snowpipe_stream import Client, ClientConfig, PrivateKey
from snowpipe_stream.emulator import Emulator
from snowpipe_stream.testing import FakeClock

ACCOUNT, USER = "rot-acct", "svc"
HOURS = 6
STEP_SECS = 60.0
KEY_EVERY = 40 * 60
KEY_OFFSET = 10 * 60  # rotations at 0:10, 0:50, ... 5:30: the last one is reloaded in time
PAT_EVERY = 2 * 3600
#: step -> the jump of the machine's clock at that step
JUMPS = {int(h * 3600 / STEP_SECS): d for h, d in ((1.5, 40), (2.5, -40), (4.0, -40), (5.0, 40))}


class MachineClock:
    """The shared fake clock as seen by a machine whose wall clock can jump."""

    def __init__(self, base: FakeClock) -> None:
        self.base, self.offset = base, 0.0

    def time(self) -> float:
        return self.base.time() + self.offset

    def monotonic(self) -> float:
        return self.base.monotonic()

    def sleep(self, seconds: float) -> None:
        self.base.sleep(seconds)

    async def asleep(self, seconds: float) -> None:
        await self.base.asleep(seconds)


def _replace(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def test_six_hours_of_rotations_and_clock_jumps(tmp_path: Path, rsa_key: PrivateKey) -> None:
    from tests.conftest import KNOWN_SECRETS

    clock = FakeClock()
    machine = MachineClock(clock)
    key_file, pat_file = tmp_path / "rsa_key.p8", tmp_path / "pat.txt"
    _replace(key_file, rsa_key.private_key_pem())
    steps = int(HOURS * 3600 / STEP_SECS)
    with Emulator(users=[(ACCOUNT, USER, rsa_key)], clock=clock, scoped_token_ttl=300) as emu:
        pat = emu.add_pat(ACCOUNT, USER, "pat0", days_to_expiry=1)
        KNOWN_SECRETS.add(pat)
        _replace(pat_file, pat.encode())
        common = {"account": ACCOUNT, "url": emu.url, "max_client_lag": 0}
        jwt_config = ClientConfig(
            user=USER,
            private_key_file=str(key_file),
            jwt_exp_secs=60,
            jwt_refresh_margin_secs=30,
            **common,  # type: ignore[arg-type]
        )
        pat_config = ClientConfig(personal_access_token_file=str(pat_file), **common)  # type: ignore[arg-type]
        slot_of_current, rotations, pats = "rsa_public_key", 0, 0
        with (
            Client("jwt", "DB", "S", "P", config=jwt_config, clock=machine) as jwt_client,
            Client("pat", "DB", "S", "P", config=pat_config, clock=machine) as pat_client,
        ):
            jwt_channel, _ = jwt_client.open_channel("jwt")
            pat_channel, _ = pat_client.open_channel("pat")
            for step in range(1, steps + 1):
                elapsed = step * STEP_SECS
                machine.offset += JUMPS.get(step, 0)
                if elapsed % KEY_EVERY == KEY_OFFSET:
                    new = PrivateKey.generate()
                    free = (
                        "rsa_public_key_2"
                        if slot_of_current == "rsa_public_key"
                        else ("rsa_public_key")
                    )
                    emu.set_user_keys(ACCOUNT, USER, **{free: new})  # type: ignore[arg-type]
                    _replace(key_file, new.private_key_pem())
                    emu.set_user_keys(ACCOUNT, USER, **{slot_of_current: None})  # type: ignore[arg-type]
                    slot_of_current, rotations = free, rotations + 1
                if elapsed % PAT_EVERY == 0:
                    pats += 1
                    fresh = emu.add_pat(ACCOUNT, USER, f"pat{pats}", days_to_expiry=1)
                    KNOWN_SECRETS.add(fresh)
                    _replace(pat_file, fresh.encode())
                    emu.revoke_pat(ACCOUNT, USER, f"pat{pats - 1}")
                for channel in (jwt_channel, pat_channel):
                    channel.append_rows([{"step": step}], str(step), str(step))
                    channel.flush()
                clock.advance(STEP_SECS)
            jwt_channel.wait_for_commit(str(steps), timeout=60)
            pat_channel.wait_for_commit(str(steps), timeout=60)
            jwt_stats, pat_stats = jwt_client.stats, pat_client.stats
            reloads = jwt_client._core.jwt.key_source.reloads  # type: ignore[attr-defined]
        emu_stats = emu.stats()
        jwt_rows = emu.rows("DB", "S", "P", "jwt")
        pat_rows = emu.rows("DB", "S", "P", "pat")
    # Every row exactly once, in order, on both clients.
    assert [r["step"] for r in jwt_rows] == list(range(1, steps + 1))
    assert [r["step"] for r in pat_rows] == list(range(1, steps + 1))
    assert rotations == 9 and reloads == rotations
    assert pats == HOURS * 3600 // PAT_EVERY
    # No JWT was ever signed with a removed key, and no credential was refused.
    assert emu_stats["jwts_with_removed_key"] == 0
    assert emu_stats["jwts_rejected"] == 0 and emu_stats["pats_rejected"] == 0
    # A backwards jump can make a scoped token look younger than it is for the few answers
    # the estimate needs to follow: at most one 401 (retried, unseen by the caller) per jump.
    assert jwt_stats.retries_401 + pat_stats.retries_401 <= 2 * len(JUMPS)
