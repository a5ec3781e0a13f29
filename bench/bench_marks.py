"""What identifying marks add (issue 12, item 3): recall@1 on namesakes, F1 and false alarms on
absent wanted persons, with and without the `marks` comparison.

    nice -n 5 .venv/bin/python bench/bench_marks.py --residents 100000 --wanted 1000 --train-seed 11 --test-seed 12

Generates two populations (bench/out/marks_<residents>_<wanted>_<seed>/ unless there): the model
is trained on the first (`linkage train`) and measured on the second (`linkage run --model`), once
with the project's committed rules (git HEAD) and once with a copy of them without the `marks`
comparison (the only difference). Namesakes: wanted persons whose true register person shares the full name (as
written in the residents register) and birth year with another residents-register person. Prints
the figures; timing is printed, never asserted.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from linkage.evaluate import evaluate  # noqa: E402
from linkage.settings import load_settings  # noqa: E402
from linkage.synth import generate  # noqa: E402

LINKAGE = str(Path(sys.executable).parent / "linkage")


def data(out: Path, residents: int, wanted: int, seed: int) -> Path:
    folder = out / f"marks_{residents}_{wanted}_{seed}"
    if not (folder / "truth.csv").is_file():
        t0 = time.perf_counter()
        generate(residents, wanted, seed, folder)
        print(f"generated seed {seed}: {residents:,} residents / {wanted:,} wanted in {time.perf_counter() - t0:.1f} s")
    return folder


def committed_rules(dest: Path) -> Path:
    """The rules as committed (git HEAD), so work in progress in the tree never mixes into a
    measurement that runs for minutes."""
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", "HEAD", "rules"], cwd=ROOT, check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest / "rules"


def rules_without_marks(source: Path, dest: Path) -> Path:
    """A copy of the rules with the `marks` comparison cut out of matching.yaml."""
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(source, dest)
    p = dest / "matching.yaml"
    text = p.read_text(encoding="utf-8")
    cut = re.sub(r"\n  - name: marks\n(?:(?:    .*)?\n)*", "\n", text)
    if cut == text or "kind: marks" in cut:
        raise SystemExit("could not remove the marks comparison from rules/matching.yaml")
    p.write_text(cut, encoding="utf-8")
    return dest


def namesakes(folder: Path) -> set[str]:
    """Wanted ids whose true person shares full name and birth year with another resident."""
    res = pd.read_csv(folder / "residents.csv", dtype=str, keep_default_na=False, usecols=["person_id", "full_name", "birth_date"])
    res["key"] = res.full_name.str.strip().str.lower() + "|" + res.birth_date.str[-4:]
    size = res.groupby("key").person_id.transform("size")
    crowded = set(res.person_id[size > 1])
    truth = pd.read_csv(folder / "truth.csv", dtype=str, keep_default_na=False)
    return set(truth.wanted_id[truth.person_id.isin(crowded)])


def sh(*args: str) -> None:
    subprocess.run([LINKAGE, *args, "--quiet"], check=True)


def measure(train: Path, test: Path, rules: Path, tag: str, threshold: float, crowd: set[str]) -> dict:
    work = test.parent / f"marks_run_{tag}_{train.name}_{test.name}"
    model = work / "model.json"
    t0 = time.perf_counter()
    sh("train", "--wanted", str(train / "wanted.csv"), "--residents", str(train / "residents.csv"),
       "--id-cards", str(train / "id_cards.csv"), "--out", str(work / "train"), "--model", str(model), "--rules", str(rules))
    t_train = time.perf_counter() - t0
    t0 = time.perf_counter()
    sh("run", "--wanted", str(test / "wanted.csv"), "--residents", str(test / "residents.csv"),
       "--id-cards", str(test / "id_cards.csv"), "--out", str(work / "run"), "--model", str(model), "--rules", str(rules))
    t_run = time.perf_counter() - t0
    ev = evaluate(test / "truth.csv", work / "run" / "matches.parquet", threshold, rules=rules)
    m = pd.read_parquet(work / "run" / "matches.parquet", columns=["wanted_id", "person_id", "rank"])
    truth = pd.read_csv(test / "truth.csv", dtype=str, keep_default_na=False)
    t = truth[truth.wanted_id.isin(crowd)]
    top = m[m["rank"] == 1].set_index("wanted_id").person_id
    hit = (t.wanted_id.map(top) == t.person_id).sum()
    return {"rules": tag, "namesakes": len(t), "namesake_recall_at_1": hit / max(len(t), 1),
            "recall_at_1": ev.recall_at_1, "precision": ev.precision, "recall": ev.recall, "f1": ev.f1,
            "false_alarms_on_absent": f"{ev.false_alarms_on_absent}/{ev.absent_wanted}",
            "train_s": round(t_train, 1), "run_s": round(t_run, 1)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--residents", type=int, default=100_000)
    ap.add_argument("--wanted", type=int, default=1_000)
    ap.add_argument("--train-seed", type=int, default=11)
    ap.add_argument("--test-seed", type=int, default=12)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    args = ap.parse_args()

    train = data(args.out, args.residents, args.wanted, args.train_seed)
    test = data(args.out, args.residents, args.wanted, args.test_seed)
    crowd = namesakes(test)
    rules = committed_rules(args.out / "rules_committed")
    threshold = load_settings(rules).threshold
    rows = [measure(train, test, rules, "with_marks", threshold, crowd),
            measure(train, test, rules_without_marks(rules, args.out / "rules_without_marks"), "without_marks", threshold, crowd)]
    print(f"trained on seed {args.train_seed}, measured on seed {args.test_seed}; threshold {threshold}; "
          f"{args.residents:,} residents, {args.wanted:,} wanted")
    print(pd.DataFrame(rows).to_string(index=False, float_format=lambda x: f"{x:.4f}"))


if __name__ == "__main__":
    main()
