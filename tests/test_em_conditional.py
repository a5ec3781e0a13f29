"""EM weighs a session's non-matches as scoring does: where a condition holds (namesakes), against
the u measured among pairs that meet it. Against strangers' u, namesakes who share a gender and a
province look like matches, and a session of namesakes was called 99% matches at 5M residents."""

from __future__ import annotations

import numpy as np

from linkage.model import ComparisonParams, LevelParams, Model
from linkage.train import em_session

N, MATCHES = 4000, 200  # every pair shares the full name; 5% are the same person


def _model(with_condition: bool) -> Model:
    def level(id_: str, m: float, u: float, u_namesake: float | None = None) -> LevelParams:
        given = {"namesake": u_namesake} if with_condition and u_namesake is not None else {}
        return LevelParams(id_, m, u, u_given=given)

    comparisons = [
        ComparisonParams("full_name", {}, [level("exact", 0.9, 0.001), level("else", 0.1, 0.999)]),
        ComparisonParams("gender", {}, [level("exact", 0.9, 0.5, 0.97), level("else", 0.1, 0.5, 0.03)]),
        ComparisonParams("hometown", {}, [level("same", 0.5, 0.01, 0.3), level("else", 0.5, 0.99, 0.7)]),
        ComparisonParams("address", {}, [level("same", 0.5, 0.005, 0.2), level("else", 0.5, 0.995, 0.8)]),
    ]
    conditions = [{"name": "namesake", "comparison": "full_name", "levels": ["exact"], "pairs": 1000}]
    return Model(0.9, comparisons, "test", conditions=conditions if with_condition else [])


def _namesake_pairs() -> np.ndarray:
    """Matches agree on gender and hometown and 70% on the address; the namesakes share the gender
    97% of the time, the hometown 30% and the address 20% (names are gendered and regional)."""
    rng = np.random.default_rng(7)
    levels = np.zeros((N, 4), dtype=np.int8)
    levels[:MATCHES, 3] = (rng.random(MATCHES) >= 0.7).astype(np.int8)
    non = np.arange(MATCHES, N)
    for j, share in ((1, 0.97), (2, 0.30), (3, 0.20)):
        levels[non, j] = (rng.random(len(non)) >= share).astype(np.int8)
    return levels


START = MATCHES / N  # train starts a session at share x wanted / its pairs


def test_em_on_namesakes_finds_their_share_with_the_namesakes_u():
    levels = _namesake_pairs()
    _, share, _ = em_session(levels, _model(True), [1, 2, 3], max_iter=25, tol=1e-4, start=START)
    _, share_strangers, _ = em_session(levels, _model(False), [1, 2, 3], max_iter=25, tol=1e-4, start=START)
    assert abs(share - MATCHES / N) < 0.03
    # the same pairs against strangers' u: namesakes sharing a gender and a hometown pass for matches
    assert share_strangers > 0.9


def test_em_m_estimates_come_from_the_matches():
    ms, _, _ = em_session(_namesake_pairs(), _model(True), [1, 2, 3], max_iter=25, tol=1e-4, start=START)
    assert ms[2][0] > 0.8  # the matches all share the hometown; the namesakes 30%
