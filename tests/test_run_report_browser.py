"""The run report in a real browser (headless Chromium): every section renders, the charts are
drawn, the page fits a phone and a desktop screen, and the page asks for nothing over the network
(checked in Chromium's own network log, with a control page that does ask, so the check is real).

`.ci/run` installs Debian's chromium; without it these tests are skipped, saying so.
`UPDATE_DOC_IMAGES=1` also copies the screenshots to docs/img/ (run_report.png, run_report_phone.png)."""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from linkage.pipeline import run
from linkage.reports import build_run_report
from linkage.reports.run_sections import SECTIONS

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data_samples" / "sample"
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--hide-scrollbars",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-extensions",
    "--host-resolver-rules=MAP * ~NOTFOUND",  # nothing leaves the machine even if something were asked for
]
PHONE, DESKTOP = (390, 844), (1280, 900)

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (.ci/run installs it)")


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("run")
    run(SAMPLE / "wanted.csv", SAMPLE / "residents.csv", SAMPLE / "id_cards.csv", out)
    return build_run_report(out, truth=SAMPLE / "truth.csv")


def chromium(args: list[str], tmp: Path) -> subprocess.CompletedProcess:
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp / 'profile'}", *args],
                          capture_output=True, text=True, timeout=180)


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def page_requests(netlog: Path) -> list[str]:
    """http(s) URLs the page asked for: URL requests with an initiator. Chromium's own background
    requests (updates, accounts) are browser-initiated ("not an origin") and are left out."""
    log = json.loads(netlog.read_text(encoding="utf-8"))
    start = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    urls = []
    for e in log["events"]:
        p = e.get("params") or {}
        if e["type"] == start and re.match(r"https?://", p.get("url", "")) and p.get("initiator") != "not an origin":
            urls.append(p["url"])
    return urls


def test_every_section_and_chart_renders(report, tmp_path):
    res = chromium(["--dump-dom", report.as_uri()], tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    dom = res.stdout
    assert '<html lang="vi">' in dom and "Báo cáo lần chạy" in dom
    for sid in SECTIONS:
        assert re.search(rf'<section id="{sid}">', dom), sid
    svgs = re.findall(r"<svg\b.*?</svg>", dom, re.S)
    assert svgs and all(re.search(r"<(rect|polyline)\b", s) for s in svgs)
    assert re.search(r'<section id="accuracy">.*?<polyline', dom, re.S)  # the curve, with the truth given


@pytest.mark.parametrize("name,size", [("run_report_phone", PHONE), ("run_report", DESKTOP)])
def test_screenshots_at_phone_and_desktop_width(report, tmp_path, name, size):
    shot = tmp_path / f"{name}.png"
    res = chromium([f"--screenshot={shot}", f"--window-size={size[0]},{size[1]}", report.as_uri()], tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    assert png_size(shot) == size and shot.stat().st_size > 10_000
    if os.environ.get("UPDATE_DOC_IMAGES"):
        tall = tmp_path / "doc.png"
        res = chromium([f"--screenshot={tall}", f"--window-size={size[0]},{2 * size[1] if name == 'run_report' else 1600}",
                        report.as_uri()], tmp_path)
        assert res.returncode == 0
        shutil.copyfile(tall, ROOT / "docs" / "img" / f"{name}.png")


def test_no_network_request(report, tmp_path):
    control = tmp_path / "control.html"
    control.write_text('<!doctype html><html><body><img src="http://example.invalid/x.png"></body></html>',
                       encoding="utf-8")
    seen = {}
    for page in (control, report):
        netlog = tmp_path / f"{page.stem}.netlog.json"
        res = chromium([f"--log-net-log={netlog}", "--dump-dom", page.as_uri()], tmp_path)
        assert res.returncode == 0, res.stderr[-2000:]
        seen[page.stem] = page_requests(netlog)
    assert seen["control"] == ["http://example.invalid/x.png"]  # the log does show a page's requests
    assert seen["report"] == []
