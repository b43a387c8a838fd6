"""``trailmatch verify``: does an evidence report still stand? Recompute its hits and say."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from trailmatch.commands.options import add_store_args, open_hit_store


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "verify", help="check that an evidence report's hits still stand",
        description="Read the record an evidence report (report.html) carries, recompute its "
                    "hits from the trail store and the hit store under the report's rules, and "
                    "say whether they still stand. Exit 0 when they do; exit 1 naming what "
                    "changed: the document itself, a later crime version, a changed trail "
                    "partition (late fixes), a hit gone, new or moved.")
    p.add_argument("report", type=Path, metavar="REPORT",
                   help="a report.html written by trailmatch nightly or rematch")
    add_store_args(p, flagged=True)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from trailmatch.jobs.sources import StoreTrails
    from trailmatch.report.provenance import read_report
    from trailmatch.verify import verify_report

    engine = open_hit_store(args, trails=True)
    try:
        try:
            html = read_report(args.report)
        except (OSError, UnicodeDecodeError) as e:
            print(f"trailmatch verify: {args.report}: cannot read it: {e}", file=sys.stderr)
            return 2
        verdict = verify_report(html, engine,
                                StoreTrails(args.store, include_flagged=args.include_flagged),
                                name=str(args.report))
    except ValueError as e:
        print(f"trailmatch verify: {args.report}: {e}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    print(verdict.text())
    return 0 if verdict.stands else 1
