"""The audit's HTML report in a real browser (headless Chromium): it renders offline, shows the
counts and the wanted-list overview, and asks for nothing over the network.

`.ci/run` installs Debian's chromium; on a machine without it this test is skipped, saying so."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from linkage.audit import audit

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SAMPLE = Path(__file__).resolve().parent.parent / "data_samples" / "sample"
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (.ci/run installs it)")


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("audit")
    audit(SAMPLE / "wanted.csv", "wanted", out, residents=SAMPLE / "residents.csv")
    return out / "report.html"


def chromium(args: list[str], tmp: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={tmp / 'profile'}", *args],
        capture_output=True, text=True, timeout=120,
    )


def test_report_renders_in_chromium(report, tmp_path):
    res = chromium(["--dump-dom", report.as_uri()], tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    dom = res.stdout
    assert "Data-quality audit: wanted" in dom
    assert re.search(r"rows read.*accepted", dom, re.S)
    assert "song.wanted_no_id" in dom  # a rule that fires on the sample (wanted without an id)
    assert "danger" in dom.lower() or "nguy hiểm" in dom  # the wanted-list overview


def test_report_screenshot(report, tmp_path):
    shot = tmp_path / "report.png"
    res = chromium([f"--screenshot={shot}", "--window-size=1200,900", report.as_uri()], tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000


def test_report_is_self_contained(report):
    html = report.read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html, re.I)
    assert "@import" not in html
