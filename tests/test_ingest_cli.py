"""`linkage ingest` end to end through the Typer app."""

from __future__ import annotations

from typer.testing import CliRunner

from cli import app
from ingest_helpers import RESIDENTS, workspace_rows, write_csv

runner = CliRunner()


def test_cli_ingest_good_input(tmp_path):
    src = write_csv(tmp_path / "residents.csv", RESIDENTS)
    wanted = write_csv(tmp_path / "wanted.csv", [{"Mã đối tượng": "W1", "Họ và tên": "Nguyễn Văn Hùng"},
                                                  {"Mã đối tượng": "W1", "Họ và tên": "Lê Văn Tám"}])
    out = tmp_path / "out"
    result = runner.invoke(app, ["ingest", "--residents", str(src), "--wanted", str(wanted), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "rows read 3 = accepted 3 + quarantined 0" in result.output
    assert "rows read 2 = accepted 1 + quarantined 1" in result.output
    assert len(workspace_rows(out, "residents")) == 3
    assert (out / "quarantine" / "wanted.parquet").exists() and (out / "ingest_summary.json").exists()


def test_cli_ingest_bad_input_exits_2_with_a_message(tmp_path):
    src = tmp_path / "residents.csv"
    src.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    result = runner.invoke(app, ["ingest", "--residents", str(src), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "PNG image" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "out").exists()


def test_cli_ingest_missing_file(tmp_path):
    result = runner.invoke(app, ["ingest", "--wanted", str(tmp_path / "nope.csv"), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and "file not found" in result.output


def test_cli_prints_headers_that_look_like_console_markup(tmp_path):
    src = tmp_path / "residents.csv"
    src.write_text("person_id,full_name,[/ghi chú]\n001085012345,Nguyễn Văn Hùng,x\n", encoding="utf-8")
    result = runner.invoke(app, ["ingest", "--residents", str(src), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "'[/ghi chú]'" in result.output
