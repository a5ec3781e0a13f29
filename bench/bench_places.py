"""Place resolution: accuracy on the admin tables themselves, and speed on 1M synthetic records.

Accuracy: every pre-2025 ward (with its district and province) and every 2025 ward (with its
province) is written in several styles and resolved; a row counts as correct when the resolver
returns exactly the ward's codes. For pre-2025 inputs the derived 2025 codes are checked against
the mapping table too. Speed: four place columns (birth place, hometown, permanent and current
address) of N synthetic records, with unique house-number prefixes.

Usage:
    .venv/bin/python bench/bench_places.py                 # accuracy (all wards) + speed (1M)
    .venv/bin/python bench/bench_places.py --speed-rows 0  # accuracy only
    .venv/bin/python bench/bench_places.py --sample 300    # a stratified sample per style
    .venv/bin/python bench/bench_places.py --skip-accuracy # speed only, cold caches
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
import unicodedata
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from linkage.normalize.place_index import load_index  # noqa: E402
from linkage.normalize.places import resolve_places  # noqa: E402
from linkage.rules import read_ref_csv  # noqa: E402

SEED = 20261126
STYLES = ("full", "abbrev", "noprefix", "ascii", "lower", "alias", "typo")
ABBREV = {"Phường": "P.", "Xã": "X.", "Thị trấn": "TT", "Thị Trấn": "TT", "Đặc khu": "Đặc khu", "Quận": "Q.",
          "Huyện": "H.", "Thị xã": "TX", "Thị Xã": "TX", "Thành phố": "TP.", "Thành Phố": "TP.", "Tỉnh": "T."}
PROVINCE_ALIAS = {"Thành phố Hồ Chí Minh": "TP HCM", "Thành phố Hà Nội": "HN", "Tỉnh Bà Rịa - Vũng Tàu": "BRVT",
                  "Thành phố Huế": "Huế", "Tỉnh Đắk Lắk": "Daklak"}
PROVINCE_ALIAS_PRE = {**PROVINCE_ALIAS, "Thành phố Huế": "Thừa Thiên Huế"}


def _ascii(s: str) -> str:
    s = unicodedata.normalize("NFD", s.replace("đ", "d").replace("Đ", "D"))
    return "".join(c for c in s if not unicodedata.combining(c))


def _split(full: str) -> tuple[str, str]:
    for t in sorted(ABBREV, key=len, reverse=True):
        if full.startswith(t + " "):
            return t, full[len(t) + 1:]
    return "", full


def _abbrev(full: str) -> str:
    t, name = _split(full)
    return f"{ABBREV.get(t, t)} {name}".strip() if t else full


def _noprefix(full: str) -> str:
    return _split(full)[1]


def _typo(full: str, rng: np.random.Generator) -> str:
    """One edit (substitute, delete, insert or swap) at a letter of the name, never in the prefix."""
    t, name = _split(full)
    pos = [i for i, c in enumerate(name) if c.isalpha()]
    if len(pos) < 2:
        return full
    i = int(rng.choice(pos))
    op = int(rng.integers(4))
    letters = "abcdeghiklmnopqrstuvxy"
    if op == 0:
        name = name[:i] + letters[int(rng.integers(len(letters)))] + name[i + 1:]
    elif op == 1:
        name = name[:i] + name[i + 1:]
    elif op == 2:
        name = name[:i] + letters[int(rng.integers(len(letters)))] + name[i:]
    elif i + 1 < len(name):
        name = name[:i] + name[i + 1] + name[i] + name[i + 2:]
    else:
        name = name[:i - 1] + name[i] + name[i - 1]
    return f"{t} {name}" if t else name


def write(parts: list[str], style: str, rng: np.random.Generator, aliases: dict[str, str]) -> str | None:
    """One place (finest unit first, province last) in a writing style; None if the style does not apply."""
    if style == "full":
        return ", ".join(parts)
    if style == "abbrev":
        return ", ".join(_abbrev(p) for p in parts)
    if style == "noprefix":
        return ", ".join(_noprefix(p) for p in parts)
    if style == "ascii":
        return ", ".join(_ascii(p) for p in parts)
    if style == "lower":
        return ", ".join(parts).lower()
    if style == "alias":
        alias = aliases.get(parts[-1])
        return None if alias is None else ", ".join(parts[:-1] + [alias])
    if style == "typo":
        return ", ".join([_typo(parts[0], rng)] + parts[1:])
    raise ValueError(style)


def styled_inputs(sample: int | None = None, seed: int = SEED) -> pd.DataFrame:
    """Every ward (or a per-province stratified sample of `sample` wards per regime) in every style."""
    rng = np.random.default_rng(seed)
    w = read_ref_csv("ref/admin/wards_pre2025.csv", columns=("ward_code", "ward_name", "district_code",
                                                               "district_name", "province_code", "province_name"))
    w2 = read_ref_csv("ref/admin/wards_2025.csv", columns=("ward_code", "ward_name", "province_code", "province_name"))
    m = read_ref_csv("ref/admin/mapping_wards_pre2025_to_2025.csv",
                     columns=("old_ward_code", "new_ward_code", "new_province_code"))
    succ = m.groupby("old_ward_code")["new_ward_code"].agg(lambda s: "|".join(sorted(set(s))))
    succ_prov = m.groupby("old_ward_code")["new_province_code"].agg(lambda s: "|".join(sorted(set(s))))
    if sample:
        w = _stratified(w, sample, rng)
        w2 = _stratified(w2, sample, rng)
    rows = []
    for r in w.itertuples(index=False):
        parts = [r.ward_name, r.district_name, r.province_name]
        for style in STYLES:
            text = write(parts, style, rng, PROVINCE_ALIAS_PRE)
            if text is not None:
                rows.append(("pre2025", style, text, r.province_code, r.district_code, r.ward_code,
                             succ_prov.get(r.ward_code), succ.get(r.ward_code)))
    for r in w2.itertuples(index=False):
        parts = [r.ward_name, r.province_name]
        for style in STYLES:
            text = write(parts, style, rng, PROVINCE_ALIAS)
            if text is not None:
                rows.append(("2025", style, text, None, None, None, r.province_code, r.ward_code))
    return pd.DataFrame(rows, columns=["source", "style", "text", "exp_province", "exp_district", "exp_ward",
                                       "exp_province_2025", "exp_ward_2025"])


def _stratified(df: pd.DataFrame, n: int, rng: np.random.Generator) -> pd.DataFrame:
    """n rows spread over provinces in proportion to their size (at least one each), fixed seed."""
    frac = n / len(df)
    picks = []
    for _, g in df.groupby("province_code", sort=True):
        k = max(1, int(round(len(g) * frac)))
        picks.append(g.iloc[rng.choice(len(g), size=min(k, len(g)), replace=False)])
    return pd.concat(picks).sort_values("ward_code").reset_index(drop=True)


def score(inputs: pd.DataFrame) -> pd.DataFrame:
    """Resolve the styled inputs and mark each row: correct, wrong (another unit) or unresolved."""
    out = resolve_places(inputs["text"])
    df = pd.concat([inputs.reset_index(drop=True), out.reset_index(drop=True)], axis=1)
    pre = df["source"] == "pre2025"
    got_w, got_w25 = df["ward_code"].fillna(""), df["ward_code_2025"].fillna("")
    exact_pre = (got_w == df["exp_ward"].fillna("-")) & (df["district_code"].fillna("") == df["exp_district"].fillna("-")) \
        & (df["province_code"].fillna("") == df["exp_province"].fillna("-"))
    in_set = pd.Series([e in g.split("|") for e, g in zip(df["exp_ward_2025"].fillna("-"), got_w25)], index=df.index)
    prov25_ok = df["province_code_2025"].fillna("") == df["exp_province_2025"].fillna("-")
    df["correct"] = np.where(pre, exact_pre, in_set & prov25_ok)
    df["exact_2025"] = (got_w25 == df["exp_ward_2025"].fillna("-")) & prov25_ok
    df["mapping_ok"] = np.where(pre, df["correct"] & df["exact_2025"], np.nan)
    resolved = np.where(pre, got_w != "", got_w25 != "")
    df["wrong"] = resolved & ~df["correct"].astype(bool)
    df["unresolved"] = ~resolved
    df["ambiguous"] = _ambiguous(df)
    return df


def _ambiguous(df: pd.DataFrame) -> pd.Series:
    """Inputs whose text cannot name one unit: the same text stands for several wards of the table
    (twins inside one district, ASCII collisions such as Minh Quân/Minh Quán), or - for 2025 wards
    written without prefix - the bare name is also a pre-2025 district of the province, which the
    resolver reads as the district by design."""
    key = np.where(df["source"] == "pre2025", df["exp_ward"].fillna(""), df["exp_ward_2025"].fillna(""))
    twins = pd.Series(key, index=df.index).groupby([df["source"], df["text"]]).transform("nunique") > 1
    ix = load_index()
    from linkage.normalize.place_index import ascii_key, clean_text  # noqa: PLC0415

    def district_named(row) -> bool:
        if row.source != "2025" or row.style != "noprefix":
            return False
        k = ascii_key(clean_text(row.text.rsplit(",", 1)[0]).split())
        return any((p, k) in ix.dist_in_prov for p in ix.prov_new_pred.get(row.exp_province_2025, ()))

    return twins | df.apply(district_named, axis=1)


def summarise(df: pd.DataFrame) -> pd.DataFrame:
    g = df.groupby(["source", "style"], sort=False)
    t = pd.DataFrame({
        "n": g.size(),
        "correct": g["correct"].mean(),
        "wrong": g["wrong"].mean(),
        "unresolved": g["unresolved"].mean(),
        "mapping_2025_ok": g["mapping_ok"].mean(),
        "ambiguous": g["ambiguous"].mean(),
        "correct_unambiguous": g.apply(lambda x: x.loc[~x["ambiguous"], "correct"].mean()),
        "mean_conf_correct": g.apply(lambda x: x.loc[x["correct"].astype(bool), "confidence"].mean()),
        "mean_conf_wrong": g.apply(lambda x: x.loc[x["wrong"], "confidence"].mean()),
    })
    for src in ("pre2025", "2025"):
        sub = df[df["source"] == src]
        t.loc[(src, "ALL"), :] = [len(sub), sub["correct"].mean(), sub["wrong"].mean(), sub["unresolved"].mean(),
                                  sub["mapping_ok"].mean() if src == "pre2025" else np.nan,
                                  sub["ambiguous"].mean(), sub.loc[~sub["ambiguous"], "correct"].mean(),
                                  sub.loc[sub["correct"].astype(bool), "confidence"].mean(),
                                  sub.loc[sub["wrong"], "confidence"].mean()]
    t["n"] = t["n"].astype(int)
    return t


# ---------------------------------------------------------------------------------------------
# Speed


STREETS = ["Lê Lợi", "Nguyễn Trãi", "Trần Hưng Đạo", "Hai Bà Trưng", "Lý Thường Kiệt", "Quang Trung",
           "Nguyễn Huệ", "Phan Đình Phùng", "Hùng Vương", "Điện Biên Phủ", "Võ Thị Sáu", "Cách Mạng Tháng Tám"]


def synthetic_columns(n: int, seed: int = SEED) -> pd.DataFrame:
    """Four place columns for n records: birth place (province or district level), hometown
    (ward, district, province), permanent address (unique house number + street + pre-2025 ward) and
    current address (half 2025-style with a hamlet, half a second pre-2025 address), in mixed styles."""
    rng = np.random.default_rng(seed)
    w = read_ref_csv("ref/admin/wards_pre2025.csv", columns=("ward_name", "district_name", "province_name"))
    w2 = read_ref_csv("ref/admin/wards_2025.csv", columns=("ward_name", "province_name"))
    styles = np.array(["full", "abbrev", "noprefix", "ascii", "lower"])
    style_p = np.array([0.5, 0.2, 0.15, 0.1, 0.05])

    def styled(parts_cols: list[np.ndarray]) -> np.ndarray:
        # style each distinct place once (as real data repeats places), then index
        stacked = pd.DataFrame({i: c for i, c in enumerate(parts_cols)})
        st = rng.choice(styles, size=n, p=style_p)
        stacked["style"] = st
        codes, uniq = pd.factorize(pd.MultiIndex.from_frame(stacked))
        texts = np.array([write(list(u[:-1]), u[-1], rng, {}) for u in uniq], dtype=object)
        return texts[codes]

    i = rng.integers(len(w), size=n)
    level = rng.random(n)
    birth = np.where(level < 0.5, w["province_name"].to_numpy()[i],
                     (w["district_name"].to_numpy()[i] + ", " + w["province_name"].to_numpy()[i]))
    birth = styled([birth])
    j = rng.integers(len(w), size=n)
    home = styled([w["ward_name"].to_numpy()[j], w["district_name"].to_numpy()[j], w["province_name"].to_numpy()[j]])
    k = rng.integers(len(w), size=n)
    perm_tail = styled([w["ward_name"].to_numpy()[k], w["district_name"].to_numpy()[k], w["province_name"].to_numpy()[k]])
    house = rng.integers(1, 2000, size=n).astype(str)
    street = np.array(STREETS, dtype=object)[rng.integers(len(STREETS), size=n)]
    perm = "Số " + house + " đường " + street + ", " + perm_tail
    q = rng.integers(len(w2), size=n)
    cur_new = styled([w2["ward_name"].to_numpy()[q], w2["province_name"].to_numpy()[q]])
    hamlet = "Thôn " + rng.integers(1, 30, size=n).astype(str) + " tổ " + rng.integers(1, 99, size=n).astype(str)
    cur = np.where(rng.random(n) < 0.5, hamlet + ", " + cur_new, perm)
    return pd.DataFrame({"birth_place": birth, "hometown": home, "permanent_address": perm,
                         "current_address": cur})


def bench_speed(n: int) -> dict[str, float]:
    t0 = time.perf_counter()
    df = synthetic_columns(n)
    gen = time.perf_counter() - t0
    t1 = time.perf_counter()
    load_index()  # the index is built once per process and rules directory; timed on its own
    stats: dict[str, float] = {"rows": n, "generate_s": gen, "index_build_s": time.perf_counter() - t1}
    total = cpu_total = 0.0
    for col in df.columns:
        t, c = time.perf_counter(), time.process_time()
        out = resolve_places(df[col])
        dt, dc = time.perf_counter() - t, time.process_time() - c
        total += dt
        cpu_total += dc
        stats[f"{col}_s"] = dt
        stats[f"{col}_cpu_s"] = dc
        stats[f"{col}_distinct"] = df[col].nunique()
        stats[f"{col}_ward_share"] = float((out["level"] == "ward").mean())
    stats["total_4_columns_s"] = total
    stats["total_4_columns_cpu_s"] = cpu_total  # CPU time: stable when other jobs share the cores
    stats["load_average_1min"] = os.getloadavg()[0]
    stats["peak_rss_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    return stats


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sample", type=int, default=0, help="wards per regime (stratified); 0 = all wards")
    ap.add_argument("--speed-rows", type=int, default=1_000_000, help="records for the speed run; 0 = skip")
    ap.add_argument("--show-failures", type=int, default=0, help="print this many failures per style")
    ap.add_argument("--skip-accuracy", action="store_true", help="speed run only (cold caches)")
    args = ap.parse_args()
    pd.set_option("display.width", 200)
    if not args.skip_accuracy:
        accuracy(args.sample, args.show_failures)
    if args.speed_rows:
        print(f"\n# Speed: 4 place columns x {args.speed_rows:,} records"
              + ("" if args.skip_accuracy else " (caches warm from the accuracy run)"))
        for k, v in bench_speed(args.speed_rows).items():
            print(f"{k}: {v:,.3f}" if isinstance(v, float) else f"{k}: {v:,}")


def accuracy(sample: int, show_failures: int) -> None:
    t = time.perf_counter()
    inputs = styled_inputs(sample or None)
    df = score(inputs)
    dt = time.perf_counter() - t
    print(f"# Accuracy on the admin tables ({len(df):,} styled inputs, {dt:.1f} s)")
    print(summarise(df).to_string(float_format=lambda x: f"{x:.4f}"))
    if show_failures:
        cols = ["text", "exp_ward", "ward_code", "exp_ward_2025", "ward_code_2025", "regime", "level", "confidence"]
        for (src, style), g in df[~df["correct"].astype(bool)].groupby(["source", "style"], sort=False):
            print(f"\n## failures {src} / {style} ({len(g)})")
            print(g[cols].head(show_failures).to_string())


if __name__ == "__main__":
    main()
