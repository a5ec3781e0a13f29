"""`linkage audit` and `linkage clean` on the command line: outputs written, errors mapped to exit codes."""

from __future__ import annotations

from typer.testing import CliRunner

from cli import app
from test_audit_data import variant, write_csv

runner = CliRunner()


def test_audit_and_clean_commands(tmp_path):
    src = write_csv(tmp_path / "w.csv", "wanted", [variant("wanted", 0), variant("wanted", 1, full_name="Lê  Văn Tám")])
    r = runner.invoke(app, ["audit", "--source", "wanted", str(src), "--out", str(tmp_path / "audit")])
    assert r.exit_code == 0, r.output
    assert "sach.spacing" in r.output
    for name in ("issues.parquet", "summary.parquet", "report.html", "audit.json"):
        assert (tmp_path / "audit" / name).is_file()
    r = runner.invoke(app, ["clean", "--source", "wanted", str(src), "--out", str(tmp_path / "w.clean.csv")])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "w.clean.changes.parquet").is_file()
    assert "Lê Văn Tám" in (tmp_path / "w.clean.csv").read_text(encoding="utf-8")


def test_bad_source_and_missing_file_exit_with_input_error(tmp_path):
    r = runner.invoke(app, ["audit", "--source", "people", str(tmp_path / "x.csv"), "--out", str(tmp_path / "o")])
    assert r.exit_code == 2 and "unknown source" in r.output
    r = runner.invoke(app, ["clean", "--source", "wanted", str(tmp_path / "x.csv"), "--out", str(tmp_path / "o.csv")])
    assert r.exit_code == 2 and "not found" in r.output
