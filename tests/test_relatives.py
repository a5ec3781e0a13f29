"""`linkage relatives`: crafted families (common mother's name, identity exclusion) and a small
generated population with families checked against the generator's truth."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import cli
from linkage.relatives.run import find_relatives
from linkage.synth import generate

SAMPLE = Path(__file__).resolve().parents[1] / "data_samples" / "sample"
HOME_A = "Xã Văn Lang, Huyện Hạ Hòa, Tỉnh Phú Thọ"
ADDR_A = "Thôn 3, Xã Văn Lang, Huyện Hạ Hòa, Tỉnh Phú Thọ"
OTHER_HOMES = ["Phường Long Hoa, Tỉnh Tây Ninh", "Thành phố Huế", "Xã Tân Phong, Tỉnh Sơn La",
               "Phường 3, Thành phố Đà Lạt, Tỉnh Lâm Đồng", "Xã Bình Nam, Huyện Thăng Bình, Tỉnh Quảng Nam",
               "Xã Đông Hải, Tỉnh Cà Mau"]


def _resident(pid: str, name: str, gender: str, birth: str, home: str, addr: str, father: str = "",
              mother: str = "", status: str = "alive") -> dict[str, str]:
    return {"person_id": pid, "full_name": name, "other_names": "", "gender": gender, "birth_date": birth,
            "birth_place": "", "hometown": home, "permanent_address": addr, "current_address": addr,
            "ethnicity": "Kinh", "father_name": father, "mother_name": mother, "status": status,
            "updated_at": "2024-05-01"}


def _wanted(wid: str, name: str, gender: str, birth: str, home: str, father: str, mother: str) -> dict[str, str]:
    return {"wanted_id": wid, "full_name": name, "other_names": "", "gender": gender, "birth_date": birth,
            "birth_place": "", "hometown": home, "permanent_address": ADDR_A, "current_address": "",
            "ethnicity": "Kinh", "id_number": "", "father_name": father, "mother_name": mother,
            "decision_number": "1/QĐ-CSĐT", "decision_date": "01/02/2020",
            "issuing_unit": "Cơ quan Cảnh sát điều tra Công an tỉnh Phú Thọ", "offence": "Trộm cắp tài sản",
            "danger_level": "thường"}


def _write(d: Path, wanted: list[dict], residents: list[dict]) -> tuple[Path, Path]:
    d.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(wanted).to_csv(d / "wanted.csv", index=False)
    pd.DataFrame(residents).to_csv(d / "residents.csv", index=False)
    return d / "wanted.csv", d / "residents.csv"


def _relatives(tmp_path: Path, wanted: list[dict], residents: list[dict], name: str = "out", **kw) -> pd.DataFrame:
    """Write the inputs, run `linkage relatives` into tmp_path/name, return relatives.parquet."""
    w, r = _write(tmp_path / f"in_{name}", wanted, residents)
    find_relatives(w, r, tmp_path / name, **kw)
    return pd.read_parquet(tmp_path / name / "relatives.parquet")


def _filler(n: int) -> list[dict]:
    """Unrelated register persons, so the term frequencies describe a register, not a family."""
    res = pd.read_csv(SAMPLE / "residents.csv", dtype=str, keep_default_na=False).head(n)
    return res.to_dict("records")


def test_common_mothers_name_alone_does_not_make_a_mother(tmp_path: Path) -> None:
    """Six women called Nguyễn Thị Lan, of the right age, none sharing a place or a household with
    the wanted person: none is a probable mother. A woman with a rare name who shares the
    hometown commune and lives with a daughter of the same father is."""
    lans = [_resident(f"0011600000{i:02d}", "Nguyễn Thị Lan", "Nữ", f"0{i + 1}/03/196{i}", OTHER_HOMES[i],
                      f"Thôn 1, {OTHER_HOMES[i]}") for i in range(6)]
    hoa = _resident("025150000001", "Đinh Thị Hòa", "Nữ", "12/05/1958", HOME_A, ADDR_A)
    self_rec = _resident("025185000001", "Đỗ Văn Hùng", "Nam", "10/10/1985", HOME_A, ADDR_A,
                         father="Đỗ Văn Tám", mother="Đinh Thị Hòa")
    sister = _resident("025183000002", "Đỗ Thị Mai", "Nữ", "02/02/1983", HOME_A, ADDR_A,
                       father="Đỗ Văn Tám", mother="Đinh Thị Hòa")
    wanted = [_wanted("TN-1", "Lê Văn Hùng", "Nam", "1985", HOME_A, "Lê Văn Bảy", "Nguyễn Thị Lan"),
              _wanted("TN-2", "Đỗ Văn Hùng", "Nam", "10/10/1985", HOME_A, "Đỗ Văn Tám", "Đinh Thị Hòa")]
    out = _relatives(tmp_path, wanted, lans + [hoa, self_rec, sister] + _filler(3000))
    m1 = out[(out["wanted_id"] == "TN-1") & (out["relation"] == "mother")]
    assert not m1["probable"].any()
    assert (m1["probability"] < 0.5).all()
    m2 = out[(out["wanted_id"] == "TN-2") & (out["relation"] == "mother")]
    top = m2.iloc[0]
    assert top["person_id"] == "025150000001" and top["probable"] and top["rank"] == 1
    # term frequency: agreeing on a name six register women hold weighs less than on a rare one
    assert (m1["mw_name"] < top["mw_name"] - 2).all()
    assert top["explanation"].startswith("mẹ: tên trùng Đinh Thị Hòa")
    assert "quê quán cùng xã" in top["explanation"]
    # household evidence: a register child living with her whose father's name is the wanted's father
    assert "có con tên Đỗ Thị Mai sinh 1983 cùng tên bố Đỗ Văn Tám" in top["explanation"]
    # the wanted person's own register record is the identity, never a sibling or child
    assert "025185000001" not in set(out.loc[out["wanted_id"] == "TN-2", "person_id"])
    ex = pd.read_parquet(tmp_path / "out" / "identity_excluded.parquet")
    assert ("TN-2", "025185000001") in set(zip(ex["wanted_id"], ex["person_id"]))


def _changed_name_family(tmp_path: Path) -> tuple[Path, Path]:
    parents = dict(father="Trần Văn Quân", mother="Phạm Thị Nguyệt")
    renamed = _resident("025190000002", "Trần Minh Khang", "Nam", "03/04/1990", HOME_A, ADDR_A, **parents)
    brother = _resident("025187000003", "Trần Văn Khánh", "Nam", "21/08/1987", HOME_A, ADDR_A, **parents)
    wanted = [_wanted("TN-7", "Trần Văn Khoa", "Nam", "03/04/1990", HOME_A, **parents)]
    return _write(tmp_path / "in", wanted, [renamed, brother] + _filler(2000))


def test_changed_name_is_reported_once_as_identity(tmp_path: Path) -> None:
    """The wanted person lives in the register under a new given name: with the run's matches
    it is the identity candidate (listed in identity_excluded), not a sibling; the real brother
    stays a probable sibling. Without --matches the same record would be a sibling."""
    w, r = _changed_name_family(tmp_path)
    find_relatives(w, r, tmp_path / "plain")
    plain = pd.read_parquet(tmp_path / "plain" / "relatives.parquet")
    sibs = plain[(plain["relation"] == "sibling") & plain["probable"]]
    assert {"025190000002", "025187000003"} <= set(sibs["person_id"])

    matches = tmp_path / "matches.parquet"
    pq.write_table(pa.table({"wanted_id": ["TN-7", "TN-7"], "person_id": ["025190000002", "025187000003"],
                             "rank": [1, 2], "match_probability": [0.97, 0.30]}), matches)
    res = find_relatives(w, r, tmp_path / "with", matches=matches)
    out = pd.read_parquet(tmp_path / "with" / "relatives.parquet")
    assert "025190000002" not in set(out["person_id"])
    sib = out[(out["relation"] == "sibling") & (out["person_id"] == "025187000003")]
    assert len(sib) == 1 and sib["probable"].all()
    assert "cùng tên mẹ Phạm Thị Nguyệt" in sib["explanation"].iloc[0]
    ex = pd.read_parquet(tmp_path / "with" / "identity_excluded.parquet")
    assert list(zip(ex["wanted_id"], ex["person_id"])) == [("TN-7", "025190000002")]
    assert ex["reason"].iloc[0].startswith("matches p=0.97")
    assert res.counts["identity_excluded"] == 1 and "matches" in res.identity_source


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("fam")
    generate(6000, 300, 3, d, families=True)
    return d


def test_generator_families_truth(generated: Path) -> None:
    """truth_relatives.csv: parents' register names equal the wanted person's parents' names as
    the register records them, parents born 15-55 years earlier, children named after them."""
    res = pd.read_csv(generated / "residents.csv", dtype=str, keep_default_na=False).set_index("person_id")
    truth = pd.read_csv(generated / "truth.csv", dtype=str, keep_default_na=False).set_index("wanted_id")
    rel = pd.read_csv(generated / "truth_relatives.csv", dtype=str, keep_default_na=False)
    assert set(rel["relation"]) == {"father", "mother", "sibling", "child"}
    me = res.loc[truth.loc[rel["wanted_id"], "person_id"].to_numpy()].reset_index()
    them = res.loc[rel["person_id"]].reset_index()
    year = lambda s: s.str[-4:].astype(int)  # noqa: E731
    for kind, col, gender in (("father", "father_name", "Nam"), ("mother", "mother_name", "Nữ")):
        sel = (rel["relation"] == kind).to_numpy()
        known = me.loc[sel, col] != ""
        assert (me.loc[sel, col][known].to_numpy() == them.loc[sel, "full_name"][known].to_numpy()).all()
        assert (them.loc[sel, "gender"] == gender).all()
        gap = year(me.loc[sel, "birth_date"]).to_numpy() - year(them.loc[sel, "birth_date"]).to_numpy()
        assert ((gap >= 15) & (gap <= 55)).all()
    ch = (rel["relation"] == "child").to_numpy()
    blank = (them.loc[ch, "father_name"] == "").to_numpy() & (them.loc[ch, "mother_name"] == "").to_numpy()
    named = blank | (them.loc[ch, "father_name"].to_numpy() == me.loc[ch, "full_name"].to_numpy()) | (
        them.loc[ch, "mother_name"].to_numpy() == me.loc[ch, "full_name"].to_numpy())
    assert named.all() and not blank.all()


def test_generated_families_found(generated: Path, tmp_path: Path) -> None:
    """Parents, siblings and children of generated wanted persons, found through the CLI."""
    out = tmp_path / "out"
    got = CliRunner().invoke(cli.app, ["relatives", "--wanted", str(generated / "wanted.csv"),
                                       "--residents", str(generated / "residents.csv"),
                                       "--id-cards", str(generated / "id_cards.csv"), "--out", str(out), "--json"])
    assert got.exit_code == 0, got.output
    summary = json.loads(got.output)
    assert summary["counts"]["probable"]["sibling"] > 0
    table = pd.read_parquet(out / "relatives.parquet")
    assert {"wanted_id", "relation", "rank", "person_id", "full_name", "birth_year", "current_address", "status",
            "probability", "mw_name", "mw_mother", "explanation"} <= set(table.columns)
    truth = pd.read_csv(generated / "truth_relatives.csv", dtype=str, keep_default_na=False)
    wanted = pd.read_csv(generated / "wanted.csv", dtype=str, keep_default_na=False).set_index("wanted_id")
    listed = table[table["probable"]]
    hit = listed.merge(truth.assign(ok=True), on=["wanted_id", "relation", "person_id"], how="left")["ok"].fillna(False)
    assert hit.mean() >= 0.8  # precision over all relations
    for rel, col in (("father", "father_name"), ("mother", "mother_name"), ("sibling", "mother_name")):
        t = truth[(truth["relation"] == rel) & (truth["wanted_id"].map(wanted[col]) != "")]
        found = t.merge(listed, on=["wanted_id", "relation", "person_id"])
        assert len(found) / len(t) >= 0.7, rel
    kids = truth[truth["relation"] == "child"].merge(listed, on=["wanted_id", "relation", "person_id"])
    assert len(kids) > 0
    dead = table[table["status"] == "deceased"]
    assert dead["explanation"].str.contains("đã mất").all()


def test_bad_rules_exit_3(tmp_path: Path) -> None:
    """A broken rules/relatives.yaml is a rules error (exit 3) naming the file and key."""
    import shutil
    rules = tmp_path / "rules"
    shutil.copytree(Path(__file__).resolve().parents[1] / "rules", rules)
    text = re.sub(r"^threshold: [0-9.]+", "threshold: 1.5", (rules / "relatives.yaml").read_text(encoding="utf-8"),
                  flags=re.M)
    assert "threshold: 1.5" in text
    (rules / "relatives.yaml").write_text(text, encoding="utf-8")
    got = CliRunner().invoke(cli.app, ["relatives", "--wanted", str(SAMPLE / "wanted.csv"), "--residents",
                                       str(SAMPLE / "residents.csv"), "--out", str(tmp_path / "o"), "--rules", str(rules)])
    assert got.exit_code == 3
    assert "relatives.yaml" in got.output and "threshold" in got.output


def test_no_candidate_gives_empty_outputs(tmp_path: Path) -> None:
    """A wanted record with no relative in the register: empty tables with the full schema."""
    w, r = _write(tmp_path / "in", [_wanted("TN-9", "Lê Văn An", "Nam", "1980", HOME_A, "Lê Văn Ba", "Hà Thị Cúc")],
                  [_resident("025150000001", "Phạm Thị Ý", "Nữ", "1950", HOME_A, ADDR_A)])
    res = find_relatives(w, r, tmp_path / "out")
    out = pd.read_parquet(tmp_path / "out" / "relatives.parquet")
    assert len(out) == 0 and {"wanted_id", "relation", "probability", "mw_name", "explanation"} <= set(out.columns)
    assert res.counts["probable"] == {"father": 0, "mother": 0, "sibling": 0, "child": 0}
    summary = json.loads((tmp_path / "out" / "relatives_summary.json").read_text(encoding="utf-8"))
    assert summary["identity_excluded_by"].startswith("no --matches")


def test_a_namesake_family_elsewhere_is_not_the_father(tmp_path: Path) -> None:
    """The father is not in the register; another couple bearing both parents' common names lives
    together with their child (who carries both names), hometown in another province. The couple
    is one coincidence, seen as the woman at the house or as the child: counted once, it does not
    outweigh the hometown (counted twice, as before, it made the man a probable father, p 0.95)."""
    far = "Xã Đông Hải, Tỉnh Cà Mau"
    far_addr = "Số 12 đường Lê Lợi, Xã Đông Hải, Tỉnh Cà Mau"
    names = dict(father="Nguyễn Văn Hùng", mother="Nguyễn Thị Lan")
    fam = [_resident("096155000001", "Nguyễn Văn Hùng", "Nam", "1955", far, far_addr),
           _resident("096158000002", "Nguyễn Thị Lan", "Nữ", "1958", far, far_addr),
           _resident("096185000003", "Nguyễn Văn Nam", "Nam", "1985", far, far_addr, **names)]
    others = [_resident(f"0011500000{i:02d}", "Nguyễn Văn Hùng", "Nam", f"195{i % 10}", OTHER_HOMES[i % 5],
                        f"Thôn 1, {OTHER_HOMES[i % 5]}") for i in range(20)]
    wanted = [_wanted("TN-5", "Nguyễn Văn Tài", "Nam", "1982", HOME_A, **names)]
    out = _relatives(tmp_path, wanted, fam + others + _filler(3000), threshold=0.01)  # write the weak candidates too
    f = out[out["relation"] == "father"].set_index("person_id")
    man = f.loc["096155000001"]
    assert man["probability"] < 0.4 and man["rank"] == 1
    # the child counts in the spouse comparison only, not also as the household (which is elsewhere)
    assert man["mw_household"] < 0 < man["mw_spouse"]
    assert "ở cùng địa chỉ nhà với người trùng tên mẹ Nguyễn Thị Lan" in man["explanation"]


def test_place_u_given_the_hometown() -> None:
    """Living in the wanted person's province says less about a namesake from the same home
    province (who mostly lives there too) than about one from elsewhere: the rules' u_home is used
    where the hometown agrees, u elsewhere."""
    from linkage.relatives.rules import load_relatives_rules
    from linkage.relatives.score import weights

    rel = load_relatives_rules().relations["father"]
    assert rel.u_home["household"]["same_province"] > rel.u["household"]["same_province"]
    p = pd.DataFrame({"w_idx": [0, 1], "r_idx": [0, 1], "pool": 1000, "name": "exact", "name_u": 0.01,
                      "age": "typical", "hometown": ["same_ward", "differ"], "household": "same_province",
                      "house_u": 1e-4, "spouse": "unknown"})
    mw = weights(p, rel)["mw_household"].to_numpy()
    m = rel.m["household"]["same_province"]
    assert abs(mw[0] - np.log2(m / rel.u_home["household"]["same_province"])) < 1e-9
    assert abs(mw[1] - np.log2(m / rel.u["household"]["same_province"])) < 1e-9
    assert mw[0] < mw[1] - 2


def test_the_mother_in_the_wanted_persons_own_commune_says_little(tmp_path: Path) -> None:
    """A man with the father's name lives in the wanted person's commune (another hamlet); a woman
    with the mother's name lives there too, at the wanted person's house. Whoever the man is, the
    wanted person's own family explains her being in that commune: the spouse comparison does not
    count her for him (its level in_wanted_commune weighs about 0, not the + of a commune match)."""
    man = _resident("025155000021", "Nguyễn Văn Hùng", "Nam", "1955", HOME_A,
                    "Thôn 9, Xã Văn Lang, Huyện Hạ Hòa, Tỉnh Phú Thọ")
    mother = _resident("025158000022", "Trần Thị Hạnh", "Nữ", "1958", HOME_A, ADDR_A)
    wanted = [_wanted("TN-6", "Nguyễn Văn Tài", "Nam", "1982", HOME_A, "Nguyễn Văn Hùng", "Trần Thị Hạnh")]
    out = _relatives(tmp_path, wanted, [man, mother] + _filler(3000), threshold=0.01)
    f = out[out["relation"] == "father"].set_index("person_id").loc["025155000021"]
    assert "ở cùng xã với người trùng tên mẹ Trần Thị Hạnh" in f["explanation"]
    assert f["mw_spouse"] < 0
    # seen from her side: she lives at the wanted person's house; the man is in her commune, which is
    # the wanted person's too, so he does not count for her either
    m = out[out["relation"] == "mother"].set_index("person_id").loc["025158000022"]
    assert m["probable"] and m["mw_spouse"] < 0


def _card(pid: str, name: str, gender: str, birth: str, home: str, addr: str, issued: str) -> dict[str, str]:
    return {"card_number": pid, "old_id_number": "", "full_name": name, "gender": gender, "birth_date": birth,
            "hometown": home, "permanent_address": addr, "issue_date": issued}


def test_the_wanted_persons_old_card_gives_the_family_home(tmp_path: Path) -> None:
    """The wanted person moved to Cà Mau; the notice and the residents record give only the new
    address. Their ID card, issued before the move, still prints the family home, where a man with
    the father's common name lives (hometown given with the province only, as are the wanted
    person's). The card's address is one more place the person lived: he shares the household
    address (before, a card older than the residents record was ignored, and he was a namesake
    in another hamlet of the province)."""
    home = "Tỉnh Phú Thọ"
    family_home = "Thôn 3, Xã Văn Lang, Huyện Hạ Hòa, Tỉnh Phú Thọ"
    new_addr = "Số 12 đường Lê Lợi, Xã Đông Hải, Tỉnh Cà Mau"
    names = dict(father="Nguyễn Văn Hùng", mother="Trần Thị Hạnh")
    me = _resident("025185000031", "Nguyễn Văn Tài", "Nam", "10/10/1985", home, new_addr, **names)
    father = _resident("025155000032", "Nguyễn Văn Hùng", "Nam", "1955", home, family_home)
    others = [_resident(f"0251500000{i:02d}", "Nguyễn Văn Hùng", "Nam", f"195{i % 10}", home,
                        f"Thôn {i + 10}, Xã Văn Lang, Huyện Hạ Hòa, Tỉnh Phú Thọ" if i < 2 else f"Thôn 1, {OTHER_HOMES[i % 5]}")
              for i in range(12)]
    wanted = [dict(_wanted("TN-8", "Nguyễn Văn Tài", "Nam", "10/10/1985", home, **names), permanent_address=new_addr)]
    w, r = _write(tmp_path / "in", wanted, [me, father] + others + _filler(3000))
    cards = tmp_path / "in" / "id_cards.csv"
    pd.DataFrame([_card("025185000031", "Nguyễn Văn Tài", "Nam", "10/10/1985", home, family_home, "2015-03-02")]
                 ).to_csv(cards, index=False)
    matches = tmp_path / "matches.parquet"
    pq.write_table(pa.table({"wanted_id": ["TN-8"], "person_id": ["025185000031"], "match_probability": [0.99]}), matches)
    find_relatives(w, r, tmp_path / "out", id_cards=cards, matches=matches, threshold=0.01)
    out = pd.read_parquet(tmp_path / "out" / "relatives.parquet")
    f = out[out["relation"] == "father"].set_index("person_id")
    top = f.loc["025155000032"]
    rest = f.drop(index="025155000032")
    assert top["rank"] == 1 and (rest["probability"] < top["probability"] / 5).all()
    assert "cùng địa chỉ nhà (số nhà, thôn, ấp) theo căn cước của người bị truy nã" in top["explanation"]
    # the men in other hamlets of that commune share the commune only
    assert (rest["mw_household"] < top["mw_household"] - 4).all()
    # without the card the family home is unknown: the man is one namesake among others
    find_relatives(w, r, tmp_path / "plain", matches=matches, threshold=0.01)
    plain = pd.read_parquet(tmp_path / "plain" / "relatives.parquet")
    p = plain[(plain["relation"] == "father") & (plain["person_id"] == "025155000032")]
    assert len(p) == 1 and p["mw_household"].iloc[0] < 1 and p["probability"].iloc[0] < top["probability"] / 5


def test_a_father_born_in_the_wanted_persons_commune(tmp_path: Path) -> None:
    """The hometowns are written with the province only (Tỉnh Phú Thọ) on both sides. Of two men
    with the father's name, one was born in the commune where the wanted person was born: quê quán
    follows the father, who is mostly born in his own, and a child is born where the parents live.
    That is a commune, not only a province: his hometown level is birth_commune, and he weighs more
    than the namesake born elsewhere in the province."""
    home = "Tỉnh Phú Thọ"
    birth = "Xã Văn Lang, Huyện Hạ Hòa, Tỉnh Phú Thọ"
    names = dict(father="Nguyễn Văn Hùng", mother="Trần Thị Hạnh")
    born_there = dict(_resident("025155000041", "Nguyễn Văn Hùng", "Nam", "1955", home, "Thôn 1, Xã Tân Phong, Tỉnh Sơn La"),
                      birth_place=birth)
    born_else = dict(_resident("025156000042", "Nguyễn Văn Hùng", "Nam", "1956", home, "Thôn 2, Xã Tân Phong, Tỉnh Sơn La"),
                     birth_place="Xã Hương Cần, Huyện Thanh Sơn, Tỉnh Phú Thọ")
    wanted = [dict(_wanted("TN-9", "Nguyễn Văn Tài", "Nam", "1982", home, **names), birth_place=birth)]
    out = _relatives(tmp_path, wanted, [born_there, born_else] + _filler(3000), threshold=0.01)
    f = out[out["relation"] == "father"].set_index("person_id")
    there, other = f.loc["025155000041"], f.loc["025156000042"]
    assert "sinh tại xã quê quán hoặc xã nơi sinh của đối tượng" in there["explanation"]
    assert "quê quán cùng tỉnh" in other["explanation"]
    assert there["mw_hometown"] > other["mw_hometown"] + 1 and there["rank"] == 1


SON_LA = "Xã Tân Phong, Tỉnh Sơn La"


def test_a_father_living_where_a_sibling_lives(tmp_path: Path) -> None:
    """Two men bear the father's name, both from the wanted person's hometown commune, both living
    far from every address of the wanted person. One lives in the commune where the wanted person's
    sister lives (a probable sibling: same father's name, family name and hometown; her record names
    no mother, so she is no 'child with the other parent's name'). The sister is the family: the man
    in her commune is the father far more likely than the other (spouse level sibling_ward), and the
    line names her."""
    names = dict(father="Hoàng Văn Thịnh", mother="Lý Thị Nhàn")
    sister = _resident("025183000051", "Hoàng Thị Mai", "Nữ", "1983", HOME_A, f"Thôn 5, {SON_LA}",
                       father="Hoàng Văn Thịnh")
    there = _resident("025155000052", "Hoàng Văn Thịnh", "Nam", "1955", HOME_A, f"Thôn 2, {SON_LA}")
    other = _resident("025156000053", "Hoàng Văn Thịnh", "Nam", "1956", HOME_A, f"Thôn 1, {OTHER_HOMES[5]}")
    wanted = [_wanted("TN-11", "Hoàng Văn Tài", "Nam", "1985", HOME_A, **names)]
    out = _relatives(tmp_path, wanted, [sister, there, other] + _filler(3000), threshold=0.01)
    sib = out[(out["relation"] == "sibling") & (out["person_id"] == "025183000051")]
    assert len(sib) == 1 and sib["probability"].iloc[0] >= 0.8
    f = out[out["relation"] == "father"].set_index("person_id")
    top, rest = f.loc["025155000052"], f.loc["025156000053"]
    assert top["rank"] == 1 and top["probability"] > 4 * rest["probability"]
    assert top["mw_spouse"] > rest["mw_spouse"] + 3
    assert "sống cùng xã với Hoàng Thị Mai sinh 1983, anh chị em của đối tượng" in top["explanation"]


def test_the_parents_age_at_the_eldest_child(tmp_path: Path) -> None:
    """The wanted person (1990) has an elder brother (1968), a probable sibling. Of two men with the
    father's name, the one born 1945 was 23 at the brother's birth; the one born 1965 would have
    been 3. Against the wanted person alone the second looks the likelier age (25 against 45 years);
    against the eldest child he is not a father at all, and the first is."""
    names = dict(father="Hoàng Văn Thịnh", mother="Lý Thị Nhàn")
    brother = _resident("025168000061", "Hoàng Văn Toàn", "Nam", "1968", HOME_A, ADDR_A, **names)
    old = _resident("025145000062", "Hoàng Văn Thịnh", "Nam", "1945", HOME_A, f"Thôn 2, {SON_LA}")
    young = _resident("025165000063", "Hoàng Văn Thịnh", "Nam", "1965", HOME_A, f"Thôn 1, {OTHER_HOMES[5]}")
    wanted = [_wanted("TN-12", "Hoàng Văn Tài", "Nam", "1990", HOME_A, **names)]
    out = _relatives(tmp_path, wanted, [brother, old, young] + _filler(3000), threshold=0.01)
    assert out.loc[(out["relation"] == "sibling") & (out["person_id"] == "025168000061"), "probability"].iloc[0] >= 0.8
    f = out[out["relation"] == "father"].set_index("person_id")
    assert f.loc["025145000062", "rank"] == 1
    assert f.loc["025145000062", "mw_age"] > f.loc["025165000063", "mw_age"] + 2


def test_a_father_born_where_a_sibling_was_born(tmp_path: Path) -> None:
    """Hometowns written with the province only; the wanted person was born elsewhere, a probable
    sister in Xã Văn Lang. Of two men with the father's name, the one born in Xã Văn Lang meets a
    commune of the family (hometown level birth_commune, said to come from the sibling)."""
    home = "Tỉnh Phú Thọ"
    names = dict(father="Hoàng Văn Thịnh", mother="Lý Thị Nhàn")
    sister = dict(_resident("025183000071", "Hoàng Thị Mai", "Nữ", "1983", home, ADDR_A, **names), birth_place=HOME_A)
    there = dict(_resident("025155000072", "Hoàng Văn Thịnh", "Nam", "1955", home, f"Thôn 2, {SON_LA}"), birth_place=HOME_A)
    other = dict(_resident("025156000073", "Hoàng Văn Thịnh", "Nam", "1956", home, f"Thôn 1, {SON_LA}"),
                 birth_place="Xã Hương Cần, Huyện Thanh Sơn, Tỉnh Phú Thọ")
    wanted = [dict(_wanted("TN-13", "Hoàng Văn Tài", "Nam", "1985", home, **names), birth_place=OTHER_HOMES[5])]
    out = _relatives(tmp_path, wanted, [sister, there, other] + _filler(3000), threshold=0.01)
    f = out[out["relation"] == "father"].set_index("person_id")
    top, rest = f.loc["025155000072"], f.loc["025156000073"]
    assert "sinh tại xã nơi sinh hoặc quê quán của anh chị em của đối tượng" in top["explanation"]
    assert top["mw_hometown"] > rest["mw_hometown"] + 1 and top["rank"] == 1


def _rules_with_calibration(tmp_path: Path, name: str, calibration: dict | None) -> Path:
    """A copy of rules/ whose father model carries `calibration` (None: none)."""
    import shutil

    import yaml
    rules = tmp_path / name
    shutil.copytree(Path(__file__).resolve().parents[1] / "rules", rules)
    data = yaml.safe_load((rules / "relatives.yaml").read_text(encoding="utf-8"))
    for spec in data["relations"].values():
        spec.pop("calibration", None)
    if calibration is not None:
        data["relations"]["father"]["calibration"] = calibration
    (rules / "relatives.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return rules


def test_calibration_maps_the_probability_and_keeps_the_ranks(tmp_path: Path) -> None:
    """A relation's Platt map changes its probabilities as p' = sigmoid(a logit(p) + b), and
    nothing else: the same candidates, ranks and match weights; other relations untouched."""
    names = dict(father="Hoàng Văn Thịnh", mother="Lý Thị Nhàn")
    men = [_resident(f"0251550000{i:02d}", "Hoàng Văn Thịnh", "Nam", f"195{i}", HOME_A if i < 4 else OTHER_HOMES[i],
                     f"Thôn {i}, {OTHER_HOMES[i]}") for i in range(5)]
    sister = _resident("025183000051", "Hoàng Thị Mai", "Nữ", "1983", HOME_A, ADDR_A, **names)
    w, r = _write(tmp_path / "in", [_wanted("TN-12", "Hoàng Văn Tài", "Nam", "1985", HOME_A, **names)],
                  men + [sister] + _filler(2000))
    outs = {}
    for tag, cal in (("plain", None), ("cal", {"method": "platt", "a": 0.5, "b": 1.0})):
        find_relatives(w, r, tmp_path / tag, rules=_rules_with_calibration(tmp_path, f"rules_{tag}", cal), threshold=0.01)
        outs[tag] = pd.read_parquet(tmp_path / tag / "relatives.parquet").set_index(["relation", "person_id"])
    plain, cal = outs["plain"], outs["cal"]
    f0, f1 = plain.loc["father"], cal.loc["father"].reindex(plain.loc["father"].index)
    assert len(f0) >= 3
    p = f0["probability"].to_numpy()
    want = 1 / (1 + np.exp(-(0.5 * np.log(p / (1 - p)) + 1.0)))
    assert np.allclose(f1["probability"].to_numpy(), want, atol=1e-12)
    assert (f1["rank"] == f0["rank"]).all() and np.allclose(f1["match_weight"], f0["match_weight"])
    assert not np.allclose(f1["probability"], f0["probability"])
    sib = plain.loc["sibling"]
    assert np.allclose(cal.loc["sibling"].reindex(sib.index)["probability"], sib["probability"])


def test_bad_calibration_is_a_rules_error(tmp_path: Path) -> None:
    """A calibration that would reverse the ranks (a <= 0) is refused, naming the key."""
    from linkage.relatives.rules import load_relatives_rules
    from linkage.rules import RulesError

    rules = _rules_with_calibration(tmp_path, "rules", {"method": "platt", "a": -1.0, "b": 0.0})
    with pytest.raises(RulesError, match=r"relatives.yaml: relations.father.calibration needs a > 0"):
        load_relatives_rules(rules)


def test_parents_names_from_a_sister_at_the_family_home(tmp_path: Path) -> None:
    """The notice names neither parent. A woman of the same family name, two years older, lives at
    the wanted person's house address and her record names both parents: their names are taken
    from her (the line says so) and the father is found; a housemate of the family name 22 years
    younger (a child, not a sibling) lends nothing."""
    names = dict(father="Hoàng Văn Thịnh", mother="Lý Thị Nhàn")
    sister = _resident("025183000061", "Hoàng Thị Mai", "Nữ", "1983", HOME_A, ADDR_A, **names)
    father = _resident("025155000062", "Hoàng Văn Thịnh", "Nam", "1955", HOME_A, ADDR_A)
    wanted = [_wanted("TN-13", "Hoàng Văn Tài", "Nam", "1985", HOME_A, "", "")]
    out = _relatives(tmp_path, wanted, [sister, father] + _filler(3000))
    f = out[(out["relation"] == "father") & out["probable"]]
    assert list(f["person_id"]) == ["025155000062"]
    assert "tên cha mẹ theo hồ sơ của Hoàng Thị Mai sinh 1983" in f["explanation"].iloc[0]

    child = _resident("025107000063", "Hoàng Văn Bình", "Nam", "2007", HOME_A, ADDR_A, father="Hoàng Văn Tài",
                      mother="Đỗ Thị Hoa")
    out = _relatives(tmp_path, wanted, [child, father] + _filler(3000), name="out2", threshold=0.01)
    assert out[out["relation"].isin(["father", "mother", "sibling"])].empty
