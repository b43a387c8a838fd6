"""The officer page in headless Chromium (Debian's chromium + chromedriver, via Selenium): a real
click path — paste a token, search a crime reference, see the hits, open one on the map, see the
fixes table, record a decision — against a real server on loopback, plus a screenshot check."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pandas as pd
import pytest
from browser import NEEDS_CHROMIUM, chrome, on_loopback, street_tiles
from service_world import build_world

from trailmatch.hitstore import open_store, repository

pytestmark = NEEDS_CHROMIUM

SHOTS = Path(__file__).resolve().parent.parent / "out"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from service.app import create_app

    world = build_world(tmp_path_factory.mktemp("webstore"))
    with on_loopback(create_app(world.store)) as base:
        yield world, base


@pytest.fixture(scope="module")
def tile_server(server, tmp_path_factory):
    """A second app over the same store, serving a small MBTiles file made here: tiles at zooms
    11-14 covering a box around the busiest Hampshire hit's crime (the file's bounds)."""
    from service.app import create_app

    world, _ = server
    hit = world.hits[world.hits["police_force"] == "Hampshire"].sort_values(
        "fixes_in", ascending=False).iloc[0]
    crime = world.crimes[(world.crimes["police_force"] == "Hampshire")
                         & (world.crimes["crime_reference"] == hit.crime_reference)].iloc[0]
    path = street_tiles(tmp_path_factory.mktemp("tiles") / "streets.mbtiles",
                        float(crime["lat"]), float(crime["lon"]), 0.05, 0.035, range(11, 15))
    with on_loopback(create_app(world.store, tiles_file=path)) as base:
        yield world, hit, base


@pytest.fixture(scope="module")
def browser():
    with chrome("1200,1600") as driver:
        yield driver


def _png_pixels(png: bytes) -> tuple[int, int, bytes]:
    """Width, height and raw scanlines (filter bytes included) of a PNG; no imaging library."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pos, data, width, height = 8, b"", 0, 0
    while pos < len(png):
        length, kind = struct.unpack(">I4s", png[pos:pos + 8])
        chunk = png[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height = struct.unpack(">II", chunk[:8])
        elif kind == b"IDAT":
            data += chunk
        pos += 12 + length
    return width, height, zlib.decompress(data)


def test_officer_click_path(server, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import Select, WebDriverWait

    world, base = server
    wait = WebDriverWait(browser, 20)
    hit = world.hits[world.hits["police_force"] == "Hampshire"].sort_values(
        "fixes_in", ascending=False).iloc[0]

    browser.get(base + "/")
    browser.find_element(By.ID, "token").send_keys(world.tokens["ham"])
    browser.find_element(By.ID, "token-submit").click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "session"), "Signed in as pc-ham"))
    assert browser.find_element(By.ID, "force").get_attribute("value") == "Hampshire"

    browser.find_element(By.ID, "crime-ref").send_keys(hit.crime_reference)
    browser.find_element(By.ID, "search-submit").click()
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#hits tbody tr"))
    rows = browser.find_elements(By.CSS_SELECTOR, "#hits tbody tr")
    n_expected = ((world.hits["police_force"] == "Hampshire")
                  & (world.hits["crime_reference"] == hit.crime_reference)).sum()
    assert len(rows) == n_expected
    row = next(r for r in rows if r.get_attribute("data-hit-id") == str(hit.id))
    assert str(hit.subject) in row.text

    row.find_element(By.CSS_SELECTOR, "button.open-hit").click()
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#fixes tbody tr"))
    assert browser.find_element(By.ID, "detail").is_displayed()
    fixes = browser.find_elements(By.CSS_SELECTOR, "#fixes tbody tr")
    assert len(browser.find_elements(By.CSS_SELECTOR, "#fixes tbody tr.in-vicinity")) \
        == hit.fixes_in
    assert len(fixes) >= hit.fixes_in
    # the fix either side of the window is listed and said to be outside it; the rest are in
    detail = _detail(world, base, int(hit.id))
    said = [r.find_elements(By.TAG_NAME, "td")[-1].text for r in fixes]
    w0 = detail["window_from"]
    assert said == ["in" if f["in_window"] else
                    ("before the window" if f["time"] < w0 else "after the window")
                    for f in detail["fixes"]]
    assert "after the window" in said or "before the window" in said
    # the map: Leaflet drew the vicinity circle, the path and the fixes, with a scale bar
    shapes = browser.find_elements(By.CSS_SELECTOR, "#map .leaflet-overlay-pane path")
    assert len(shapes) >= 3 + hit.fixes_in
    assert browser.find_element(By.CSS_SELECTOR, "#map .leaflet-control-scale").is_displayed()
    assert not browser.find_elements(By.CSS_SELECTOR, "#map .leaflet-tile")  # no tile server
    assert browser.find_element(By.ID, "basemap-label").text == "no basemap configured"

    Select(browser.find_element(By.ID, "outcome")).select_by_value("ruled_out")
    browser.find_element(By.ID, "rationale").send_keys("Seen on CCTV at work at the time")
    browser.find_element(By.ID, "decision-submit").click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "decisions"), "Seen on CCTV"))
    assert "Decision recorded." in browser.find_element(By.ID, "decision-status").text
    engine = open_store(world.store)
    try:
        decisions = repository.list_decisions(engine, int(hit.id))
    finally:
        engine.dispose()
    assert [(d["outcome"], d["rationale"], d["user_name"]) for d in decisions] == [
        ("ruled_out", "Seen on CCTV at work at the time", "pc-ham")]

    # everything the page loaded came from the app itself
    loaded = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)")
    assert loaded and all(url.startswith(base) for url in loaded), loaded
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors

    # screenshot check: a real picture with the map in it, not a blank page
    SHOTS.mkdir(exist_ok=True)
    browser.execute_script("document.getElementById('detail').scrollIntoView()")
    png = browser.get_screenshot_as_png()
    (SHOTS / "web_page.png").write_bytes(png)
    width, height, raw = _png_pixels(png)
    assert width >= 1000 and height >= 800
    assert len(set(raw[:: max(1, len(raw) // 50_000)])) > 20  # many distinct byte values
    map_png = browser.find_element(By.ID, "map").screenshot_as_png
    (SHOTS / "web_page_map.png").write_bytes(map_png)
    _, _, map_raw = _png_pixels(map_png)
    assert len(set(map_raw[:: max(1, len(map_raw) // 50_000)])) > 10


def test_a_bad_token_is_refused_on_the_page(server, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    _, base = server
    browser.get(base + "/")
    browser.find_element(By.ID, "token").send_keys("tm_not-a-token")
    browser.find_element(By.ID, "token-submit").click()
    WebDriverWait(browser, 10).until(
        ec.text_to_be_present_in_element((By.ID, "whoami"), "Token not accepted"))
    assert not browser.find_element(By.ID, "search").is_displayed()


def test_the_map_draws_the_services_own_tiles(tile_server, browser):
    """serve --tiles: the page fetches /tiles/... with the token and draws them under the path;
    every request stays on the app's origin."""
    from selenium.webdriver.common.by import By

    world, hit, base = tile_server
    browser.get_log("browser")  # drop what earlier tests left (a refused token's 401)
    _open_hit(browser, base, world, hit, ready="#map img.leaflet-tile-loaded")
    loaded_tiles = browser.execute_script(
        "return [...document.querySelectorAll('#map img.leaflet-tile-loaded')]"
        ".map(i => [i.src, i.naturalWidth])")
    assert loaded_tiles and all(src.startswith("blob:") and width == 256
                                for src, width in loaded_tiles), loaded_tiles
    assert not browser.find_elements(By.ID, "basemap-label")
    assert "test streets" in browser.find_element(By.CSS_SELECTOR,
                                                  "#map .leaflet-control-attribution").text
    # the path is drawn above the tiles, the crime above the path, with the legend and scale
    assert browser.find_elements(By.CSS_SELECTOR, "#map .leaflet-overlay-pane path")
    g = browser.execute_script(_GEOMETRY)
    assert g["crimeOnTop"] and _inside(g["vicinity"], g["map"]) and g["path"] >= 1
    assert browser.find_element(By.ID, "tm-legend").is_displayed()
    under = browser.execute_script(
        "const v = document.querySelector('#map path.tm-vicinity').getBoundingClientRect();"
        "const x = v.left + v.width / 2; const y = v.top + v.height / 2;"
        "return [...document.querySelectorAll('#map img.leaflet-tile-loaded')].some((i) => {"
        " const r = i.getBoundingClientRect();"
        " return r.left <= x && x <= r.right && r.top <= y && y <= r.bottom; })")
    assert under  # a street tile under the crime

    loaded = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)")
    assert any(url.startswith(base + "/tiles/") for url in loaded), loaded
    assert all(url.startswith((base, "blob:" + base)) for url in loaded), loaded
    assert any(url.endswith("/static/map.js") for url in loaded)
    assert all(url.startswith(base) for url in loaded), loaded
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors
    SHOTS.mkdir(exist_ok=True)
    browser.execute_script("document.getElementById('map').scrollIntoView()")
    (SHOTS / "web_page_tiles.png").write_bytes(
        browser.find_element(By.ID, "map").screenshot_as_png)


# --- the hit map, its timeline and the visit account (static/map.js, static/timeline.js) ------

def _open_hit(browser, base, world, hit, ready: str = "#timeline svg .tm-curve"):
    """Sign in as Hampshire's officer, search the hit's crime and open the hit; wait until
    ``ready`` (a CSS selector) is on the page."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, 30)
    browser.get(base + "/")
    browser.find_element(By.ID, "token").send_keys(world.tokens["ham"])
    browser.find_element(By.ID, "token-submit").click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "session"), "Signed in as pc-ham"))
    browser.find_element(By.ID, "crime-ref").send_keys(hit.crime_reference)
    browser.find_element(By.ID, "search-submit").click()
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, f"#hits tr[data-hit-id='{hit.id}']"))
    browser.find_element(By.CSS_SELECTOR,
                         f"#hits tr[data-hit-id='{hit.id}'] button.open-hit").click()
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, ready))
    return wait


def _detail(world, base, hit_id: int) -> dict:
    import httpx

    answer = httpx.get(f"{base}/hits/{hit_id}",
                       headers={"Authorization": f"Bearer {world.tokens['ham']}"})
    assert answer.status_code == 200, answer.text
    return answer.json()


# where things are on the page, measured by the browser
_GEOMETRY = """
const box = (e) => { const r = e.getBoundingClientRect();
                     return {x: r.left, y: r.top, w: r.width, h: r.height}; };
const map = document.getElementById('map');
const crime = map.querySelector('.tm-crime');
const c = box(crime);
const top = document.elementFromPoint(c.x + c.w / 2, c.y + c.h / 2);
return {
  map: box(map), crime: c, vicinity: box(map.querySelector('path.tm-vicinity')),
  crimeOnTop: Boolean(top && top.closest('.tm-crime-icon')),
  arrows: map.querySelectorAll('.tm-arrow').length,
  labels: [...map.querySelectorAll('.tm-time-label')].map((e) => e.textContent),
  precision: map.querySelectorAll('path.tm-precision').length,
  gaps: map.querySelectorAll('path.tm-gap').length,
  path: map.querySelectorAll('path.tm-path').length,
  outside: map.querySelectorAll('path.tm-outside').length,
  fixes: map.querySelectorAll('path.tm-fix').length,
  scale: map.querySelector('.leaflet-control-scale-line').textContent,
  band: box(document.querySelector('#timeline .tm-band')),
  curves: document.querySelectorAll('#timeline .tm-curve').length,
  timelineGaps: document.querySelectorAll('#timeline rect.tm-gap').length,
  visitsBars: document.querySelectorAll('#timeline rect.tm-visit').length,
  minDistance: Number(document.getElementById('timeline').dataset.minDistance),
};
"""


def _inside(inner: dict, outer: dict, slack: float = 1.0) -> bool:
    return (inner["x"] >= outer["x"] - slack and inner["y"] >= outer["y"] - slack
            and inner["x"] + inner["w"] <= outer["x"] + outer["w"] + slack
            and inner["y"] + inner["h"] <= outer["y"] + outer["h"] + slack)


def test_the_hit_map_timeline_and_account(server, browser):
    """Opening a hit: the map opens on the crime (its marker above the path, the vicinity circle
    in view and large enough to read), the path with arrows, time labels, precision circles and
    gaps, a legend and a scale; the timeline under it with the vicinity band, the gaps and the
    visits, its lowest point the closest approach; a time picked on the timeline (pointer or
    keyboard) puts the marker on the map where the subject was; the account in words."""
    import re

    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    world, base = server
    hit = world.hits[world.hits["police_force"] == "Hampshire"].sort_values(
        "fixes_in", ascending=False).iloc[0]
    browser.get_log("browser")
    _open_hit(browser, base, world, hit)
    d = _detail(world, base, int(hit.id))
    g = browser.execute_script(_GEOMETRY)

    # the crime and its vicinity: in view, the circle a good part of the view, the crime on top
    assert _inside(g["crime"], g["map"]) and _inside(g["vicinity"], g["map"])
    assert g["vicinity"]["w"] >= 0.25 * min(g["map"]["w"], g["map"]["h"])
    assert g["crimeOnTop"]
    # the path through the window, the fix either side, direction and times; gaps; precision
    assert g["path"] >= 1 and g["arrows"] >= 1
    assert len(g["labels"]) >= 2 and all(re.fullmatch(r"\d\d:\d\d:\d\d( \((before|after)\))?", t)
                                         for t in g["labels"]), g["labels"]
    assert g["fixes"] == len(d["fixes"])
    assert g["precision"] == sum(1 for f in d["fixes"] if f["precision_m"])
    assert g["gaps"] == sum(1 for x in d["gaps"] if x["before"] and x["after"])
    if any(not f["in_window"] for f in d["fixes"]):
        assert g["outside"] >= 1
    legend = browser.find_element(By.ID, "tm-legend")
    assert legend.is_displayed()
    for words in ("Crime", "Vicinity, 100 m", "direction", "Gap: not monitored", "Fix precision",
                  "Closest approach", "Time picked on the timeline"):
        assert words in legend.text
    assert re.fullmatch(r"\d+ (m|km)", g["scale"]), g["scale"]
    # the timeline: the band, the curve, every gap and visit; its lowest point the closest
    assert g["band"]["h"] > 5 and g["curves"] >= 1
    assert g["timelineGaps"] == len(d["gaps"]) and g["visitsBars"] == len(d["visits"])
    assert g["minDistance"] == pytest.approx(d["closest"]["distance_m"], abs=0.05)

    # keyboard: the first fix in the window; the map's marker on that fix
    plot = browser.find_element(By.CSS_SELECTOR, "#timeline .tm-timeline-plot")
    plot.send_keys(Keys.HOME, Keys.ARROW_RIGHT)
    first = next(f for f in d["fixes"] if f["in_window"])
    readout = browser.find_element(By.ID, "tm-readout").text
    assert readout.startswith(first["time"][11:19] + " UTC: ")
    assert f"(fix {first['seq']})" in readout
    assert plot.get_attribute("aria-valuetext") == readout
    here = browser.execute_script(
        "const m = state.view.map.map; const f = arguments[0];"
        "const p = m.latLngToContainerPoint([f.lat, f.lon]);"
        "const r = document.getElementById('tm-here').getBoundingClientRect();"
        "const c = m.getContainer().getBoundingClientRect();"
        "return [p.x, p.y, r.left + r.width / 2 - c.left, r.top + r.height / 2 - c.top]", first)
    assert here[2] == pytest.approx(here[0], abs=1.5) and here[3] == pytest.approx(here[1],
                                                                                   abs=1.5)

    # the pointer over the closest approach's instant, then over another fix's: the marker
    # where the subject was at the instant under the pointer (a pixel of the timeline is many
    # seconds: the instant is the pixel's, or a fix's within 4 px); off the timeline: no marker
    def point_at(iso: str) -> dict:
        centre = plot.rect["x"] + plot.rect["width"] / 2
        x = browser.execute_script("return state.view.timeline.clientX(Date.parse(arguments[0]))",
                                   iso)
        # (whole pixels toward the plot's centre: a fix at the end of the path stays under it)
        ActionChains(browser).move_to_element_with_offset(plot, int(x - centre), 0).perform()
        return browser.execute_script(
            "const m = state.view.map.map; const t = Number(m.getContainer().dataset.hereTime);"
            "const p = trailmatchMap.positionAt(state.view.map.track, t);"
            "const q = m.latLngToContainerPoint([p.lat, p.lon]);"
            "const r = document.getElementById('tm-here').getBoundingClientRect();"
            "const c = m.getContainer().getBoundingClientRect();"
            "const w = state.view.timeline.clientX(t + 1000) - state.view.timeline.clientX(t);"
            "return {t, x: r.left + r.width / 2 - c.left, y: r.top + r.height / 2 - c.top,"
            " want_x: q.x, want_y: q.y, ms_per_px: 1000 / w}")

    for iso in (d["closest"]["time"], max(
            (f["time"] for f in d["fixes"] if f["in_window"]),
            key=lambda t: abs(pd.Timestamp(t) - pd.Timestamp(d["closest"]["time"])))):
        got = point_at(iso)
        assert abs(got["t"] - pd.Timestamp(iso).value / 1e6) <= 5 * got["ms_per_px"] + 1
        assert got["x"] == pytest.approx(got["want_x"], abs=1.5)
        assert got["y"] == pytest.approx(got["want_y"], abs=1.5)
        assert "m from the crime" in browser.find_element(By.ID, "tm-readout").text
    ActionChains(browser).move_to_element(browser.find_element(By.ID, "detail-title")).perform()
    assert not browser.find_elements(By.ID, "tm-here")
    assert not browser.find_element(By.ID, "tm-readout").text.strip()

    # a fix under the pointer on the map: its time on the timeline
    fix = browser.execute_script(
        "const m = document.getElementById('map').getBoundingClientRect();"
        "const fixes = document.querySelectorAll('#map path.tm-fix:not(.tm-fix-outside)');"
        "return [...fixes].find((e) => {"
        " const r = e.getBoundingClientRect(); const x = r.left + r.width / 2;"
        " const y = r.top + r.height / 2;"
        " return x > m.left + 260 && x < m.right - 20 && y > m.top + 20 && y < m.bottom - 20"
        " && document.elementFromPoint(x, y) === e; })")
    assert fix is not None
    ActionChains(browser).move_to_element(fix).perform()
    assert re.search(r"\(fix \d+\)", browser.find_element(By.ID, "tm-readout").text)
    ActionChains(browser).move_to_element(browser.find_element(By.ID, "detail-title")).perform()

    # the visit account, and why this is a hit
    reason = browser.find_element(By.ID, "tm-reason").text
    assert reason.startswith("Why a hit: Closest approach "
                             f"{d['closest']['distance_m']:.1f} m at ") and "within the 100 m" \
        in reason
    assert browser.find_element(By.ID, "tm-account-text").text == "Account: " + d["account"]
    rows = browser.execute_script("return document.querySelectorAll('#tm-visits tbody tr').length")
    assert rows == len(d["visits"])

    loaded = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)")
    assert any(url.endswith("/static/map.js") for url in loaded)
    assert all(url.startswith(base) for url in loaded), loaded
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors
    SHOTS.mkdir(exist_ok=True)
    browser.execute_script("document.getElementById('map').scrollIntoView()")
    ActionChains(browser).move_to_element_with_offset(plot, 60, 0).perform()
    (SHOTS / "web_page_hit_map.png").write_bytes(browser.get_screenshot_as_png())
    (SHOTS / "web_page_timeline.png").write_bytes(
        browser.find_element(By.ID, "timeline").screenshot_as_png)


def test_a_hit_by_precision_is_spelt_out_on_the_page(server, browser):
    """A hit that holds only because precision is counted: the page says so, in the words the
    evidence model wrote ("closest approach 109.1 m: within 100 m plus the fix's 25 m
    precision"), and the timeline shows the precision band above the vicinity."""
    import re

    from selenium.webdriver.common.by import By

    world, base = server
    by_precision = world.hits[(world.hits["police_force"] == "Hampshire")
                              & (world.hits["min_distance_m"] > 100.0)]
    assert len(by_precision), "the sample world has a hit by precision"
    hit = by_precision.iloc[0]
    _open_hit(browser, base, world, hit)
    d = _detail(world, base, int(hit.id))
    assert re.fullmatch(r"closest approach \d+\.\d m: within 100 m plus the (fix's|interpolated) "
                        r"\d+ m precision.*", d["precision_note"]), d["precision_note"]
    reason = browser.find_element(By.ID, "tm-reason").text
    assert reason == "A hit by precision: C" + d["precision_note"][1:] + "."
    assert browser.find_elements(By.CSS_SELECTOR, "#timeline .tm-reach")
    g = browser.execute_script(_GEOMETRY)
    assert _inside(g["vicinity"], g["map"]) and g["crimeOnTop"]
    # the closest approach (outside the radius) is in view too
    assert g["minDistance"] == pytest.approx(d["closest"]["distance_m"], abs=0.05)
    closest = browser.find_element(By.CSS_SELECTOR, "#map path.tm-closest")
    assert _inside(browser.execute_script(
        "const r = arguments[0].getBoundingClientRect();"
        "return {x: r.left, y: r.top, w: r.width, h: r.height}", closest), g["map"])
    SHOTS.mkdir(exist_ok=True)
    browser.execute_script("document.getElementById('detail').scrollIntoView()")
    (SHOTS / "web_page_precision_hit.png").write_bytes(browser.get_screenshot_as_png())


def test_a_hit_whose_path_is_gone_still_shows_the_crime(server, browser):
    """The hit of a subject whose fixes have since been purged (an empty path: the evidence
    model's answer then) draws the crime, its vicinity and a timeline that is one gap, with no
    script error; the account says there is no fix."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    world, base = server
    hit = world.hits[world.hits["police_force"] == "Hampshire"].iloc[0]
    browser.get_log("browser")
    _open_hit(browser, base, world, hit)
    browser.execute_script("""
        const h = structuredClone(state.hit);
        Object.assign(h, {fixes: [], visits: [], closest: null, precision_note: null,
                          path: {type: 'MultiLineString', coordinates: []},
                          account: 'No stretch in the vicinity was found along the path shown.',
                          gaps: [{before: null, after: null, before_seq: null, after_seq: null,
                                  window_from: h.window_from, window_to: h.window_to}]});
        state.view = trailmatchMap.drawAll(
          {map: $('map'), timeline: $('timeline'), account: $('account')}, h,
          {config: state.config, token});""")
    g = browser.execute_script(_GEOMETRY)
    assert _inside(g["crime"], g["map"]) and _inside(g["vicinity"], g["map"]) and g["crimeOnTop"]
    assert g["fixes"] == g["path"] == g["gaps"] == g["arrows"] == 0 and not g["labels"]
    assert g["curves"] == 0 and g["timelineGaps"] == 1 and g["band"]["h"] > 5
    assert browser.find_element(By.ID, "tm-reason").text == (
        "No path: No fix of this subject is held for this window now, so the path cannot be "
        "drawn.")
    plot = browser.find_element(By.CSS_SELECTOR, "#timeline .tm-timeline-plot")
    plot.send_keys(Keys.ARROW_RIGHT)
    assert "not monitored" in browser.find_element(By.ID, "tm-readout").text
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors
