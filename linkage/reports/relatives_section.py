"""The run report's relatives section (`linkage run --relatives`): counts per relation and, for the
first wanted records, their probable relatives by id, relation, birth year, status, probability and
the explanation line. Read from the run's relatives.parquet by DuckDB; nothing when it is absent."""

from __future__ import annotations

import duckdb
import pandas as pd

from linkage.reports.html import Markup, esc, fmt_pct, kpis, para, section, table
from linkage.reports.strings import t

RELATIVES = "relatives.parquet"
RELATIONS = ("father", "mother", "sibling", "child")


def _q(path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def relation_counts(path) -> pd.DataFrame:
    """relation, candidates, probable, wanted (with a probable relative of that relation)."""
    con = duckdb.connect()
    try:
        df = con.execute(f"""SELECT relation, count(*) AS candidates, count(*) FILTER (WHERE probable) AS probable,
                                    count(DISTINCT wanted_id) FILTER (WHERE probable) AS wanted
                             FROM read_parquet({_q(path)}) GROUP BY relation""").df()
    finally:
        con.close()
    order = {r: i for i, r in enumerate(RELATIONS)}
    return df.assign(_o=df["relation"].map(order)).sort_values("_o").drop(columns="_o").reset_index(drop=True)


def examples(path, wanted: int = 20) -> pd.DataFrame:
    """The probable relatives of the first `wanted` wanted ids (in id order) that have one."""
    con = duckdb.connect()
    try:
        return con.execute(f"""
            WITH p AS (SELECT * FROM read_parquet({_q(path)}) WHERE probable),
                 ids AS (SELECT DISTINCT wanted_id FROM p ORDER BY wanted_id LIMIT {int(wanted)})
            SELECT p.wanted_id, p.relation, p.rank, p.person_id, p.birth_year, p.status, p.probability, p.explanation
            FROM p JOIN ids USING (wanted_id)
            ORDER BY p.wanted_id, CASE p.relation WHEN 'father' THEN 0 WHEN 'mother' THEN 1 WHEN 'sibling' THEN 2
                     ELSE 3 END, p.rank""").df()
    finally:
        con.close()


def relatives(ctx) -> Markup:
    """Empty when the run has no relatives.parquet (the section is then left out of the report)."""
    path = ctx.files.run_dir / RELATIVES
    if not path.is_file():
        return Markup("")
    lang = ctx.lang
    counts = relation_counts(path)
    rel = {r: t(f"relatives.relation.{r}", lang) for r in RELATIONS}
    parts = [para(t("relatives.report.intro", lang)),
             kpis([(rel.get(r, r), f"{ctx.n(p)} / {ctx.n(c)}") for r, c, p in
                   counts[["relation", "candidates", "probable"]].itertuples(index=False)]),
             table([t("relatives.report.relation", lang), t("relatives.report.candidates", lang),
                    t("relatives.report.probable", lang), t("relatives.report.wanted", lang)],
                   [[rel.get(r, r), int(c), int(p), int(w)] for r, c, p, w in counts.itertuples(index=False)],
                   numeric=(1, 2, 3), lang=lang)]
    ex = examples(path)
    parts.append(Markup(f"<h3>{esc(t('relatives.report.examples', lang, n=ctx.n(ex['wanted_id'].nunique())))}</h3>"))
    rows = [[w, rel.get(r, r), int(k), pid, "" if pd.isna(y) else str(int(y)), t(f"relatives.status.{s}", lang),
             Markup(f'<td class="n">{esc(fmt_pct(p, lang, 1))}</td>'), e or ""]
            for w, r, k, pid, y, s, p, e in ex.itertuples(index=False)]
    parts.append(table([t("relatives.report.wanted_id", lang), t("relatives.report.relation", lang), "#",
                        t("relatives.report.person_id", lang), t("relatives.report.birth_year", lang),
                        t("relatives.report.status", lang), t("relatives.report.probability", lang),
                        t("relatives.report.explanation", lang)], rows, numeric=(2,), lang=lang, wide=(7,)))
    parts.append(para(t("relatives.report.caution", lang), "muted"))
    return section("relatives", t("run.relatives.title", lang), *parts)
