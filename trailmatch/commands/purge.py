"""trailmatch purge --store DIR --before DATE: forget subjects whose licence has ended.

Deletes every stored fix of each subject whose licence ended before DATE (all of its subject
records have a licence end earlier than DATE 00:00 UTC); subjects without a known licence end
are kept. Reports what it deleted on stderr (counts only: no subject ids in logs; use
--report FILE for the list). Running it again deletes nothing.
"""

from __future__ import annotations

import argparse
import sys

from trailmatch.commands.argtypes import out_file


def add_parser(sub) -> None:
    p = sub.add_parser("purge", help="delete the fixes of subjects whose licence has ended",
                       description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--store", required=True, metavar="DIR", help="store directory")
    p.add_argument("--before", required=True, metavar="YYYY-MM-DD",
                   help="purge subjects whose licence ended before this date")
    p.add_argument("--report", type=out_file, metavar="FILE",
                   help="write a CSV of the purged subjects and the fixes deleted for each")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from datetime import date

    import pandas as pd

    from trailmatch.store import Store

    try:
        before = date.fromisoformat(args.before)
    except ValueError:
        print(f"trailmatch purge: --before {args.before!r} is not a date YYYY-MM-DD",
              file=sys.stderr)
        return 2
    store = Store.existing(args.store)
    report = store.purge(before)
    print(f"purge before {before}: {len(report.subjects)} subject(s) with licence ended, "
          f"{report.total_deleted} fix(es) deleted from {len(report.fixes_deleted)} day "
          f"partition(s), {len(report.partitions_removed)} partition(s) now empty and removed",
          file=sys.stderr)
    if args.report:
        frame = pd.DataFrame({"subject": report.subjects,
                              "fixes_deleted": [report.fixes_by_subject.get(s, 0)
                                                for s in report.subjects]})
        frame.insert(0, "before", before.isoformat())
        from trailmatch.atomic import atomic_write
        atomic_write(args.report, frame.to_csv(index=False))
    return 0
