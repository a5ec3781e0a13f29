"""`linkage relatives`: read, normalise, find and score each relation, leave out the wanted
person's own identity candidate, write relatives.parquet, identity_excluded.parquet and a summary."""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from linkage.calibrate import calibrated
from linkage.errors import InputError
from linkage.ingest.atomic import write_json, write_parquet
from linkage.matches_io import read_matches
from linkage.relatives import candidates as C
from linkage.relatives.frame import register_frame, wanted_frame
from linkage.relatives.rules import COMPARISONS, RELATIONS, RelativesRules, load_relatives_rules
from linkage.relatives.score import explain, probabilities, weights
from linkage.rules import rules_dir, rules_hash

RELATIVES = "relatives.parquet"
EXCLUDED = "identity_excluded.parquet"
SUMMARY = "relatives_summary.json"
MW_COLUMNS = ["mw_prior"] + sorted({f"mw_{c}" for cs in COMPARISONS.values() for c in cs})


@dataclass
class RelativesResult:
    out_dir: Path
    counts: dict[str, object]
    timings: dict[str, float] = field(default_factory=dict)
    identity_source: str = ""


def identity_pairs(w: pd.DataFrame, r: pd.DataFrame, matches: Path | pd.DataFrame | None, threshold: float
                   ) -> tuple[pd.DataFrame, str]:
    """(w_idx, r_idx, reason) of each wanted record's own identity candidate.

    With --matches: the best candidate at or above `threshold`. Without: a register person with
    the wanted record's id number, or with its name (phonetic), gender and birth year."""
    rid = pd.Index(r["person_id"])
    if matches is not None:
        if isinstance(matches, pd.DataFrame):  # a workspace's scored candidates
            m = matches
        else:
            try:
                m = read_matches(matches, columns=["wanted_id", "person_id", "match_probability"]).to_pandas()
            except Exception as exc:  # noqa: BLE001 - any unreadable file is the user's input error
                raise InputError(f"{matches}: cannot read wanted_id, person_id, match_probability: {exc}") from None
        m = m[m["match_probability"] >= threshold].sort_values("match_probability", ascending=False, kind="stable")
        m = m.drop_duplicates("wanted_id")
        out = pd.DataFrame({"w_idx": pd.Index(w["wanted_id"]).get_indexer(m["wanted_id"]),
                            "r_idx": rid.get_indexer(m["person_id"].astype(str)),
                            "reason": "matches p=" + m["match_probability"].round(3).astype(str).to_numpy()})
        return out[(out["w_idx"] >= 0) & (out["r_idx"] >= 0)].reset_index(drop=True), "matches"
    by_id = pd.DataFrame({"w_idx": np.arange(len(w)), "r_idx": rid.get_indexer(w["id_clean"].fillna(""))})
    by_id = by_id[by_id["r_idx"] >= 0].assign(reason="same id number")
    keys = ["phon", "gender", "byear"]
    same = (w[keys].reset_index(names="w_idx").dropna()
            .merge(r[keys].reset_index(names="r_idx").dropna(), on=keys)[["w_idx", "r_idx"]]
            .assign(reason="same name, gender and birth year"))
    out = pd.concat([by_id, same], ignore_index=True).drop_duplicates(["w_idx", "r_idx"])
    return out.reset_index(drop=True), "rule"


ID_COLUMNS = ("perm_ward", "perm_prov", "cur_ward", "cur_prov", "perm_house", "cur_house", "birth_ward", "father_norm",
              "father_phon", "mother_norm", "mother_phon", "card_ward", "card_prov", "card_house")
FILLED = ("father_norm", "father_phon", "mother_norm", "mother_phon", "family", "gender", "byear",
          "home_ward", "home_prov")


def with_identity(w: pd.DataFrame, r: pd.DataFrame, ident: pd.DataFrame, near_years: float) -> pd.DataFrame:
    """The wanted records completed from their identity record (from --matches or the same id
    number, never from a namesake): parents' names, family name, gender, birth year and
    hometown where the wanted record lacks them, and the identity record's addresses as more places
    the person lived (id_perm_*, id_cur_*, and id_card_*: the address on the person's ID card, which
    a card issued before a move prints as the family home). An officer reads the register record
    and the card too. Then the parents' names of a housemate where neither record names a parent
    (`with_housemates_parents`)."""
    out = w.copy()
    for c in ID_COLUMNS:
        out[f"id_{c}"] = pd.Series(pd.NA, index=out.index, dtype="string")
    sure = ident[ident["reason"].str.startswith("matches") | (ident["reason"] == "same id number")]
    sure = sure.drop_duplicates("w_idx")
    wi, ri = sure["w_idx"].to_numpy(), sure["r_idx"].to_numpy()
    for c in FILLED:
        cur = out[c].iloc[wi]
        fill = pd.Series(r[c].to_numpy()[ri], index=cur.index)
        out.loc[out.index[wi], c] = cur.where(cur.notna(), fill).to_numpy()
    for c in ID_COLUMNS:
        if c in r.columns:
            out.loc[out.index[wi], f"id_{c}"] = r[c].to_numpy()[ri]
    return with_housemates_parents(out, r, sure, near_years)


PARENTS = ("father_norm", "father_phon", "mother_norm", "mother_phon")


def with_housemates_parents(w: pd.DataFrame, r: pd.DataFrame, sure: pd.DataFrame, near_years: float) -> pd.DataFrame:
    """Parents' names for a wanted record that names neither parent (nor does its identity record):
    those of a register person living at one of its house addresses (house, street or hamlet, and
    commune) with the same family name, a birth year at most `near_years` apart (years.sibling_near)
    and no other home province, most likely a brother or sister in the family home (hộ). Without a
    name no parent can be found at all; the housemate is named in `parents_via` (register row) so
    the explanation says where the names came from. Several such housemates: the names most of them
    give, the nearest in age first."""
    out = w.assign(parents_via=pd.Series(-1, index=w.index, dtype="int64"))
    need = np.flatnonzero((w["father_phon"].isna() & w["mother_phon"].isna() & w["family"].notna()).to_numpy())
    if not len(need):
        return out
    sides = [f"{a}_house" for a in C._wanted_sides(w) if f"{a}_house" in w.columns]
    keys = pd.concat([pd.DataFrame({"w_idx": need, "house": w[c].to_numpy()[need]}) for c in sides]).dropna()
    named = np.flatnonzero((r["father_phon"].notna() | r["mother_phon"].notna()).to_numpy())
    homes = pd.concat([pd.DataFrame({"r_idx": named, "house": r[c].to_numpy()[named]})
                       for c in ("perm_house", "cur_house")]).dropna()
    m = keys.merge(homes, on="house").drop_duplicates(["w_idx", "r_idx"])
    wi, ri = m["w_idx"].to_numpy(), m["r_idx"].to_numpy()
    # plain arrays (NaN for missing, never equal): `w` is being completed, so not C._take's cache
    gap = np.abs(pd.to_numeric(pd.Series(C._take(r, "byear", ri)), errors="coerce").to_numpy(dtype=float)
                 - pd.to_numeric(w["byear"], errors="coerce").to_numpy(dtype=float)[wi])
    fam = w["family"].to_numpy(dtype=object, na_value=np.nan)[wi]
    own = pd.MultiIndex.from_arrays([sure["w_idx"].to_numpy(), sure["r_idx"].to_numpy()])
    # brothers and sisters share the quê quán (it follows the father): a housemate from another home
    # province is someone else (at 1M seed 12 it was so for 21 of the 28 housemates who were not siblings)
    hw, hr = w["home_prov"].to_numpy(dtype=object, na_value=np.nan)[wi], C._take(r, "home_prov", ri)
    other_home = pd.notna(hw) & pd.notna(hr) & (hw != hr)
    ok = (pd.notna(fam) & (fam == C._take(r, "family", ri)) & (gap <= near_years) & ~other_home
          & ~pd.MultiIndex.from_arrays([wi, ri]).isin(own))
    m = m[ok].assign(gap=gap[ok])
    if not len(m):
        return out
    for c in PARENTS:
        m[c] = r[c].to_numpy()[m["r_idx"].to_numpy()]
    m["votes"] = (m.assign(f=m["father_phon"].astype(object).fillna(""), g=m["mother_phon"].astype(object).fillna(""))
                  .groupby(["w_idx", "f", "g"])["r_idx"].transform("size"))
    best = m.sort_values(["w_idx", "votes", "gap", "r_idx"], ascending=[True, False, True, True]).drop_duplicates("w_idx")
    rows = out.index[best["w_idx"].to_numpy()]
    for c in PARENTS:
        out.loc[rows, c] = best[c].to_numpy()
    out.loc[rows, "parents_via"] = best["r_idx"].to_numpy()
    return out


def identity_names(w: pd.DataFrame, aliases: pd.DataFrame, r: pd.DataFrame, ident: pd.DataFrame) -> pd.DataFrame:
    """The aliases plus each sure identity record's own name (kind 'identity'): a child's record
    names its parent as the register does, which may differ from the wanted notice's spelling."""
    sure = ident[ident["reason"].str.startswith("matches") | (ident["reason"] == "same id number")]
    extra = pd.DataFrame({"w_idx": sure["w_idx"].to_numpy(), "norm": r["norm"].to_numpy()[sure["r_idx"].to_numpy()],
                          "phon": r["phon"].to_numpy()[sure["r_idx"].to_numpy()], "kind": "identity"}).dropna()
    return pd.concat([aliases.assign(kind="alias"), extra], ignore_index=True)


def _relation_pairs(w, aliases, r, rules: RelativesRules, relation: str, ident: pd.DataFrame | None = None,
                    sibs: pd.DataFrame | None = None) -> pd.DataFrame:
    if relation in ("father", "mother"):
        return C.parents(w, r, relation, rules, ident, sibs)
    if relation == "sibling":
        return C.siblings(w, r, rules)
    return C.children(w, aliases, r, rules)


def score_relation(w, aliases, r, rules: RelativesRules, relation: str, exclude: pd.DataFrame,
                   sibs: pd.DataFrame | None = None) -> pd.DataFrame:
    """Scored pairs of one relation (identity candidates removed before the competition). Parents
    take `sibs`, the wanted persons' probable siblings (`probable_siblings`)."""
    p = _relation_pairs(w, aliases, r, rules, relation, exclude, sibs)
    if len(exclude):
        drop = p.merge(exclude[["w_idx", "r_idx"]], on=["w_idx", "r_idx"], how="left", indicator=True)["_merge"] == "both"
        p = p[~drop.to_numpy()].reset_index(drop=True)
    p = pd.concat([p, weights(p, rules.relations[relation])], axis=1)
    p["probability"] = calibrated(probabilities(p, relation), rules.relations[relation])
    p["relation"] = relation
    return p


def probable_siblings(p: pd.DataFrame, rules: RelativesRules) -> pd.DataFrame:
    """(w_idx, s_idx) of the scored sibling pairs at or above `sibling_min`: the siblings whose
    places and birth years count as the family's in the parents' evidence."""
    sure = p[(p["probability"] >= rules.sibling_min).to_numpy()] if len(p) else p
    return pd.DataFrame({"w_idx": sure["w_idx"].to_numpy() if len(sure) else np.zeros(0, np.int64),
                         "s_idx": sure["r_idx"].to_numpy() if len(sure) else np.zeros(0, np.int64)})


# siblings first: their places and birth years are evidence for the parents
SCORING_ORDER = ("sibling", "father", "mother", "child")
CHUNK_WANTED = 1000  # wanted records scored at a time: the pairs of a chunk, not of the whole list, are in memory


def _chunk(df: pd.DataFrame, lo: int, hi: int) -> pd.DataFrame:
    """Rows of a (w_idx, ...) table whose wanted record lies in [lo, hi), renumbered from 0."""
    sel = (df["w_idx"] >= lo) & (df["w_idx"] < hi)
    return df[sel.to_numpy()].assign(w_idx=lambda d: d["w_idx"] - lo).reset_index(drop=True)


def score_all(w: pd.DataFrame, aliases: pd.DataFrame, r: pd.DataFrame, rules: RelativesRules,
              exclude: pd.DataFrame, chunk: int = CHUNK_WANTED) -> tuple[pd.DataFrame, dict[str, int]]:
    """Every relation's pairs at or above keep_floor, scored CHUNK_WANTED wanted records at a time.
    A wanted record's candidates (and the father / mother competition) never span two chunks, so
    the result equals one pass; what depends on the whole register (term frequencies, shares of
    the register per commune and house, children by parents' names) is computed once."""
    blocked = {rel: 0 for rel in RELATIONS}
    kept: list[pd.DataFrame] = []
    for lo in range(0, max(len(w), 1), chunk):
        hi = min(lo + chunk, len(w))
        wc = w.iloc[lo:hi].reset_index(drop=True)
        ac, ec = _chunk(aliases, lo, hi), _chunk(exclude, lo, hi)
        sibs = None
        for rel in SCORING_ORDER:
            p = score_relation(wc, ac, r, rules, rel, ec, sibs)
            if rel == "sibling":
                sibs = probable_siblings(p, rules)
            blocked[rel] += int(len(p))
            p = p[p["probability"] >= rules.keep_floor].reset_index(drop=True)
            kept.append(p.assign(w_idx=p["w_idx"] + lo))
    out = pd.concat(kept, ignore_index=True) if kept else pd.DataFrame()
    return out, blocked


def _table(p: pd.DataFrame, w: pd.DataFrame, r: pd.DataFrame, rules: RelativesRules, lang: str,
           rdir: Path) -> pd.DataFrame:
    """Output rows: ranked per wanted record and relation."""
    parts = []
    for rel, g in p.groupby("relation", sort=False):
        g = g.reset_index(drop=True)
        g["explanation"] = explain(g, w, r, rel, lang, rdir).to_numpy() if len(g) else []
        parts.append(g)
    p = pd.concat(parts, ignore_index=True) if parts else p.assign(explanation=pd.Series(dtype=object))
    wi, ri = p["w_idx"].to_numpy(), p["r_idx"].to_numpy()
    out = pd.DataFrame({
        "wanted_id": w["wanted_id"].to_numpy()[wi].astype(str),
        "relation": p["relation"].astype(str).to_numpy(),
        "person_id": r["person_id"].to_numpy()[ri].astype(str),
        "full_name": r["full_name"].to_numpy()[ri],
        "birth_year": pd.array(r["byear"].to_numpy()[ri], dtype="Int32"),
        "current_address": r["current_address"].to_numpy()[ri],
        "address_date": r["address_date"].dt.strftime("%d/%m/%Y").to_numpy()[ri] if len(r) else [],
        "status": r["status"].to_numpy()[ri],
        "source": r["source"].to_numpy()[ri],
        "probability": np.round(p["probability"].to_numpy(), 6),
        "probable": p["probability"].to_numpy() >= rules.threshold,
        "match_weight": np.round(p["match_weight"].to_numpy(), 4),
    })
    for c in MW_COLUMNS:
        out[c] = np.round(p[c].to_numpy(), 4) if c in p.columns else np.nan
    out["explanation"] = p["explanation"].to_numpy()
    order = {rel: i for i, rel in enumerate(RELATIONS)}
    out = out.assign(_o=out["relation"].map(order)).sort_values(
        ["wanted_id", "_o", "probability", "person_id"], ascending=[True, True, False, True], kind="stable")
    out.insert(2, "rank", out.groupby(["wanted_id", "relation"]).cumcount().astype("int32") + 1)
    return out.drop(columns="_o").reset_index(drop=True)


def find_relatives(wanted: Path | None, residents: Path | None, out_dir: Path, id_cards: Path | None = None,
                   matches: Path | None = None, rules: Path | None = None, threshold: float | None = None,
                   lang: str = "vi", named_dir: Path | None = None, workspace: Path | None = None) -> RelativesResult:
    """Run the whole command; outputs are written atomically into out_dir (`named_dir`: where the
    summary says they are, when out_dir is a run's staging folder). With `workspace`, the normalised
    records and the identity candidates come from a nightly workspace instead of the files."""
    t0 = time.perf_counter()
    rr = load_relatives_rules(rules)
    if threshold is not None:
        rr = replace(rr, threshold=threshold, keep_floor=min(rr.keep_floor, threshold))
    timings: dict[str, float] = {}
    if workspace is not None:
        from linkage.relatives.workspace import workspace_frames

        w, aliases, r, scored, c_ws = workspace_frames(Path(workspace), rules, rr.identity_threshold)
        c_w, c_r = c_ws["wanted"], c_ws["register"]
        ident_from: Path | pd.DataFrame | None = Path(matches) if matches else scored
    else:
        if wanted is None or residents is None:
            raise InputError("give --wanted and --residents, or --workspace")
        w, aliases, c_w = wanted_frame(Path(wanted), rules)
        r, c_r = register_frame(Path(residents), Path(id_cards) if id_cards else None, rules)
        ident_from = Path(matches) if matches else None
    timings["normalise" if workspace is None else "read_workspace"] = round(time.perf_counter() - t0, 3)
    exclude, how = identity_pairs(w, r, ident_from, rr.identity_threshold)
    w = with_identity(w, r, exclude, rr.years["sibling_near"])
    aliases = identity_names(w, aliases, r, exclude)
    kept, blocked = score_all(w, aliases, r, rr, exclude)
    timings["score"] = round(time.perf_counter() - t0 - sum(timings.values()), 3)
    table = _table(kept, w, r, rr, lang, rules_dir(rules))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_parquet(pa.Table.from_pandas(table, preserve_index=False), out_dir / RELATIVES)
    ex = pd.DataFrame({"wanted_id": w["wanted_id"].to_numpy()[exclude["w_idx"].to_numpy()].astype(str),
                       "person_id": r["person_id"].to_numpy()[exclude["r_idx"].to_numpy()].astype(str),
                       "full_name": r["full_name"].to_numpy()[exclude["r_idx"].to_numpy()],
                       "reason": exclude["reason"].astype(str).to_numpy()})
    write_parquet(pa.Table.from_pandas(ex, preserve_index=False), out_dir / EXCLUDED)
    timings["total"] = round(time.perf_counter() - t0, 3)
    probable = table[table["probable"]]
    counts = {
        "wanted": c_w, "register": c_r, "register_persons": int(len(r)),
        "candidates_blocked": blocked,
        "written": {rel: int((table["relation"] == rel).sum()) for rel in RELATIONS},
        "probable": {rel: int((probable["relation"] == rel).sum()) for rel in RELATIONS},
        "wanted_with_probable_relative": int(probable["wanted_id"].nunique()),
        "identity_excluded": int(len(ex)),
    }
    identity = ("--matches: best candidate at or above " + str(rr.identity_threshold) if how == "matches"
                else "no --matches: same id number, or same name, gender and birth year")
    if workspace is not None and matches is None:
        identity = "workspace: best scored candidate at or above " + str(rr.identity_threshold)
    write_json({"workspace": str(workspace) if workspace is not None else None,
                "wanted": str(wanted) if wanted else None, "residents": str(residents) if residents else None,
                "id_cards": str(id_cards) if id_cards else None,
                "matches": str(matches) if matches else None, "threshold": rr.threshold, "keep_floor": rr.keep_floor,
                "identity_excluded_by": identity, "rules_hash": rules_hash(rules), "counts": counts,
                "timings_s": timings,
                "outputs": {"relatives": str((named_dir or out_dir) / RELATIVES),
                            "identity_excluded": str((named_dir or out_dir) / EXCLUDED)}},
               out_dir / SUMMARY)
    return RelativesResult(out_dir, counts, timings, identity)


def relatives_for_run(stage: Path, out_dir: Path, wanted: Path, residents: Path | None, id_cards: Path | None,
                      rules: Path | None, lang: str) -> dict[str, object]:
    """`linkage run --relatives`: relatives.parquet (and identity_excluded.parquet, the summary) in
    the run's staging folder, next to matches.parquet, whose candidates are the identities left
    out; returns what the manifest records (outputs, counts, timings)."""
    if residents is None:
        raise InputError("--relatives needs --residents: relatives are looked for in the residents register")
    res = find_relatives(Path(wanted), Path(residents), Path(stage), id_cards=Path(id_cards) if id_cards else None,
                         matches=Path(stage) / "matches.parquet", rules=rules, lang=lang, named_dir=Path(out_dir))
    return {"outputs": {"relatives": str(Path(out_dir) / RELATIVES), "identity_excluded": str(Path(out_dir) / EXCLUDED),
                        "relatives_summary": str(Path(out_dir) / SUMMARY)},
            "counts": {"probable": res.counts["probable"], "written": res.counts["written"],
                       "wanted_with_probable_relative": res.counts["wanted_with_probable_relative"],
                       "identity_excluded": res.counts["identity_excluded"]},
            "timings_s": res.timings}
