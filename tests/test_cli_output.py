"""The commands' output as a log sees it (stdout and stderr through a pipe, as a scheduler captures
them): nothing wrapped at the terminal's width whatever COLUMNS says, no escape codes, no progress
redraws, one line per stage; `--json` and `--quiet`; help and version; exit codes of the README.

The commands run as real processes (`python -m cli`), in folders whose paths are longer than any
terminal line, so a path or sentence cut in two would show."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from linkage.model import default_model, save_model
from linkage.rules import rules_hash
from linkage.settings import load_settings
from test_pipeline import write_inputs

STAGES = ("ingest", "normalise", "prepare", "block", "compare", "score", "write", "report")


def linkage(*args: str, columns: int = 40) -> subprocess.CompletedProcess:
    """`linkage ARGS` with stdout and stderr captured through pipes and a narrow COLUMNS."""
    env = {**os.environ, "COLUMNS": str(columns), "LINES": "10"}
    env.pop("FORCE_COLOR", None)
    return subprocess.run([sys.executable, "-m", "cli", *args], capture_output=True, text=True, env=env, timeout=300)


@pytest.fixture(scope="module")
def deep(tmp_path_factory) -> Path:
    """A folder whose path is over 120 characters long."""
    base = tmp_path_factory.mktemp("out")
    path = base / ("a-rather-long-folder-name-for-the-nightly-job-" * 2) / "linkage-run-output-of-2026-12-05"
    path.mkdir(parents=True)
    assert len(str(path)) > 120
    return path


@pytest.fixture(scope="module")
def piped_run(deep):
    paths = write_inputs(deep)
    model = save_model(default_model(load_settings(), rules_hash()), deep / "model-default.json")
    out = deep / "run"
    res = linkage("run", "--wanted", str(paths["wanted"]), "--residents", str(paths["residents"]),
                  "--id-cards", str(paths["id_cards"]), "--model", str(model), "--out", str(out))
    return res, out, paths, model


def test_missing_file_error_is_one_line_with_the_whole_path(deep):
    missing = deep / "nope.csv"
    res = linkage("ingest", "--wanted", str(missing), "--out", str(deep / "o"))
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert lines == [f"error: {missing}: file not found"]


def test_run_output_through_a_pipe_is_not_wrapped(piped_run):
    res, out, _, _ = piped_run
    assert res.returncode == 0, res.stderr
    for stream in (res.stdout, res.stderr):
        assert "\x1b" not in stream and "\r" not in stream  # no colour codes, no redraws
    lines = res.stdout.splitlines()
    assert re.fullmatch(r"candidates: \d+ for \d+ of 4 wanted records \(from \d+ candidate pairs\) in \d+\.\d s", lines[0])
    assert f"matches:  {out / 'matches.parquet'}" in lines
    assert f"report:   {out / 'report.html'}" in lines
    assert f"manifest: {out / 'manifest.json'}" in lines
    err_lines = res.stderr.splitlines()
    assert f"workspace: {out / 'workspace.duckdb'}" in err_lines  # the ingest summary names the final folder
    # One line per stage, with its time (and count where it has one), in the order they ran.
    stage_lines = [ln for ln in err_lines if re.match(r"^[a-z]+ +\d+\.\d s", ln)]
    assert [ln.split()[0] for ln in stage_lines] == list(STAGES)
    # No line of either stream ends inside a number that the next line continues.
    for stream in (res.stdout, res.stderr):
        ls = stream.splitlines()
        for a, b in zip(ls, ls[1:]):
            assert not (re.search(r"[\d,]$", a) and re.match(r"^[\d,]", b)), (a, b)


def test_json_summary_on_stdout(piped_run, deep):
    _, _, paths, model = piped_run
    out = deep / "json-run"
    res = linkage("run", "--wanted", str(paths["wanted"]), "--residents", str(paths["residents"]),
                  "--model", str(model), "--out", str(out), "--json")
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout)
    assert summary["matches"] == str(out / "matches.parquet")
    assert summary["wanted"] == 4 and summary["candidates"] >= 1
    assert len(summary["run_id"]) == 16
    assert set(STAGES) - {"report"} <= set(summary["timings_s"])
    assert res.stderr == ""  # --json: the summary alone, no progress lines


def test_quiet_prints_nothing_on_success(piped_run, deep):
    _, _, paths, model = piped_run
    res = linkage("run", "--wanted", str(paths["wanted"]), "--residents", str(paths["residents"]),
                  "--model", str(model), "--out", str(deep / "quiet-run"), "--quiet")
    assert res.returncode == 0, res.stderr
    assert res.stdout == "" and res.stderr == ""
    assert (deep / "quiet-run" / "matches.parquet").is_file()


def test_help_by_user_version_and_short_help():
    res = linkage("-h", columns=200)
    assert res.returncode == 0
    text = res.stdout
    assert "wanted persons" in text
    analysts, stewards = text.index("Analysts"), text.index("Data stewards")
    assert analysts < text.index("  run ") < stewards < text.index("  audit ")
    assert linkage("--version").stdout.strip() == "linkage 0.1.0"
    run_help = linkage("run", "--help", columns=200).stdout
    assert re.search(r"^\s+--train\s+Train", run_help, re.M)  # a flag: no <bool> to type
    assert "<bool>" not in run_help
    assert "Usage: linkage normalize [OPTIONS] PATH" in linkage("normalize", "-h").stdout


def test_id_cards_spelled_with_a_hyphen(tmp_path):
    paths = write_inputs(tmp_path)
    res = linkage("normalize", "--source", "id-cards", str(paths["id_cards"]), "--out", str(tmp_path / "c.parquet"))
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "c.parquet").is_file()
    bad = linkage("normalize", "--source", "cards", str(paths["id_cards"]), "--out", str(tmp_path / "d.parquet"))
    assert bad.returncode == 2 and "expected one of wanted, residents, id_cards" in bad.stderr
