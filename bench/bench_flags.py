"""Change flags by scenario on generated data (issue 11, item 4).

    .venv/bin/python bench/bench_flags.py --residents 100000 --wanted 2000 --seed 7

Generates residents, ID cards and a wanted list (with the truth labels moved_after_card and
renamed_after_card: people who moved or were renamed after their card was issued, the wanted
record copied from the card) into bench/out/flags_<residents>_<wanted>_<seed>/ unless there,
runs `linkage run` with the project's model, and prints, for each change flag, among the true
matches at or above the threshold, the share flagged with the change and without it, by
scenario (targets: >= 0.95 with, <= 0.02 without). Timing is printed, never asserted.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from linkage.evaluate import evaluate  # noqa: E402
from linkage.settings import load_settings  # noqa: E402
from linkage.synth import generate  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--residents", type=int, default=100_000)
    ap.add_argument("--wanted", type=int, default=2_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    args = ap.parse_args()

    data = args.out / f"flags_{args.residents}_{args.wanted}_{args.seed}"
    if not (data / "truth.csv").is_file():
        t0 = time.perf_counter()
        generate(args.residents, args.wanted, args.seed, data)
        print(f"generated {args.residents:,} residents / {args.wanted:,} wanted in {time.perf_counter() - t0:.1f} s")
    from linkage.pipeline import run

    out = data / "run"
    t0 = time.perf_counter()
    run(data / "wanted.csv", data / "residents.csv", data / "id_cards.csv", out)
    print(f"linkage run: {time.perf_counter() - t0:.1f} s")
    threshold = load_settings().threshold
    ev = evaluate(data / "truth.csv", out / "matches.parquet", threshold)
    print(f"threshold {threshold}: precision {ev.precision:.4f} recall {ev.recall:.4f} F1 {ev.f1:.4f}")
    table = ev.flags_by_scenario
    shown = table[table["change"] | table["scenario"].isin(["without change"]) | (table["flagged"] > 0.02)]
    print("change flags among true matches at or above the threshold (change rows, totals, and labels "
          "without the change flagged above 2%):")
    print(shown.to_string(index=False, float_format=lambda x: f"{x:.3f}"))


if __name__ == "__main__":
    main()
