"""The emulator's protocol rules, checked with plain HTTP calls (and the client where apt)."""

from __future__ import annotations

import base64
import gzip
import json
import os
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt as pyjwt
import pytest
import zstandard

from snowpipe_stream import Client, PrivateKey
from snowpipe_stream._jwt import mint_jwt
from snowpipe_stream.emulator import Emulator
from snowpipe_stream.emulator import _messages as M
from snowpipe_stream.testing import FakeClock
from tests.integration.conftest import ACCOUNT, DB, PIPE, SCHEMA, USER, make_config
from tests.processes import serving

JSON = {"Accept": "application/json"}
BASE = f"/v2/streaming/databases/{DB}/schemas/{SCHEMA}/pipes/{PIPE}"
DATA = f"/v2/streaming/data/databases/{DB}/schemas/{SCHEMA}/pipes/{PIPE}"


def jwt_for(key: PrivateKey, clock: FakeClock, **over: Any) -> str:
    token, _ = mint_jwt(key, account=ACCOUNT, user=USER, now=clock.time(), lifetime_secs=3540)
    if not over:
        return token
    claims = pyjwt.decode(token, options={"verify_signature": False})
    claims.update(over)
    return pyjwt.encode(claims, key.crypto_key, algorithm="RS256")


def hostname(emu: Emulator, token: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.get(
        f"{emu.url}/v2/streaming/hostname",
        headers={**JSON, "Authorization": f"Bearer {token}", **(headers or {})},
    )


class Session:
    """Raw protocol calls with a scoped token."""

    def __init__(self, emu: Emulator, key: PrivateKey, clock: FakeClock) -> None:
        self.emu = emu
        resp = httpx.post(
            f"{emu.url}/oauth/token",
            headers={**JSON, "Authorization": f"Bearer {jwt_for(key, clock)}"},
            data={
                "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
                "scope": "127.0.0.1",
            },
        )
        assert resp.status_code == 200, resp.text
        self.http = httpx.Client(
            base_url=emu.url, headers={**JSON, "Authorization": f"Bearer {resp.text}"}
        )

    def open(self, channel: str = "ch", **body: Any) -> httpx.Response:
        return self.http.put(f"{BASE}/channels/{channel}", json=body)

    def append(
        self,
        cont: str,
        body: bytes,
        channel: str = "ch",
        token: str | None = None,
        headers: dict[str, str] | None = None,
        **params: str,
    ) -> httpx.Response:
        q = {"continuationToken": cont, **params}
        if token is not None:
            q["endOffsetToken"] = token
        return self.http.post(
            f"{DATA}/channels/{channel}/rows",
            params=q,
            content=body,
            headers={"Content-Type": "application/x-ndjson", **(headers or {})},
        )

    def close(self) -> None:
        self.http.close()

    def status(self, *names: str) -> dict[str, Any]:
        resp = self.http.post(f"{BASE}:bulk-channel-status", json={"channel_names": list(names)})
        assert resp.status_code == 200, resp.text
        return resp.json()["channel_statuses"]  # type: ignore[no-any-return]


@pytest.fixture
def session(emu: Emulator, rsa_key: PrivateKey, clock: FakeClock) -> Iterator[Session]:
    s = Session(emu, rsa_key, clock)
    yield s
    s.close()


# --- key-pair JWT verification ---------------------------------------------------------------


def test_hostname_is_a_bare_host(emu: Emulator, rsa_key: PrivateKey, clock: FakeClock) -> None:
    resp = hostname(emu, jwt_for(rsa_key, clock))
    assert resp.status_code == 200 and resp.text == "127.0.0.1"
    assert resp.headers["content-type"].startswith("text/plain")


def test_scoped_token_is_a_jwt_with_exp_in_seconds(
    emu: Emulator, rsa_key: PrivateKey, clock: FakeClock
) -> None:
    s = Session(emu, rsa_key, clock)
    token = s.http.headers["Authorization"][7:]
    s.close()
    claims = pyjwt.decode(token, options={"verify_signature": False})
    assert claims["exp"] == int(clock.time()) + 3600


@pytest.mark.parametrize("scale", [1, 1000], ids=["seconds", "milliseconds"])
def test_jwt_times_in_seconds_or_ms(
    emu: Emulator, rsa_key: PrivateKey, clock: FakeClock, scale: int
) -> None:
    now = int(clock.time())
    token = jwt_for(rsa_key, clock, iat=now * scale, exp=(now + 3000) * scale)
    assert hostname(emu, token).status_code == 200


def _rejections(
    emu: Emulator, rsa_key: PrivateKey, other: PrivateKey, clock: FakeClock
) -> dict[str, str]:
    now = int(clock.time())
    good = jwt_for(rsa_key, clock)
    head, body, sig = good.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=="))
    claims["sub"] = "MYORG-ACCT.SOMEONE_ELSE"
    forged_body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    none_head = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
    iss = f"MYORG-ACCT.SVC_USER.{rsa_key.fingerprint}"
    return {
        "tampered": f"{head}.{forged_body}.{sig}",
        "expired": jwt_for(rsa_key, clock, iat=now - 3000, exp=now - 10),
        "over an hour old": jwt_for(rsa_key, clock, iat=now - 3700, exp=now + 100),
        "iat in the future": jwt_for(rsa_key, clock, iat=now + 120, exp=now + 600),
        "wrong fingerprint": mint_jwt(
            other, account=ACCOUNT, user=USER, now=now, lifetime_secs=600
        )[0],
        "wrong account": jwt_for(
            rsa_key, clock, iss=f"OTHER.SVC_USER.{rsa_key.fingerprint}", sub="OTHER.SVC_USER"
        ),
        "lower case": jwt_for(rsa_key, clock, iss=iss.lower(), sub="myorg-acct.svc_user"),
        "alg none": f"{none_head}.{body}.",
        "HS256": pyjwt.encode(
            claims | {"sub": "MYORG-ACCT.SVC_USER"}, "secret" * 6, algorithm="HS256"
        ),
        "garbage": "not-a-jwt",
    }


def test_bad_jwts_are_rejected_without_saying_why(
    emu: Emulator, rsa_key: PrivateKey, other_key: PrivateKey, clock: FakeClock
) -> None:
    cases = _rejections(emu, rsa_key, other_key, clock)
    for name, token in cases.items():
        resp = hostname(emu, token)
        assert resp.status_code == 401, name
        assert resp.json() == {"code": "390144", "message": "JWT token is invalid."}, name
    assert emu.stats()["jwts_rejected"] == len(cases)


def test_iat_within_skew_is_accepted(emu: Emulator, rsa_key: PrivateKey, clock: FakeClock) -> None:
    now = int(clock.time())
    assert hostname(emu, jwt_for(rsa_key, clock, iat=now + 30, exp=now + 600)).status_code == 200


def test_key_rotation_two_keys_per_user(
    emu: Emulator, rsa_key: PrivateKey, other_key: PrivateKey, clock: FakeClock
) -> None:
    resp = httpx.post(
        f"{emu.url}/emulator/v1/users",
        json={"account": ACCOUNT, "user": USER, "public_key": other_key.public_key_pem()},
    )
    assert resp.json() == {"fingerprint": other_key.fingerprint}
    for key in (rsa_key, other_key):
        token = mint_jwt(key, account=ACCOUNT, user=USER, now=clock.time(), lifetime_secs=60)[0]
        assert hostname(emu, token).status_code == 200
    third = PrivateKey.generate()
    emu.add_user(account=ACCOUNT, user=USER, public_key=third)  # the oldest key retires
    old = mint_jwt(rsa_key, account=ACCOUNT, user=USER, now=clock.time(), lifetime_secs=60)[0]
    assert hostname(emu, old).status_code == 401


def test_accept_header_is_required(emu: Emulator, rsa_key: PrivateKey, clock: FakeClock) -> None:
    resp = httpx.get(
        f"{emu.url}/v2/streaming/hostname",
        headers={"Authorization": f"Bearer {jwt_for(rsa_key, clock)}", "Accept": ""},
    )
    assert resp.status_code == 400
    assert resp.json()["code"] == M.ACCEPT_MISSING[1] == "391902"


def test_ingest_calls_need_a_valid_scoped_token(
    emu: Emulator, rsa_key: PrivateKey, session: Session, clock: FakeClock
) -> None:
    resp = httpx.put(
        f"{emu.url}{BASE}/channels/ch",
        json={},
        headers={**JSON, "Authorization": f"Bearer {jwt_for(rsa_key, clock)}"},
    )
    assert resp.status_code == 401 and resp.json()["code"] == M.SCOPED_TOKEN_INVALID[1]
    assert session.open().status_code == 200
    clock.advance(3601)
    resp = session.open()
    assert resp.status_code == 401 and resp.json()["code"] == M.SCOPED_TOKEN_EXPIRED[1]
    assert emu.stats()["expired_tokens_rejected"] == 1


# --- channels --------------------------------------------------------------------------------


def test_open_append_commit_status(session: Session, clock: FakeClock, emu: Emulator) -> None:
    opened = session.open(offset_token="0").json()
    status = opened["channel_status"]
    assert status["channel_status_code"] == "SUCCESS"
    assert status["last_committed_offset_token"] == "0"
    assert set(status) == {
        "database_name",
        "schema_name",
        "pipe_name",
        "channel_name",
        "channel_status_code",
        "last_committed_offset_token",
        "created_on_ms",
        "rows_inserted",
        "rows_parsed",
        "rows_error_count",
        "last_error_offset_upper_bound",
        "last_error_message",
        "last_error_timestamp",
        "last_error_timestamp_ms",
        "snowflake_avg_processing_latency_ms",
    }
    resp = session.append(opened["next_continuation_token"], b'{"a":1}\n\n{"a":2}\r\n', token="2")
    assert resp.status_code == 200 and "x-snowflake-session" in resp.headers
    assert session.status("ch")["ch"]["last_committed_offset_token"] == "0"  # not yet
    clock.advance(0.2)
    st = session.status("ch", "CH", "missing")
    assert list(st) == ["ch", "CH"]  # found whatever the case, answered under the name asked
    assert st["ch"]["last_committed_offset_token"] == "2"
    assert st["ch"]["rows_inserted"] == 2
    assert emu.rows(DB, SCHEMA, PIPE) == [{"a": 1}, {"a": 2}]


@pytest.mark.parametrize("encoding", ["zstd", "gzip"])
def test_compressed_bodies(
    session: Session, clock: FakeClock, emu: Emulator, encoding: str
) -> None:
    cont = session.open().json()["next_continuation_token"]
    raw = b"".join(b'{"i":%d}\n' % i for i in range(100))
    body = zstandard.ZstdCompressor().compress(raw) if encoding == "zstd" else gzip.compress(raw)
    resp = session.append(cont, body, token="100", headers={"Content-Encoding": encoding})
    assert resp.status_code == 200, resp.text
    clock.advance(1)
    assert len(emu.rows(DB, SCHEMA, PIPE, "ch")) == 100


def test_legacy_offset_token_and_too_large(
    session: Session, clock: FakeClock, emu: Emulator
) -> None:
    cont = session.open().json()["next_continuation_token"]
    resp = session.append(cont, b'{"a":1}\n', offsetToken="7")
    assert resp.status_code == 200
    clock.advance(1)
    assert session.status("ch")["ch"]["last_committed_offset_token"] == "7"
    big = b'{"a":"' + b"x" * (16 * 1024 * 1024) + b'"}\n'
    resp = session.append(resp.json()["next_continuation_token"], big)
    assert resp.status_code == 413


def test_bad_lines_count_as_errors(session: Session, clock: FakeClock, emu: Emulator) -> None:
    cont = session.open().json()["next_continuation_token"]
    resp = session.append(cont, b'{"ok":1}\nnot json\n[1,2]\n{"ok":2}\n', token="4")
    assert resp.status_code == 200
    clock.advance(1)
    st = session.status("ch")["ch"]
    assert (st["rows_inserted"], st["rows_parsed"], st["rows_error_count"]) == (2, 4, 2)
    assert st["last_error_offset_upper_bound"] == "4"
    assert st["last_error_message"].startswith(M.ROW_NOT_AN_OBJECT)
    assert (
        st["last_error_timestamp"] == int(clock.time() - 1) * 1000 or st["last_error_timestamp"] > 0
    )
    assert emu.rows(DB, SCHEMA, PIPE) == [{"ok": 1}, {"ok": 2}]


def test_sequencers(session: Session, clock: FakeClock) -> None:
    first = session.open().json()["next_continuation_token"]
    second = session.append(first, b'{"a":1}\n').json()["next_continuation_token"]
    # Reusing a continuation token invalidates the channel.
    resp = session.append(first, b'{"a":1}\n')
    assert resp.status_code == 400 and resp.json()["code"] == M.INVALID_ROW_SEQUENCER[1]
    assert session.status("ch")["ch"]["channel_status_code"] == M.INVALID_ROW_SEQUENCER[1]
    resp = session.append(second, b'{"a":2}\n')
    assert resp.status_code == 409 and resp.json()["code"] == M.CHANNEL_MUST_BE_REOPENED[1]
    # Reopening makes it usable again; the old tokens are stale.
    third = session.open().json()["next_continuation_token"]
    resp = session.append(second, b'{"a":2}\n')
    assert resp.status_code == 400 and resp.json()["code"] == M.STALE_CONTINUATION[1]
    assert session.append(third, b'{"a":2}\n').status_code == 200
    assert session.append("", b"{}\n").json()["code"] == M.CONTINUATION_REQUIRED[1]


def test_reopen_discards_or_refuses_uncommitted_rows(
    session: Session, clock: FakeClock, emu: Emulator
) -> None:
    cont = session.open().json()["next_continuation_token"]
    session.append(cont, b'{"a":1}\n', token="1")
    resp = session.open(fail_on_uncommitted_rows=True)
    assert resp.status_code == 409 and resp.json()["code"] == M.UNCOMMITTED_DATA[1]
    resp = session.open(fail_on_uncommitted_rows=False)
    assert resp.json()["channel_status"]["last_committed_offset_token"] is None
    clock.advance(1)
    assert emu.rows(DB, SCHEMA, PIPE) == []


def test_drop_resets_the_channel(session: Session, clock: FakeClock, emu: Emulator) -> None:
    cont = session.open().json()["next_continuation_token"]
    session.append(cont, b'{"a":1}\n', token="1")
    clock.advance(1)
    assert session.http.delete(f"{BASE}/channels/CH").json() == {}
    assert session.status("ch") == {}
    assert session.open().json()["channel_status"]["last_committed_offset_token"] is None
    assert emu.rows(DB, SCHEMA, PIPE) == [{"a": 1}]  # committed rows stay in the table
    assert session.http.delete(f"{BASE}/channels/nope").status_code == 404


def test_percent_encoded_names(session: Session, clock: FakeClock, emu: Emulator) -> None:
    resp = session.http.put(f"{BASE}/channels/a%2Fb%20c", json={})
    assert resp.json()["channel_status"]["channel_name"] == "a/b c"
    cont = resp.json()["next_continuation_token"]
    session.append(cont, b'{"a":1}\n', channel="a%2Fb%20c", token="1")
    clock.advance(1)
    assert session.status("a/b c")["a/b c"]["rows_inserted"] == 1


def test_strict_pipes_and_soft_limits(rsa_key: PrivateKey, clock: FakeClock) -> None:
    with Emulator(
        users=[(ACCOUNT, USER, rsa_key)],
        clock=clock,
        strict_pipes=True,
        pipes=[f"{DB}.{SCHEMA}.{PIPE}"],
        soft_limits=True,
    ) as emu:
        s = Session(emu, rsa_key, clock)
        other = s.http.put(
            "/v2/streaming/databases/DB/schemas/SCHEMA/pipes/OTHER/channels/c", json={}
        )
        assert other.status_code == 404
        assert other.json()["code"] == M.PIPE_NOT_FOUND[1]
        cont = s.open().json()["next_continuation_token"]
        codes = []
        for _ in range(12):
            resp = s.append(cont, b'{"a":1}\n')
            codes.append(resp.status_code)
            if resp.status_code == 200:
                cont = resp.json()["next_continuation_token"]
        assert codes == [200] * 10 + [429, 429]
        clock.advance(1.1)
        assert s.append(cont, b'{"a":1}\n').status_code == 200
        s.close()


def test_sdk_side_endpoints(session: Session) -> None:
    info = session.http.post(f"{BASE}:pipe-info", params={"requestId": "x"}, json={})
    assert info.status_code == 200
    doc = info.json()
    assert len(base64.b64decode(doc["encryption_info"]["pipe_key"])) == 32
    assert doc["rowset_stage_location"]["location_type"] == "S3"
    tele = session.http.post("/telemetry/send/sessionless", json={})
    assert tele.json() == {"success": True, "data": "", "code": "", "message": ""}


def test_admin_api(emu: Emulator, rsa_key: PrivateKey, clock: FakeClock) -> None:
    rules = [{"method": "GET", "path": "hostname", "status": 503, "count": 1}]
    resp = httpx.post(f"{emu.url}/emulator/v1/faults", json=rules)
    assert resp.json()["rules"][0]["status"] == 503
    assert hostname(emu, jwt_for(rsa_key, clock)).status_code == 503
    assert hostname(emu, jwt_for(rsa_key, clock)).status_code == 200
    httpx.post(f"{emu.url}/emulator/v1/faults", json=rules)
    assert httpx.delete(f"{emu.url}/emulator/v1/faults").json() == {"rules": []}
    assert hostname(emu, jwt_for(rsa_key, clock)).status_code == 200
    stats = httpx.get(f"{emu.url}/emulator/v1/stats").json()
    assert stats["requests"]["hostname 503"] == 1 and stats["faults_fired"] == 1
    bad = httpx.get(f"{emu.url}/emulator/v1/rows", params={"database": "DB"})
    assert bad.status_code == 400 and "schema, pipe" in bad.json()["message"]


def test_random_faults_are_seeded(rsa_key: PrivateKey, clock: FakeClock) -> None:
    token = jwt_for(rsa_key, clock)

    def fired(seed: int) -> list[int]:
        with (
            Emulator(
                users=[(ACCOUNT, USER, rsa_key)],
                clock=clock,
                fault_seed=seed,
                faults=[{"path": "hostname", "status": 503, "rate": 0.5}],
            ) as emu,
            httpx.Client(headers={**JSON, "Authorization": f"Bearer {token}"}) as http,
        ):
            return [http.get(f"{emu.url}/v2/streaming/hostname").status_code for _ in range(20)]

    first = fired(7)
    assert first == fired(7)
    assert 503 in first and 200 in first


# --- TLS and the command line ------------------------------------------------------------------


def test_tls(rsa_key: PrivateKey, clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> None:
    with Emulator(users=[(ACCOUNT, USER, rsa_key)], clock=clock, tls=True) as emu:
        assert emu.url.startswith("https://127.0.0.1:") and emu.ca_path is not None
        monkeypatch.setenv("SSL_CERT_FILE", str(emu.ca_path))
        with Client(
            "app", DB, SCHEMA, PIPE, config=make_config(emu, rsa_key), clock=clock
        ) as client:
            channel, _ = client.open_channel("tls")
            channel.append_row({"secure": True}, offset_token="1")
            channel.wait_for_commit("1", timeout=30)
        assert emu.rows(DB, SCHEMA, PIPE) == [{"secure": True}]
        with pytest.raises(httpx.ConnectError):
            httpx.get(
                emu.url + "/telemetry/send/sessionless", verify=True, trust_env=False
            )  # not trusted without the CA


def test_command_line(tmp_path: Path, rsa_key: PrivateKey) -> None:
    pub = tmp_path / "rsa_key.pub"
    pub.write_text(rsa_key.public_key_pem())
    args = [
        sys.executable,
        "-m",
        "snowpipe_stream.emulator",
        "--port",
        "0",
        "--tls",
        "--account",
        ACCOUNT,
        "--user",
        USER,
        "--public-key",
        str(pub),
        "--state",
        str(tmp_path / "state.db"),
    ]
    with serving(args, first_lines=2) as (first, second):
        assert first.startswith("emulator listening on https://127.0.0.1:")
        assert second.startswith("CA certificate: ")
        url, ca = first.rsplit(" ", 1)[1], second.split(": ", 1)[1]
        token = mint_jwt(rsa_key, account=ACCOUNT, user=USER, now=time.time(), lifetime_secs=60)[0]
        resp = httpx.get(
            f"{url}/v2/streaming/hostname",
            verify=ssl.create_default_context(cafile=ca),
            headers={**JSON, "Authorization": f"Bearer {token}"},
        )
        assert resp.text == "127.0.0.1"
    assert (tmp_path / "state.db").exists()
    assert os.path.exists(ca)


def test_command_line_users_and_faults_files(
    tmp_path: Path, rsa_key: PrivateKey, other_key: PrivateKey
) -> None:
    (tmp_path / "a.pub").write_text(rsa_key.public_key_pem())
    (tmp_path / "users.json").write_text(
        json.dumps(
            [
                {"account": ACCOUNT, "user": USER, "public_key_file": "a.pub"},
                {"account": "other-acct", "user": "bob", "public_key": other_key.public_key_pem()},
            ]
        )
    )
    (tmp_path / "faults.json").write_text(
        json.dumps([{"method": "GET", "path": "hostname", "status": 503, "count": 1}])
    )
    args = [
        sys.executable,
        "-m",
        "snowpipe_stream.emulator",
        "--users",
        str(tmp_path / "users.json"),
        "--faults",
        str(tmp_path / "faults.json"),
        "--strict-pipes",
        "--pipe",
        "DB.S.P",
        "--soft-limits",
    ]
    with serving(args) as (first,), httpx.Client(headers=JSON) as http:
        url = first.rsplit(" ", 1)[1]
        for key, account, user, status in (
            (rsa_key, ACCOUNT, USER, 503),
            (rsa_key, ACCOUNT, USER, 200),
            (other_key, "other-acct", "bob", 200),
        ):
            token = mint_jwt(key, account=account, user=user, now=time.time(), lifetime_secs=60)[0]
            resp = http.get(
                f"{url}/v2/streaming/hostname", headers={"Authorization": f"Bearer {token}"}
            )
            assert resp.status_code == status


def test_command_line_rejects_bad_files(tmp_path: Path) -> None:
    (tmp_path / "users.json").write_text('{"not": "a list"}')
    out = subprocess.run(
        [sys.executable, "-m", "snowpipe_stream.emulator", "--users", str(tmp_path / "users.json")],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert out.returncode == 2 and "expected a JSON list of users" in out.stderr
    (tmp_path / "faults.json").write_text('[{"path": "x", "action": "explode"}]')
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "snowpipe_stream.emulator",
            "--faults",
            str(tmp_path / "faults.json"),
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert out.returncode == 2 and "fault action must be one of" in out.stderr
