"""Training: u from random pairs, m by expectation-maximisation with u fixed, prior from the data.

As in Splink, EM runs once per training blocking rule (a "session") on the pairs that rule
found, and does not estimate the comparisons the rule's keys use (they agree by construction
there). Each m is the mean of the sessions that estimated it; a level the data cannot support
falls back to the rules' default, and the model file says so.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
import math
from typing import Callable, Collection

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from linkage.compare import Gammas, compare, pair_columns
from linkage.model import (Model, condition_rows, conditional_correction, default_model,
                           plain_weights, prior_weight, weight_plan)
from linkage.settings import Settings
from linkage.slices import in_slices

Log = Callable[[str], None]


def _level_shares(levels: np.ndarray, n_levels: int, weights: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """Share of each level among non-null observations (optionally weighted)."""
    has = levels >= 0
    w = np.ones(levels.shape[0]) if weights is None else weights
    counts = np.bincount(levels[has].astype(np.int64), weights=w[has], minlength=n_levels)[:n_levels]
    total = counts.sum()
    return (counts / total if total > 0 else counts), float(total)


def persons(con: duckdb.DuckDBPyConnection) -> int:
    """The register's persons (a count over every record: 0.1-0.2 s at 1M, so training counts once)."""
    return int(con.execute("SELECT count(DISTINCT person_idx) FROM reg").fetchall()[0][0])


def sample_u_pairs(con: duckdb.DuckDBPyConnection, n_pairs: int, seed: int, n_persons: int | None = None) -> int:
    """Random (wanted, person) pairs into table `upairs`; almost all are non-matches."""
    n_w = con.execute("SELECT count(*) FROM w").fetchall()[0][0]
    n_p = persons(con) if n_persons is None else n_persons
    n = int(min(n_pairs, n_w * n_p))
    rng = np.random.default_rng(seed)
    table = pa.table(
        {
            "pair_idx": np.arange(n, dtype=np.int64),
            "w_idx": rng.integers(0, n_w, n, dtype=np.int64),
            "person_idx": rng.integers(0, n_p, n, dtype=np.int64),
        }
    )
    con.register("_upairs", table)
    con.execute("CREATE OR REPLACE TABLE upairs AS SELECT * FROM _upairs")
    con.unregister("_upairs")
    return n


def _read_from_random(settings: Settings, model: Model) -> set[str]:
    """The comparisons training reads from its random pairs: every one with a u of its own (an
    interaction term has none) and those the `pairs: random` conditions read."""
    conds = [c for c in settings.model.get("conditional_u") or [] if c["pairs"] == "random"]
    return {c.name for c in model.comparisons if not c.absorbs} | {n for c in conds for n in _read_by(c)}


def estimate_u(model: Model, gammas: Gammas) -> None:
    """u = level shares among random pairs; an unseen level gets one pseudo-observation."""
    for j, c in enumerate(model.comparisons):
        if c.absorbs:  # an interaction term: a sibling pair is too rare among random pairs
            for lv in c.levels:
                lv.u_source = "rules (interaction term, not estimated from random pairs)"
            continue
        n_levels = len(c.levels)
        has = gammas.levels[:, j] >= 0
        counts = np.bincount(gammas.levels[has, j].astype(np.int64), minlength=n_levels)[:n_levels]
        total = counts.sum()
        if total == 0:
            model.warnings.append(f"{c.name}: no random pair had both values; u from the rules' defaults")
            continue
        for k, lv in enumerate(c.levels):
            if counts[k] == 0:
                lv.u = 1.0 / (total + 1)
                lv.u_source = f"random pairs: none of {total:,} observed, set to 1/(n+1)"
            else:
                lv.u = counts[k] / total
                lv.u_source = f"random pairs ({counts[k]:,} of {total:,})"


def first_records(con: duckdb.DuckDBPyConnection) -> None:
    """Each register person's first residents record (its r_idx) as table `ns_rows`: a wanted
    record's stand-in (the residents register carries the same fields) for pairs of register
    persons."""
    con.execute(
        "CREATE OR REPLACE TEMP TABLE ns_rows AS SELECT min(r_idx) AS r_idx FROM reg "
        "WHERE src = 'residents' AND full_name_ascii IS NOT NULL GROUP BY person_idx"
    )


def shared_key_left(con: duckdb.DuckDBPyConnection, register: str = "reg", view: str = "ns_left") -> None:
    """The persons' first records (`ns_rows`) as view `view` over `register` (the register, or
    training's copy of its sampled persons), person_idx as w_idx. A view over the chosen row
    numbers: a copy of every column of every person (a window over the whole register) spilled
    gigabytes to disk at 5M residents."""
    con.execute(
        f"CREATE OR REPLACE TEMP VIEW {view} AS SELECT r.* EXCLUDE (r_idx, person_idx), r.person_idx AS w_idx "
        f"FROM {register} r SEMI JOIN ns_rows ON r.r_idx = ns_rows.r_idx"
    )


def sample_shared_pairs(con: duckdb.DuckDBPyConnection, n_pairs: int, seed: int, key: str = "full_name_ascii",
                        into: str = "nspairs", source: str = "ns_left") -> int:
    """Pairs of register persons (`ns_left`) who share `key` (SQL over their columns: the
    ASCII-folded full name for namesakes, a birth commune), into `nspairs`. Each sampled person
    gets one random partner and the weight k - 1 (k: persons with that key), so the weighted
    shares are those of all such pairs, the pairs a wanted person's namesakes (or people born in
    the same commune) make. Distinct person ids are taken as distinct people: a register's own
    duplicates are rare enough not to matter here.

    DuckDB gives each person's key and hashes, sorted by key and rank (its parallel sort took half
    the time of encoding a million names and sorting them in numpy); the groups, partners and
    the sample are numpy. Person ranked pos of k (by hash(w_idx + seed), then w_idx) takes the
    partner ranked (pos + 1 + hash(w_idx * 7 + seed) % (k - 1)) % k; the sample is the first
    n_pairs persons by hash(w_idx + seed * 13), then w_idx; pair_idx numbers them in w_idx order."""
    got = con.sql(
        f"SELECT w_idx, ({key}) AS name, hash(w_idx + {seed}) AS h_rank, hash(w_idx * 7 + {seed}) AS h_partner, "
        f"hash(w_idx + {seed} * 13) AS h_pick FROM {source} WHERE ({key}) IS NOT NULL ORDER BY name, h_rank, w_idx"
    ).to_arrow_table()
    table = _shared_pairs(got, int(n_pairs))
    con.register("_nspairs", table)
    con.execute(f"CREATE OR REPLACE TEMP TABLE {into} AS SELECT * FROM _nspairs")
    con.unregister("_nspairs")
    return table.num_rows


def _shared_pairs(members: pa.Table, n_pairs: int) -> pa.Table:
    """(pair_idx, w_idx, person_idx, weight) from persons' keys and hashes, sorted by key, then
    rank (sample_shared_pairs)."""
    col = {c: members.column(c).to_numpy() for c in ("w_idx", "h_rank", "h_partner", "h_pick")}
    n = members.num_rows
    name = members.column("name").combine_chunks()
    changed = pc.not_equal(name.slice(1), name.slice(0, max(n - 1, 0))).to_numpy(zero_copy_only=False)
    starts = np.flatnonzero(np.r_[True, changed]) if n else np.zeros(0, np.int64)
    sizes = np.diff(np.r_[starts, n])
    k = np.repeat(sizes, sizes).astype(np.uint64)  # in rank order
    first = np.repeat(starts, sizes)
    pos = (np.arange(n) - first).astype(np.uint64)
    shared = np.flatnonzero(k >= 2)
    pick = shared[_first_by(col["h_pick"][shared], col["w_idx"][shared], n_pairs)]
    kk = k[pick]
    partner = (pos[pick] + np.uint64(1) + col["h_partner"][pick] % (kk - np.uint64(1))) % kk
    w_idx = col["w_idx"][pick]
    person = col["w_idx"][first[pick] + partner.astype(np.int64)]
    by_w = np.argsort(w_idx, kind="stable")
    return pa.table({"pair_idx": np.arange(len(pick), dtype=np.int64), "w_idx": w_idx[by_w].astype(np.int64),
                     "person_idx": person[by_w].astype(np.int64), "weight": (kk[by_w] - np.uint64(1)).astype(np.float64)})


def _first_by(key: np.ndarray, tie: np.ndarray, n: int) -> np.ndarray:
    """The positions of the n smallest (key, tie), in that order: a partition first, so only the
    chosen few (and their ties) are sorted, not every person."""
    if n <= 0:
        return np.zeros(0, np.int64)
    few = np.flatnonzero(key <= np.partition(key, n - 1)[n - 1]) if len(key) > n else np.arange(len(key))
    return few[np.lexsort((tie[few], key[few]))][:n]


def sample_register_pairs(con: duckdb.DuckDBPyConnection, n_pairs: int, seed: int, n_persons: int | None = None,
                          source: str = "ns_left") -> int:
    """Random pairs of `ns_left` persons and register persons, into `rrpairs`: the baseline
    against which pairs sharing a key are read (same records on both sides, so a level the
    register's records rarely show, a birth date known by its year only, is as rare in both)."""
    left = con.execute(f"SELECT w_idx FROM {source} ORDER BY w_idx").fetchnumpy()["w_idx"]  # not the scan order
    n_p = persons(con) if n_persons is None else n_persons
    rng = np.random.default_rng(seed + 1)
    n = int(min(n_pairs, len(left) * n_p))
    table = pa.table({"pair_idx": np.arange(n, dtype=np.int64), "w_idx": rng.choice(left, n),
                      "person_idx": rng.integers(0, n_p, n, dtype=np.int64)})
    con.register("_rrpairs", table)
    con.execute("CREATE OR REPLACE TEMP TABLE rrpairs AS SELECT * FROM _rrpairs")
    con.unregister("_rrpairs")
    return n


def _shared_key(cond: dict) -> str:
    """The key the register pairs of a condition share: the rules' `key`, the folded full name for
    namesakes."""
    return str(cond.get("key") or "full_name_ascii")


def _read_by(cond: dict) -> set[str]:
    """The comparisons a condition's pairs are read for: the one it is given, those it conditions."""
    return {cond["given"], *cond["comparisons"]}


def _register_conditions(settings: Settings) -> list[dict]:
    """The conditions measured on pairs of register persons (every `pairs` but `random`)."""
    return [c for c in settings.model.get("conditional_u") or [] if c["pairs"] != "random"]


# Training copies its sampled persons' records when they are at most this share of the register's
# persons: at 1M residents they were 80% of it, and the copy cost more than the comparisons saved
# (training 14.0 s against 11.4 s); at 10M at most a fifth (by the samples' sizes), and
# whole-register scans were most of training (docs/benchmarks.md, fourteenth step).
_COPY_SHARE = 0.4


def training_register(con: duckdb.DuckDBPyConnection, right: Collection[str], left: Collection[str],
                      n_persons: int, columns: Collection[str] | None = None) -> tuple[str, int]:
    """The table training's comparisons read the register from, and the number of persons its
    samples hold: `train_reg`, a copy of those persons' records (`right`: tables whose person_idx
    is a register person; `left`: those whose w_idx is one too), or `reg` itself when they are
    most of it. Why: each comparison joins its pairs to the register, and at 10M residents a
    scan of the whole register (spilled to DuckDB's temp files) took 5-20 s, seven times over
    (docs/benchmarks.md, fourteenth step). `columns`: those the comparisons read (default all);
    the copy is one more scan of the register, and the columns they do not read (names as
    written, the addresses shown, keys for blocking) are 18 of its 74."""
    persons = " UNION ".join([f"SELECT person_idx FROM {t}" for t in right] + [f"SELECT w_idx FROM {t}" for t in left])
    sampled = int(con.execute(f"SELECT count(DISTINCT person_idx) FROM ({persons})").fetchall()[0][0])
    if sampled > _COPY_SHARE * n_persons:
        return "reg", sampled
    what = "*" if columns is None else ", ".join(["r_idx", "person_idx", *columns])
    con.execute(f"CREATE OR REPLACE TEMP TABLE train_reg AS SELECT {what} FROM reg WHERE person_idx IN ({persons})")
    return "train_reg", sampled


class _RegisterPairs:
    """Pairs of register persons for the conditions that random pairs meet too rarely, and the
    random register pairs they are read against (built once, for every such condition). Every
    sample is drawn first, then their persons' records are copied (training_register, with the
    persons of the tables in `also`, training's random pairs) when they are few, and the
    comparisons read `table`: the copy, or the register itself."""

    def __init__(self, con: duckdb.DuckDBPyConnection, settings: Settings, model: Model, seed: int,
                 n_persons: int | None = None, also: Collection[str] = ()):
        self.con, self.settings, self.model = con, settings, model
        self.base: Gammas | None = None
        conds = _register_conditions(settings)
        first_records(con)
        shared_key_left(con)
        # every condition's key in one pass over the register (each draw read it again: 2-10 s
        # a draw at 10M residents)
        keys = ", ".join(f"({_shared_key(c)}) AS k{i}" for i, c in enumerate(conds))
        con.execute(f"CREATE OR REPLACE TEMP TABLE ns_keys AS SELECT w_idx, {keys} FROM ns_left")
        self.samples: dict[str, tuple[str, int]] = {}
        for i, cond in enumerate(conds):
            n_pairs = int(cond.get("sample_pairs", 200_000))
            self.samples[cond["name"]] = (f"nspairs_{i}", sample_shared_pairs(con, n_pairs, seed, f"k{i}", f"nspairs_{i}", "ns_keys"))
        # one baseline for every condition, as large as the largest sample
        sample_register_pairs(con, max((int(c.get("sample_pairs", 200_000)) for c in conds), default=0), seed, n_persons,
                              "ns_keys")
        shared = [t for t, _ in self.samples.values()] + ["rrpairs"]
        self.table, self.sampled = training_register(con, [*shared, *also], shared,
                                                     persons(con) if n_persons is None else n_persons,
                                                     pair_columns(settings))
        shared_key_left(con, self.table, "train_left")

    def ratios(self, cond: dict) -> tuple[Gammas, np.ndarray, Gammas] | None:
        """Levels of the pairs sharing the condition's key where the condition holds (with
        their weights) and of the random register pairs; None when too few."""
        source, n = self.samples[cond["name"]]
        if n < int(cond.get("min_pairs", 500)):
            return None
        met = compare(self.con, self.settings, source=source, left="train_left", only=_read_by(cond), register=self.table)
        weight = self.con.execute(f"SELECT weight FROM {source} ORDER BY pair_idx").fetchnumpy()["weight"][met.pair_idx]
        at = condition_rows(met.levels, self.model, cond["given"], cond["levels"])
        if int(at.sum()) < int(cond.get("min_pairs", 500)):
            return None
        if self.base is None:
            read = {name for c in _register_conditions(self.settings) for name in c["comparisons"]}
            self.base = compare(self.con, self.settings, source="rrpairs", left="train_left", only=read, register=self.table)
        return Gammas(met.pair_idx[at], met.levels[at], met.names), weight[at], self.base

    def close(self) -> None:
        drops = [f"DROP TABLE IF EXISTS {t}" for t, _ in self.samples.values()]
        self.con.execute("; ".join(drops + ["DROP VIEW IF EXISTS train_left", "DROP VIEW IF EXISTS ns_left",
                                            "DROP TABLE IF EXISTS ns_keys",
                                            "DROP TABLE IF EXISTS train_reg", "DROP TABLE IF EXISTS ns_rows",
                                            "DROP TABLE IF EXISTS rrpairs"]))


def estimate_u_given(
    con: duckdb.DuckDBPyConnection, settings: Settings, model: Model, random: Gammas | None, say: Log,
    n_persons: int | None = None, register: _RegisterPairs | None = None,
) -> None:
    """u of each conditioned comparison among the non-matching pairs that meet a condition
    (model.conditional_u in the rules). `register`: the register pairs already drawn (train
    draws them with its random pairs' persons; the caller closes it); else drawn and closed here.

    `pairs: random`: the share of each level among training's random (wanted, person) pairs
    (`random`) where the condition's comparison is at one of its levels. `pairs: namesakes` (or
    `shared` with a `key`): pairs of register persons who share the full name (or the key, e.g.
    the birth commune: random pairs meet it too rarely to measure), where the condition holds,
    read against random register pairs of the same persons: u times their ratio of shares, since
    register records are not wanted records (a notice may know the birth year only; a register
    record almost never does). Shares are shrunk towards the baseline by `prior_pairs`
    pseudo-pairs; a level seen fewer than `min_level_pairs` times in the baseline keeps its plain
    u (no estimate of its dependence), and a condition met by fewer than `min_pairs` pairs
    changes nothing: the model says so."""
    seed = int(settings.model.get("seed", 42))
    own = register is None
    try:
        for cond in settings.model.get("conditional_u") or []:
            minimum = int(cond.get("min_pairs", 500))
            if cond["pairs"] != "random":
                register = register or _RegisterPairs(con, settings, model, seed, n_persons)
                found = register.ratios(cond)
                if found is None:
                    model.warnings.append(f"conditional u '{cond['name']}': fewer than {minimum} register pairs sharing {_shared_key(cond)} with {cond['given']} at {'/'.join(cond['levels'])}; comparisons taken as independent of it")
                    continue
                met, weight, base = found
                what = "namesake pairs" if cond["pairs"] == "namesakes" else f"register pairs sharing {_shared_key(cond)}"
            else:
                at = (condition_rows(random.levels, model, cond["given"], cond["levels"])
                      if random is not None else np.zeros(0, dtype=bool))
                if int(at.sum()) < minimum:
                    model.warnings.append(f"conditional u '{cond['name']}': only {int(at.sum())} random pairs with {cond['given']} at {'/'.join(cond['levels'])} (< {minimum}); comparisons taken as independent of it")
                    continue
                met, weight, base = Gammas(random.pair_idx[at], random.levels[at], random.names), None, random
                what = f"random pairs with {cond['given']} at {'/'.join(cond['levels'])}"
            n = len(met.pair_idx)
            say(f"conditional u '{cond['name']}': {n:,} {what}")
            _set_u_given(model, cond, met, weight, base, what)
            model.conditions.append({"name": cond["name"], "comparison": cond["given"], "levels": list(cond["levels"]), "pairs": int(n)})
    finally:
        if own and register is not None:
            register.close()


def _set_u_given(model: Model, cond: dict, met: Gammas, weight: np.ndarray | None, base: Gammas, what: str) -> None:
    alpha = float(cond.get("prior_pairs", 50))
    min_level = int(cond.get("min_level_pairs", 20))
    names = [c.name for c in model.comparisons]
    for name in cond["comparisons"]:
        j = names.index(name)
        c = model.comparisons[j]
        shares, _ = _level_shares(met.levels[:, j], len(c.levels), weight)
        base_shares, base_total = _level_shares(base.levels[:, j], len(c.levels))
        n_obs = int((met.levels[:, j] >= 0).sum())
        if not n_obs:
            continue
        for k, lv in enumerate(c.levels):
            if round(base_shares[k] * base_total) < min_level:  # unweighted: shares x total are counts
                continue
            shrunk = (shares[k] * n_obs + alpha * base_shares[k]) / (n_obs + alpha)  # in units of sampled pairs
            lv.u_given[cond["name"]] = float(lv.u * shrunk / base_shares[k])
            lv.u_given_source[cond["name"]] = f"{what} ({n_obs:,} with both values, {alpha:g} pseudo-pairs at the baseline)"


def posterior(levels: np.ndarray, model: Model, prior: float, only: list[int] | None = None,
              rows: int = 262_144, threads: int = 1) -> np.ndarray:
    """P(match | levels) with the model's m and u (no term-frequency adjustment), over all
    comparisons or `only` the listed ones. Where a condition holds (model.conditions: the full
    name agrees, the birth commune agrees) the non-matches are those that meet it, as in scoring
    (model.conditional_correction): a session's pairs share its rule's key, and against strangers'
    u, namesakes agreeing on gender, people and province look like matches; at 5M residents the
    name_year session called 99% of its 522k pairs matches (about 1.4% are). A slice of rows at
    a time (no pairs x comparisons weights for all pairs), in `threads` threads: numpy releases
    the GIL in its loops, and the name_year session's 2M pairs at 10M residents took 13.6 s."""
    out = np.empty(len(levels), dtype=np.float64)
    silent = [j for j in range(levels.shape[1]) if only is not None and j not in only]
    plan = weight_plan(model)
    base = math.log(prior / (1 - prior))

    def part(lo: int) -> None:
        rows_ = levels[lo:lo + rows]
        weights = conditional_correction(rows_, model, plain_weights(rows_, model, plan), plan)
        weights[:, silent] = 0.0
        logit = base + math.log(2) * weights.sum(axis=1)
        out[lo:lo + rows] = 1.0 / (1.0 + np.exp(-np.clip(logit, -700, 700)))

    in_slices(len(levels), rows, threads, part)
    return out


def em_session(
    levels: np.ndarray, model: Model, estimate: list[int], max_iter: int, tol: float, start: float = 0.5,
    threads: int = 1,
) -> tuple[dict[int, np.ndarray], float, int]:
    """EM with u fixed: returns m per estimated comparison, the session's match share, iterations.
    `start`: the match share it starts from (train: about share x wanted / the session's pairs)."""
    work = copy.deepcopy(model)  # its m move; the model's stay until every session is done
    lam = float(np.clip(start, 1e-6, 0.5))
    it = 0
    for it in range(1, max_iter + 1):
        # Only the estimated comparisons speak: the session's blocking rule makes the others agree
        # by construction, so counting them (at their default m) would call every pair a match.
        p = posterior(levels, work, lam, only=estimate, threads=threads)
        new_lam = float(np.clip(p.mean(), 1e-9, 1 - 1e-9))
        delta = abs(new_lam - lam)
        for j in estimate:
            c = work.comparisons[j]
            shares, total = _level_shares(levels[:, j], len(c.levels), p)
            if total <= 0:
                continue
            for k, lv in enumerate(c.levels):
                new_m = max(float(shares[k]), 1e-6)
                delta = max(delta, abs(new_m - lv.m))
                lv.m = new_m
        lam = new_lam
        if delta < tol:
            break
    ms = {j: np.array([lv.m for lv in work.comparisons[j].levels]) for j in estimate}
    return ms, lam, it


def _guard(model: Model, defaults: Model, observed: dict[int, np.ndarray], m_minimum: float) -> None:
    """Fall back to the rules' default m where EM is degenerate, and record why; no level's m goes
    below a floor, so one disagreement (a data-entry slip) cannot veto every other agreement."""
    for j, c in enumerate(model.comparisons):
        dflt = defaults.comparisons[j]
        for k, lv in enumerate(c.levels):
            seen = observed.get(j)
            if seen is not None and seen[k] == 0 and lv.m_source.startswith("EM"):
                model.warnings.append(f"{c.name}.{lv.id}: no training pair at this level; m from the rules' default")
                lv.m, lv.m_source = dflt.levels[k].m, "default (no observations)"
            elif lv.id != "else" and dflt.levels[k].m > dflt.levels[k].u and lv.m < lv.u:
                model.warnings.append(
                    f"{c.name}.{lv.id}: EM gave m={lv.m:.3g} below u={lv.u:.3g} on an agreeing level; "
                    "m from the rules' default"
                )
                lv.m, lv.m_source = dflt.levels[k].m, "default (EM gave m < u)"
    _floor_and_normalise(model, float(m_minimum))


def _tf_values(con: duckdb.DuckDBPyConnection, settings: Settings, w_idx: np.ndarray):
    from linkage.score import tf_values  # the scorer's own lookup, so training weighs pairs as a run does

    return tf_values(con, settings, w_idx)


def _weight_sums(con: duckdb.DuckDBPyConnection, settings: Settings, model: Model, levels: np.ndarray,
                 w_idx: np.ndarray) -> np.ndarray:
    """Each pair's summed match weight as the scorer computes it (in slices of rows: no pairs x
    comparisons array of weights for every pair at once)."""
    from linkage.score import weight_sums

    return weight_sums(levels, model, _tf_values(con, settings, w_idx), int(settings.engine.get("threads", 2)))


def presence(weights: np.ndarray, w_idx: np.ndarray, n_w: int, share: float, n_p: int) -> np.ndarray:
    """Per wanted record, P(its person is among its candidates) = sum of the one-person
    probabilities o_k / (1 + sum o), with the prior share / n_p. Numerically safe in log space."""
    total = prior_weight(min(max(share / max(n_p, 1), 1e-15), 0.5)) + weights
    top = np.zeros(n_w)
    np.maximum.at(top, w_idx, total)  # at least 0: the "none of them" term
    odds = np.zeros(n_w)
    np.add.at(odds, w_idx, np.exp2(total - top[w_idx]))
    return odds / (odds + np.exp2(-top))


def estimate_share(
    weights: np.ndarray, w_idx: np.ndarray, n_w: int, n_p: int, start: float = 0.9, max_iter: int = 200
) -> tuple[float, float]:
    """The share of wanted records whose person is in the register: the fixed point of
    share = mean P(present | share), EM for the one mixture weight, with the weights a run uses
    (term frequencies and interaction terms included) and every candidate competing.

    Why not the best candidate's pair posterior (the earlier estimate): a false lead counted as
    presence, which raised the prior, which made false leads likelier; at large registers the
    share came out 6-7 points too high. Returns (share, expected number of present persons)."""
    share = float(start)
    expected = share * n_w
    for _ in range(max_iter):
        expected = float(presence(weights, w_idx, n_w, share, n_p).sum())
        new = float(np.clip(expected / max(n_w, 1), 1e-6, 1.0))
        if abs(new - share) < 1e-7:
            share = new
            break
        share = new
    return share, expected


def labelled_pairs(con: duckdb.DuckDBPyConnection, settings: Settings, labels: pd.DataFrame) -> tuple[pd.DataFrame, Gammas]:
    """The labelled pairs found in this workspace (wanted id and person id both known), with their
    levels compared afresh: a reviewer may have linked a pair that no blocking rule found."""
    con.register("_labels", pa.table({
        "wanted_id": pa.array(labels["wanted_id"].astype(str).to_numpy(), pa.string()),
        "person_id": pa.array(labels["person_id"].astype(str).to_numpy(), pa.string()),
        "label": pa.array(labels["label"].to_numpy(dtype=float)),
    }))
    try:
        con.execute(
            """
            CREATE OR REPLACE TABLE lpairs AS
            SELECT (row_number() OVER (ORDER BY w.w_idx, p.person_idx) - 1)::BIGINT AS pair_idx,
                   w.w_idx, p.person_idx, l.label
            FROM _labels l JOIN w ON w.uid = l.wanted_id
            JOIN (SELECT DISTINCT uid, person_idx FROM reg) p ON p.uid = l.person_id
            """
        )
    finally:
        con.unregister("_labels")
    found = con.execute("SELECT pair_idx, w_idx, person_idx, label FROM lpairs ORDER BY pair_idx").df()
    gammas = compare(con, settings, source="lpairs")
    con.execute("DROP TABLE IF EXISTS lpairs")
    return found.set_index("pair_idx").loc[gammas.pair_idx].reset_index(), gammas


def m_from_labels(model: Model, levels: np.ndarray, label: np.ndarray, min_per_level: int) -> dict[str, dict[str, int]]:
    """Replace m by the labelled matches' level shares where a level has at least `min_per_level`
    labelled matches; the other levels keep EM's m, rescaled to the mass left. Returns the labelled
    matches used per comparison and level (for the model file)."""
    used: dict[str, dict[str, int]] = {}
    positive = label == 1.0
    for j, c in enumerate(model.comparisons):
        lv_j = levels[positive, j]
        counts = np.bincount(lv_j[lv_j >= 0].astype(np.int64), minlength=len(c.levels))[: len(c.levels)]
        n = int(counts.sum())
        used[c.name] = {lv.id: int(k) for lv, k in zip(c.levels, counts)}
        enough = counts >= max(int(min_per_level), 1)
        if n == 0 or not enough.any():
            continue
        fixed = counts[enough].sum() / n
        rest = np.array([lv.m for lv, e in zip(c.levels, enough) if not e])
        scale = (1.0 - fixed) / rest.sum() if rest.sum() > 0 else 0.0
        for k, lv in enumerate(c.levels):
            if enough[k]:
                lv.m, lv.m_source = float(counts[k] / n), f"labels ({int(counts[k])} of {n} labelled matches)"
            else:
                lv.m = float(lv.m * scale)
                lv.m_source += f"; rescaled beside the labelled levels ({int(counts[k])} labelled matches here)"
    return used


def _floor_and_normalise(model: Model, m_minimum: float) -> None:
    for c in model.comparisons:
        for lv in c.levels:
            if lv.m < m_minimum:
                lv.m = m_minimum
                lv.m_source += f"; raised to the floor {m_minimum:g}"
        total = sum(lv.m for lv in c.levels)
        for lv in c.levels:
            lv.m = lv.m / total


def _one_person(total: np.ndarray, w_idx: np.ndarray, n_w: int) -> np.ndarray:
    top = np.zeros(n_w)
    np.maximum.at(top, w_idx, total)
    scaled = np.exp2(total - top[w_idx])
    denom = np.exp2(-top)
    np.add.at(denom, w_idx, scaled)
    return scaled / denom[w_idx]


def fit_calibration(
    con: duckdb.DuckDBPyConnection, settings: Settings, model: Model, gammas: Gammas, w_of_pair: np.ndarray,
    found: pd.DataFrame, lgammas: Gammas, n_w: int, n_p: int, min_per_class: int,
) -> dict:
    """A calibration map (rules: model.calibration_method, isotonic or platt) fitted on the labelled pairs' match_probability as a run would give it (their
    one-person probability among this workspace's candidates; a labelled pair that is no candidate
    counts with its pair probability). Empty when either class has fewer than `min_per_class`."""
    from linkage.calibrate import fit_isotonic, fit_platt, logit

    y = found["label"].to_numpy(dtype=float)
    if min((y == 1).sum(), (y == 0).sum()) < min_per_class:
        return {}
    prior_w = prior_weight(min(max(model.wanted_match_share / max(n_p, 1), 1e-15), 0.5))
    total = prior_w + _weight_sums(con, settings, model, gammas.levels, w_of_pair)
    p_all = _one_person(total, w_of_pair, n_w)
    meta = con.execute("SELECT w_idx, person_idx FROM pairs ORDER BY pair_idx").fetchnumpy()
    key_all = pd.Series(p_all, index=pd.MultiIndex.from_arrays(
        [np.asarray(meta["w_idx"])[gammas.pair_idx], np.asarray(meta["person_idx"])[gammas.pair_idx]]))
    lw = found["w_idx"].to_numpy()
    l_total = prior_w + _weight_sums(con, settings, model, lgammas.levels, lw)
    p = 1.0 / (1.0 + np.exp2(-l_total))
    as_candidate = key_all.reindex(pd.MultiIndex.from_arrays([lw, found["person_idx"].to_numpy()])).to_numpy()
    p = np.where(np.isnan(as_candidate), p, as_candidate)
    common = {"pairs": int(len(y)), "matches": int((y == 1).sum()), "non_matches": int((y == 0).sum()),
              "fitted_on": "labelled pairs' match_probability (one-person, as scored)"}
    if str(settings.model.get("calibration_method", "isotonic")) == "platt":
        a, b = fit_platt(logit(p), y)
        return {"method": "platt", "a": round(a, 6), "b": round(b, 6), **common}
    blocks = fit_isotonic(logit(p), y)
    return {"method": "isotonic", **{k: [round(v, 6) for v in vs] for k, vs in blocks.items()}, **common}


def apply_labels(
    con: duckdb.DuckDBPyConnection, settings: Settings, model: Model, gammas: Gammas, w_of_pair: np.ndarray,
    labels: pd.DataFrame, n_w: int, n_p: int, say: Log,
) -> None:
    """m from labels where a level has enough of them, the prior share again with those m, then a
    calibration map; unsure labels dropped.
    The model file records what was used (training.labels, each level's m_source, calibration)."""
    from linkage.labels import decided

    cfg = settings.model
    sure, unsure = decided(labels)
    found, lgammas = labelled_pairs(con, settings, sure)
    y = found["label"].to_numpy(dtype=float)
    used = m_from_labels(model, lgammas.levels, y, int(cfg.get("labels_min_per_level", 20)))
    _floor_and_normalise(model, float(cfg.get("m_minimum", 0.001)))
    weights = _weight_sums(con, settings, model, gammas.levels, w_of_pair)
    model.wanted_match_share, _ = estimate_share(weights, w_of_pair, n_w, n_p, model.wanted_match_share)
    model.calibration = fit_calibration(con, settings, model, gammas, w_of_pair, found, lgammas, n_w, n_p,
                                        int(cfg.get("labels_min_per_class", 30)))
    model.training["labels"] = {
        "rows": int(len(labels)), "unsure_dropped": unsure, "not_in_workspace": int(len(sure) - len(found)),
        "used": int(len(found)), "matches": int((y == 1).sum()), "non_matches": int((y == 0).sum()),
        "min_per_level": int(cfg.get("labels_min_per_level", 20)), "matches_per_level": used,
    }
    say(f"labels: {len(found):,} pairs used ({int((y == 1).sum()):,} match), {unsure:,} unsure dropped, "
        f"{len(sure) - len(found):,} not in this workspace; calibration: {model.calibration.get('method', 'none')}")


@dataclass
class Trained:
    """A trained model and each candidate pair's summed match weight under it, in `gammas`'
    order, as the scorer computes them: training needs them for the prior, and the run's scorer
    takes them instead of computing them again (12.7 s at 10M residents). None when labels
    changed m after they were computed."""

    model: Model
    weights: np.ndarray | None


def train(con: duckdb.DuckDBPyConnection, settings: Settings, gammas: Gammas, rules_hash: str,
          log: Log | None = None, labels: pd.DataFrame | None = None, n_persons: int | None = None) -> Model:
    """train_weighed's model."""
    return train_weighed(con, settings, gammas, rules_hash, log, labels, n_persons).model


def train_weighed(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    gammas: Gammas,
    rules_hash: str,
    log: Log | None = None,
    labels: pd.DataFrame | None = None,
    n_persons: int | None = None,
) -> Trained:
    """Fit a model on the candidate pairs in `pairs` (with their levels in `gammas`); with
    `labels` (linkage.labels.load_labels), m where labels suffice and a calibration map from them.
    `n_persons`: the register's persons when the caller counted them (a count over every record,
    2.4 s at 10M residents)."""
    say = log or (lambda _m: None)
    cfg = settings.model
    model = default_model(settings, rules_hash)
    defaults = default_model(settings, rules_hash)
    n_p = persons(con) if n_persons is None else n_persons
    n_u = sample_u_pairs(con, int(cfg.get("u_sample_pairs", 2_000_000)), int(cfg.get("seed", 42)), n_p)
    say(f"u: comparing {n_u:,} random pairs")
    seed = int(cfg.get("seed", 42))
    register = _RegisterPairs(con, settings, model, seed, n_p, also=["upairs"]) if _register_conditions(settings) else None
    if register is not None:
        how = "their records copied" if register.table != "reg" else "the register read whole"
        say(f"training's samples hold {register.sampled:,} of {n_p:,} register persons: {how}")
    try:  # the random pairs read training's copy of the register too
        random = compare(con, settings, source="upairs", only=_read_from_random(settings, model),
                         register=register.table if register else "reg")
        estimate_u(model, random)
        con.execute("DROP TABLE IF EXISTS upairs")
        estimate_u_given(con, settings, model, random, say, n_p, register)
    finally:
        if register is not None:
            register.close()

    n_w = con.execute("SELECT count(*) FROM w").fetchall()[0][0]
    rules_of_pair = con.execute("SELECT rules FROM pairs ORDER BY pair_idx").fetchnumpy()["rules"]
    rule_names = [r.name for r in settings.blocking]
    names = [c.name for c in model.comparisons]
    estimates: dict[int, list[np.ndarray]] = {}
    sessions = []
    for s in settings.sessions:
        bit = 1 << rule_names.index(s.rule)
        mask = (rules_of_pair[gammas.pair_idx] & bit) != 0
        estimate = [j for j, n in enumerate(names) if n not in s.fixed and not model.comparisons[j].absorbs]
        if mask.sum() < 50:
            model.warnings.append(f"EM session '{s.rule}': only {int(mask.sum())} pairs; skipped")
            continue
        # a wanted record has at most one person: the session's pairs hold about share x wanted
        # matches, a small part of them where the register is large (start there, not at one half)
        start = model.wanted_match_share * n_w / max(int(mask.sum()), 1)
        ms, lam, it = em_session(gammas.levels[mask], model, estimate, int(cfg.get("em_max_iterations", 25)),
                                 float(cfg.get("em_tolerance", 1e-4)), start=start,
                                 threads=int(settings.engine.get("threads", 2)))
        for j, m in ms.items():
            estimates.setdefault(j, []).append(m)
        sessions.append({"rule": s.rule, "pairs": int(mask.sum()), "match_share": round(lam, 6), "iterations": it})
        say(f"EM session {s.rule}: {int(mask.sum()):,} pairs, match share {lam:.3f}, {it} iterations")
    observed = {}
    for j, c in enumerate(model.comparisons):
        observed[j] = np.bincount(
            gammas.levels[gammas.levels[:, j] >= 0, j].astype(np.int64), minlength=len(c.levels)
        )[: len(c.levels)]
        if j in estimates:
            m = np.mean(estimates[j], axis=0)
            for k, lv in enumerate(c.levels):
                lv.m, lv.m_source = float(m[k]), f"EM ({len(estimates[j])} session(s))"
        elif c.absorbs:
            for lv in c.levels:
                lv.m_source = "rules (interaction term)"
        else:
            model.warnings.append(f"{c.name}: no EM session estimated m; m from the rules' defaults")
    _guard(model, defaults, observed, float(cfg.get("m_minimum", 0.001)))

    w_of_pair = con.execute("SELECT w_idx FROM pairs ORDER BY pair_idx").fetchnumpy()["w_idx"][gammas.pair_idx]
    weights = _weight_sums(con, settings, model, gammas.levels, w_of_pair)
    share, expected = estimate_share(weights, w_of_pair, n_w, n_p, model.wanted_match_share)
    if labels is not None and len(labels):
        model.wanted_match_share = share
        apply_labels(con, settings, model, gammas, w_of_pair, labels, n_w, n_p, say)
        share = model.wanted_match_share
        expected = share * n_w
        weights = None  # m from the labels: other weights
    model.wanted_match_share = share
    model.training = {
        **model.training,
        "u_random_pairs": n_u,
        "candidate_pairs": int(len(gammas.pair_idx)),
        "sessions": sessions,
        "expected_matches": round(expected, 2),
        "wanted": int(n_w),
        "persons": int(n_p),
    }
    say(f"prior: {expected:,.0f} wanted records expected to have their person in the register (share {share:.3f})")
    return Trained(model, weights)
