"""The audit's HTML report in a real browser (headless Chromium): it renders offline, in Vietnamese
by default (English on request), shows the counts and the wanted-list overview, names fields by
the file's own header, and asks for nothing over the network.

`.ci/run` installs Debian's chromium; on a machine without it this test is skipped, saying so.
`UPDATE_DOC_IMAGES=1` also copies the screenshot to docs/img/audit_report.png."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from linkage.audit import audit

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data_samples" / "sample"
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--hide-scrollbars",
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
    assert '<html lang="vi">' in dom
    assert "Kiểm tra chất lượng dữ liệu: Danh sách truy nã" in dom
    assert re.search(r"Số dòng đọc.*Được nhận", dom, re.S)
    assert "song.wanted_no_id" in dom  # a rule that fires on the sample (wanted without an id)
    assert "Theo mức độ nguy hiểm" in dom and "đặc biệt nguy hiểm" in dom  # the wanted-list overview
    for sid in ("summary", "dimensions", "overview", "fields", "rules", "examples"):
        assert f'id="{sid}"' in dom, sid


def test_report_in_english_on_request(tmp_path):
    out = tmp_path / "en"
    audit(SAMPLE / "wanted.csv", "wanted", out, lang="en")
    html = (out / "report.html").read_text(encoding="utf-8")
    assert '<html lang="en">' in html and "Data-quality audit: Wanted list" in html
    assert "Rows read" in html and "Số dòng đọc" not in html


def test_fields_named_by_the_files_own_header(tmp_path):
    """A file with Vietnamese headers: the report says "Họ và tên (full_name)", not just full_name."""
    lines = (SAMPLE / "wanted.csv").read_text(encoding="utf-8").splitlines()[:41]
    header = lines[0].split(",")
    renamed = {"full_name": "Họ và tên", "birth_date": "Ngày sinh", "hometown": "Quê quán"}
    lines[0] = ",".join(renamed.get(h, h) for h in header)
    src = tmp_path / "danh_sach.csv"
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    audit(src, "wanted", tmp_path / "out")
    html = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    for canonical, own in renamed.items():
        assert f"{own} ({canonical})" in html
    assert "gender" in html and "(gender)" not in html  # a canonical header is shown as is


def test_report_screenshot(report, tmp_path):
    shot = tmp_path / "report.png"
    res = chromium([f"--screenshot={shot}", "--window-size=1200,900", report.as_uri()], tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    if os.environ.get("UPDATE_DOC_IMAGES"):
        shutil.copyfile(shot, ROOT / "docs" / "img" / "audit_report.png")


def test_report_is_self_contained(report):
    html = report.read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html, re.I)
    assert "@import" not in html and "<script" not in html
    assert "monospace" not in html  # values in the body font, which has the Vietnamese diacritics
    assert "break-all" not in html  # wrap at spaces
