"""Where training's time goes, and what smaller u samples change: one workspace, several trainings.

    .venv/bin/python bench/bench_train.py --data bench/out/peers/gen_1m
    .venv/bin/python bench/bench_train.py --data DIR --variant u=250000 --variant u=1000000,register=400000

Ingests, normalises, blocks and compares DATA's files once (as `linkage run` does), then trains
the model with the rules' sample sizes and with each `--variant` (u: training's random pairs,
model.u_sample_pairs; register: every register-pair condition's sample_pairs, scaled by its
ratio to the namesakes' in the rules; `reference`: the rules' sizes times 4). For each training it
prints the seconds (wall and CPU) spent in each step (random pairs, each conditional u's register
pairs and comparisons, EM, prior); then one table: each training's F1 at 0.8 against
DATA/truth.csv (scored and written as a run does), the matches that changed against the rules'
sizes, and the largest difference of the weights log2(m/u) from the `reference` training (or the
first), in bits, split as a tolerance reads them (bench_train.tolerance).
Never part of the test run.
"""

from __future__ import annotations

import argparse
import copy
import math
import re
import resource
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path


ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import linkage.train as train_mod  # noqa: E402
from linkage.evaluate import evaluate  # noqa: E402
from linkage.model import save_model  # noqa: E402
from linkage.outputs import write_matches  # noqa: E402
from linkage.pipeline import compare_pairs, prepare_workspace  # noqa: E402
from linkage.progress import Reporter  # noqa: E402
from linkage.rules import rules_hash  # noqa: E402
from linkage.score import score  # noqa: E402

TIMES: dict[str, float] = defaultdict(float)
CPU: dict[str, float] = defaultdict(float)
STEP = ["-"]


def _cpu() -> float:
    """CPU seconds of this process, all its threads (DuckDB's, rapidfuzz's): the machine is shared,
    so wall times move with the others' load."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _timed(name: str, fn):
    def wrapper(*args, **kwargs):
        t0, c0 = time.perf_counter(), _cpu()
        try:
            return fn(*args, **kwargs)
        finally:
            TIMES[f"{STEP[0]}: {name}"] += time.perf_counter() - t0
            CPU[f"{STEP[0]}: {name}"] += _cpu() - c0
    return wrapper


def _instrument() -> None:
    """Time training's steps: the conditional u's steps are filed under the condition they serve."""
    for name in ("sample_u_pairs", "sample_shared_pairs", "sample_register_pairs", "compare", "em_session",
                 "estimate_share", "_tf_values"):
        setattr(train_mod, name, _timed(name, getattr(train_mod, name)))
    ratios = train_mod._RegisterPairs.ratios

    def named(self, cond):
        STEP[0] = cond["name"]
        try:
            return ratios(self, cond)
        finally:
            STEP[0] = "-"
    train_mod._RegisterPairs.ratios = named


def _weights(model) -> dict[str, tuple[float, int | None]]:
    """Every level's log2(m/u) with its count among the random pairs, and every u_given's
    log2(m/u_given) (count None), by name."""
    out = {}
    for c in model.comparisons:
        for lv in c.levels:
            count = re.search(r"\(([\d,]+) of", lv.u_source or "")
            out[f"{c.name}.{lv.id}"] = (math.log2(max(lv.m, 1e-12) / max(lv.u, 1e-12)),
                                        int(count.group(1).replace(",", "")) if count else None)
            for cond, u in lv.u_given.items():
                out[f"{c.name}.{lv.id}|{cond}"] = (math.log2(max(lv.m, 1e-12) / max(u, 1e-12)), None)
    return out


def tolerance(w: dict, ref: dict, register: set[str], well: int = 400) -> dict[str, str]:
    """Largest difference in bits from the reference: levels the reference's random pairs saw at
    least `well` times, the rarer ones, u_given from register pairs and from random pairs; and
    the u_given one model has and the other not (a level under min_level_pairs in one sample)."""
    groups: dict[str, list[float]] = {"levels seen >= %d" % well: [], "rarer levels": [],
                                      "u_given, register pairs": [], "u_given, random pairs": []}
    for k, (x, count) in ref.items():
        if k not in w:
            continue
        d = abs(w[k][0] - x)
        if "|" in k:
            groups["u_given, register pairs" if k.split("|")[1] in register else "u_given, random pairs"].append(d)
        else:
            groups["levels seen >= %d" % well if (count or 0) >= well else "rarer levels"].append(d)
    out = {g: f"{max(v):.2f}" if v else "-" for g, v in groups.items()}
    out["u_given in one only"] = str(len(set(w) ^ set(ref)))
    return out


def _settings_for(settings, variant: dict[str, float]):
    s = copy.deepcopy(settings)
    conds = s.model.get("conditional_u") or []
    if "reference" in variant:
        s.model["u_sample_pairs"] = int(s.model.get("u_sample_pairs", 2_000_000) * 4)
        for c in conds:
            if c["pairs"] != "random":
                c["sample_pairs"] = int(c.get("sample_pairs", 200_000)) * 4
    if "u" in variant:
        s.model["u_sample_pairs"] = int(variant["u"])
    if "register" in variant:
        top = max(int(c.get("sample_pairs", 200_000)) for c in conds if c["pairs"] != "random")
        for c in conds:
            if c["pairs"] != "random":
                c["sample_pairs"] = int(variant["register"] * int(c.get("sample_pairs", 200_000)) / top)
    return s


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, required=True, help="folder with wanted/residents/id_cards/truth.csv")
    ap.add_argument("--variant", action="append", default=[], help="u=N,register=N or reference")
    ap.add_argument("--threshold", type=float, default=0.8)
    args = ap.parse_args()
    _instrument()
    work = Path(tempfile.mkdtemp(prefix="bench_train_", dir=ROOT / "bench" / "out"))
    t0 = time.perf_counter()
    d = args.data
    ctx = prepare_workspace(d / "wanted.csv", d / "residents.csv", d / "id_cards.csv", work, None, Reporter())
    gammas = compare_pairs(ctx)
    print(f"outputs in {work}")
    print(f"workspace and comparisons: {time.perf_counter() - t0:.1f} s; candidate pairs {len(gammas.pair_idx):,}")
    variants = [{}] + [dict((kv.split("=") + ["1"])[:2] for kv in v.split(",")) for v in args.variant]
    rows = []
    for i, v in enumerate(variants):
        TIMES.clear()
        CPU.clear()
        settings = _settings_for(ctx.settings, {k: float(x) for k, x in v.items()})
        t, c = time.perf_counter(), _cpu()
        model = train_mod.train(ctx.con, settings, gammas, rules_hash(None))
        took, cpu = time.perf_counter() - t, _cpu() - c
        save_model(model, work / f"model_{i}.json")
        score(ctx.con, ctx.settings, model, gammas)
        path = write_matches(ctx.con, ctx.settings, work / f"matches_{i}.parquet", "bench")
        ev = evaluate(d / "truth.csv", path, args.threshold)
        matches = set(map(tuple, ctx.con.execute(
            f"SELECT wanted_id, person_id FROM read_parquet('{path}') WHERE match_probability >= {args.threshold}"
        ).fetchall()))
        w = _weights(model)
        print(f"\n== {v or 'the rules as they are'}: train {took:.1f} s (CPU {cpu:.1f} s); u pairs "
              f"{model.training['u_random_pairs']:,}; precision {ev.precision:.4f} recall {ev.recall:.4f} F1 {ev.f1:.4f}")
        for k, s in sorted(TIMES.items(), key=lambda x: -CPU[x[0]]):
            print(f"   {s:6.2f} s  CPU {CPU[k]:6.2f} s  {k}")
        rows.append((v, took, cpu, ev.f1, w, matches))
    reference = next((r for r in rows if "reference" in r[0]), rows[0])
    register = {c["name"] for c in ctx.settings.model.get("conditional_u") or [] if c["pairs"] != "random"}
    heads = list(tolerance(reference[4], reference[4], register))
    print(f"\nweights log2(m/u) against {reference[0] or 'the rules as they are'}, largest difference in bits; "
          f"matches at {args.threshold} against the rules as they are:")
    print("| variant | train s | CPU s | F1 | " + " | ".join(heads) + " | matches new / gone |")
    print("|---|---:|---:|---:|" + "---:|" * len(heads) + "---|")
    for v, took, cpu, f1, w, matches in rows:
        t = tolerance(w, reference[4], register)
        print(f"| {v or 'rules'} | {took:.1f} | {cpu:.1f} | {f1:.4f} | " + " | ".join(t[h] for h in heads)
              + f" | {len(matches - rows[0][5])} / {len(rows[0][5] - matches)} |")

if __name__ == "__main__":
    main()
