"""figures.html as a person sees it: headless Chromium prints it (A4), poppler reads it back —
the charts on portrait pages, the month's full table on landscape ones, withheld values shown
as [c], nothing fetched from anywhere."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.test_figures import _table
from trailmatch.figures import suppress
from trailmatch.report.figures_page import render_figures

pytestmark = pytest.mark.chromium


def test_the_page_prints_charts_then_the_full_table_landscape(tmp_path):
    if shutil.which("chromium") is None or shutil.which("pdfinfo") is None:
        pytest.skip("needs Debian's chromium and poppler-utils")
    months = []
    for month, scale in (("2025-02", 1), ("2025-03", 2)):
        t = _table({("Hampshire", "fixed"): 3 * scale, ("Hampshire", "flex"): 40 * scale,
                    ("Sussex", "free"): 20 * scale, ("Sussex", "fixed"): 30})
        t["month"] = month
        months.append(t)
    trend = suppress(pd.concat(months, ignore_index=True), 5)
    html = render_figures(trend, "2025-03", scope="all", published=True, threshold=5)
    assert "http://" not in html.replace("http://www.w3.org/2000/svg", "") \
        and "https://" not in html  # self-contained: no network
    page = tmp_path / "figures.html"
    page.write_text(html, encoding="utf-8")
    pdf = tmp_path / "figures.pdf"
    script = Path(__file__).parent.parent / "scripts" / "render_report.py"
    subprocess.run([sys.executable, str(script), str(page), str(pdf)], check=True,
                   timeout=180, capture_output=True)
    info = subprocess.run(["pdfinfo", "-f", "1", "-l", "99", str(pdf)], capture_output=True,
                          text=True, check=True).stdout
    sizes = re.findall(r"Page\s+\d+ size:\s+([\d.]+) x ([\d.]+)", info)
    portrait = [float(w) < float(h) for w, h in sizes]
    assert len(sizes) >= 2 and portrait[0] and not portrait[-1]  # charts, then the table
    assert portrait == sorted(portrait, reverse=True)  # the table's pages come last
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True,
                          text=True, check=True).stdout
    pages = text.split("\f")
    assert "scheme figures, 2025-03" in pages[0] and "Subjects monitored" in pages[0]
    assert "All figures, 2025-03" in "".join(p for p, up in zip(pages, portrait, strict=False)
                                             if not up)
    assert "[c]" in text  # Hampshire's 3 fixed-cohort subjects are withheld
