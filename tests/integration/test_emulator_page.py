"""The emulator's live page: its data (``/emulator/v1/overview``) and the page in a real browser
(headless Chromium from Debian's packages, driven by Playwright; no browser download)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from snowpipe_stream import Client, PrivateKey
from snowpipe_stream.emulator import Emulator
from tests.integration.conftest import ACCOUNT, DB, PIPE, SCHEMA, make_config

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = (
    os.environ.get("SNOWPIPE_CHROMIUM")
    or shutil.which("chromium")
    or shutil.which("chromium-browser")
)


def traffic(emu: Emulator, key: PrivateKey) -> None:
    """Two channels, a scripted 429 and a row the pipe would refuse."""
    emu.faults.add(path="/rows$", status=429, count=1, headers={"Retry-After": "0"})
    emu.faults.add(path="/never$", status=503, count=5)  # armed, never fires
    config = make_config(emu, key, throttle_backoff_secs=0)
    with Client("page", DB, SCHEMA, PIPE, config=config) as client:
        for name, n in (("orders", 120), ("clicks", 30)):
            channel, _ = client.open_channel(name)
            channel.append_rows(
                [{"id": i, "name": f"{name}-{i}"} for i in range(1, n + 1)], "1", str(n)
            )
            channel.wait_for_commit(str(n), timeout=30)
            channel.close()


@pytest.fixture
def live(rsa_key: PrivateKey) -> Iterator[Emulator]:
    with Emulator(users=[(ACCOUNT, "svc_user", rsa_key)]) as emu:
        traffic(emu, rsa_key)
        yield emu


def test_the_overview_has_channels_requests_faults_and_fingerprints_but_no_secret(
    live: Emulator, rsa_key: PrivateKey
) -> None:
    resp = httpx.get(f"{live.url}/emulator/v1/overview")
    assert resp.status_code == 200
    doc = resp.json()
    channels = {c["channel"]: c for c in doc["channels"]}
    assert channels["orders"]["committed_offset_token"] == "120"
    assert channels["orders"]["rows_inserted"] == 120 and channels["clicks"]["rows_inserted"] == 30
    fired = [r for r in doc["requests"] if r["fault"]]
    assert [(r["status"], r["fault"]) for r in fired] == [(429, "429 on /rows$")]
    assert all(r["ms"] >= 0 and r["path"].startswith("/") for r in doc["requests"])
    assert doc["requests"][0]["time_ms"] >= doc["requests"][-1]["time_ms"]  # newest first
    assert [f["path"] for f in doc["faults"]["armed"]] == ["/never$"]
    assert doc["faults"]["fired"] == 1
    assert doc["users"] == [
        {"account": ACCOUNT.upper(), "user": "SVC_USER", "fingerprints": [rsa_key.fingerprint]}
    ]
    assert "BEGIN" not in resp.text and "eyJ" not in resp.text  # no key, no token


def test_the_page_is_served_at_the_root(live: Emulator) -> None:
    resp = httpx.get(live.url + "/")
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/html")
    assert "/emulator/v1/overview" in resp.text and "textContent" in resp.text


@pytest.mark.skipif(
    CHROMIUM is None,
    reason="no Chromium on this machine (apt-get install chromium; .ci/run installs it)",
)
def test_the_page_in_a_real_browser_shows_the_pipeline_and_a_channels_rows(
    live: Emulator, rsa_key: PrivateKey, tmp_path: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.goto(live.url + "/")
            orders = page.locator("#channels tr[data-channel='orders']")
            expect(orders).to_contain_text("120")  # the committed token, then the rows
            expect(page.locator("#channels tbody tr")).to_have_count(2)
            expect(page.locator("#requests")).to_contain_text("429 on /rows$")
            expect(page.locator("#faults")).to_contain_text("/never$")
            expect(page.locator("#fired")).to_have_text("(1 fired)")
            expect(page.locator("#users")).to_contain_text(live_fingerprint(live))
            page.locator("#channels tr[data-channel='clicks']").click()
            expect(page.locator("#rows-count")).to_have_text("30 rows")
            expect(page.locator("#rows")).to_contain_text('{"id":30,"name":"clicks-30"}')
            # It refreshes itself: a channel opened now shows up without a reload.
            with Client("late", DB, SCHEMA, PIPE, config=make_config(live, rsa_key)) as client:
                channel, _ = client.open_channel("late")
                channel.append_rows([{"id": 1}], "1", "1")
                channel.wait_for_commit("1", timeout=30)
                channel.close()
            expect(page.locator("#channels tbody tr")).to_have_count(3)
            shot = tmp_path / "emulator-page.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 10_000
            if os.environ.get("SNOWPIPE_UPDATE_SCREENSHOTS"):
                shutil.copy(shot, ROOT / "docs" / "emulator-page.png")
        finally:
            browser.close()


def live_fingerprint(emu: Emulator) -> str:
    doc = httpx.get(f"{emu.url}/emulator/v1/overview").json()
    return str(doc["users"][0]["fingerprints"][0])
