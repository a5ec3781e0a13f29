"""Accuracy of `linkage relatives` on generated data with families: precision and recall per
relation at the default threshold, against truth_relatives.csv.

    .venv/bin/python bench/bench_relatives.py --residents 100000 --wanted 2000 [--dir D] [--fit]

Recall is given twice: over every true relative in the register, and (in brackets in the sweep)
over those the records can reveal (the wanted record or the person's own register record carries
the parent's name the relation is found by; for a sibling both carry a shared parent's name; for a
child the child's record carries the parent's name). By default the generator's truth serves as
--matches (an ideal identity run); --identity rule runs without it.
--fit prints the relations block of rules/relatives.yaml: m per level from the true relatives among
the blocked pairs, u from the blocked pairs that are not relatives (u given the shared name).
--errors counts the father/mother errors at the threshold by class (docs/relatives.md), the mean
weights of the true parents missed as top candidates against those listed, and the calibration
(predicted against observed per probability band) over every blocked pair.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from linkage.relatives.frame import register_frame, wanted_frame
from linkage.relatives.rules import COMPARISONS, RELATIONS, load_relatives_rules
from linkage.relatives.run import (_relation_pairs, find_relatives, identity_names, identity_pairs, probable_siblings,
                                  score_relation, with_identity)
from linkage.synth import generate


def _csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def _truth_matches(d: Path) -> Path:
    """The generator's truth as a matches file (an ideal identity run, probability 1)."""
    ident = _csv(d / "truth.csv")
    ident = ident[ident["person_id"] != ""]
    path = d / "truth_matches.parquet"
    pd.DataFrame({"wanted_id": ident["wanted_id"], "person_id": ident["person_id"],
                  "match_probability": 1.0}).to_parquet(path, index=False)
    return path


def findable(truth: pd.DataFrame, wanted: pd.DataFrame, residents: pd.DataFrame, ident: pd.DataFrame) -> pd.Series:
    """Whether the records carry the names each true relation is found by (the wanted record or
    the wanted person's own register record for the parents' names)."""
    w = wanted.set_index("wanted_id")
    r = residents.set_index("person_id")
    me = truth["wanted_id"].map(ident.set_index("wanted_id")["person_id"])  # the wanted person's own record
    wf = (truth["wanted_id"].map(w["father_name"]).fillna("") != "") | (me.map(r["father_name"]).fillna("") != "")
    wm = (truth["wanted_id"].map(w["mother_name"]).fillna("") != "") | (me.map(r["mother_name"]).fillna("") != "")
    rf = truth["person_id"].map(r["father_name"]).fillna("") != ""
    rm = truth["person_id"].map(r["mother_name"]).fillna("") != ""
    male = truth["wanted_id"].map(w["gender"]) == "Nam"
    rel = truth["relation"]
    return ((rel == "father") & wf) | ((rel == "mother") & wm) | ((rel == "sibling") & ((wf & rf) | (wm & rm))) | (
        (rel == "child") & np.where(male, rf, rm))


def accuracy(out: pd.DataFrame, truth: pd.DataFrame, can: pd.Series) -> pd.DataFrame:
    probable = out[out["probable"]][["wanted_id", "relation", "person_id"]].assign(found=True)
    t = truth.assign(true=True, can=can.to_numpy())
    j = probable.merge(t, on=["wanted_id", "relation", "person_id"], how="outer")
    rows = []
    for rel in RELATIONS:
        g = j[j["relation"] == rel]
        found, true = g["found"].fillna(False).astype(bool), g["true"].fillna(False).astype(bool)
        can_g = g["can"].fillna(False).astype(bool)
        tp = int((found & true).sum())
        rows.append({"relation": rel, "true": int(true.sum()), "findable": int(can_g.sum()),
                     "listed": int(found.sum()), "correct": tp,
                     "precision": round(tp / max(int(found.sum()), 1), 4),
                     "recall": round(tp / max(int(true.sum()), 1), 4),
                     "recall_findable": round(int((found & can_g).sum()) / max(int(can_g.sum()), 1), 4)})
    return pd.DataFrame(rows)


def _siblings_found(w, aliases, r, rules, exclude) -> pd.DataFrame:
    """The probable siblings (w_idx, s_idx), as the run finds them, chunk by chunk (the parents'
    evidence uses them)."""
    from linkage.relatives.run import CHUNK_WANTED, _chunk

    parts = []
    for lo in range(0, len(w), CHUNK_WANTED):
        hi = min(lo + CHUNK_WANTED, len(w))
        q = score_relation(w.iloc[lo:hi].reset_index(drop=True), _chunk(aliases, lo, hi), r, rules, "sibling",
                           _chunk(exclude, lo, hi))
        parts.append(probable_siblings(q, rules).assign(w_idx=lambda d, lo=lo: d["w_idx"] + lo))
    return pd.concat(parts, ignore_index=True)


def _prepared(d: Path, rules):
    """The frames as the run builds them with the truth as its identity (the wanted records
    completed), and the probable siblings: (w, aliases, r, exclude, sibs)."""
    w, aliases, _ = wanted_frame(d / "wanted.csv", None)
    r, _ = register_frame(d / "residents.csv", d / "id_cards.csv", None)
    exclude, _ = identity_pairs(w, r, _truth_matches(d), rules.identity_threshold)
    w = with_identity(w, r, exclude, rules.years["sibling_near"])
    aliases = identity_names(w, aliases, r, exclude)
    return w, aliases, r, exclude, _siblings_found(w, aliases, r, rules, exclude)


def _pairs_chunked(w, aliases, r, rules, rel, exclude, sibs) -> pd.DataFrame:
    """One relation's blocked pairs with their levels, built chunk by chunk (a 1M register's sibling
    pairs with every helper column do not fit in memory at once); the levels as categories."""
    from linkage.relatives.run import CHUNK_WANTED, _chunk

    keep = ["w_idx", "r_idx"] + [c for c in dict.fromkeys(COMPARISONS[rel] + ("household", "hometown"))]
    parts = []
    for lo in range(0, len(w), CHUNK_WANTED):
        hi = min(lo + CHUNK_WANTED, len(w))
        q = _relation_pairs(w.iloc[lo:hi].reset_index(drop=True), _chunk(aliases, lo, hi), r, rules, rel,
                            _chunk(exclude, lo, hi), _chunk(sibs, lo, hi))
        q = q[[c for c in keep if c in q.columns]].assign(w_idx=lambda d, lo=lo: d["w_idx"] + lo)
        parts.append(q.astype({c: "category" for c in q.columns if c not in ("w_idx", "r_idx")}))
    return pd.concat(parts, ignore_index=True).astype({c: object for c in keep if c not in ("w_idx", "r_idx")
                                                        and c in parts[0].columns})


MIN_PAIRS = 10  # a level seen among fewer non-relatives than this is not measured: u = MIN_PAIRS / pairs
N_RANDOM = 200_000  # random pairs behind the birth-year gaps' u


def _u_share(hits: np.ndarray) -> float:
    """A level's share of the non-relative pairs, but never below MIN_PAIRS of them. Why: a fixed
    floor (0.0005 until 2026-12-06) sat above what a 1M fit measures on hundreds of pairs (hometown
    same_ward: 0.00028), taking 0.8 bits from every parent sharing the hometown commune; a floor in
    pairs follows the sample, so only a level the sample cannot measure is held up."""
    return max(int(hits.sum()), MIN_PAIRS) / max(len(hits), 1)


def fit(d: Path, truth: pd.DataFrame) -> None:
    """Print each relation's block for rules/relatives.yaml: m per level from the true relatives
    among the blocked pairs; u of the fixed-u levels from the blocked pairs that are not
    relatives (the wanted person's own record left out), i.e. u given the names that made the
    pair (the name levels' u is the term frequency at run time); expected from the truth."""
    from linkage.relatives.rules import HOME_AGREES, is_tf, level_names

    rules = load_relatives_rules()
    ident = _csv(d / "truth.csv")
    w, aliases, r, exclude, sibs = _prepared(d, rules)
    eldest = np.fmin(w["byear"].to_numpy(), pd.Series(r["byear"].to_numpy()[sibs["s_idx"].to_numpy()])
                     .groupby(sibs["w_idx"].to_numpy()).min().reindex(np.arange(len(w))).to_numpy())
    rng = np.random.default_rng(0)
    pick = rng.integers(0, len(w), N_RANDOM)
    wy, ey = w["byear"].to_numpy()[pick], eldest[pick]
    ry = r["byear"].to_numpy()[rng.integers(0, len(r), N_RANDOM)]
    ok = ~np.isnan(wy) & ~np.isnan(ry)
    older, younger, at_eldest = (wy - ry)[ok], (ry - wy)[ok], (ey - ry)[ok]
    y = rules.years

    def share(g: np.ndarray, lo: float, hi: float) -> float:
        return float(np.mean((g >= lo) & (g <= hi)))

    clo, chi = y["child_typical"]
    rnd_age = {
        "child": {"typical": share(younger, clo, chi), "wide": share(younger, *y["child"]) - share(younger, clo, chi)},
        "sibling": {"near": share(np.abs(older), 0, y["sibling_near"]),
                    "far": share(np.abs(older), y["sibling_near"] + 1, y["sibling_max"])},
    }
    for rel in ("father", "mother"):  # the age at the eldest known child, of the pairs the blocking keeps
        lo, hi = y["parent_at_eldest"][rel]
        blocked = (older >= y["parent"][0]) & (older <= y["parent"][1])
        typical = float(np.mean(blocked & (at_eldest >= lo) & (at_eldest <= hi)))
        rnd_age[rel] = {"typical": typical, "wide": float(np.mean(blocked)) - typical}
    lines = ["relations:"]
    for rel in RELATIONS:
        p = _pairs_chunked(w, aliases, r, rules, rel, exclude, sibs)
        key = pd.DataFrame({"wanted_id": w["wanted_id"].to_numpy()[p["w_idx"]], "person_id": r["person_id"].to_numpy()[p["r_idx"]]})
        t = truth[truth["relation"] == rel][["wanted_id", "person_id"]].assign(true=True)
        lab = key.merge(t, on=["wanted_id", "person_id"], how="left")["true"].fillna(False).to_numpy().astype(bool)
        me = key.merge(ident[["wanted_id", "person_id"]].assign(me=True), on=["wanted_id", "person_id"],
                       how="left")["me"].fillna(False).to_numpy().astype(bool)
        false = ~lab & ~me
        home = p["hometown"].isin(HOME_AGREES).to_numpy()
        print(f"# {rel}: blocked {len(p):,}, true among them {int(lab.sum()):,} of {len(t):,}")
        lines += [f"  {rel}:", f"    expected: {len(t) / max(len(w), 1):.3f}", "    comparisons:"]
        for comp in COMPARISONS[rel]:
            levels = []
            # spouse in_wanted_commune: m and u among the pairs living in one of the wanted person's
            # communes; sibling_ward among the others
            cond = (p["household"].isin(("same_ward", "same_house")).to_numpy() if comp == "spouse"
                    else np.ones(len(p), bool))
            for lv in level_names(rel, comp):
                sub = {"in_wanted_commune": cond, "sibling_ward": ~cond}.get(lv, np.ones(len(p), bool))
                m = max(float((p.loc[lab & sub, comp] == lv).mean()), 0.01)
                if lv == "unknown":
                    levels.append(f"{lv}: {{m: 1.0, u: 1.0}}")
                elif is_tf(comp, lv):
                    levels.append(f"{lv}: {{m: {m:.3g}}}")
                elif comp == "age":  # not implied by the shared name: u over random pairs
                    u = max(float(rnd_age[rel][lv]), MIN_PAIRS / N_RANDOM)
                    levels.append(f"{lv}: {{m: {m:.3g}, u: {u:.3g}}}")
                    continue
                else:
                    u = _u_share(p.loc[false & sub, comp].to_numpy() == lv)
                    if comp in ("household", "address") or lv == "sibling_ward":  # u among the pairs whose hometown agrees
                        uh = _u_share(p.loc[false & home & sub, comp].to_numpy() == lv)
                        levels.append(f"{lv}: {{m: {m:.3g}, u: {u:.3g}, u_home: {uh:.3g}}}")
                    else:
                        levels.append(f"{lv}: {{m: {m:.3g}, u: {u:.3g}}}")
            lines.append(f"      {comp}: {{{', '.join(levels)}}}")
    print("\n".join(lines))


def _scored_labelled(w, aliases, r, rules, rel, exclude, sibs, truth, cols, floor: float = 0.0) -> pd.DataFrame:
    """Every blocked pair of one relation scored as the run scores it (chunk by chunk), those at or
    above `floor` kept with `cols`, the mw_ columns, ids and the truth (`true`)."""
    from linkage.relatives.run import CHUNK_WANTED, _chunk

    parts = []
    for lo in range(0, len(w), CHUNK_WANTED):
        hi = min(lo + CHUNK_WANTED, len(w))
        q = score_relation(w.iloc[lo:hi].reset_index(drop=True), _chunk(aliases, lo, hi), r, rules, rel,
                           _chunk(exclude, lo, hi), _chunk(sibs, lo, hi) if sibs is not None else None)
        q = q[(q["probability"] >= floor).to_numpy()]
        mw = [c for c in q.columns if c.startswith("mw_")]
        parts.append(q[["w_idx", "r_idx", "probability"] + cols + mw].assign(w_idx=q["w_idx"] + lo))
    p = pd.concat(parts, ignore_index=True)
    p["wanted_id"] = w["wanted_id"].to_numpy()[p["w_idx"]]
    p["person_id"] = r["person_id"].to_numpy()[p["r_idx"]]
    t = truth[truth["relation"] == rel]
    p = p.merge(t[["wanted_id", "person_id"]].assign(true=True), on=["wanted_id", "person_id"], how="left")
    p["true"] = p["true"].fillna(False).astype(bool)
    return p


def fit_calibration(d: Path, truth: pd.DataFrame) -> None:
    """Print each relation's `calibration` (a Platt map of the probability) for rules/relatives.yaml:
    fitted on the pairs the run would write (probability at or above keep_floor, scored with the
    rules' m and u and no calibration) against the truth, and the calibration before and after per
    band. Siblings are scored first, as the run does: the probable ones are the parents' evidence."""
    from dataclasses import replace

    from linkage.calibrate import calibrated, fit_platt, logit

    rules = load_relatives_rules()
    bare = replace(rules, relations={k: replace(v, calibration={}) for k, v in rules.relations.items()})
    w, aliases, r, exclude, sibs = _prepared(d, rules)
    lines = []
    for rel in RELATIONS:
        p = _scored_labelled(w, aliases, r, bare, rel, exclude, sibs if rel in ("father", "mother") else None,
                             truth, [], floor=rules.keep_floor)
        a, b = fit_platt(logit(p["probability"].to_numpy()), p["true"].to_numpy().astype(float))
        print(f"# {rel}: {len(p):,} pairs at or above {rules.keep_floor}, {int(p['true'].sum()):,} true; before:")
        calibration(p)
        print("#   after:")
        calibration(p.assign(probability=calibrated(p["probability"].to_numpy(), replace(
            rules.relations[rel], calibration={"method": "platt", "a": a, "b": b}))))
        lines.append(f"  {rel}: {{method: platt, a: {a:.4f}, b: {b:.4f}}}")
    print("calibration (relations.<relation>.calibration):\n" + "\n".join(lines))


def errors(d: Path, truth: pd.DataFrame, threshold: float) -> None:
    """Count the errors of father and mother at `threshold` by class: the false parents listed
    (the parent absent from the register or not; a namesake couple, i.e. partner evidence, with or
    without the hometown; a namesake from the hometown living in the wanted person's commune or
    province) and the true parents missed (no name on either record; name spelt otherwise; a namesake
    ranked above; top candidate but below the threshold, living apart with no partner evidence).
    Every blocked pair is scored (not only those kept), in chunks of wanted records."""
    from linkage.relatives.rules import HOME_AGREES

    rules = load_relatives_rules()
    w, aliases, r, exclude, sibs = _prepared(d, rules)
    for rel in ("father", "mother"):
        p = _scored_labelled(w, aliases, r, rules, rel, exclude, sibs, truth,
                             ["hometown", "household", "spouse", "family"])
        t = truth[truth["relation"] == rel]
        listed = p[p["probability"] >= threshold]
        f = listed[~listed["true"]]
        couple = (f["spouse"].isin(["same_house", "same_ward", "in_wanted_commune"]) | (f["family"] != "none")).to_numpy()
        home = f["hometown"].isin(HOME_AGREES).to_numpy()
        lives = f["household"].isin(["same_ward", "same_province"]).to_numpy()
        cls = pd.Series(np.select(
            [couple & ~home, couple & home, home & lives, home],
            ["namesake couple (partner evidence), other hometown", "namesake couple (partner evidence), hometown agrees",
             "namesake, hometown agrees, lives in the wanted person's commune / province",
             "namesake, hometown agrees, lives elsewhere"], "other"))
        absent = int((~f["wanted_id"].isin(set(t["wanted_id"]))).sum())
        print(f"# {rel}: true {len(t):,}, listed {len(listed):,}, false {len(f):,} (parent not in the register: {absent:,})")
        for k, v in cls.value_counts().items():
            print(f"#   false: {k}: {v:,}")
        found = set(listed.loc[listed["true"], "wanted_id"])
        miss = t[~t["wanted_id"].isin(found)]
        wi = pd.Index(w["wanted_id"]).get_indexer(miss["wanted_id"])
        no_name = (w[f"{rel}_phon"].isna() & w[f"id_{rel}_phon"].isna()).to_numpy()[wi]
        pt = p[p["true"]].set_index("wanted_id")
        blocked = miss["wanted_id"].isin(pt.index).to_numpy()
        top = p.sort_values("probability", ascending=False, kind="stable").drop_duplicates("w_idx").set_index("wanted_id")["person_id"]
        lost = blocked & (miss["wanted_id"].map(top).to_numpy() != miss["person_id"].to_numpy())
        low = pt.loc[miss["wanted_id"][blocked & ~lost].to_numpy()]
        apart = int(((low["household"] == "differ") & low["spouse"].isin(["none", "unknown"])).sum())
        print(f"#   missed {len(miss):,}: no parent's name on either record {int(no_name.sum()):,}; name spelt otherwise "
              f"{int((~blocked & ~no_name).sum()):,}; a namesake ranked above {int(lost.sum()):,}; top candidate below "
              f"{threshold} {len(low):,} (living apart with no partner evidence {apart:,}; hometown known only to the "
              f"province {int((low['hometown'] == 'same_province_only').sum()):,})")
        # which evidence the missed top candidates lack: mean weights against the true parents listed
        mw = [c for c in p.columns if c.startswith("mw_")]
        ok = p[p["true"] & (p["probability"] >= threshold)]
        print("#   mean weights (bits), top below the threshold / listed: " + "; ".join(
            f"{c[3:]} {low[c].mean():.2f} / {ok[c].mean():.2f}" for c in mw))
        calibration(p)


def calibration(p: pd.DataFrame) -> None:
    """Predicted (mean probability) against observed (share of true parents) per band of the scored
    pairs, and per wanted record of the summed probability (the parent in the register at all)."""
    bands = [0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 0.9, 1.0 + 1e-9]
    cut = pd.cut(p["probability"], bands, right=False)
    g = p.groupby(cut, observed=True).agg(n=("true", "size"), predicted=("probability", "mean"), observed=("true", "mean"))
    print("#   calibration: " + "; ".join(f"[{iv.left:g}, {min(iv.right, 1):g}) n {int(row.n):,} predicted "
                                            f"{row.predicted:.3f} observed {row.observed:.3f}" for iv, row in g.iterrows()))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--residents", type=int, default=100_000)
    ap.add_argument("--wanted", type=int, default=2_000)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--dir", type=Path, default=None, help="keep the generated data here (reused if present)")
    ap.add_argument("--fit", action="store_true", help="print m and u per level instead of running")
    ap.add_argument("--fit-calibration", action="store_true",
                    help="print each relation's Platt calibration (rules' m and u) instead of running")
    ap.add_argument("--errors", action="store_true", help="count father/mother errors by class instead of running")
    ap.add_argument("--identity", choices=("truth", "rule"), default="truth",
                    help="truth: the generator's truth as --matches (an ideal identity run); rule: no --matches")
    a = ap.parse_args()
    d = a.dir or Path(tempfile.mkdtemp(prefix="bench_relatives-"))
    if not (d / "truth_relatives.csv").is_file():
        t0 = time.perf_counter()
        generate(a.residents, a.wanted, a.seed, d, families=True)
        print(f"generated {a.residents:,} residents (+ families) and {a.wanted:,} wanted in {time.perf_counter() - t0:.1f} s")
    truth = _csv(d / "truth_relatives.csv")
    if a.fit:
        fit(d, truth)
        return
    if a.fit_calibration:
        fit_calibration(d, truth)
        return
    if a.errors:
        errors(d, truth, load_relatives_rules().threshold)
        return
    t0 = time.perf_counter()
    matches = _truth_matches(d) if a.identity == "truth" else None
    res = find_relatives(d / "wanted.csv", d / "residents.csv", d / "out", id_cards=d / "id_cards.csv", matches=matches)
    wall = time.perf_counter() - t0
    out = pd.read_parquet(d / "out" / "relatives.parquet")
    can = findable(truth, _csv(d / "wanted.csv"), _csv(d / "residents.csv"), _csv(d / "truth.csv"))
    table = accuracy(out, truth, can)
    import resource
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2  # KiB -> GiB (Linux)
    print(f"register persons {res.counts['register_persons']:,}; wanted {res.counts['wanted']['rows_accepted']:,}; "
          f"threshold {load_relatives_rules().threshold}; identity {a.identity}; wall {wall:.1f} s ({res.timings}); "
          f"peak RSS {peak:.2f} GiB")
    sweep = []
    for t in (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9):
        acc = accuracy(out.assign(probable=out["probability"] >= t), truth, can)
        sweep.append("  ".join(f"{r.relation} P {r.precision:.3f} R {r.recall:.3f} ({r.recall_findable:.3f})"
                               for r in acc.itertuples()))
        sweep[-1] = f"threshold {t}: " + sweep[-1]
    print("\n".join(sweep))
    cols = list(table.columns)
    print("| " + " | ".join(cols) + " |\n|" + "---|" * len(cols))
    for row in table.itertuples(index=False):
        print("| " + " | ".join(str(v) for v in row) + " |")


if __name__ == "__main__":
    main()
