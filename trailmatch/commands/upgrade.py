"""trailmatch upgrade --store DIR: re-project a store made before OSTN15, once.

Stores written before trailmatch placed WGS84 positions with OSTN15 hold x/y from pyproj's
Helmert (0.1-5 m off); every other verb refuses them and names this command. It re-projects
every fix from the latitude/longitude it kept, recomputes the flags (outside_grid
included), re-projects the stored crime versions from their easting/northing or
latitude/longitude, refreshes the day indexes, and records OSTN15 in the store last. A run
stopped half-way is finished by running it again; on an OSTN15 store it does nothing.
"""

from __future__ import annotations

import argparse
import sys


def add_parser(sub) -> None:
    p = sub.add_parser("upgrade", help="re-project a store made before OSTN15 (once)",
                       description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--store", required=True, metavar="DIR", help="store directory")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from trailmatch.store.upgrade import upgrade

    root = Path(args.store)
    if not root.is_dir():
        print(f"trailmatch upgrade: {root}: no such store", file=sys.stderr)
        return 1
    report = upgrade(root)
    print(report.line(root), file=sys.stderr)
    return 0 if report.found is not None else 1
