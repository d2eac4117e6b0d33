"""The dashboard page in a real headless Chromium (Debian's `chromium`; skipped where none is
installed; `.ci/run` installs it when it may). One test against canned peers (hostile strings
stay text), one against a real 4-peer testnet, which also takes the screenshot: set
LORAGOSSIP_SCREENSHOT=docs/dashboard.png to keep it."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from peer.genesis import default_genesis_text
from peer.testnet import Testnet, stop, up
from tests.dashboard_fixtures import dashboard_process, run_folder, wait_until

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium installed (apt-get install chromium)")

# as the machine's notes advise: no background traffic to the internet, a fresh profile
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--virtual-time-budget=8000"]


def browse(url: str, profile: Path, *extra: str) -> str:
    """Load `url`, let its scripts run, and return what Chromium printed (the DOM with --dump-dom)."""
    done = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *extra, url], capture_output=True,
                          text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def rendered_dom(url: str, profile: Path) -> str:
    dom = browse(url, profile, "--dump-dom")
    assert re.search(r'<body data-rendered="\d+"', dom), "the page never drew a state:\n" + dom[-3000:]
    return dom


def test_the_page_draws_a_run_and_keeps_hostile_peer_ids_as_text(tmp_path, fake_testnet):
    run = tmp_path / "run"
    run_folder(run)
    with dashboard_process(str(run)) as url:
        dom = rendered_dom(url, tmp_path / "profile-run")
    assert 'id="chart-accuracy"' in dom and dom.count('class="line"') >= 6  # 4 accuracy lines and more
    assert "finished · 3 evaluations" in dom

    directory, _ = fake_testnet
    with dashboard_process(str(directory)) as url:
        dom = rendered_dom(url, tmp_path / "profile-testnet")
    assert "<img" not in dom  # the stranger's id was drawn as text, not parsed as markup
    assert "&lt;img src=x onerror=alert(1)&gt;stranger" in dom
    assert dom.count('class="node"') == 3 and dom.count('class="edge"') == 2


@pytest.mark.slow
def test_a_running_four_peer_testnet_on_the_page(tmp_path):
    directory = tmp_path / "testnet"
    up(directory, 3, "libp2p", genesis_text=default_genesis_text(),
       peer_args=["--round-seconds", "0.3", "--eval-every", "2"])
    try:
        testnet = Testnet.load(directory)

        def evaluated_rounds(peer) -> int:
            lines = Path(peer.log).read_text().splitlines()
            return sum('"msg": "round"' in line and json.loads(line).get("accuracy") is not None for line in lines)

        wait_until(lambda: all(evaluated_rounds(p) >= 12 for p in testnet.peers), timeout=240,
                   what="12 evaluated rounds on every peer")
        with dashboard_process(str(directory)) as url:
            dom = rendered_dom(url, tmp_path / "profile")
            assert "4 of 4 peers up · libp2p" in dom
            assert dom.count('class="node"') == 4 and dom.count('class="edge"') >= 3
            peers_table = dom.split('data-table="peers"', 1)[1].split("</table>", 1)[0]
            assert len(re.findall(r"<td>(?:boot|peer-\d)</td><td>[^<]+</td><td>\d+</td><td>up</td>", peers_table)) == 4
            accuracy = dom.split('id="chart-accuracy"', 1)[1].split("</figure>", 1)[0]
            assert accuracy.count('class="line"') == 4
            shot = tmp_path / "dashboard.png"
            browse(url, tmp_path / "profile-shot", f"--screenshot={shot}", "--window-size=1400,1150",
                   "--hide-scrollbars")
        assert shot.stat().st_size > 20_000  # a drawn page, not a blank one
        if os.environ.get("LORAGOSSIP_SCREENSHOT"):
            shutil.copyfile(shot, os.environ["LORAGOSSIP_SCREENSHOT"])
    finally:
        stop(Testnet.load(directory), timeout=20)
