"""The Fellegi-Sunter model: m and u per comparison level, the prior, and the match weights.

A model is a versioned JSON file: every level's m, u and where they came from, the prior, the
term-frequency source, the rules' hash and the package version. The weight of a level is
log2(m/u); a pair's match weight is the prior's log-odds plus the sum of its levels' weights.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from linkage import __version__
from linkage.errors import RulesError
from linkage.ingest.atomic import write_text
from linkage.settings import Settings

MODEL_FORMAT = 1
_P_FLOOR = 1e-9


@dataclass
class LevelParams:
    id: str
    m: float
    u: float
    m_source: str = "default"
    u_source: str = "default"
    # u given another comparison's agreement (Model.conditions, by condition name): used instead of
    # u for the pairs that meet the condition; a condition absent here: u stands.
    u_given: dict[str, float] = field(default_factory=dict)
    u_given_source: dict[str, str] = field(default_factory=dict)

    @property
    def weight(self) -> float:
        return math.log2(max(self.m, _P_FLOOR) / max(self.u, _P_FLOOR))


@dataclass
class ComparisonParams:
    name: str
    tf: dict[str, str]  # level id -> column whose value frequency replaces u at that level
    levels: list[LevelParams]
    # An interaction term (kind kinship): at the levels in `absorb_at`, the positive weights of the
    # comparisons in `absorbs` are taken back and this level's own weight stands for them jointly.
    absorbs: list[str] = field(default_factory=list)
    absorb_at: list[str] = field(default_factory=list)
    # Silent (weight 0) where another comparison is at one of the listed levels: the same fact
    # already counted there (rules `silent_at`; read from the rules, not trained).
    silent_at: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class Model:
    # Share of wanted records expected to have their person in the register; the prior for a run
    # is this share divided by the number of register persons, so a model carries across sizes.
    wanted_match_share: float
    comparisons: list[ComparisonParams]
    rules_hash: str
    version: str = __version__
    format: int = MODEL_FORMAT
    created: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    tf: dict = field(default_factory=dict)
    training: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    # Post-hoc calibration of match_probability fitted on reviewers' labels (linkage/calibrate.py);
    # empty: none, the probability is the model's own.
    calibration: dict = field(default_factory=dict)
    # Conditions under which the other comparisons' u is measured apart (train.estimate_u_given),
    # in the rules' order: [{"name", "comparison", "levels": [level ids], "pairs": n}]; empty:
    # comparisons are taken as independent.
    conditions: list[dict] = field(default_factory=list)

    def comparison(self, name: str) -> ComparisonParams:
        for c in self.comparisons:
            if c.name == name:
                return c
        raise KeyError(name)

    def identity(self) -> str:
        """The model's content without its creation time: what a run's identity depends on, so
        two trainings on the same pairs give the same run id and byte-identical outputs."""
        data = json.loads(self.to_json())
        data.pop("created", None)
        return json.dumps(data, ensure_ascii=False, sort_keys=True)

    def to_json(self) -> str:
        data = asdict(self)
        for c, cp in zip(data["comparisons"], self.comparisons):
            for lv, lp in zip(c["levels"], cp.levels):
                lv["weight"] = round(lp.weight, 6)
        return json.dumps(data, ensure_ascii=False, indent=2, sort_keys=False) + "\n"


def _absorption(settings: Settings) -> dict[str, tuple[list[str], list[str]]]:
    """Per comparison, (absorbs, absorb_at) from its rules, checked: an interaction term naming an
    unknown comparison or level would silently count the family twice."""
    names = [c.name for c in settings.comparisons]
    out = {}
    for c in settings.comparisons:
        absorbs = list(c.params.get("absorbs") or [])
        absorb_at = list(c.params.get("absorb_at") or [])
        where = f"{settings.path}: comparisons.{c.name}"
        unknown = [a for a in absorbs if a not in names or a == c.name]
        if unknown:
            raise RulesError(f"{where}.absorbs: unknown comparison(s) {unknown} (known: {', '.join(names)})")
        bad = [lv for lv in absorb_at if lv not in c.level_ids()]
        if bad:
            raise RulesError(f"{where}.absorb_at: unknown level(s) {bad} (levels: {', '.join(c.level_ids())})")
        if bool(absorbs) != bool(absorb_at):
            raise RulesError(f"{where}: absorbs and absorb_at go together")
        out[c.name] = (absorbs, absorb_at)
    return out


def _silences(settings: Settings) -> dict[str, dict[str, list[str]]]:
    """Per comparison, its `silent_at` from the rules ({other comparison: [levels]}), checked: a
    typo would leave a fact counted twice."""
    by_name = {c.name: c for c in settings.comparisons}
    out = {}
    for c in settings.comparisons:
        spec = c.params.get("silent_at") or {}
        where = f"{settings.path}: comparisons.{c.name}.silent_at"
        if not isinstance(spec, dict):
            raise RulesError(f"{where}: expected {{comparison: [levels]}}")
        for other, levels in spec.items():
            if other not in by_name or other == c.name:
                raise RulesError(f"{where}: unknown comparison {other!r} (known: {', '.join(by_name)})")
            bad = [lv for lv in levels or [] if lv not in by_name[other].level_ids()]
            if bad or not levels:
                raise RulesError(f"{where}.{other}: unknown or no levels {bad} (levels: {', '.join(by_name[other].level_ids())})")
        out[c.name] = {str(k): [str(x) for x in v] for k, v in spec.items()}
    return out


def default_model(settings: Settings, rules_hash: str, share: float = 0.9) -> Model:
    """The rules' default m and u: the fallback when training cannot estimate a level."""
    absorption, silences = _absorption(settings), _silences(settings)
    comps = [
        ComparisonParams(c.name, c.tf, [LevelParams(lv.id, lv.m, lv.u) for lv in c.levels], *absorption[c.name],
                         silences[c.name])
        for c in settings.comparisons
    ]
    tf_min = float(settings.model.get("tf_minimum", 1e-5))
    return Model(
        wanted_match_share=share,
        comparisons=comps,
        rules_hash=rules_hash,
        tf={"source": "register persons at run time: share of persons per value of the level's column", "minimum": tf_min},
    )


def save_model(model: Model, path: Path) -> Path:
    """Write atomically: a crash never leaves a half-written model file."""
    return write_text(model.to_json(), Path(path))


def load_model(path: Path, settings: Settings) -> Model:
    """Read a model file and check it fits the rules' comparisons and levels."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RulesError(f"model file not found: {path}") from None
    except json.JSONDecodeError as exc:
        raise RulesError(f"{path}: not a valid model file: {exc}") from None
    if data.get("format") != MODEL_FORMAT:
        raise RulesError(f"{path}: model format {data.get('format')} not supported (expected {MODEL_FORMAT})")
    comps = []
    for c in data["comparisons"]:
        levels = [LevelParams(lv["id"], lv["m"], lv["u"], lv.get("m_source", ""), lv.get("u_source", ""),
                              *_u_given(lv)) for lv in c["levels"]]
        comps.append(ComparisonParams(c["name"], dict(c.get("tf") or {}), levels,
                                      list(c.get("absorbs") or []), list(c.get("absorb_at") or [])))
    model = Model(
        wanted_match_share=float(data["wanted_match_share"]),
        comparisons=comps,
        rules_hash=data.get("rules_hash", ""),
        version=data.get("version", ""),
        format=data["format"],
        created=data.get("created", ""),
        tf=data.get("tf", {}),
        training=data.get("training", {}),
        warnings=data.get("warnings", []),
        calibration=data.get("calibration", {}) or {},
        conditions=_conditions(data),
    )
    expected = [(c.name, c.level_ids()) for c in settings.comparisons]
    found = [(c.name, [lv.id for lv in c.levels]) for c in comps]
    if expected != found:
        raise RulesError(
            f"{path}: the model's comparisons and levels do not match {settings.path}; "
            "train a new model with `linkage train`"
        )
    absorption = _absorption(settings)
    if any((c.absorbs, c.absorb_at) != absorption[c.name] for c in comps):
        raise RulesError(
            f"{path}: the model's interaction terms (absorbs, absorb_at) do not match {settings.path}; "
            "train a new model with `linkage train`"
        )
    for c, silent in zip(comps, _silences(settings).values()):  # a scoring rule, not a trained value
        c.silent_at = silent
    return model


def _u_given(level: dict) -> tuple[dict[str, float], dict[str, str]]:
    """A level's conditional u; model files written before conditions were general kept only the
    namesake one (`u_namesake`)."""
    if level.get("u_namesake") is not None:
        return {"namesake": level["u_namesake"]}, {"namesake": level.get("u_namesake_source", "")}
    return dict(level.get("u_given") or {}), dict(level.get("u_given_source") or {})


def _conditions(data: dict) -> list[dict]:
    if data.get("namesake"):  # the earlier single-condition form
        return [{"name": "namesake", **data["namesake"]}]
    return list(data.get("conditions") or [])


def level_weights(model: Model) -> list[np.ndarray]:
    """Per comparison, the weight of each level (index = level)."""
    return [np.array([lv.weight for lv in c.levels]) for c in model.comparisons]


def run_prior(model: Model, n_persons: int) -> float:
    """Probability that a random (wanted, person) pair is a match, for this register's size."""
    return float(min(max(model.wanted_match_share / max(n_persons, 1), 1e-15), 0.5))


def prior_weight(prior: float) -> float:
    return math.log2(prior / (1.0 - prior))


TfValues = dict[str, dict[int, np.ndarray]]  # comparison -> level index -> per-pair frequency


@dataclass(frozen=True)
class WeightPlan:
    """match_weights' tables, read from a model once. A desk call weighs two or three pairs, where
    looking levels, conditions and interactions up in the model again cost more than the weighing;
    each table holds the numbers the model's own formulas give, so weights are the same to the bit.
    Level tables are C x (L + 1), L the most levels of a comparison: a null level (-1) reads the
    last column."""

    weights: np.ndarray  # each level's weight; 0 in the last column
    tf_m: dict[tuple[int, int], float]  # (comparison, level) -> max(m, floor), for its TF weight
    held: list[tuple[str, int, np.ndarray]]  # a condition: its name, comparison and levels (mask)
    ratios: dict[str, np.ndarray]  # per condition: log2(u / u_given), NaN where not measured
    floors: np.ndarray  # log2(m): no corrected weight goes below it
    silent: list[tuple[int, int, np.ndarray]]  # (comparison, the other, the other's levels (mask))
    absorbs: list[tuple[int, np.ndarray, list[int]]]  # (interaction, its absorb_at mask, absorbed)


def _mask(model: Model, comparison: str, level_ids: list[str], width: int) -> np.ndarray:
    """condition_rows' test as a table: True at the listed levels' indices, False at -1 (last)."""
    ids = [lv.id for lv in model.comparison(comparison).levels]
    out = np.zeros(width, bool)
    out[[ids.index(lv) for lv in level_ids]] = True
    return out


def weight_plan(model: Model) -> WeightPlan:
    comps = model.comparisons
    width = max((len(c.levels) for c in comps), default=0) + 1
    index = {c.name: j for j, c in enumerate(comps)}
    weights = np.zeros((len(comps), width))
    floors = np.zeros((len(comps), width))
    for j, (c, w) in enumerate(zip(comps, level_weights(model))):
        weights[j, :len(w)] = w
        floors[j, :len(c.levels)] = np.log2(np.maximum([p.m for p in c.levels], _P_FLOOR))
    ratios = {}
    for cond in model.conditions:
        r = np.full((len(comps), width), np.nan)
        for j, c in enumerate(comps):
            r[j, :len(c.levels)] = [math.log2(max(p.u, _P_FLOOR) / max(p.u_given[cond["name"]], _P_FLOOR))
                                    if cond["name"] in p.u_given else np.nan for p in c.levels]
        ratios[cond["name"]] = r
    return WeightPlan(
        weights=weights,
        tf_m={(j, k): max(lv.m, _P_FLOOR) for j, c in enumerate(comps) for k, lv in enumerate(c.levels)},
        held=[(cond["name"], index[cond["comparison"]], _mask(model, cond["comparison"], cond["levels"], width))
              for cond in model.conditions],
        ratios=ratios, floors=floors,
        silent=[(j, index[other], _mask(model, other, ids, width))
                for j, c in enumerate(comps) for other, ids in c.silent_at.items()],
        absorbs=[(j, _mask(model, c.name, c.absorb_at, width), [index[a] for a in c.absorbs])
                 for j, c in enumerate(comps) if c.absorbs],
    )


def plain_weights(levels: np.ndarray, model: Model, plan: WeightPlan | None = None) -> np.ndarray:
    """Each comparison's level weight for each pair (n x C), null levels 0: no term frequency,
    no condition, no interaction (what match_weights and EM's posterior start from)."""
    plan = plan or weight_plan(model)
    return np.ascontiguousarray(plan.weights[np.arange(levels.shape[1])[None, :], levels])


def match_weights(levels: np.ndarray, model: Model, tf_values: TfValues | None = None,
                  plan: WeightPlan | None = None) -> np.ndarray:
    """Weight of each comparison for each pair (n x C); null levels weigh 0. `plan`: the model's
    weight_plan, when the caller keeps one (else read from the model here).

    At a term-frequency level, u is the frequency of the wanted record's value among register
    persons instead of the average u, so "Nguyễn" agreeing is worth little and a rare name a lot.
    """
    plan = plan or weight_plan(model)
    tf_values = tf_values or {}
    tf_min = float(model.tf.get("minimum", 1e-5))
    out = plain_weights(levels, model, plan)
    for j, c in enumerate(model.comparisons):
        per = tf_values.get(c.name)
        if not per:
            continue
        lv = levels[:, j]
        for k, freq in per.items():
            at = lv == k
            out[at, j] = np.log2(plan.tf_m[j, k] / np.fmax(freq[at], tf_min))  # NaN: nobody holds it
    conditional_correction(levels, model, out, plan)
    silence(levels, model, out, plan)
    return absorb(levels, model, out, plan)


def silence(levels: np.ndarray, model: Model, weights: np.ndarray, plan: WeightPlan | None = None) -> np.ndarray:
    """Zero a comparison's weight where another is at one of its `silent_at` levels (in place).

    Why: a person's evidence is merged over their records, each comparison at its best level. An
    ID card issued before a change of name carries the old name; the residents record carries the
    new one with the old as an other name. Against a notice with the old name, the full name
    agrees (card) and an other name equals the name (residents): one fact, "this person has been
    called so", counted twice (a namesake of a renamed person reached 26 bits)."""
    plan = plan or weight_plan(model)
    for j, other, at in plan.silent:
        weights[at[levels[:, other]], j] = 0.0
    return weights


def condition_rows(levels: np.ndarray, model: Model, comparison: str, level_ids: list[str]) -> np.ndarray:
    """The pairs whose `comparison` is at one of `level_ids`: where a condition holds."""
    j = [c.name for c in model.comparisons].index(comparison)
    return _mask(model, comparison, level_ids, len(model.comparison(comparison).levels) + 1)[levels[:, j]]


_BLOCK = 32_768  # rows of conditional_correction's n x C temporaries at a time


def conditional_correction(levels: np.ndarray, model: Model, weights: np.ndarray,
                           plan: WeightPlan | None = None) -> np.ndarray:
    """Where a condition holds (the full name agrees; the birth place agrees), weigh the other
    comparisons against the non-matches that meet it, not against strangers (in place): each
    level's weight gains log2(u / u_given).

    Why: Fellegi-Sunter multiplies P(agreement | non-match) over comparisons as if independent.
    They are not. Vietnamese names are regional and generational, so a namesake shares the
    province, the gender, the father's family name far more often than a random person; and most
    people still live in or near the province they were born in, whose hometown (quê quán,
    inherited from the father) is often that province too, so "same birth province, same
    hometown province, same address province" is one fact counted three times. The chain rule,
    P(a, b | non-match) = P(a | non-match) * P(b | a, non-match), asks for u given the first
    agreement; training measures it (linkage/train.py). A corrected weight is never below
    log2(m) (u is at most 1). Where several conditions hold, the one
    under which the pair's level is least surprising among non-matches (the largest u_given, the
    smallest weight) stands: the joint u is not measured, and counting a fact twice is the error
    this corrects. A model without conditions is unchanged."""
    plan = plan or weight_plan(model)
    for lo in range(0, len(levels), _BLOCK):
        _correct(levels[lo:lo + _BLOCK], plan, weights[lo:lo + _BLOCK])
    return weights


def _correct(levels: np.ndarray, plan: WeightPlan, weights: np.ndarray) -> None:
    """conditional_correction over a block of rows (`weights` a view, changed in place). Each
    condition reads only the rows where it holds (the whole block for each of a dozen conditions
    was most of EM's and the scorer's time at 10M residents)."""
    cols = np.arange(levels.shape[1])[None, :]
    best = None
    for name, j, mask in plan.held:
        at = np.flatnonzero(mask[levels[:, j]])
        if not at.size:
            continue
        ratio = plan.ratios[name][cols, levels[at]]  # NaN where not measured, and at a null level (-1: the last column)
        if best is None:
            best = np.full(levels.shape, np.nan)
        best[at] = np.fmin(best[at], ratio)  # fmin keeps the number where one side is NaN
    if best is None:
        return
    has = ~np.isnan(best)
    # u given a condition is at most 1, so no agreement weighs less than log2(m): at a
    # term-frequency level the ratio applied to a common value's frequency could go below
    weights[has] = np.maximum(weights[has] + best[has], plan.floors[cols, levels][has])


def absorb(levels: np.ndarray, model: Model, weights: np.ndarray, plan: WeightPlan | None = None) -> np.ndarray:
    """Apply the interaction terms (in place): where an interaction comparison is at one of its
    `absorb_at` levels, its term becomes its level weight minus the positive weights of the
    comparisons it `absorbs`, and never more than 0.

    Why: Fellegi-Sunter adds weights as if comparisons were independent. For a sibling (same
    parents, family name, places; another given name and birth date) they are not: each of those
    agreements follows from the first, so adding them counts one fact, "same family", five times.
    The interaction keeps every term visible (the absorbed columns are unchanged) and adds one
    negative column that takes the surplus back, leaving the family's evidence worth the level's
    own weight at most. It never adds: agreements that depend on one another are jointly at least
    as common among non-matches as their product says, so the joint weight is at most their sum (a
    father's name and a family name worth 10 bits were raised to the level's 18)."""
    plan = plan or weight_plan(model)
    for j, mask, cols in plan.absorbs:
        at = mask[levels[:, j]]
        if not at.any():
            continue
        surplus = np.maximum(weights[np.ix_(at, cols)], 0.0).sum(axis=1)
        weights[at, j] = np.minimum(weights[at, j] - surplus, 0.0)
    return weights


def probability(weight: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp2(-weight))
