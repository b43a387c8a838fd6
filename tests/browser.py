"""Real headless Chromium and an app served in-process on loopback, for the page tests
(``test_web_page.py``, ``test_officer_page.py``): one place for the browser's flags (nothing but
127.0.0.1 resolves), the server thread and the test's street tiles."""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from live_server import free_port

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")

NEEDS_CHROMIUM = [
    pytest.mark.chromium,
    pytest.mark.filterwarnings("ignore::UserWarning"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.skipif(CHROMIUM is None or CHROMEDRIVER is None,
                       reason="needs Debian's chromium and chromium-driver "
                              "(apt-get install -y chromium chromium-driver; .ci/run does)"),
]


@contextlib.contextmanager
def on_loopback(app) -> Iterator[str]:
    """The base URL of ``app`` served by uvicorn in a thread on a free 127.0.0.1 port."""
    import uvicorn

    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=free_port(),
                                        log_level="warning", access_log=False))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{srv.config.port}"
    finally:
        srv.should_exit = True
        thread.join(timeout=10)


@contextlib.contextmanager
def chrome(window_size: str, *, network_log: bool = False):
    """Headless Chromium through chromedriver. Every host but 127.0.0.1 fails to resolve: the
    pages must need nothing from elsewhere. With ``network_log`` the DevTools network events
    are kept (``driver.get_log("performance")``), so a test can list every request made."""
    pytest.importorskip("selenium", reason="needs the selenium package (dev extra)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ.setdefault("SE_OFFLINE", "true")  # never let Selenium Manager fetch anything
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", f"--window-size={window_size}",
                 "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"):
        options.add_argument(flag)
    logs = {"browser": "ALL", "performance": "ALL"} if network_log else {"browser": "ALL"}
    options.set_capability("goog:loggingPrefs", logs)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def street_tiles(path: Path, lat: float, lon: float, half_lon: float, half_lat: float,
                 zooms: range) -> Path:
    """A small MBTiles file at ``path``: plain tiles in two colours (a checkerboard of
    "streets") over the box around (lat, lon), at ``zooms``, its bounds in the metadata."""
    from mbtiles_file import lon_lat_tile, png_tile, write_mbtiles

    west, south, east, north = lon - half_lon, lat - half_lat, lon + half_lon, lat + half_lat
    colours = [png_tile((236, 232, 214)), png_tile((214, 226, 236))]
    tiles = {}
    for z in zooms:
        x0, y0 = lon_lat_tile(west, north, z)
        x1, y1 = lon_lat_tile(east, south, z)
        for x in range(x0, x1 + 1):
            for y in range(y0, y1 + 1):
                tiles[(z, x, y)] = colours[(x + y) % 2]
    return write_mbtiles(path, tiles, metadata={
        "minzoom": str(zooms.start), "maxzoom": str(zooms.stop - 1),
        "bounds": f"{west},{south},{east},{north}", "attribution": "test streets"})
