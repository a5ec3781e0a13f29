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


def plain_weights(levels: np.ndarray, model: Model) -> np.ndarray:
    """Each comparison's level weight for each pair (n x C), null levels 0: no term frequency,
    no condition, no interaction (what match_weights and EM's posterior start from)."""
    out = np.zeros(levels.shape, dtype=np.float64)
    for j, w in enumerate(level_weights(model)):
        lv = levels[:, j]
        has = lv >= 0
        out[has, j] = w[lv[has]]
    return out


def match_weights(levels: np.ndarray, model: Model, tf_values: TfValues | None = None) -> np.ndarray:
    """Weight of each comparison for each pair (n x C); null levels weigh 0.

    At a term-frequency level, u is the frequency of the wanted record's value among register
    persons instead of the average u, so "Nguyễn" agreeing is worth little and a rare name a lot.
    """
    tf_values = tf_values or {}
    tf_min = float(model.tf.get("minimum", 1e-5))
    out = plain_weights(levels, model)
    for j, c in enumerate(model.comparisons):
        lv = levels[:, j]
        for k, freq in tf_values.get(c.name, {}).items():
            at = lv == k
            tf = np.maximum(np.nan_to_num(freq[at], nan=tf_min), tf_min)
            out[at, j] = np.log2(max(c.levels[k].m, _P_FLOOR) / tf)
    conditional_correction(levels, model, out)
    silence(levels, model, out)
    return absorb(levels, model, out)


def silence(levels: np.ndarray, model: Model, weights: np.ndarray) -> np.ndarray:
    """Zero a comparison's weight where another is at one of its `silent_at` levels (in place).

    Why: a person's evidence is merged over their records, each comparison at its best level. An
    ID card issued before a change of name carries the old name; the residents record carries the
    new one with the old as an other name. Against a notice with the old name, the full name
    agrees (card) and an other name equals the name (residents): one fact, "this person has been
    called so", counted twice (a namesake of a renamed person reached 26 bits)."""
    for j, c in enumerate(model.comparisons):
        for other, level_ids in c.silent_at.items():
            weights[condition_rows(levels, model, other, level_ids), j] = 0.0
    return weights


def condition_rows(levels: np.ndarray, model: Model, comparison: str, level_ids: list[str]) -> np.ndarray:
    """The pairs whose `comparison` is at one of `level_ids`: where a condition holds."""
    ids = [lv.id for lv in model.comparison(comparison).levels]
    j = [c.name for c in model.comparisons].index(comparison)
    return np.isin(levels[:, j], [ids.index(lv) for lv in level_ids])


def conditional_correction(levels: np.ndarray, model: Model, weights: np.ndarray) -> np.ndarray:
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
    if not model.conditions:
        return weights
    held = []
    for cond in model.conditions:
        at = condition_rows(levels, model, cond["comparison"], cond["levels"])
        if at.any():
            held.append((cond["name"], at))
    for j, c in enumerate(model.comparisons):
        lv = levels[:, j]
        best = np.full(len(lv), np.nan)
        for name, at in held:
            ratio = np.array([math.log2(max(p.u, _P_FLOOR) / max(p.u_given[name], _P_FLOOR))
                              if name in p.u_given else np.nan for p in c.levels])
            if np.isnan(ratio).all():
                continue
            rows = at & (lv >= 0)
            best[rows] = np.fmin(best[rows], ratio[lv[rows]])
        has = ~np.isnan(best)
        # u given a condition is at most 1, so no agreement weighs less than log2(m): at a
        # term-frequency level the ratio applied to a common value's frequency could go below
        floor = np.log2(np.maximum([p.m for p in c.levels], _P_FLOOR))[lv[has]]
        weights[has, j] = np.maximum(weights[has, j] + best[has], floor)
    return weights


def absorb(levels: np.ndarray, model: Model, weights: np.ndarray) -> np.ndarray:
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
    index = {c.name: j for j, c in enumerate(model.comparisons)}
    for j, c in enumerate(model.comparisons):
        if not c.absorbs:
            continue
        ids = [lv.id for lv in c.levels]
        at = np.isin(levels[:, j], [ids.index(k) for k in c.absorb_at])
        if not at.any():
            continue
        cols = [index[a] for a in c.absorbs]
        surplus = np.maximum(weights[np.ix_(at, cols)], 0.0).sum(axis=1)
        weights[at, j] = np.minimum(weights[at, j] - surplus, 0.0)
    return weights


def probability(weight: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp2(-weight))
