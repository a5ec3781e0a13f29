"""What identifying marks add (issue 12, item 3): recall@1 on namesakes, F1 and false alarms on
absent wanted persons, with and without the `marks` comparison.

    nice -n 5 .venv/bin/python bench/bench_marks.py --residents 100000 --wanted 1000 --train-seed 11 --test-seed 12

Generates two populations (bench/out/marks_<residents>_<wanted>_<seed>/ unless there): the model
is trained on the first (`linkage train`) and measured on the second (`linkage run --model`), once
with the project's committed rules (git HEAD) and once with a copy of them without the `marks`
comparison (the only difference). Namesakes: wanted persons whose true register person shares the full name (as
written in the residents register) and birth year with another residents-register person.

The harder namesakes are those whose notice lacks what tells namesakes apart besides marks, as
real notices often do: (a) as generated: namesakes whose notice has no parent's name or no birth
day/month; (b) thinned: a copy of the test wanted list where every namesake's notice loses both
parents' names and its birth day and month (the year kept), run with the same trained model.
Prints the figures; timing is printed, never asserted.
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


def thin_of(folder: Path, crowd: set[str]) -> set[str]:
    """Namesakes whose notice, as generated, has no parent's name or no birth day/month."""
    w = pd.read_csv(folder / "wanted.csv", dtype=str, keep_default_na=False)
    no_parent = (w.father_name.str.strip() == "") | (w.mother_name.str.strip() == "")
    digits = w.birth_date.str.count(r"\d")
    no_day = digits < 8  # yyyy, mm/yyyy or empty
    return set(w.wanted_id[(no_parent | no_day) & w.wanted_id.isin(crowd)])


def thinned(folder: Path, crowd: set[str]) -> Path:
    """A copy of the wanted list where every namesake's notice loses both parents' names and its
    birth day and month (the year kept); the registers are not copied."""
    dest = folder / "thinned"
    dest.mkdir(exist_ok=True)
    w = pd.read_csv(folder / "wanted.csv", dtype=str, keep_default_na=False)
    on = w.wanted_id.isin(crowd)
    w.loc[on, ["father_name", "mother_name"]] = ""
    w.loc[on, "birth_date"] = w.loc[on, "birth_date"].str.extract(r"(\d{4})", expand=False).fillna("")
    w.to_csv(dest / "wanted.csv", index=False)
    return dest / "wanted.csv"


def recall_at_1(matches: Path, truth: pd.DataFrame, ids: set[str]) -> tuple[int, float]:
    """(count, share of `ids` whose true person is ranked first)."""
    m = pd.read_parquet(matches, columns=["wanted_id", "person_id", "rank"])
    top = m[m["rank"] == 1].set_index("wanted_id").person_id
    t = truth[truth.wanted_id.isin(ids)]
    return len(t), float((t.wanted_id.map(top) == t.person_id).sum() / max(len(t), 1))


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
    truth = pd.read_csv(test / "truth.csv", dtype=str, keep_default_na=False)
    n, r1 = recall_at_1(work / "run" / "matches.parquet", truth, crowd)
    n_thin, r1_thin = recall_at_1(work / "run" / "matches.parquet", truth, thin_of(test, crowd))
    # the same model on the thinned notices (every namesake without parents and birth day/month)
    t0 = time.perf_counter()
    sh("run", "--wanted", str(thinned(test, crowd)), "--residents", str(test / "residents.csv"),
       "--id-cards", str(test / "id_cards.csv"), "--out", str(work / "run_thinned"), "--model", str(model), "--rules", str(rules))
    t_thinned = time.perf_counter() - t0
    _, r1_thinned = recall_at_1(work / "run_thinned" / "matches.parquet", truth, crowd)
    return {"rules": tag, "namesakes": n, "namesake_recall_at_1": r1,
            "thin_namesakes": n_thin, "thin_recall_at_1": r1_thin, "thinned_recall_at_1": r1_thinned,
            "recall_at_1": ev.recall_at_1, "precision": ev.precision, "recall": ev.recall, "f1": ev.f1,
            "false_alarms_on_absent": f"{ev.false_alarms_on_absent}/{ev.absent_wanted}",
            "train_s": round(t_train, 1), "run_s": round(t_run, 1), "run_thinned_s": round(t_thinned, 1)}


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
    print("namesakes: true person shares full name and birth year with another resident; thin_: those whose notice "
          "(as generated) has no parent's name or no birth day/month; thinned_: every namesake's notice stripped of "
          "parents' names and birth day/month, same model")
    print(pd.DataFrame(rows).T.to_string(float_format=lambda x: f"{x:.4f}"))


if __name__ == "__main__":
    main()
