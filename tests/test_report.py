"""The per-batch outputs: evidence, GeoJSON and the self-contained HTML report."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from html import escape
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from trailmatch.evidence import fixes_evidence
from trailmatch.report.html import STATEMENT, render_report
from trailmatch.rules import Rules

T0 = pd.Timestamp("2025-01-22 08:00", tz="UTC")
RULES = Rules(radius_m=100, max_gap_s=300)
CRIME = {"id": 7, "crime_reference": "44/1/25", "police_force": "Hampshire",
         "crime_type": "RB", "description": "Robbery <b>&</b>", "time_from": T0,
         "time_to": T0 + pd.Timedelta(minutes=20), "x": 1000.0, "y": 2000.0,
         "lat": 50.9, "lon": -1.4, "text": "<script>alert(1)</script>", "batch_id": "HAM1",
         "version": 1}


def ns(minutes: float) -> int:
    return (T0 + pd.Timedelta(minutes=minutes)).value


def walk_past():
    """Fixes each minute walking east along y = 2000 + 30 through the crime at x = 1000, with a
    10-minute gap in the middle of the window and one fix before and after the window."""
    minutes = np.array([-3, -1, 1, 2, 3, 4, 15, 16, 17, 19, 21, 24], dtype=float)
    t = np.array([ns(m) for m in minutes], dtype=np.int64)
    x = 700.0 + 20.0 * minutes
    y = np.full(t.size, 2030.0)
    prec = np.full(t.size, 10.0)
    prec[3] = np.nan
    src = np.ones(t.size, dtype=np.uint8)
    src[4] = 6
    return t, x, y, prec, src


def evidence(rules: Rules = RULES, precision_scale: float = 1.0):
    t, x, y, prec, src = walk_past()
    return fixes_evidence("S1", t, x, y, prec * precision_scale, src, hit_row(), CRIME["x"],
                          CRIME["y"], CRIME["time_from"], CRIME["time_to"], rules)


def hit_row(**kw):
    row = {"id": 3, "subject": "S1", "crime_id": 7, "min_distance_m": 30.0,
           "closest_time": T0 + pd.Timedelta(minutes=15), "first_in": T0 + pd.Timedelta(
               minutes=15), "last_in": T0 + pd.Timedelta(minutes=19), "duration_s": 240.0,
           "fixes_in": 3, "max_precision_m": 10.0, "sources": "GPS"}
    row.update(kw)
    return row


def test_path_evidence_window_gaps_and_vicinity():
    ev = evidence()
    p = ev.path
    # The last fix before the window (minute -1) and the first after it (21) bound the path;
    # minute -3 and 24 are further out and left off.
    assert [int((tt - T0).total_seconds() // 60) for tt in p["time"]] == [
        -1, 1, 2, 3, 4, 15, 16, 17, 19, 21]
    assert list(p["seq"]) == list(range(1, 11))
    assert list(p["in_window"]) == [False] + [True] * 8 + [False]
    # 4 -> 15 is 11 minutes: a gap, not joined; -1 -> 1 is 120 s: joined.
    assert list(p["joined_to_previous"]) == [False, True, True, True, True, False, True, True,
                                             True, True]
    # In the vicinity: inside the window and within R + precision (10) of (1000, 2000).
    d = np.hypot(p["x"] - 1000, p["y"] - 2000)
    assert np.allclose(p["distance_m"], d)
    want = p["in_window"] & (d <= 110)
    assert list(p["in_vicinity"]) == list(want)
    assert list(ev.fixes_in["seq"]) == [6, 7, 8, 9]  # minutes 15, 16, 17, 19 (x 1000..1080)
    # Speed from the previous fix: 20 m per 60 s = 1.2 km/h.
    assert p["speed_kmh"].iloc[2] == pytest.approx(1.2)
    assert np.isnan(p["speed_kmh"].iloc[0])
    assert list(p["source"]) == ["GPS"] * 3 + ["WiFi"] + ["GPS"] * 6  # the fix of minute 3


def test_closest_approach_is_the_models_own():
    # The evidence finds the closest approach itself (it no longer interpolates at the hit's
    # closest_time): the fix of minute 15 at x = 1000, 30 m north of the crime.
    ev = evidence()
    assert ev.closest_xy == pytest.approx((1000.0, 2030.0))
    assert ev.closest.distance_m == pytest.approx(30.0)
    assert ev.closest.time == ns(15)
    # the 11-minute gap meets the window; no fix within max gap is missing at either edge
    assert [(g.before_seq, g.after_seq) for g in ev.gaps] == [(5, 6)]


def test_precision_not_counted():
    rules = Rules(radius_m=100, max_gap_s=300, count_precision=False)
    ev = evidence(rules, precision_scale=100)
    assert list(ev.fixes_in["seq"]) == [6, 7, 8, 9]


def report(**kw) -> str:
    crimes = [CRIME, {**CRIME, "id": 8, "crime_reference": "44/2/25"}]
    return render_report(title="Evidence report: Hampshire, batch HAM1", subtitle="test",
                         crimes=crimes, hits_by_crime={7: [hit_row()]},
                         evidence={(7, "S1"): evidence()}, rules=RULES,
                         meta=[("Run", "1")], **kw)


def test_report_content_and_escaping():
    html = report(extra_sections=["<section id='coverage'>coverage here</section>"])
    assert escape(STATEMENT) in html
    assert "does not show that the subject committed or witnessed the crime" in html
    assert "<script" not in html  # the crime text is escaped, and the report has no scripts
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "Robbery &lt;b&gt;&amp;&lt;/b&gt;" in html
    assert html.count("<svg class=\"map\"") == 2
    assert "Subject S1" in html and "Crimes with no hit (1)" in html and "44/2/25" in html
    assert "coverage here" in html
    # The fixes table lists the four fixes in the vicinity with their sequence numbers.
    table = html[html.index('<table class="fixes">'):]
    table = table[:table.index("</table>")]
    assert re.findall(r"<tr><td class='num'>(\d+)</td><td>([^<]*)</td>", table) == [
        ("6", "2025-01-22 08:15:00"), ("7", "2025-01-22 08:16:00"),
        ("8", "2025-01-22 08:17:00"), ("9", "2025-01-22 08:19:00")]


def assert_offline(html: str) -> None:
    assert not re.search(r"https?:|ftp:|//[a-z0-9]", html, re.I)
    for attr in re.findall(r"""(?:src|href|xlink:href|srcset|action)\s*=\s*["']([^"']*)""",
                           html, re.I):
        assert attr.startswith("#"), attr  # only in-document anchors
    assert "@import" not in html and "url(" not in html.replace("url(#", "")
    assert "<link" not in html and "<script" not in html and "<iframe" not in html


def test_report_has_no_network_references():
    assert_offline(report())


def test_report_from_nightly_is_offline(tmp_path, sample_dir):
    from trailmatch.hitstore import open_store
    from trailmatch.ingest.positions import read_positions
    from trailmatch.jobs.nightly import run_nightly
    from trailmatch.jobs.sources import FrameTrails

    fixes = read_positions(sample_dir / "positions.csv").fixes
    engine = open_store(tmp_path / "store")
    run_nightly(engine, [sample_dir / "crimes.csv"], FrameTrails(fixes), tmp_path / "out")
    engine.dispose()
    html = (tmp_path / "out" / "Hampshire" / "HAM20250127" / "report.html").read_text()
    assert_offline(html)
    assert html.count('<section class="hit">') >= 80


@pytest.mark.chromium
def test_report_renders_in_chromium(tmp_path):
    if shutil.which("chromium") is None:
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium)")
    page = tmp_path / "report.html"
    page.write_text(report())
    png = tmp_path / "report.png"
    script = Path(__file__).parent.parent / "scripts" / "render_report.py"
    subprocess.run([sys.executable, str(script), str(page), str(png), "--height", "1200"],
                   check=True, timeout=180, capture_output=True)
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000


@pytest.mark.parametrize("rules", [
    Rules(), Rules(count_precision=False),
    Rules(buffer_before_s=600, buffer_after_s=300, max_gap_s=120),
], ids=["precision", "no-precision", "buffers"])
def test_evidence_agrees_with_the_engine_on_the_sample(sample_dir, rules):
    """What the report shows is what the engine counted: the fixes in the vicinity are exactly
    ``fixes_in`` of them, and the marked closest approach is ``min_distance_m`` away."""
    from trailmatch.evidence import trail_evidence
    from trailmatch.ingest.crime_batch import read_crime_batch
    from trailmatch.ingest.positions import read_positions
    from trailmatch.match import match
    from trailmatch.trails import prepare_trail

    fixes = read_positions(sample_dir / "positions.csv").fixes
    crimes = read_crime_batch(sample_dir / "crimes.csv").crimes.set_index("crime_reference")
    hits = match(fixes, crimes.reset_index(), rules)
    trail = prepare_trail(fixes)
    assert len(hits) > 50
    rows = hits.to_dict("records")
    found = trail_evidence(trail, rows, [crimes.loc[h["crime_reference"]] for h in rows], rules)
    for h, ev in zip(rows, found, strict=True):
        c = crimes.loc[h["crime_reference"]]
        assert int(ev.arrays["in_vicinity"].sum()) == h["fixes_in"]
        d = float(np.hypot(ev.closest_xy[0] - c.x, ev.closest_xy[1] - c.y))
        assert d == pytest.approx(h["min_distance_m"], abs=0.01)


def test_hit_section_shows_the_evidence_model_and_recorded_decisions():
    ev = evidence()
    html = report()
    assert escape(ev.account) in html  # the visit account, as the model wrote it
    assert html.count("<tr class='visit'>") == len(ev.visits) == 1
    assert html.count("<tr class='gap'>") == len(ev.gaps) == 1
    assert "1 gap(s) in the window" in html
    assert "Decisions recorded so far" not in html  # a batch report: a line to write on
    decided = [{"at": T0 + pd.Timedelta(days=1), "user_name": "pc-smith",
                "outcome": "ruled_out", "rationale": "at <home> on CCTV"}]
    per_hit = report(decisions={3: decided})
    block = per_hit[per_hit.index("Decisions recorded so far"):]
    assert "2025-01-23 08:00:00 UTC" in block and "pc-smith" in block
    assert "ruled out" in block and "at &lt;home&gt; on CCTV" in block
    assert "None recorded yet." in report(decisions={})
