"""The report as printed: headless Chromium prints it to PDF (A4) and poppler reads the pages
back: the page count of a known batch, a running header naming force, batch and crime on
every page, page x of y, each crime on a new page, table headers repeated."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_report import CRIME, RULES, evidence, hit_row
from trailmatch.report.provenance import InputFile, Production
from trailmatch.report.registry import Batch, report_html

pytestmark = pytest.mark.chromium


def _tools():
    if shutil.which("chromium") is None:
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium)")
    if shutil.which("pdfinfo") is None or shutil.which("pdftotext") is None:
        pytest.skip("poppler-utils is not installed (apt-get install -y poppler-utils)")


def known_batch(tmp_path: Path, n_fixes_rows: int = 0) -> Batch:
    import pandas as pd

    crime2 = {**CRIME, "id": 8, "crime_reference": "44/2/25"}
    crime3 = {**CRIME, "id": 9, "crime_reference": "44/3/25"}
    hits = pd.DataFrame([{**hit_row(), "crime_reference": "44/1/25"},
                         {**hit_row(id=4, crime_id=8), "crime_reference": "44/2/25"}])
    return Batch(directory=tmp_path, police_force="Hampshire", batch_id="HAM1",
                 crimes=[CRIME, crime2, crime3], hits=hits,
                 evidence={(7, "S1"): evidence(), (8, "S1"): evidence()}, rules=RULES,
                 algorithm_version="trailmatch test", rules_digest="0123456789abcdef",
                 meta=[("Police force", "Hampshire"), ("Batch", "HAM1")],
                 inputs=[InputFile("batch file", "HAM1.csv", "ab" * 32)],
                 production=Production("nightly run 1", "pc-test", "2025-01-28 06:00:00 UTC"))


def print_pages(tmp_path: Path, html: str) -> list[str]:
    page = tmp_path / "report.html"
    page.write_text(html, encoding="utf-8")
    pdf = tmp_path / "report.pdf"
    script = Path(__file__).parent.parent / "scripts" / "render_report.py"
    subprocess.run([sys.executable, str(script), str(page), str(pdf)], check=True,
                   timeout=180, capture_output=True)
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True,
                          check=True).stdout
    assert re.search(r"Page size:\s+59\d\.\d+ x 841\.\d+ pts \(A4\)", info), info
    n = int(re.search(r"Pages:\s+(\d+)", info).group(1))
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True,
                          text=True, check=True).stdout
    pages = text.split("\f")[:n]
    assert len(pages) == n
    return pages


def test_known_batch_prints_with_running_header_and_page_numbers(tmp_path):
    _tools()
    pages = print_pages(tmp_path, report_html(known_batch(tmp_path)))
    n = len(pages)
    # Title and summary (1); each crime with hits from a new page, its hit section after the
    # crime's details and on to the next page (2 + 2: the maps with their key, the figures and
    # each table row are not cut); the crimes with no hit (1); the provenance (1).
    assert n == 7, [p[:200] for p in pages]
    for k, text in enumerate(pages, start=1):
        assert "Hampshire \u00b7 batch HAM1" in text, k  # running header on every page
        assert f"Page {k} of {n}" in text, k
    heading = [p.splitlines()[0] if p.strip() else "" for p in pages]
    for k in (1, 2):  # 0-based: the pages of crime 44/1/25 name it in the header
        assert "Crime 44/1/25" in heading[k], heading[k]
    for k in (3, 4):
        assert "Crime 44/2/25" in heading[k], heading[k]
    assert re.search(r"^\s*Crime 44/1/25", pages[1], re.M) and "Subject S1 (hit 3)" in pages[1]
    assert re.search(r"^\s*Crime 44/2/25", pages[3], re.M) and "Subject S1 (hit 4)" in pages[3]
    for k in (1, 3):  # the maps and their key on one page, the hit's last table on the next
        assert pages[k].count("Path through the crime window") == 1
        key = "gap: not joined, not monitored"  # the maps' key, drawn below them
        assert key in pages[k] and key not in pages[k + 1]
        assert "Fixes in the vicinity" in pages[k] + pages[k + 1]
    assert "Crimes with no hit (1)" in pages[5]
    assert "Provenance" in pages[6] and "ab" * 32 in pages[6].replace("\n", "").replace(" ", "")


def test_a_long_table_repeats_its_header_on_every_page(tmp_path):
    _tools()
    from trailmatch.report.html import _table

    rows = "".join(f"<tr><td>{i}</td><td>row {i}</td></tr>" for i in range(150))
    html = report_html(known_batch(tmp_path)).replace(
        "<footer>", _table(["Number", "Long table heading"], rows) + "<footer>")
    pages = print_pages(tmp_path, html)
    spanned = [p for p in pages if "row 1" in p or "row 149" in p or "row 80" in p]
    assert len(spanned) >= 2
    for text in spanned:
        assert "Long table heading" in text
