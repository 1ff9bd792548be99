"""``snowpipe-stream keygen --rotate``: the new pair beside the old, and the three steps that
work when followed (against the emulator, with a running client)."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

from snowpipe_stream import Client, ClientConfig, PrivateKey
from snowpipe_stream.emulator import Emulator
from snowpipe_stream.testing import FakeClock


def keygen(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "snowpipe_stream", "keygen", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=os.environ.copy(),
    )


def test_rotate_writes_beside_and_its_steps_rotate_a_running_client(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    assert keygen("--out", str(keys), "--user", "svc").returncode == 0
    old = PrivateKey.from_file(keys / "rsa_key.p8")
    out = keygen("--out", str(keys), "--user", "svc", "--rotate")
    assert out.returncode == 0, out.stderr
    new = PrivateKey.from_file(keys / "rsa_key.new.p8")
    assert (keys / "rsa_key.new.p8").stat().st_mode & 0o777 == 0o600
    assert PrivateKey.from_file(keys / "rsa_key.p8").fingerprint == old.fingerprint  # untouched
    text = out.stdout
    assert f"current key: {keys / 'rsa_key.p8'} (fingerprint {old.fingerprint})" in text
    step1 = f"ALTER USER SVC SET RSA_PUBLIC_KEY_2='{new.public_key_body()}';"
    step3 = "ALTER USER SVC UNSET RSA_PUBLIC_KEY;"
    assert text.index(step1) < text.index("mv ") < text.index(step3)
    move = re.search(r"^\s+(mv .*)$", text, re.MULTILINE)
    assert move is not None

    # Follow the steps while a client streams: nothing reaches it.
    clock = FakeClock()
    with Emulator(users=[("acct", "svc", old)], clock=clock, scoped_token_ttl=60) as emu:
        config = ClientConfig(
            account="acct",
            user="svc",
            url=emu.url,
            private_key_file=str(keys / "rsa_key.p8"),
            max_client_lag=0,
        )
        with Client("k", "DB", "S", "P", config=config, clock=clock) as client:
            channel, _ = client.open_channel("k")
            channel.append_rows([{"n": 1}], "1", "1")
            emu.set_user_keys("acct", "svc", rsa_public_key_2=new.public_key_body())
            for part in move.group(1).split(" && "):
                src, dst = shlex.split(part)[-2:]
                os.replace(src, dst)
            emu.set_user_keys("acct", "svc", rsa_public_key=None)
            clock.advance(120)
            channel.append_rows([{"n": 2}], "2", "2")
            channel.wait_for_commit("2", timeout=30)
        assert emu.stats()["jwts_rejected"] == 0
        assert len(emu.rows("DB", "S", "P", "k")) == 2


def test_rotate_needs_the_current_key(tmp_path: Path) -> None:
    out = keygen("--out", str(tmp_path), "--rotate")
    assert out.returncode == 2 and "needs the current key" in out.stderr
