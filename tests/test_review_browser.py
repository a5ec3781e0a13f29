"""The review pages in a real browser (Debian's chromium through Selenium and chromium-driver)
against a real uvicorn server on 127.0.0.1: log in, work the queue with the keyboard only
(m, n, u, j, k, z), undo, see the history, blind mode hides the score. Saves the screenshots
docs/img/review_queue.png and docs/img/review_pair.png from the committed sample (with UPDATE_DOC_IMAGES=1).

Skipped when chromium or chromedriver is missing, except in CI (CI set), where that fails."""

from __future__ import annotations

import os
import re
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest

from linkage.model import default_model, save_model
from linkage.pipeline import run
from linkage.review.app import create_app, load_config
from linkage.review.store import Store
from linkage.rules import rules_hash
from linkage.settings import load_settings

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data_samples" / "sample"
CHROMIUM, DRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
PASSWORD = "mat-khau-an-01"


def _need_browser() -> None:
    missing = [p for p in (CHROMIUM, DRIVER) if not (Path(p).exists() or shutil.which(Path(p).name))]
    if missing:
        reason = f"chromium / chromedriver not installed ({', '.join(missing)})"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    _need_browser()
    import uvicorn

    tmp = tmp_path_factory.mktemp("review_browser")
    model = save_model(default_model(load_settings(), rules_hash()), tmp / "model.json")
    out = tmp / "out"
    run(SAMPLE / "wanted.csv", SAMPLE / "residents.csv", SAMPLE / "id_cards.csv", out, model_path=model)
    store = Store.open(out / "review.sqlite")
    store.add_user("an", PASSWORD)
    config = load_config(store, load_settings().threshold, run=out)
    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(create_app(config), host="127.0.0.1", port=port, access_log=False,
                                        log_config=None, lifespan="off"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", store, config
    srv.should_exit = True
    thread.join(10)
    store.close()


@pytest.fixture(scope="module")
def browser(server):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1366,1000",
                "--lang=vi"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def key(driver, k: str) -> None:
    from selenium.webdriver.common.action_chains import ActionChains

    ActionChains(driver).send_keys(k).perform()


def wait_url(driver, old: str, timeout: float = 10) -> str:
    deadline = time.monotonic() + timeout
    while driver.current_url == old:
        assert time.monotonic() < deadline, f"still on {old}"
        time.sleep(0.05)
    wait_loaded(driver)
    return driver.current_url


def wait_loaded(driver, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while driver.execute_script("return document.readyState") != "complete":
        assert time.monotonic() < deadline
        time.sleep(0.05)


def pair_of(url: str) -> tuple[str, str]:
    m = re.search(r"/pair/([^/?]+)/([^/?#]+)", url)
    return m.group(1), m.group(2)


def screenshot(d, name: str, tmp_path: Path) -> None:
    """A real PNG of the page; copied to docs/img/ only when UPDATE_DOC_IMAGES is set, so a test
    run never changes the repository."""
    shot = tmp_path / name
    d.save_screenshot(str(shot))
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
    if os.environ.get("UPDATE_DOC_IMAGES"):
        (ROOT / "docs" / "img").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, ROOT / "docs" / "img" / name)


def test_keyboard_review_session(server, browser, tmp_path):
    from selenium.webdriver.common.by import By

    base, store, config = server
    d = browser
    d.get(base + "/queue")
    assert d.current_url.endswith("/login")
    d.find_element(By.NAME, "username").send_keys("an")
    d.find_element(By.NAME, "password").send_keys(PASSWORD + "\n")
    wait_url(d, base + "/login")
    assert d.current_url.endswith("/queue")
    body = d.find_element(By.TAG_NAME, "body").text
    assert "Hàng chờ xem xét" in body
    screenshot(d, "review_queue.png", tmp_path)

    # j opens the first item of the queue
    url = d.current_url
    key(d, "j")
    first = pair_of(wait_url(d, url))
    screenshot(d, "review_pair.png", tmp_path)
    assert d.find_elements(By.ID, "score")
    # j moves on, k comes back
    url = d.current_url
    key(d, "j")
    second = pair_of(wait_url(d, url))
    assert second != first
    url = d.current_url
    key(d, "k")
    assert pair_of(wait_url(d, url)) == first

    # n decides "not a match" and moves to the next item
    url = d.current_url
    key(d, "n")
    after_n = pair_of(wait_url(d, url))
    assert store.live(*first).state == "not_match" and after_n != first
    # u: unsure
    url = d.current_url
    key(d, "u")
    after_u = pair_of(wait_url(d, url))
    assert store.live(*after_n).state == "unsure"
    # m: match (pending when the wanted person is especially dangerous)
    url = d.current_url
    key(d, "m")
    wait_url(d, url)
    assert store.live(*after_u).state in ("match", "pending_confirmation")
    # z undoes the last decision and shows that pair again
    url = d.current_url
    key(d, "z")
    wait_url(d, url)
    assert pair_of(d.current_url) == after_u
    assert store.live(*after_u) is None
    assert store.live(*after_n).state == "unsure"

    # the history of the pair shows the decision and the undo
    d.get(f"{base}/history/pair/{after_u[0]}/{after_u[1]}")
    rows = d.find_elements(By.CSS_SELECTOR, "table.history tbody tr")
    assert len(rows) == 2
    text = d.find_element(By.TAG_NAME, "body").text
    assert "hoàn tác" in text and "quyết định" in text
    d.get(f"{base}/history")
    assert len(d.find_elements(By.CSS_SELECTOR, "table.history tbody tr")) >= 4


def test_blind_mode_hides_the_score(server, browser):
    from selenium.webdriver.common.by import By

    base, store, config = server
    d = browser
    d.get(base + "/settings")
    box = d.find_element(By.NAME, "blind")
    if not box.is_selected():
        box.click()
    url = d.current_url
    d.find_element(By.CSS_SELECTOR, "form.settings button[type=submit]").click()
    wait_url(d, url)
    assert store.settings("an")["blind"] is True
    d.get(base + "/next")
    wait_loaded(d)
    assert "/pair/" in d.current_url
    assert not d.find_elements(By.ID, "score")
    assert d.find_elements(By.ID, "blind-note")
    assert not d.find_elements(By.CSS_SELECTOR, "figure.waterfall svg")
    # after the decision (undone pair seen again through z) the score shows
    w, p = pair_of(d.current_url)
    url = d.current_url
    key(d, "n")
    wait_url(d, url)
    d.get(f"{base}/pair/{w}/{p}")
    assert d.find_elements(By.ID, "score")
    store.set_setting("an", "blind", False)
