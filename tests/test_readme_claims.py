"""What the README promises, checked: the two set-up commands and CI call what it says, every
command and option it lists is what the help shows, and each exit code it documents is what the
command returns. (Byte-identical runs: tests/test_run_folder.py and tests/test_pipeline.py; exit
130: tests/test_run_folder.py; exit 4: tests/test_pipeline.py.)"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli import app
from test_pipeline import write_inputs

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
runner = CliRunner()


def readme_commands() -> dict[str, list[str]]:
    """command (with its sub-command words, e.g. "review users add") -> the options its row of the
    README's command table shows."""
    out = {}
    for row in re.findall(r"^\| `linkage ([^`]*)` \|", README, re.M):
        tokens = row.split()
        words = []
        for tok in tokens:
            if not re.fullmatch(r"[a-z][a-z-]*", tok):
                break
            words.append(tok)
        out[" ".join(words)] = re.findall(r"--[a-z][a-z-]*", row)
    return out


def test_ci_and_make_call_what_the_readme_says():
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^make test$", ci, re.M)
    if shutil.which("make") is None:
        pytest.skip("make not installed")
    test = subprocess.run(["make", "-n", "test"], cwd=ROOT, capture_output=True, text=True).stdout
    demo = subprocess.run(["make", "-n", "demo"], cwd=ROOT, capture_output=True, text=True).stdout
    assert "-m pytest" in test
    assert "linkage demo" in demo
    assert "pip install" in test or Path(ROOT / ".venv" / ".installed").exists()


def test_every_readme_command_and_option_is_in_the_help():
    commands = readme_commands()
    assert {"run", "nightly", "report", "train", "evaluate", "blocking", "ingest", "normalize", "audit", "clean",
            "demo", "synth"} <= set(commands)
    assert {"review serve", "review users add", "review export"} <= set(commands)
    top = runner.invoke(app, ["--help"]).output
    for name, options in commands.items():
        assert re.search(rf"^\s+{name.split()[0]}\s", top, re.M), name
        help_text = runner.invoke(app, [*name.split(), "--help"], terminal_width=200).output
        assert "Usage:" in help_text, name
        for opt in options:
            assert re.search(rf"(^|\s){re.escape(opt)}[\s,]", help_text), f"{name} {opt}"
        if name not in ("synth", "sample-for-review", "review users add", "review export"):  # they read no rules
            assert "--rules" in help_text, name  # "every command except synth takes --rules"


def test_train_is_a_flag():
    """`--train` is shown as a flag and works as one; `--train true` is an extra argument."""
    help_text = runner.invoke(app, ["run", "--help"], terminal_width=200).output
    assert re.search(r"^\s+--train\s+Train", help_text, re.M)


def test_documented_exit_codes(tmp_path):
    documented = set(int(c) for c in re.findall(r"^\| (\d+) \|", README, re.M))
    assert documented == {0, 1, 2, 3, 4, 5, 130}  # 5: tests/test_nightly.py
    paths = write_inputs(tmp_path)
    ok = runner.invoke(app, ["normalize", "--source", "wanted", str(paths["wanted"]), "--out", str(tmp_path / "n.parquet")])
    assert ok.exit_code == 0, ok.output
    missing = runner.invoke(app, ["ingest", "--wanted", str(tmp_path / "none.csv"), "--out", str(tmp_path / "o")])
    assert missing.exit_code == 2
    bad_rules = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", bad_rules, ignore=shutil.ignore_patterns("examples"))
    (bad_rules / "matching.yaml").write_text("blocking: {rules: []}\n", encoding="utf-8")
    res = runner.invoke(app, ["blocking", "--wanted", str(paths["wanted"]), "--residents", str(paths["residents"]),
                              "--out", str(tmp_path / "b"), "--rules", str(bad_rules)])
    assert res.exit_code == 3, res.output
    assert "matching.yaml" in res.output and "comparisons" in res.output
