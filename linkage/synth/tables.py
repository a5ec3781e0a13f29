"""The frequency and code tables the generator samples from, loaded once as numpy arrays.

Generator-only tables live in `data_samples/generator/` (see its README for sources); the
administrative units, id codes and ethnic groups are the product's own tables in `rules/ref/`.
Names are kept as integer codes into one token vocabulary (`Vocab`) so that 1M people cost
a few int32 arrays and strings are only built once, column-wise, at the end.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from linkage.errors import RulesError
from linkage.rules import read_ref_csv
from linkage.synth import rates as R

GENERATOR_DIR = Path(__file__).resolve().parents[2] / "data_samples" / "generator"

MALE, FEMALE = 0, 1
REGIONS = ("north", "centre", "south")
HIGHLAND_NORTH = ("02", "04", "06", "08", "10", "11", "12", "14", "15", "17", "20")
HIGHLAND_CENTRAL = ("62", "64", "66", "67", "68")


def read_gen_csv(name: str, columns: tuple[str, ...] = ()) -> pd.DataFrame:
    """A generator table as strings, checked for the columns we use."""
    path = GENERATOR_DIR / name
    if not path.is_file():
        raise RulesError(f"generator table not found: {path}")
    df = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise RulesError(f"{path}: missing column(s) {', '.join(missing)}")
    return df


def piecewise(table: tuple[tuple[int, float], ...], x: np.ndarray) -> np.ndarray:
    """Step function: the value of the last (threshold, value) whose threshold <= x."""
    th = np.array([t for t, _ in table])
    vals = np.array([v for _, v in table], dtype=float)
    return vals[np.searchsorted(th, x, side="right") - 1]


@dataclass
class Categorical:
    """Token codes with their probabilities."""

    codes: np.ndarray
    p: np.ndarray

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        if n == 0:
            return np.zeros(0, dtype=np.int32)
        return self.codes[rng.choice(len(self.codes), size=n, p=self.p)]


class Vocab:
    """All name tokens; code 0 is the empty token."""

    def __init__(self) -> None:
        self.tokens: list[str] = [""]
        self.index: dict[str, int] = {"": 0}

    def code(self, token: str) -> int:
        token = "" if token == "(none)" else token
        if token not in self.index:
            self.index[token] = len(self.tokens)
            self.tokens.append(token)
        return self.index[token]

    def categorical(self, tokens, weights) -> Categorical:
        w = np.asarray(weights, dtype=float)
        codes = np.array([self.code(t) for t in tokens], dtype=np.int32)
        return Categorical(codes, w / w.sum())


@dataclass
class EthnicNaming:
    name: str
    templates: list[str]  # e.g. "S M G", "P G S"
    template_p: np.ndarray
    lineage: str  # patrilineal / matrilineal
    p_kinh_given: float
    p_kinh_middle: float
    parts: dict[str, Categorical] = field(default_factory=dict)


@dataclass
class Tables:
    vocab: Vocab
    # Kinh names
    kinh_surname: Categorical
    hoang: int
    huynh: int
    vu: int
    vo: int
    middle: dict[tuple[int, int], Categorical]  # (gender, n_words) -> middle tokens (a "token" may hold 2 words)
    classic_middle: dict[int, int]  # gender -> code of Văn / Thị
    given: dict[tuple[int, bool], Categorical]  # (gender, young) -> given names
    word_count: dict[tuple[int, str], np.ndarray]  # (gender, "sg01"/"ngxson") -> p over 2..5 words
    ethnic: list[EthnicNaming]
    ethnic_index: dict[str, int]
    ethnic_alt_spellings: dict[str, list[str]]
    ethnic_share: np.ndarray  # (n_provinces, n_ethnic) shares by hometown province
    nickname: np.ndarray
    offences: pd.DataFrame
    last_word: np.ndarray = None  # code of each token's last word (-1 if not a token itself)
    apostrophe: np.ndarray = None  # token ends with ' (a prefix written attached: H'Hen)


def _given_names(vocab: Vocab, ngx: pd.DataFrame, pub: pd.DataFrame, gender: str, sample_prefix: str) -> Categorical:
    g = ngx[(ngx.component == "given") & (ngx.gender == gender)]
    g = g[(g["count"].astype(int) >= R.GIVEN_NAME_MIN_COUNT) & g.token.str.fullmatch(r"[^\W\d_]+")]
    tail = g.set_index("token")["count"].astype(float)
    tail = tail / tail.sum()
    top = pub[(pub.gender == gender) & pub["sample"].str.startswith(sample_prefix)]
    top = top.groupby("given_name")["share_pct"].apply(lambda s: s.astype(float).sum())
    top = top / top.sum()
    mix = (R.PUBLISHED_GIVEN_WEIGHT * top).add((1 - R.PUBLISHED_GIVEN_WEIGHT) * tail, fill_value=0.0)
    mix = mix.sort_index()
    return vocab.categorical(mix.index.tolist(), mix.to_numpy())


def _kinh_surnames(vocab: Vocab, ngx: pd.DataFrame) -> Categorical:
    nat = read_gen_csv("surname_shares_national_published.csv", ("surname", "share_pct"))
    dkl = read_gen_csv("surname_counts_daklak_dkl01.csv", ("surname", "count"))
    shares = {r.surname: float(r.share_pct) / 100 for r in nat.itertuples()}
    rest = 1.0 - sum(shares.values())
    known = set(shares) | {"Huỳnh", "Võ"} | set(R.KINH_SURNAME_EXCLUDE)
    d = dkl[~dkl.surname.isin(known)]
    dcount = d["count"].astype(float)
    for s, c in zip(d.surname, dcount):
        shares[s] = rest * R.SURNAME_TAIL_DKL01_SHARE * c / dcount.sum()
    known |= set(d.surname)
    s = ngx[ngx.component == "surname"].groupby("token")["count"].apply(lambda x: x.astype(int).sum())
    s = s[(s >= R.SURNAME_TAIL_MIN_COUNT) & ~s.index.isin(known) & s.index.str.fullmatch(r"[^\W\d_]{2,}")]
    for tok, c in s.sort_index().items():
        shares[tok] = rest * (1 - R.SURNAME_TAIL_DKL01_SHARE) * c / s.sum()
    return vocab.categorical(list(shares), list(shares.values()))


def _middles(vocab: Vocab, ngx: pd.DataFrame) -> dict[tuple[int, int], Categorical]:
    out = {}
    m = ngx[ngx.component == "middle_full"].copy()
    m["n"] = np.where(m.token == "(none)", 0, m.token.str.count(" ") + 1)
    m = m[(m["count"].astype(int) >= 2) & (m.token.str.fullmatch(r"[^\W\d_]+( [^\W\d_]+)*") | (m.token == "(none)"))]
    for gi, g in ((MALE, "male"), (FEMALE, "female")):
        for n in range(4):
            sub = m[(m.gender == g) & (m.n == n)]
            if sub.empty:
                sub = m[(m.gender == g) & (m.n == n - 1)]
            out[(gi, n)] = vocab.categorical(sub.token.tolist(), sub["count"].astype(float).to_numpy())
    return out


def _word_counts() -> dict[tuple[int, str], np.ndarray]:
    wc = read_gen_csv("name_word_count_distribution.csv", ("source", "gender", "n_words", "share_pct"))
    out = {}
    for gi, g in ((MALE, "male"), (FEMALE, "female")):
        for key, prefix in (("sg01", "hoten.org SG01"), ("ngxson", "ngxson")):
            sub = wc[(wc.gender == g) & wc.source.str.startswith(prefix)]
            p = np.zeros(4)
            for r in sub.itertuples():
                if r.n_words.isdigit() and 2 <= int(r.n_words) <= 5:
                    p[int(r.n_words) - 2] = float(r.share_pct)
            out[(gi, key)] = p / p.sum()
    return out


def _ethnic(vocab: Vocab) -> tuple[list[EthnicNaming], dict[str, int]]:
    pat = read_gen_csv("ethnic_naming_patterns.csv", ("ethnicity", "templates", "lineage", "p_kinh_given", "p_kinh_middle"))
    tok = read_gen_csv("minority_name_tokens.csv", ("ethnicity", "part", "token", "weight"))
    known = set(read_ref_csv("ref/ethnic/ethnic_groups_54.csv", columns=("name",)).name)
    out, index = [], {}
    for r in pat.itertuples():
        if r.ethnicity not in known:
            raise RulesError(f"ethnic_naming_patterns.csv: unknown ethnicity {r.ethnicity!r}")
        tpl = [t.split(":") for t in r.templates.split(";")]
        e = EthnicNaming(r.ethnicity, [t for t, _ in tpl], np.array([float(w) for _, w in tpl]) / sum(float(w) for _, w in tpl),
                         r.lineage, float(r.p_kinh_given), float(r.p_kinh_middle))
        for part, sub in tok[tok.ethnicity == r.ethnicity].groupby("part", sort=True):
            e.parts[part] = vocab.categorical(sub.token.tolist(), sub.weight.astype(float).to_numpy())
        index[r.ethnicity] = len(out)
        out.append(e)
    if out[0].name != "Kinh":
        raise RulesError("ethnic_naming_patterns.csv: the first row must be Kinh")
    return out, index


def _alt_spellings() -> dict[str, list[str]]:
    eg = read_ref_csv("ref/ethnic/ethnic_groups_54.csv", columns=("name", "alternative_spellings_or_names"))
    out = {}
    for r in eg.itertuples():
        alts = [re.sub(r"\s*\(.*?\)", "", a).strip() for a in r.alternative_spellings_or_names.split(";")]
        out[r.name] = [a for a in alts if a and a != r.name]
    return out


@lru_cache(maxsize=1)
def load_tables(province_codes: tuple[str, ...]) -> Tables:
    """Load and shape every name/ethnicity table (cached: the tables never change in a run)."""
    vocab = Vocab()
    ngx = read_gen_csv("name_components_freq_ngxson.csv", ("component", "token", "gender", "count"))
    pub = read_gen_csv("given_names_top_published.csv", ("sample", "gender", "given_name", "share_pct"))
    kinh_surname = _kinh_surnames(vocab, ngx)
    middle = _middles(vocab, ngx)
    given = {
        (MALE, False): _given_names(vocab, ngx, pub, "male", "DKL01"),
        (MALE, True): _given_names(vocab, ngx, pub, "male", "DKL01"),
        (FEMALE, False): _given_names(vocab, ngx, pub, "female", "DKL01"),
        (FEMALE, True): _given_names(vocab, ngx, pub, "female", "SG01"),
    }
    ethnic, eindex = _ethnic(vocab)
    shares = read_gen_csv("ethnic_province_shares.csv", ("province_code", "ethnicity", "share"))
    mat = np.zeros((len(province_codes), len(ethnic)))
    pidx = {c: i for i, c in enumerate(province_codes)}
    for r in shares.itertuples():
        if r.province_code not in pidx or r.ethnicity not in eindex:
            raise RulesError(f"ethnic_province_shares.csv: unknown province/ethnicity {r.province_code}/{r.ethnicity}")
        mat[pidx[r.province_code], eindex[r.ethnicity]] += float(r.share)
    if (mat.sum(1) > 1).any():
        raise RulesError("ethnic_province_shares.csv: shares of a province exceed 1")
    mat[:, 0] = 1.0 - mat.sum(1)
    names = read_gen_csv("address_and_alias_names.csv", ("kind", "token"))
    off = read_gen_csv("offences.csv", ("offence", "weight", "p_special", "p_dangerous"))
    tables = Tables(
        vocab=vocab, kinh_surname=kinh_surname,
        hoang=vocab.code("Hoàng"), huynh=vocab.code("Huỳnh"), vu=vocab.code("Vũ"), vo=vocab.code("Võ"),
        middle=middle, classic_middle={MALE: vocab.code("Văn"), FEMALE: vocab.code("Thị")},
        given=given, word_count=_word_counts(), ethnic=ethnic, ethnic_index=eindex,
        ethnic_alt_spellings=_alt_spellings(), ethnic_share=mat,
        nickname=names[names.kind == "nickname"].token.to_numpy(dtype=object), offences=off,
    )
    tables.last_word = np.array([vocab.index.get(t.split()[-1], -1) if t else -1 for t in vocab.tokens])
    tables.apostrophe = np.array([t.endswith("'") for t in vocab.tokens])
    return tables
