#!/usr/bin/env python3
"""Screenshot an evidence report (``report.html``) in headless Chromium, to look at it.

    python scripts/render_report.py demo-output/Hampshire/HAM20250127/report.html report.png
    python scripts/render_report.py report.html out.pdf     # print to PDF as a detective would

Uses Debian's ``chromium`` (``apt-get install -y chromium`` when missing), isolated from any
network and profile: a fresh temporary user-data directory, no background networking, no
component updates, no sync. The report itself references nothing outside itself.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         "--hide-scrollbars", "--disable-dev-shm-usage"]


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def install_chromium() -> str:
    subprocess.run(["apt-get", "update", "-qq"], check=True)
    subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], check=True)
    path = find_chromium()
    if path is None:
        raise SystemExit("render_report: chromium is still missing after apt-get install")
    return path


def render(report: Path, output: Path, *, width: int = 1000, height: int = 3000,
           chromium: str | None = None, timeout: float = 120.0) -> Path:
    """Write a PNG screenshot (or a PDF when ``output`` ends in .pdf) of ``report``."""
    browser = chromium or find_chromium() or install_chromium()
    output = output.resolve()
    with tempfile.TemporaryDirectory(prefix="trailmatch-chromium-") as profile:
        if output.suffix.lower() == ".pdf":
            what = [f"--print-to-pdf={output}", "--no-pdf-header-footer"]
        else:
            what = [f"--screenshot={output}", f"--window-size={width},{height}"]
        cmd = [browser, *FLAGS, f"--user-data-dir={profile}", *what,
               report.resolve().as_uri()]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0 or not output.exists():
        raise SystemExit(f"render_report: chromium failed ({proc.returncode}):\n{proc.stderr}")
    return output


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", type=Path, help="the report.html to render")
    parser.add_argument("output", type=Path, help="PNG screenshot, or .pdf to print")
    parser.add_argument("--width", type=int, default=1000, help="window width, px (PNG)")
    parser.add_argument("--height", type=int, default=3000, help="window height, px (PNG)")
    args = parser.parse_args(argv)
    if not args.report.is_file():
        parser.error(f"{args.report}: no such file")
    out = render(args.report, args.output, width=args.width, height=args.height)
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
