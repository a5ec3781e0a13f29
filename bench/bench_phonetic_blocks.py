"""How much the name keys enlarge blocks, and how fast normalize_names is.

Blocks: over the given-name and surname frequency tables, over generated full names (and over
data_samples/sample/residents.csv when it exists), count distinct keys and candidate pairs
(sum over blocks of n*(n-1)/2) under (a) the canonical form, (b) the ASCII fold, (c) the phonetic
key; then the growth each phonetic rule causes on its own (pairs with all rules / pairs without
that rule), and one candidate rule that was not adopted.

Speed: normalize_names on N generated values with realistic repetition (national surname shares,
given/middle frequencies by gender; a share written messily: lower case, no diacritics, modern tone
style, NFD, extra spaces). Names are synthetic combinations.

    .venv/bin/python bench/bench_phonetic_blocks.py [--rows 1000000] [--runs 3]
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sys
import tempfile
import time
import unicodedata
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from linkage.normalize.names import normalize_names  # noqa: E402
from linkage.normalize.phonetic import phonetic_rules, phonetic_words  # noqa: E402
from linkage.normalize.text import canonical_name, fold_ascii  # noqa: E402
from linkage.rules import DEFAULT_RULES_DIR  # noqa: E402

GEN = ROOT / "data_samples/generator"


def pairs(keys: pd.Series, weights: pd.Series | None = None) -> int:
    """Candidate pairs of a blocking key: sum over blocks of n*(n-1)/2 (n = total weight)."""
    w = pd.Series(1, index=keys.index) if weights is None else weights
    n = w.groupby(keys.to_numpy()).sum().to_numpy(dtype=np.float64)
    return int((n * (n - 1) / 2).sum())


def freq_table(component: str) -> pd.DataFrame:
    """token -> count over both genders, from the ngxson aggregates (messy tokens included)."""
    df = pd.read_csv(GEN / "name_components_freq_ngxson.csv", dtype=str, keep_default_na=False)
    df = df[df["component"] == component]
    out = df.assign(count=df["count"].astype(int)).groupby("token", as_index=False)["count"].sum()
    return out[out["token"].str.strip() != ""]


def block_row(label: str, values: pd.Series, weights: pd.Series | None = None) -> dict:
    norm = values.map(canonical_name)
    ok = norm != ""
    norm, w = norm[ok], (None if weights is None else weights[ok])
    ascii_ = norm.map(fold_ascii)
    phon = ascii_.map(phonetic_words)
    p = {k: pairs(s, w) for k, s in (("canonical", norm), ("ascii", ascii_), ("phonetic", phon))}
    return {
        "table": label,
        "values": int(len(norm) if w is None else w.sum()),
        "distinct canonical": norm.nunique(),
        "distinct ascii": ascii_.nunique(),
        "distinct phonetic": phon.nunique(),
        "pairs canonical": p["canonical"],
        "pairs ascii": p["ascii"],
        "pairs phonetic": p["phonetic"],
        "ascii/canonical": round(p["ascii"] / max(p["canonical"], 1), 3),
        "phonetic/ascii": round(p["phonetic"] / max(p["ascii"], 1), 3),
    }


def generate_names(n: int, seed: int = 20261126, messy: float = 0.12) -> pd.Series:
    """n full names with realistic repetition; a `messy` share written in another style."""
    rng = np.random.default_rng(seed)
    comp = pd.read_csv(GEN / "name_components_freq_ngxson.csv", dtype=str, keep_default_na=False)
    comp["count"] = comp["count"].astype(int)
    nat = pd.read_csv(GEN / "surname_shares_national_published.csv", dtype=str, keep_default_na=False)
    nat_share = nat["share_pct"].astype(float).to_numpy() / 100
    tail = comp[(comp["component"] == "surname") & ~comp["token"].isin(nat["surname"])]
    tail = tail.groupby("token")["count"].sum()
    # the 14 published surnames with their national shares, the rest spread as in the ngxson tail
    sur_tokens = np.concatenate([nat["surname"].to_numpy(), tail.index.to_numpy()])
    sur_p = np.concatenate([nat_share, (1 - nat_share.sum()) * tail.to_numpy() / tail.sum()])
    surname = rng.choice(sur_tokens, size=n, p=sur_p)
    female = rng.random(n) < 0.5
    out = np.empty(n, dtype=object)
    for g, mask in (("female", female), ("male", ~female)):
        k = int(mask.sum())
        parts = []
        for c in ("middle_full", "given"):
            d = comp[(comp["component"] == c) & (comp["gender"] == g)]
            parts.append(rng.choice(d["token"].to_numpy(), size=k, p=(d["count"] / d["count"].sum()).to_numpy()))
        out[mask] = [f"{s} {m} {gv}" for s, m, gv in zip(surname[mask], parts[0], parts[1])]
    names = pd.Series(out)
    # messy writing for a share of the records
    kinds = rng.choice(["lower", "ascii", "modern", "nfd", "spaces", "upper"], size=n)
    pick = rng.random(n) < messy
    for kind, fn in (
        ("lower", str.lower),
        ("upper", str.upper),
        ("ascii", fold_ascii),
        ("modern", lambda s: s.replace("òa", "oà").replace("úy", "uý").replace("ủy", "uỷ").replace("óa", "oá")),
        ("nfd", lambda s: unicodedata.normalize("NFD", s)),
        ("spaces", lambda s: "  " + s.replace(" ", "\u00a0 ") + " "),
    ):
        m = pick & (kinds == kind)
        names[m] = names[m].map(fn)
    return names


def ablation(label: str, ascii_values: pd.Series, weights: pd.Series | None, rules_dir: Path | None = None) -> list[dict]:
    """Pairs with all rules vs with each rule left out (growth caused by that rule alone)."""
    base = pairs(ascii_values.map(lambda s: phonetic_words(s, rules=rules_dir)), weights)
    rows = []
    for rule in phonetic_rules(rules_dir):
        without = pairs(ascii_values.map(lambda s, r=rule.name: phonetic_words(s, rules=rules_dir, skip=r)), weights)
        rows.append({"table": label, "rule": rule.name, "pairs without": without, "growth": round(base / max(without, 1), 3)})
    return rows


def candidate_rule(ascii_values: pd.Series, weights: pd.Series | None) -> tuple[int, int]:
    """Pairs now, and with an extra final nh -> n rule (southern Thanh ~ Than), not adopted."""
    with tempfile.TemporaryDirectory() as tmp:
        rules = Path(tmp) / "rules"
        shutil.copytree(DEFAULT_RULES_DIR, rules, ignore=shutil.ignore_patterns("__pycache__"))
        p = rules / "names/phonetic.yaml"
        p.write_text(
            p.read_text(encoding="utf-8")
            + '  - {name: final_nh, pattern: "nh$", replace: "n", why: "candidate: southern anh ~ an"}\n',
            encoding="utf-8",
        )
        now = pairs(ascii_values.map(phonetic_words), weights)
        extra = pairs(ascii_values.map(lambda s: phonetic_words(s, rules=rules)), weights)
    return now, extra


def truth_rates() -> None:
    """On the committed sample: for true wanted-resident pairs, how often each name key is equal,
    per noise scenario of the generator (truth.csv)."""
    sample = ROOT / "data_samples/sample"
    if not (sample / "truth.csv").is_file():
        return
    read = lambda f, cols: pd.read_csv(sample / f, dtype=str, keep_default_na=False, usecols=cols)  # noqa: E731
    m = read("truth.csv", ["wanted_id", "person_id", "scenarios"])
    m = m.merge(read("wanted.csv", ["wanted_id", "full_name"]), on="wanted_id")
    m = m.merge(read("residents.csv", ["person_id", "full_name"]), on="person_id", suffixes=("_w", "_r"))
    a, b = normalize_names(m["full_name_w"]), normalize_names(m["full_name_r"])
    eq = pd.DataFrame({"raw": (m["full_name_w"] == m["full_name_r"]).to_numpy()})
    for c in ("norm", "ascii", "phonetic", "given"):
        eq[c] = (a[c].fillna("") == b[c].fillna("")).to_numpy()
    eq["scenario"] = m["scenarios"].str.split("|").to_numpy()
    rows = eq.explode("scenario")
    keep = ["clean", "case_spacing", "nfd", "tone_style", "typo_telex", "typo_vni", "diacritics_lost", "typo_edit"]
    table = rows[rows["scenario"].isin(keep)].groupby("scenario").agg(
        pairs=("raw", "size"), **{f"{c} equal": (c, "mean") for c in ("raw", "norm", "ascii", "phonetic", "given")}
    )
    print(f"\nTrue pairs in data_samples/sample ({len(m)}): share with equal name keys, by noise scenario")
    print(table.round(2).to_string())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--block-rows", type=int, default=200_000, help="generated full names for the block figures")
    args = ap.parse_args()
    pd.set_option("display.width", 200)
    pd.set_option("display.max_columns", 20)

    given = freq_table("given")
    surname = freq_table("surname")
    full = generate_names(args.block_rows, seed=7, messy=0.0)
    rows = [
        block_row("given names (ngxson counts)", given["token"], given["count"]),
        block_row("surnames (ngxson counts)", surname["token"], surname["count"]),
        block_row(f"full names (generated, {args.block_rows:,})", full),
    ]
    residents = ROOT / "data_samples/sample/residents.csv"
    if residents.is_file():
        res = pd.read_csv(residents, dtype=str, keep_default_na=False, usecols=["full_name"])["full_name"]
        rows.append(block_row(f"residents.csv full_name ({len(res):,})", res))
    print("Block sizes under each key")
    print(pd.DataFrame(rows).to_string(index=False))

    truth_rates()

    g_ascii = given["token"].map(canonical_name).map(fold_ascii)
    f_ascii = full.map(canonical_name).map(fold_ascii)
    abl = pd.DataFrame(ablation("given", g_ascii, given["count"]) + ablation("full", f_ascii, None))
    print("\nGrowth of candidate pairs caused by each phonetic rule alone (pairs / pairs without it)")
    print(abl.pivot(index="rule", columns="table", values="growth").loc[[r.name for r in phonetic_rules()]].to_string())
    for label, a, w in (("given", g_ascii, given["count"]), ("full", f_ascii, None)):
        now, extra = candidate_rule(a, w)
        print(f"candidate final nh->n on {label}: pairs x{extra / now:.3f}")

    print(f"\nnormalize_names on {args.rows:,} generated values")
    values = generate_names(args.rows)
    print(f"distinct values: {values.nunique():,}")
    for i in range(args.runs):
        t = time.perf_counter()
        df = normalize_names(values)
        dt = time.perf_counter() - t
        print(f"run {i + 1}: {dt:.2f} s")
    print(f"null norm: {int(df['norm'].isna().sum())}, distinct norm: {df['norm'].nunique():,}")
    print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
