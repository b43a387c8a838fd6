"""The officer's page walked in real headless Chromium (Debian's chromium + chromedriver, via
Selenium) against a real server on loopback serving a small MBTiles file made here:

sign in -> the day's hits (sorted from the keyboard) -> a crime: its hits, who is ruled out and
why, one excluded subject explained -> a hit: the map draws the tiles, the review beside it ->
a decision recorded and seen in the history -> printed: one page -> sign out; axe-core (vendored
in tests/vendor/axe-core) finds no serious or critical WCAG A/AA violation at each step, and the
browser's own network log shows no request leaving 127.0.0.1.

A screenshot of each step (and the printed PDF and its page as PNG) is kept in
``out/officer-page/`` (``/out/`` is ignored by git): look at them.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pandas as pd
import pytest
from browser import NEEDS_CHROMIUM, chrome, on_loopback, street_tiles
from service_world import build_world

from trailmatch.hitstore import open_store, repository

AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
SHOTS = Path(__file__).resolve().parent.parent / "out" / "officer-page"

pytestmark = NEEDS_CHROMIUM


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The sample world, the day to list (the busiest of Hampshire's), the hit to open (that
    day's with the most fixes in the vicinity) and a server with tiles around its crime."""
    from fastapi.testclient import TestClient

    from service.app import create_app

    world = build_world(tmp_path_factory.mktemp("pagestore"))
    ham = world.hits[world.hits["police_force"] == "Hampshire"]
    day = ham["time_from"].dt.date.value_counts().index[0]
    start = pd.Timestamp(day, tz="UTC")
    on_day = ham[(ham["time_from"] < start + pd.Timedelta("1D")) & (ham["time_to"] >= start)]
    # the hit to open: on a crime that rules some subjects out and cannot exclude others
    # (so the page has both to show), the one with the most fixes in the vicinity
    probe = TestClient(create_app(world.store))
    statuses = {}
    for ref in on_day["crime_reference"].unique():
        rows = probe.get("/coverage", params={"police_force": "Hampshire",
                                               "crime_reference": ref},
                         headers={"Authorization": f"Bearer {world.tokens['proc']}"}).json()
        statuses[ref] = {r["status"] for r in rows}
    probe.app.state.engine.dispose()
    both = on_day[[{"excluded", "cannot_exclude"} <= statuses[r]
                   for r in on_day["crime_reference"]]]
    assert len(both) > 0, statuses
    hit = both.sort_values(["fixes_in", "id"], ascending=[False, True]).iloc[0]
    crime = world.crimes[(world.crimes["police_force"] == "Hampshire")
                         & (world.crimes["crime_reference"] == hit.crime_reference)].iloc[0]
    path = street_tiles(tmp_path_factory.mktemp("pagetiles") / "streets.mbtiles",
                        float(crime["lat"]), float(crime["lon"]), 0.15, 0.1, range(11, 16))
    with on_loopback(create_app(world.store, tiles_file=path)) as base:
        yield world, day, on_day, hit, base


@pytest.fixture(scope="module")
def browser():
    # every request the browser makes, from its DevTools network events
    with chrome("1400,1000", network_log=True) as driver:
        yield driver


def shot(browser, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(SHOTS / f"{name}.png"))


def axe(browser, where: str) -> list[dict]:
    """axe-core's WCAG 2.0/2.1 A and AA rules on the page as it stands; the violations found
    (all kept in out/officer-page/axe-<where>.json)."""
    if not browser.execute_script("return typeof window.axe === 'object'"):
        browser.execute_script(AXE.read_text(encoding="utf-8"))
    result = browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {runOnly: {type: 'tag', values: "
        "['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}, resultTypes: ['violations']})"
        ".then(r => done(r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help, "
        "nodes: v.nodes.map(n => n.target.join(' '))})))).catch(e => done(String(e)));")
    assert isinstance(result, list), result
    SHOTS.mkdir(parents=True, exist_ok=True)
    (SHOTS / f"axe-{where}.json").write_text(json.dumps(result, indent=1), encoding="utf-8")
    return result


def serious(violations: list[dict]) -> list[dict]:
    return [v for v in violations if v["impact"] in ("serious", "critical")]


def requested_urls(browser) -> list[str]:
    """Every URL the browser asked for since the last call (DevTools Network events)."""
    urls = []
    for entry in browser.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def press(browser, element, key) -> None:
    """Focus ``element`` as the keyboard would and press ``key`` on it."""
    browser.execute_script("arguments[0].focus()", element)
    element.send_keys(key)


def test_the_officers_page_in_chromium(site, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import Select, WebDriverWait

    world, day, on_day, hit, base = site
    wait = WebDriverWait(browser, 30)
    for old in SHOTS.glob("*"):
        old.unlink()
    browser.get_log("performance")  # what earlier tests in this browser left
    browser.get(base + "/")
    requested = requested_urls(browser)

    # 1. sign in (from the keyboard: the token field, then Enter submits)
    assert browser.execute_script("return document.activeElement === document.body")
    first = browser.switch_to.active_element
    first.send_keys(Keys.TAB)
    assert browser.switch_to.active_element.get_attribute("class") == "skip-link"
    assert not serious(axe(browser, "1-sign-in"))
    browser.find_element(By.ID, "token").send_keys(world.tokens["ham"], Keys.ENTER)
    wait.until(ec.visibility_of_element_located((By.ID, "session")))
    assert "Signed in as pc-ham (officer, Hampshire)" in browser.find_element(By.ID,
                                                                            "session").text
    assert not browser.find_element(By.ID, "signin").is_displayed()
    shot(browser, "1-signed-in")

    # 2. the day's hits, sorted by distance from the keyboard (Enter on the column's button)
    browser.execute_script("document.getElementById('day-date').value = arguments[0]", str(day))
    browser.find_element(By.ID, "day-submit").click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "day-status"), f"on {day}"))
    rows = browser.find_elements(By.CSS_SELECTOR, "#day-hits tbody tr")
    assert sorted(int(r.get_attribute("data-hit-id")) for r in rows) == sorted(on_day["id"])
    assert browser.find_element(By.ID, "day-status").text.startswith(f"{len(on_day)} hits on")
    assert all("Not reviewed" in r.text for r in rows)
    header = browser.find_element(By.CSS_SELECTOR, "#day-hits th[data-sort='distance'] button")
    press(browser, header, Keys.ENTER)
    distance_th = browser.find_element(By.CSS_SELECTOR, "#day-hits th[data-sort='distance']")
    wait.until(lambda d: distance_th.get_attribute("aria-sort") == "ascending")
    # the focus ring shows on the header button the keyboard is on
    assert browser.switch_to.active_element == header
    outline = browser.execute_script(
        "const s = getComputedStyle(document.activeElement); return [s.outlineStyle, "
        "s.outlineWidth]")
    assert outline[0] != "none" and outline[1] != "0px", outline
    ids = [int(r.get_attribute("data-hit-id"))
           for r in browser.find_elements(By.CSS_SELECTOR, "#day-hits tbody tr")]
    by_distance = on_day.sort_values(["min_distance_m", "crime_reference", "subject"])
    assert ids == by_distance["id"].tolist()
    press(browser, header, Keys.SPACE)  # again: the other way
    wait.until(lambda d: distance_th.get_attribute("aria-sort") == "descending")
    assert not serious(axe(browser, "2-day-list"))
    shot(browser, "2-days-hits-by-distance")

    # 3. the hit's crime: its hits, who is ruled out and why, one excluded subject explained
    row = browser.find_element(By.CSS_SELECTOR, f"#day-hits tr[data-hit-id='{hit.id}']")
    row.find_element(By.CSS_SELECTOR, "button.open-crime").click()
    # (coverage runs the elimination kernels: a first call may compile them)
    WebDriverWait(browser, 180).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, "#coverage-counts li"))
    n_hits = ((world.hits["police_force"] == "Hampshire")
              & (world.hits["crime_reference"] == hit.crime_reference)).sum()
    assert len(browser.find_elements(By.CSS_SELECTOR, "#hits tbody tr")) == n_hits
    counts = {li.get_attribute("data-status"): int(li.text.split()[0])
              for li in browser.find_elements(By.CSS_SELECTOR, "#coverage-counts li")}
    assert counts["hit"] == n_hits and sum(counts.values()) > n_hits, counts
    not_excluded = browser.find_elements(By.CSS_SELECTOR, "#not-excluded tbody tr")
    assert len(not_excluded) == counts["cannot_exclude"] + counts["not_monitored"]
    for r in not_excluded:
        assert "no position from" in r.text or "monitored for" in r.text, r.text
    assert counts["excluded"] and counts["cannot_exclude"], counts
    excluded = Select(browser.find_element(By.ID, "explain-subject"))
    assert len(excluded.options) == counts["excluded"]
    subject = excluded.options[-1].get_attribute("value")
    excluded.select_by_value(subject)
    browser.find_element(By.ID, "explain-submit").click()
    WebDriverWait(browser, 180).until(ec.text_to_be_present_in_element(  # (may compile too)
        (By.ID, "explanation"), f"Subject {subject} is excluded"))
    assert not serious(axe(browser, "3-crime"))
    browser.execute_script("document.getElementById('coverage-status').scrollIntoView()")
    shot(browser, "3-crime-coverage")

    # 4. the hit: the map draws the service's tiles; the review sits beside the map
    browser.find_element(By.CSS_SELECTOR,
                         f"#hits tr[data-hit-id='{hit.id}'] button.open-hit").click()
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#map img.leaflet-tile-loaded"))
    tiles = browser.execute_script(
        "return [...document.querySelectorAll('#map img.leaflet-tile-loaded')]"
        ".map(i => [i.src, i.naturalWidth])")
    assert tiles and all(src.startswith("blob:") and w == 256 for src, w in tiles), tiles
    assert browser.find_elements(By.CSS_SELECTOR, "#map .leaflet-overlay-pane path")
    map_box = browser.find_element(By.ID, "map").rect
    form_box = browser.find_element(By.ID, "decision-form").rect
    assert form_box["x"] >= map_box["x"] + map_box["width"], (map_box, form_box)
    assert form_box["y"] < map_box["y"] + map_box["height"]  # beside it, not below
    assert browser.find_element(By.ID, "decisions").text == "No decision recorded yet."
    assert not serious(axe(browser, "4-hit"))
    browser.execute_script("document.getElementById('detail').scrollIntoView()")
    shot(browser, "4-hit-map-and-review")

    # 5. a decision, recorded and seen in the history with who and when
    Select(browser.find_element(By.ID, "outcome")).select_by_value("ruled_out")
    browser.find_element(By.ID, "rationale").send_keys("Seen on CCTV at work at the time")
    browser.find_element(By.ID, "decision-submit").click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "decisions"), "Seen on CCTV"))
    history = browser.find_element(By.ID, "decisions").text
    assert "pc-ham" in history and "Decision: Ruled out" in history and " UTC" in history
    engine = open_store(world.store)
    try:
        [decision] = repository.list_decisions(engine, int(hit.id))
    finally:
        engine.dispose()
    assert (decision["outcome"], decision["user_name"]) == ("ruled_out", "pc-ham")
    assert decision["at"].strftime("%Y-%m-%d %H:%M:%S") in history
    wait.until(ec.text_to_be_present_in_element(
        (By.CSS_SELECTOR, f"#day-hits tr[data-hit-id='{hit.id}'] td.review"), "Ruled out"))
    # ... and what became of the case, after the decision in the same history
    browser.find_element(By.CSS_SELECTOR, "#outcome-box summary").click()
    Select(browser.find_element(By.ID, "case-outcome")).select_by_value("eliminated")
    browser.find_element(By.ID, "case-note").send_keys("Alibi confirmed")
    browser.find_element(By.ID, "outcome-submit").click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "decisions"), "Alibi confirmed"))
    entries = [li.text for li in browser.find_elements(By.CSS_SELECTOR, "#decisions li")]
    assert len(entries) == 2 and "Decision: Ruled out" in entries[0], entries
    assert "Case outcome: Eliminated on " in entries[1] and "pc-ham" in entries[1], entries
    assert not serious(axe(browser, "5-decided"))
    browser.execute_script("document.getElementById('detail').scrollIntoView()")
    shot(browser, "5-decision-in-history")

    # 6. printed: the open hit alone, on one page
    pdf = base64.b64decode(browser.execute_cdp_cmd("Page.printToPDF", {
        "printBackground": True, "preferCSSPageSize": True})["data"])
    (SHOTS / "6-printed-hit.pdf").write_bytes(pdf)
    assert browser.execute_script("return document.body.dataset.printed") == "1"
    pages = _pdf_pages(SHOTS / "6-printed-hit.pdf")
    assert pages == 1, f"the printed hit takes {pages} pages"
    if shutil.which("pdftoppm"):
        subprocess.run(["pdftoppm", "-png", "-r", "60", "-singlefile",
                        str(SHOTS / "6-printed-hit.pdf"), str(SHOTS / "6-printed-hit")],
                       check=True)

    # ... a hit with a long account (the day's farthest: a hit by precision, with many visits)
    # is scaled to 80% at most and runs on to a second page, never more
    far = on_day.sort_values("min_distance_m").iloc[-1]
    browser.find_element(By.CSS_SELECTOR,
                         f"#day-hits tr[data-hit-id='{far.id}'] button.open-hit").click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "detail-title"),
                                                f"Subject {far.subject} at crime"))
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#timeline svg"))
    pdf = base64.b64decode(browser.execute_cdp_cmd("Page.printToPDF", {
        "printBackground": True, "preferCSSPageSize": True})["data"])
    (SHOTS / "6-printed-long-hit.pdf").write_bytes(pdf)
    assert browser.execute_script("return document.body.dataset.printZoom") == "0.8"
    pages = _pdf_pages(SHOTS / "6-printed-long-hit.pdf")
    assert pages <= 2, f"the printed hit takes {pages} pages"
    if shutil.which("pdftoppm"):
        subprocess.run(["pdftoppm", "-png", "-r", "60", "-singlefile",
                        str(SHOTS / "6-printed-long-hit.pdf"), str(SHOTS / "6-printed-long-hit")],
                       check=True)

    # 7. sign out: the token forgotten, the sign-out audited, nothing of the session left
    browser.find_element(By.ID, "signout").click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "whoami"), "Signed out"))
    assert browser.execute_script("return sessionStorage.getItem('trailmatch-token')") is None
    assert not browser.find_element(By.ID, "day").is_displayed()
    assert not browser.find_element(By.ID, "detail").is_displayed()
    assert browser.find_element(By.ID, "token").is_displayed()
    engine = open_store(world.store)
    try:
        signed_out = repository.list_audit(engine, user_name="pc-ham",
                                           action="session.signout")
    finally:
        engine.dispose()
    assert len(signed_out) == 1
    shot(browser, "7-signed-out")

    # no request left 127.0.0.1 (the browser's own log of every request it made)
    requested += requested_urls(browser)
    host = urlsplit(base).netloc
    assert any(u.startswith(base + "/tiles/") for u in requested), requested
    away = [u for u in requested
            if not (urlsplit(u).netloc == host or u.startswith(("blob:" + base, "data:")))]
    assert not away, away
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors


def _pdf_pages(path: Path) -> int:
    if shutil.which("pdfinfo"):
        out = subprocess.run(["pdfinfo", str(path)], check=True, capture_output=True,
                             text=True).stdout
        return int(next(line.split()[1] for line in out.splitlines()
                        if line.startswith("Pages:")))
    return path.read_bytes().count(b"/Type /Page") - path.read_bytes().count(b"/Type /Pages")
