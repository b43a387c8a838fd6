"""trailmatch upgrade --store DIR [--db URL]: re-project what was placed before OSTN15, once.

Stores written before trailmatch placed WGS84 positions with OSTN15 hold x/y from pyproj's
Helmert (0.1-5 m off); every other verb refuses them and names this command. For the trail
store it re-projects every fix from the latitude/longitude it kept, recomputes the flags
(outside_grid included), re-projects the crime versions kept in the folder, refreshes the
day indexes, and records OSTN15 in the store last. For the hit store (DIR/hits.sqlite, or
--db URL) it places every crime version stored before OSTN15 again: x/y from the latitude/
longitude a batch gave, or the WGS84 latitude/longitude of the easting/northing it gave, in
one transaction. A run stopped half-way is finished by running it again; on an upgraded
store it does nothing.
"""

from __future__ import annotations

import argparse
import sys


def add_parser(sub) -> None:
    p = sub.add_parser("upgrade", help="re-project a store made before OSTN15 (once)",
                       description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--store", required=True, metavar="DIR", help="store directory")
    p.add_argument("--db", metavar="URL",
                   help="hit store database URL (default: DIR/hits.sqlite, when it exists)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from trailmatch.commands.inputs import existing_folder
    from trailmatch.hitstore.db import SQLITE_NAME, open_store
    from trailmatch.store import Store
    from trailmatch.store.upgrade import UpgradeReport, upgrade

    root = Path(args.store)
    existing_folder(root)  # no such folder, or a file: exit 1 naming the path
    # a folder without store.json holds no trail store: nothing of it to upgrade (and no
    # writer lock left behind in it)
    report = upgrade(root) if Store(root).meta_path.exists() else UpgradeReport(found=None)
    hit_store = args.db is not None or (root / SQLITE_NAME).exists()
    if report.found is not None or not hit_store:
        print(f"trailmatch upgrade: {report.line(root)}", file=sys.stderr)
    if hit_store:
        from trailmatch.hitstore.upgrade import upgrade_crimes

        engine = open_store(root, args.db)  # migrated first: the columns that record it
        try:
            crimes = upgrade_crimes(engine)
        finally:
            engine.dispose()
        print(crimes.line("hit store" if args.db else str(root / SQLITE_NAME)),
              file=sys.stderr)
    return 0 if report.found is not None or hit_store else 1
