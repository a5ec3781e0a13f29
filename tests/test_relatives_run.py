"""`linkage run --relatives` (relatives.parquet in the run folder, the manifest, the run report's
section), the review page's relatives panel, scoring in chunks of wanted records, and household
evidence whose u comes from the register in use."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from starlette.testclient import TestClient

from linkage.model import default_model, save_model
from linkage.pipeline import run
from linkage.relatives.candidates import _ARRAYS
from linkage.relatives.frame import register_frame, wanted_frame
from linkage.relatives.rules import load_relatives_rules
from linkage.relatives.run import find_relatives, identity_names, identity_pairs, score_all, with_identity
from linkage.review.app import create_app, load_config
from linkage.review.store import Store
from linkage.rules import rules_hash
from linkage.settings import load_settings
from linkage.synth import generate
from test_relatives import ADDR_A, HOME_A, _filler, _resident, _wanted, _write

PASSWORD = "mat-khau-an-01"


@pytest.fixture(scope="module")
def families(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("fam_run")
    generate(5000, 250, 4, d, families=True)
    return d


@pytest.fixture(scope="module")
def run_dir(families: Path, tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("run_rel")
    model = save_model(default_model(load_settings(), rules_hash()), tmp / "model.json")
    out = tmp / "out"
    run(families / "wanted.csv", families / "residents.csv", families / "id_cards.csv", out, model_path=model,
        relatives=True)
    return out


def test_run_writes_relatives_beside_matches(run_dir: Path) -> None:
    """relatives.parquet is in the run folder, recorded in the manifest with counts equal to the
    file's, and the run report has a relatives section with those counts and examples by id."""
    rel = pd.read_parquet(run_dir / "relatives.parquet")
    assert (run_dir / "identity_excluded.parquet").is_file()
    manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["outputs"]["relatives"] == str(run_dir / "relatives.parquet")
    probable = rel[rel["probable"]]
    want = {r: int((probable["relation"] == r).sum()) for r in ("father", "mother", "sibling", "child")}
    assert manifest["counts"]["relatives"]["probable"] == want and sum(want.values()) > 0
    assert "relatives" in manifest["timings_s"]
    # the identities left out are the run's own best candidates
    ex = pd.read_parquet(run_dir / "identity_excluded.parquet")
    assert len(ex) and ex["reason"].str.startswith("matches p=").all()
    html = (run_dir / "report.html").read_text(encoding="utf-8")
    sec = html.split('<section id="relatives">', 1)[1].split("</section>", 1)[0]
    assert 'href="#relatives"' in html
    assert f"<b>{want['sibling']:,}".replace(",", ".") in sec or f"<b>{want['sibling']}" in sec
    first = sorted(probable["wanted_id"].unique())[0]
    assert first in sec and probable.loc[probable["wanted_id"] == first, "person_id"].iloc[0] in sec
    # no whole records: no address in the report
    assert probable["current_address"].dropna().iloc[0] not in sec


def test_run_without_relatives_leaves_none_behind(run_dir: Path, families: Path, tmp_path: Path) -> None:
    """A later run into the same folder without --relatives removes the older relatives files:
    a run folder holds one whole run. Its report has no relatives section."""
    import shutil
    out = tmp_path / "out"
    shutil.copytree(run_dir, out)
    model = save_model(default_model(load_settings(), rules_hash()), tmp_path / "model.json")
    run(families / "wanted.csv", families / "residents.csv", families / "id_cards.csv", out, model_path=model)
    assert not (out / "relatives.parquet").exists() and not (out / "identity_excluded.parquet").exists()
    html = (out / "report.html").read_text(encoding="utf-8")
    assert 'id="relatives"' not in html and 'href="#relatives"' not in html


def _login(app) -> TestClient:
    client = TestClient(app, base_url="http://testserver")
    page = client.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    r = client.post("/login", data={"csrf": token, "username": "an", "password": PASSWORD}, follow_redirects=False)
    assert r.status_code == 303
    return client


def test_pair_page_shows_the_wanted_persons_relatives(run_dir: Path, tmp_path: Path) -> None:
    """A pair page lists the wanted person's probable relatives (relation, name, birth year, current
    address, status, probability); a wanted person without one gets the 'none' line."""
    store = Store.open(tmp_path / "review.sqlite")
    store.add_user("an", PASSWORD)
    config = load_config(store, 0.0, run=run_dir)
    client = _login(create_app(config))
    rel = pd.read_parquet(run_dir / "relatives.parquet")
    probable = rel[rel["probable"]]
    cands = config.candidates
    with_rel = [i for i in range(cands.n) if cands.wanted[i] in set(probable["wanted_id"])]
    without = [i for i in range(cands.n) if cands.wanted[i] not in set(probable["wanted_id"])]
    assert with_rel and without
    i = with_rel[0]
    html = client.get(f"/pair/{cands.wanted[i]}/{cands.person[i]}").text
    panel = html.split('<section id="relatives">', 1)[1].split("</section>", 1)[0]
    mine = probable[probable["wanted_id"] == cands.wanted[i]]
    assert "Thân nhân của đối tượng" in panel
    for x in mine.itertuples():
        assert x.person_id in panel and x.full_name in panel and str(x.birth_year) in panel
        assert {"father": "bố", "mother": "mẹ", "sibling": "anh chị em ruột", "child": "con"}[x.relation] in panel
        if isinstance(x.current_address, str):
            assert x.current_address in panel
    assert panel.count("<tr") == len(mine) + 1  # the header row and one per probable relative
    j = without[0]
    other = client.get(f"/pair/{cands.wanted[j]}/{cands.person[j]}").text
    assert "Không tìm thấy thân nhân có khả năng" in other
    store.close()


def test_pair_page_without_relatives_file_has_no_panel(run_dir: Path, tmp_path: Path) -> None:
    import shutil
    out = tmp_path / "run"
    shutil.copytree(run_dir, out)
    (out / "relatives.parquet").unlink()
    store = Store.open(tmp_path / "review.sqlite")
    store.add_user("an", PASSWORD)
    config = load_config(store, 0.0, run=out)
    client = _login(create_app(config))
    html = client.get(f"/pair/{config.candidates.wanted[0]}/{config.candidates.person[0]}").text
    assert 'id="relatives"' not in html and "Thân nhân của đối tượng" not in html
    store.close()


def test_chunks_give_the_same_result(families: Path) -> None:
    """Scoring a few wanted records at a time (bounded memory) gives exactly one pass's result."""
    rules = load_relatives_rules()
    w, aliases, _ = wanted_frame(families / "wanted.csv", None)
    r, _ = register_frame(families / "residents.csv", families / "id_cards.csv", None)
    ex, _ = identity_pairs(w, r, None, rules.identity_threshold)
    w = with_identity(w, r, ex, rules.years["sibling_near"])
    aliases = identity_names(w, aliases, r, ex)
    whole, b1 = score_all(w, aliases, r, rules, ex, chunk=len(w))
    small, b2 = score_all(w, aliases, r, rules, ex, chunk=7)
    assert b1 == b2 and len(whole) == len(small) > 0
    key = ["relation", "w_idx", "r_idx"]
    a = whole.sort_values(key).reset_index(drop=True)
    b = small.sort_values(key).reset_index(drop=True)
    pd.testing.assert_series_equal(a["probability"], b["probability"])
    assert (a[key].to_numpy() == b[key].to_numpy()).all()
    assert id(r) in _ARRAYS  # the register's term frequencies and shares were computed once and kept


def test_same_household_address_outweighs_a_commune_namesake(tmp_path: Path) -> None:
    """Two men with the father's common name, the right age, hometown in the wanted person's commune:
    the one living at the wanted person's household address (Thôn 3) is the probable father; the
    one in another hamlet of the same commune is not, and neither would be without the address."""
    home_b = "Thôn 9, Xã Văn Lang, Huyện Hạ Hòa, Tỉnh Phú Thọ"
    same = _resident("025155000001", "Nguyễn Văn Hùng", "Nam", "1955", HOME_A, ADDR_A)
    other = _resident("025156000002", "Nguyễn Văn Hùng", "Nam", "1956", HOME_A, home_b)
    namesakes = [_resident(f"0011500000{i:02d}", "Nguyễn Văn Hùng", "Nam", f"195{i % 10}", "Thành phố Huế",
                           "Thôn 1, Thành phố Huế") for i in range(30)]
    wanted = [_wanted("TN-3", "Nguyễn Văn Tài", "Nam", "1982", HOME_A, "Nguyễn Văn Hùng", "Trần Thị Hạnh")]
    w, r = _write(tmp_path / "in", wanted, [same, other] + namesakes + _filler(2000))
    find_relatives(w, r, tmp_path / "out")
    out = pd.read_parquet(tmp_path / "out" / "relatives.parquet")
    f = out[out["relation"] == "father"].set_index("person_id")
    assert f.loc["025155000001", "probable"] and f.loc["025155000001", "rank"] == 1
    assert "cùng địa chỉ nhà" in f.loc["025155000001", "explanation"]
    # the namesake in another hamlet: below the floor written (0.05), or listed as not probable
    if "025156000002" in f.index:
        assert not f.loc["025156000002", "probable"]
        assert f.loc["025155000001", "mw_household"] > f.loc["025156000002", "mw_household"] + 2


def test_from_a_nightly_workspace_equals_the_files(families: Path, tmp_path: Path) -> None:
    """`linkage relatives --workspace WS` reads the normalised records the nights keep and takes the
    identities from the workspace's scored candidates; with those identities given as --matches,
    the files give the same relatives and probabilities. A running night (its lock) is refused."""
    from typer.testing import CliRunner

    import cli

    ws = tmp_path / "ws"
    got = CliRunner().invoke(cli.app, ["nightly", "--workspace", str(ws), "--out", str(tmp_path / "nights"),
                                       "--wanted", str(families / "wanted.csv"), "--residents",
                                       str(families / "residents.csv"), "--id-cards", str(families / "id_cards.csv"),
                                       "-q"])
    assert got.exit_code == 0, got.output
    got = CliRunner().invoke(cli.app, ["relatives", "--workspace", str(ws), "--out", str(tmp_path / "a"), "--json"])
    assert got.exit_code == 0, got.output
    summary = json.loads(got.output)
    assert summary["identity_excluded_by"].startswith("workspace") and "normalise" not in summary["timings_s"]
    ex = pd.read_parquet(tmp_path / "a" / "identity_excluded.parquet")
    assert len(ex) > 0
    ex.assign(match_probability=1.0)[["wanted_id", "person_id", "match_probability"]].to_parquet(tmp_path / "m.parquet")
    find_relatives(families / "wanted.csv", families / "residents.csv", tmp_path / "b", id_cards=families / "id_cards.csv",
                   matches=tmp_path / "m.parquet")
    key = ["wanted_id", "relation", "person_id"]
    a = pd.read_parquet(tmp_path / "a" / "relatives.parquet").sort_values(key).reset_index(drop=True)
    b = pd.read_parquet(tmp_path / "b" / "relatives.parquet").sort_values(key).reset_index(drop=True)
    assert len(a) > 0 and a[key].equals(b[key])
    pd.testing.assert_series_equal(a["probability"], b["probability"])
    assert (a["explanation"] == b["explanation"]).all()
    (ws / "nightly.lock").write_text("{}", encoding="utf-8")
    got = CliRunner().invoke(cli.app, ["relatives", "--workspace", str(ws), "--out", str(tmp_path / "c")])
    assert got.exit_code != 0 and "night is running" in got.output
    got = CliRunner().invoke(cli.app, ["relatives", "--workspace", str(ws), "--wanted", str(families / "wanted.csv"),
                                       "--out", str(tmp_path / "d")])
    assert got.exit_code != 0 and "--workspace replaces" in got.output


def test_the_other_parent_at_the_same_address(tmp_path: Path) -> None:
    """Two men with the father's name, the right age and the family's hometown, both living away
    from the wanted person: the one who lives at one address with a woman bearing the mother's
    name (a couple shares a household) is the probable father, the other is not."""
    home_c = "Thôn 5, Xã Tân Phong, Tỉnh Sơn La"
    couple_f = _resident("025155000011", "Nguyễn Văn Hùng", "Nam", "1955", HOME_A, home_c)
    couple_m = _resident("025158000012", "Trần Thị Hạnh", "Nữ", "1958", HOME_A, home_c)
    alone = _resident("025156000013", "Nguyễn Văn Hùng", "Nam", "1956", HOME_A, "Tổ 2, Phường Long Hoa, Tỉnh Tây Ninh")
    namesakes = [_resident(f"0011500000{i:02d}", "Nguyễn Văn Hùng", "Nam", f"195{i % 10}", "Thành phố Huế",
                           "Thôn 1, Thành phố Huế") for i in range(30)]
    wanted = [_wanted("TN-4", "Nguyễn Văn Tài", "Nam", "1982", HOME_A, "Nguyễn Văn Hùng", "Trần Thị Hạnh")]
    w, r = _write(tmp_path / "in", wanted, [couple_f, couple_m, alone] + namesakes + _filler(2000))
    find_relatives(w, r, tmp_path / "out")
    out = pd.read_parquet(tmp_path / "out" / "relatives.parquet")
    f = out[out["relation"] == "father"].set_index("person_id")
    assert f.loc["025155000011", "rank"] == 1 and f.loc["025155000011", "probable"]
    assert "ở cùng địa chỉ nhà với người trùng tên mẹ Trần Thị Hạnh" in f.loc["025155000011", "explanation"]
    assert f.loc["025155000011", "mw_spouse"] > 0
    # the man living alone is below the floor written, or listed as not probable
    assert "025156000013" not in f.index or not f.loc["025156000013", "probable"]
    m = out[out["relation"] == "mother"].set_index("person_id")
    assert m.loc["025158000012", "probable"]  # and the same evidence, seen from her side
