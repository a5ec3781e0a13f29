"""The run report (linkage.reports.build_run_report) on real runs: the committed sample run once
for the module (~10 s), and a small run with quarantined rows reusing that run's model. The report
is checked against the manifest, the matches file and the workspace, in both languages."""

from __future__ import annotations

import csv
import json
import re
import shutil
from pathlib import Path

import duckdb
import pytest

from linkage.evaluate import evaluate
from linkage.pipeline import run
from linkage.reports import build_run_report
from linkage.reports.html import fmt_num, fmt_pct
from linkage.reports.run_sections import SECTIONS
from linkage.reports.strings import t
from linkage.settings import load_settings

SAMPLE = Path(__file__).resolve().parent.parent / "data_samples" / "sample"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("run")
    run(SAMPLE / "wanted.csv", SAMPLE / "residents.csv", SAMPLE / "id_cards.csv", out)
    return out


@pytest.fixture(scope="module")
def report_vi(run_dir) -> str:
    path = build_run_report(run_dir)
    assert path == run_dir / "report.html"
    return path.read_text(encoding="utf-8")


def _subset(src: Path, dst: Path, n: int, edit=None) -> Path:
    """The first n rows of a sample file, optionally edited (rows appended or changed) by `edit`."""
    with open(src, encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    header, body = rows[0], rows[1:n + 1]
    if edit:
        body = edit(header, body)
    with open(dst, "w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows([header, *body])
    return dst


@pytest.fixture(scope="module")
def small_run(run_dir, tmp_path_factory) -> Path:
    """40 wanted + 2 bad rows, 3,000 residents + 1 bad row, reusing the sample run's model."""
    d = tmp_path_factory.mktemp("small")

    def bad_wanted(header, body):
        no_name = list(body[0])
        no_name[header.index("full_name")] = ""
        no_name[header.index("wanted_id")] = "TN-X1"
        return [*body, no_name, list(body[1])]  # the second repeats an id

    def bad_resident(header, body):
        short = list(body[0])
        short[header.index("person_id")] = "12345"
        return [*body, short]

    out = d / "out"
    run(_subset(SAMPLE / "wanted.csv", d / "w.csv", 40, bad_wanted),
        _subset(SAMPLE / "residents.csv", d / "r.csv", 3000, bad_resident),
        _subset(SAMPLE / "id_cards.csv", d / "i.csv", 2000), out, model_path=run_dir / "model.json")
    return out


def section(html: str, sid: str) -> str:
    hit = re.search(rf'<section id="{sid}">(.*?)</section>', html, re.S)
    assert hit, f"section {sid} missing"
    return hit.group(1)


def test_every_section_is_there_in_vietnamese(report_vi):
    assert report_vi.startswith("<!doctype html>") and '<html lang="vi">' in report_vi
    assert '<meta name="viewport"' in report_vi and '<meta charset="utf-8">' in report_vi
    for sid in SECTIONS:
        section(report_vi, sid)
    for text in ("Báo cáo lần chạy", "Đầu vào", "Số dòng đọc", "Được nhận", "Cách ly", "Quy tắc phân khối",
                 "Mô hình", "Phân bố điểm", "Ngưỡng", "Ứng viên", "Đổi tên", "Đổi nơi cư trú", "Mức độ nguy hiểm"):
        assert text in report_vi, text


def test_written_atomically_and_self_contained(run_dir, report_vi):
    assert not [p.name for p in run_dir.iterdir() if p.name.startswith(".report.html")]
    assert "http://" not in report_vi and "https://" not in report_vi
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", report_vi, re.I)
    assert "<script" not in report_vi and "@import" not in report_vi and "@font-face" not in report_vi
    assert "monospace" not in report_vi and "break-all" not in report_vi


def test_inputs_reconcile_with_the_manifest(run_dir, report_vi):
    manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    inputs = section(report_vi, "inputs")
    for src, c in manifest["counts"]["ingest"].items():
        assert c["rows_read"] == c["rows_accepted"] + c["rows_quarantined"]
        row = re.search(rf'<td class="v">{re.escape(t("source." + src))}</td>(.*?)</tr>', inputs).group(1)
        cells = re.findall(r'<td class="n[^"]*">([^<]*)</td>', row)
        assert cells == [fmt_num(c[k], "vi") for k in ("rows_read", "rows_accepted", "rows_quarantined")]
        assert '<td class="ok">Có</td>' in row  # reconciled
    assert "Không có dòng nào bị cách ly." in inputs  # the sample is clean


def test_stages_blocking_and_counts_agree(run_dir, report_vi):
    manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    stages = section(report_vi, "stages")
    for stage, secs in manifest["timings_s"].items():
        assert f'<td class="n">{fmt_num(secs, "vi", 2)}</td>' in stages or secs == 0, stage
    blocking = section(report_vi, "blocking")
    for r in manifest["counts"]["blocking"]:
        row = re.search(rf'<span class="code">{re.escape(r["rule"])}</span></td>.*?</tr>', blocking, re.S).group(0)
        nums = re.findall(r'<td class="n[^"]*">([^<]*)</td>', row)
        assert nums == [fmt_num(r["pairs"], "vi"), fmt_num(r["new_pairs"], "vi"), fmt_num(r["cumulative"], "vi")]
    assert fmt_num(manifest["counts"]["candidate_pairs"], "vi") in blocking
    scores = section(report_vi, "scores")
    assert f"<b>{fmt_num(manifest['counts']['matches'], 'vi')}</b>" in scores


def test_model_section_explains_warnings_and_draws_m_and_u(run_dir, report_vi):
    model = json.loads((run_dir / "model.json").read_text(encoding="utf-8"))
    sec = section(report_vi, "model")
    assert fmt_pct(model["wanted_match_share"], "vi") in sec
    n = len(model["warnings"])
    if n:
        assert f"{n} cảnh báo khi huấn luyện" in sec
        if any("EM gave m=" in w for w in model["warnings"]):
            assert "EM ước lượng thấp hơn u, nên giữ m mặc định của quy tắc" in sec
    assert sec.count("<svg") == len(model["comparisons"])
    assert "Họ và tên" in sec  # comparisons by their Vietnamese names


def test_score_histogram_marks_the_rules_threshold(report_vi):
    threshold = load_settings().threshold
    sec = section(report_vi, "scores")
    assert "<svg" in sec and "<rect" in sec and "stroke-dasharray" in sec
    assert f"Ngưỡng {fmt_num(threshold, 'vi', 2)}" in sec


def test_candidates_by_flag_and_danger_level(run_dir, report_vi):
    sec = section(report_vi, "candidates")
    con = duckdb.connect()
    con.execute(f"ATTACH '{run_dir / 'workspace.duckdb'}' AS ws (READ_ONLY)")
    by_level = dict(con.execute(
        f"SELECT w.danger_level, count(m.wanted_id) FROM ws.wanted w LEFT JOIN read_parquet('{run_dir / 'matches.parquet'}') m "
        "USING (wanted_id) GROUP BY ALL").fetchall())
    flags = con.execute(f"SELECT count(*) FILTER (WHERE name_changed), count(*) FILTER (WHERE id_match) "
                        f"FROM read_parquet('{run_dir / 'matches.parquet'}')").fetchone()
    for level, n in by_level.items():
        row = re.search(rf'<td class="v">{re.escape(level)}</td>(.*?)</tr>', sec).group(1)
        assert re.findall(r'<td class="n[^"]*">([^<]*)</td>', row)[2] == fmt_num(n, "vi")
    name_row = re.search(r'<td class="v">Đổi tên</td>(.*?)</tr>', sec).group(1)
    assert re.findall(r'<td class="n[^"]*">([^<]*)</td>', name_row)[0] == fmt_num(flags[0], "vi")
    id_row = re.search(r'<td class="v">Trùng số định danh</td>(.*?)</tr>', sec).group(1)
    assert re.findall(r'<td class="n[^"]*">([^<]*)</td>', id_row)[0] == fmt_num(flags[1], "vi")


def test_leads_show_ids_probability_flags_and_explanation_only(run_dir, report_vi):
    sec = section(report_vi, "leads")
    heads = re.findall(r"<th[^>]*>([^<]*)</th>", sec)
    assert heads == ["#", "Mã đối tượng", "Số định danh", "Xác suất", "Dấu hiệu", "Giải thích"]
    top = duckdb.sql(f"SELECT wanted_id, person_id FROM read_parquet('{run_dir / 'matches.parquet'}') WHERE rank = 1 "
                     "ORDER BY match_probability DESC, wanted_id, person_id LIMIT 50").fetchall()
    assert sec.count("<tr>") == 1 + len(top) == 51
    for w, p in top[:5]:
        assert w in sec and p in sec
    first = sec.index(top[0][0])
    assert first < sec.index(top[-1][0])


def test_english_on_request(run_dir):
    html = build_run_report(run_dir, lang="en").read_text(encoding="utf-8")
    assert '<html lang="en">' in html and "Run report" in html and "Rows read" in html
    assert "Báo cáo lần chạy" not in html
    for sid in SECTIONS:
        section(html, sid)
    build_run_report(run_dir)  # back to the default for the other tests


def test_accuracy_against_the_truth(run_dir):
    html = build_run_report(run_dir, truth=SAMPLE / "truth.csv", threshold=0.5).read_text(encoding="utf-8")
    sec = section(html, "accuracy")
    ev = evaluate(SAMPLE / "truth.csv", run_dir / "matches.parquet", 0.5)
    assert fmt_pct(ev.precision, "vi") in sec and fmt_pct(ev.recall, "vi") in sec
    assert f"<td class=\"n\">{fmt_num(ev.true_positives, 'vi')}</td>" in sec
    assert "<polyline" in sec and "Ngưỡng 0,50" in sec
    assert "typo_telex" in sec  # recall by scenario label
    assert "Ngưỡng 0,50" in section(html, "scores")
    no_truth = section(build_run_report(run_dir).read_text(encoding="utf-8"), "accuracy")
    assert "Chưa có tệp đáp án" in no_truth and "<svg" not in no_truth


def test_charts_are_inline_svg_with_drawn_elements(report_vi):
    svgs = re.findall(r"<svg .*?</svg>", report_vi, re.S)
    assert len(svgs) >= 6
    assert all(re.search(r"<(rect|polyline|line)\b", s) for s in svgs)
    assert all('role="img"' in s and "<title>" in s for s in svgs)


def test_quarantine_reasons_counted(small_run):
    html = build_run_report(small_run).read_text(encoding="utf-8")
    sec = section(html, "inputs")
    q = duckdb.sql(f"SELECT reason, count(*) FROM read_parquet('{small_run / 'quarantine' / '*.parquet'}') "
                   "GROUP BY reason").fetchall()
    assert q, "the small run quarantines rows"
    for reason, n in q:
        assert re.search(rf'<span class="code">{re.escape(reason)}</span></td><td class="n">{n}</td>', sec), reason
    manifest = json.loads((small_run / "manifest.json").read_text(encoding="utf-8"))
    w = manifest["counts"]["ingest"]["wanted"]
    assert (w["rows_read"], w["rows_accepted"], w["rows_quarantined"]) == (42, 40, 2)
    assert "Mô hình dùng lại từ tệp model.json." in section(html, "model")


def test_missing_workspace_and_memory_from_the_manifest(run_dir, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy, ignore=shutil.ignore_patterns("workspace.duckdb*", "report.html"))
    manifest = json.loads((copy / "manifest.json").read_text(encoding="utf-8"))
    manifest["memory_mb"] = {"ingest": 210.5, "normalise": 480.0, "total": 512.0}
    manifest["warnings"] = ["wanted: 7.1% of the rows quarantined (more than 5%)"]
    (copy / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    html = build_run_report(copy).read_text(encoding="utf-8")
    assert "Lần chạy ghi 1 cảnh báo" in section(html, "inputs") and "7.1% of the rows" in html
    assert "Không đọc được bảng wanted" in section(html, "candidates")
    stages = section(html, "stages")
    assert "Bộ nhớ đỉnh (MB)" in stages and '<td class="n">481</td>' not in stages
    assert '<td class="n">512</td>' in stages and stages.count("<svg") == 2


def test_peak_memory_per_stage_when_recorded(run_dir, report_vi):
    """The pipeline records memory_mb per stage; the total row is the largest stage peak when the
    manifest has no total of its own."""
    memory = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8")).get("memory_mb")
    if not memory:
        pytest.skip("this pipeline does not record memory per stage")
    stages = section(report_vi, "stages")
    assert "Bộ nhớ đỉnh (MB)" in stages
    total = re.search(r'<td class="v">Tổng</td>(.*?)</tr>', stages).group(1)
    assert re.findall(r'<td class="n[^"]*">([^<]*)</td>', total)[-1] == fmt_num(memory.get("total", max(memory.values())), "vi")
