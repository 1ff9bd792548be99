"""Snowflake's official Python SDK (``snowpipe-streaming``) runs its whole flow on the emulator.

It needs HTTPS to an IP host, a JWT with millisecond claims, plain-text hostname and token
answers, the pipe-info object and the telemetry endpoint: this proves the emulator speaks the
protocol closely enough for a client we did not write.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from snowpipe_stream import PrivateKey
from snowpipe_stream.emulator import Emulator

pytest.importorskip(
    "snowflake.ingest.streaming",
    reason="Snowflake's snowpipe-streaming wheel is not installable on this platform",
)

SCRIPT = Path(__file__).parent / "sdk" / "run_official_sdk.py"


def test_official_sdk_full_flow(tmp_path: Path, rsa_key: PrivateKey) -> None:
    key_file = tmp_path / "rsa_key.p8"
    key_file.write_bytes(rsa_key.private_key_pem())
    with Emulator(users=[("sdkorg-acct", "sdk_user", rsa_key)], tls=True) as emu:
        assert emu.ca_path is not None
        env = {**os.environ, "SSL_CERT_FILE": str(emu.ca_path)}
        out = subprocess.run(
            [
                sys.executable,
                str(SCRIPT),
                emu.url,
                "sdkorg-acct",
                "sdk_user",
                str(key_file),
                "10000",
                str(tmp_path / "result.json"),
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=180,
            check=False,
        )
        assert out.returncode == 0, out.stderr[-3000:] + out.stdout[-3000:]
        result = json.loads((tmp_path / "result.json").read_text())
        assert result == {
            "opened_at": None,
            "committed": "10000",
            "rows_inserted": 10000,
            "status": "SUCCESS",
        }
        rows = emu.rows("DB", "SCHEMA", "PIPE", "sdk-channel")
        assert [r["n"] for r in rows] == list(range(1, 10001))
        stats = emu.stats()
        assert stats["jwts_rejected"] == 0
        assert stats["requests"].get("drop 200") == 1
