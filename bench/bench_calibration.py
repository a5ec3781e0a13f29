"""Calibration and false leads: train on one generated draw, measure on another.

    .venv/bin/python bench/bench_calibration.py --residents 1000000 --train-seed 7 --test-seed 11

Generates bench/out/gen_<residents>_<wanted>_<seed>/ for both seeds unless present, runs
`linkage run --train` on the training draw, then `linkage run --model <that model>` on the test
draw, and prints on the test draw: precision, recall, recall@1, false alarms on absent wanted
persons (random and hard negatives), recall of the name-change scenarios, the prior share the
model estimated against the truth's, and the reliability table with its ECE. Writes
cal_summary.json next to the test run's outputs (and, with --plot DIR, the reliability diagram).
Never part of the test run.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from linkage.evaluate import calibration, evaluate  # noqa: E402
from linkage.settings import load_settings  # noqa: E402

LINKAGE = ROOT / ".venv" / "bin" / "linkage"


def generate(out: Path, residents: int, wanted: int, seed: int) -> Path:
    data = out / f"gen_{residents}_{wanted}_{seed}"
    if not (data / "truth.csv").is_file():
        subprocess.run([str(LINKAGE), "synth", "--residents", str(residents), "--wanted", str(wanted),
                        "--seed", str(seed), "--out", str(data), "-q"], check=True)
    return data


def run(data: Path, out_dir: Path, model: Path | None, rules: Path | None = None) -> float:
    cmd = [str(LINKAGE), "run", "--wanted", str(data / "wanted.csv"), "--residents", str(data / "residents.csv"),
           "--id-cards", str(data / "id_cards.csv"), "--out", str(out_dir), "-q"]
    cmd += ["--rules", str(rules)] if rules else []
    cmd += ["--model", str(model)] if model else ["--train"]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        print(proc.stderr[-3000:])
        raise SystemExit(proc.returncode)
    print("$", " ".join(cmd))
    return time.perf_counter() - t0


def train_labelled(data: Path, train_dir: Path, n: int) -> Path:
    """A model trained on the same draw with n labels from a simulated review."""
    from linkage.labels import sample_for_review
    from linkage.model import save_model
    from linkage.pipeline import compare_pairs, prepare_workspace
    from linkage.rules import rules_hash
    from linkage.train import train

    truth = pd.read_csv(data / "truth.csv", dtype=str)
    true_pairs = set(zip(truth["wanted_id"], truth["person_id"].fillna("")))
    sample = sample_for_review(train_dir / "matches.parquet", n, seed=1)
    sample["label"] = [float((w, p) in true_pairs) for w, p in zip(sample["wanted_id"], sample["person_id"])]
    work = train_dir.with_name(train_dir.name + f"_labels{n}")
    t0 = time.perf_counter()
    ctx = prepare_workspace(data / "wanted.csv", data / "residents.csv", data / "id_cards.csv", work)
    model = train(ctx.con, ctx.settings, compare_pairs(ctx), rules_hash(None), labels=sample[["wanted_id", "person_id", "label"]])
    ctx.con.close()
    print(f"trained with {n} labels ({int(sample['label'].sum())} match) in {time.perf_counter() - t0:.1f} s: "
          f"calibration {model.calibration}")
    return save_model(model, work / "model.json")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--residents", type=int, default=100_000)
    ap.add_argument("--wanted", type=int, default=10_000)
    ap.add_argument("--train-seed", type=int, default=7)
    ap.add_argument("--test-seed", type=int, default=11)
    ap.add_argument("--tag", default="cal")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    ap.add_argument("--plot", type=Path, default=None)
    ap.add_argument("--labels", type=int, default=0,
                    help="also train with N labels: a score-stratified sample of the training run's candidates "
                         "labelled from the training draw's truth (a simulated review); the test run's "
                         "scoring applies the model's calibration map")
    ap.add_argument("--reuse", action="store_true", help="reuse the training run of the same tag if it is there")
    ap.add_argument("--rules", type=Path, default=None, help="rules directory for both runs (default: the project's)")
    args = ap.parse_args()
    if args.labels and args.rules:
        ap.error("--labels trains with the project's rules: not with --rules")

    train_data = generate(args.out, args.residents, args.wanted, args.train_seed)
    test_data = generate(args.out, args.residents, args.wanted, args.test_seed)
    train_dir = args.out / f"{args.tag}_{args.residents}_{args.train_seed}_train"
    test_dir = args.out / f"{args.tag}_{args.residents}_{args.test_seed}_test"
    reuse = args.reuse and (train_dir / "model.json").is_file() and (train_dir / "matches.parquet").is_file()
    wall_train = 0.0 if reuse else run(train_data, train_dir, None, args.rules)
    model_path = train_dir / "model.json"
    if args.labels:
        model_path = train_labelled(train_data, train_dir, args.labels)
        test_dir = test_dir.with_name(test_dir.name + f"_labels{args.labels}")
    wall_test = run(test_data, test_dir, model_path, args.rules)

    truth, matches = test_data / "truth.csv", test_dir / "matches.parquet"
    threshold = load_settings(args.rules).threshold
    ev = evaluate(truth, matches, threshold)
    by = ev.by_scenario.set_index("label")
    cal = calibration(truth, matches)
    model = json.loads(model_path.read_text())
    t = pd.read_csv(train_data / "truth.csv", dtype=str)
    true_share = float(t["person_id"].notna().mean())

    def rate(label: str, col: str) -> float | None:
        return None if label not in by.index else round(float(by.loc[label, col]), 4)

    summary = {
        "residents": args.residents, "wanted": args.wanted, "train_seed": args.train_seed, "test_seed": args.test_seed,
        "wall_train_s": round(wall_train, 1), "wall_test_s": round(wall_test, 1), "threshold": threshold,
        "precision": round(ev.precision, 4), "recall": round(ev.recall, 4), "f1": round(ev.f1, 4),
        "recall_at_1": round(ev.recall_at_1, 4), "candidates_per_wanted": round(ev.candidates_per_wanted, 3),
        "false_alarms_on_absent": ev.false_alarms_on_absent, "absent_wanted": ev.absent_wanted,
        "false_alarm_rate": round(ev.false_alarms_on_absent / max(ev.absent_wanted, 1), 4),
        "false_alarm_rate_random": rate("absent", "false_alarm_rate"),
        "false_alarm_rate_hard": rate("absent_hard_negative", "false_alarm_rate"),
        "recall_name_changed": rate("name_changed", "recall"), "recall1_name_changed": rate("name_changed", "recall_at_1"),
        "recall_given_changed": rate("given_changed", "recall"), "recall1_given_changed": rate("given_changed", "recall_at_1"),
        "recall_name_changed_alias": rate("name_changed_alias", "recall"),
        "prior_share_estimated": model["wanted_match_share"], "prior_share_true_train": round(true_share, 4),
        "ece": round(cal.ece, 4), "labels": args.labels, "calibration_map": model.get("calibration"),
    }
    print(ev.render())
    print()
    print(cal.render())
    print(json.dumps(summary, indent=2))
    (test_dir / "cal_summary.json").write_text(json.dumps(summary, indent=2))
    cal.table.to_csv(test_dir / "calibration.csv", index=False)
    if args.plot:
        from linkage.plots import write_calibration_plot
        print(write_calibration_plot(truth, matches, args.plot / f"calibration_{args.residents // 1000}k.png",
                                     title=f"{args.residents:,} residents, model trained on seed {args.train_seed}, "
                                     f"measured on seed {args.test_seed}"))


if __name__ == "__main__":
    main()
