"""Accuracy and time of `linkage dedupe` on generated data: a `linkage synth` folder whose wanted
persons get a second (perturbed, other-unit) record for a share of them (linkage.synth.duplicates).

    .venv/bin/python bench/bench_dedupe.py --residents 100000 --wanted 10000 --share 0.03 --out bench/out/dedupe

Prints pairwise precision and recall of the clusters and of the links, the share of clusters
holding two different true persons, and the time of each stage.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from linkage.dedupe.evaluate import evaluate_dedupe  # noqa: E402
from linkage.dedupe.run import dedupe  # noqa: E402
from linkage.synth.duplicates import add_duplicates  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--residents", type=int, default=100_000)
    ap.add_argument("--wanted", type=int, default=10_000)
    ap.add_argument("--share", type=float, default=0.03)
    ap.add_argument("--seed", type=int, default=12)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "dedupe")
    ap.add_argument("--threshold", type=float, default=None)
    ap.add_argument("--rules", type=Path, default=None, help="rules folder (default: the project's rules/)")
    args = ap.parse_args()
    gen = args.out / "data"
    if not (gen / "wanted.csv").is_file():
        subprocess.run([sys.executable, "-m", "cli", "synth", "--residents", str(args.residents), "--wanted",
                        str(args.wanted), "--seed", str(args.seed), "--out", str(gen), "--quiet"], check=True, cwd=ROOT)
    dup = args.out / f"dupes_{args.share}"
    added = add_duplicates(gen, out=dup, share=args.share, seed=args.seed)
    t0 = time.perf_counter()
    result = dedupe(dup / "wanted.csv", args.out / "result", rules=args.rules, threshold=args.threshold)
    wall = time.perf_counter() - t0
    scores = evaluate_dedupe(args.out / "result", dup / "duplicates.csv")
    print(f"wanted records: {result.counts['rows_accepted']:,} ({added.added:,} second records, "
          f"{added.pairs:,} true pairs); blocked pairs {result.counts['blocked_pairs']:,}")
    print(f"{'':10}{'found':>8}{'correct':>9}{'precision':>11}{'recall':>8}")
    for kind in ("clusters", "links"):
        s = scores[kind]
        print(f"{kind:10}{s['found']:>8,}{s['correct']:>9,}{s['precision']:>11.4f}{s['recall']:>8.4f}")
    imp = scores["impure"]
    print(f"clusters holding two different true persons: {imp['impure']} of {imp['clusters']} ({imp['share']:.2%})")
    print(f"time: {wall:.1f} s  stages: {json.dumps(result.timings)}")


if __name__ == "__main__":
    main()
