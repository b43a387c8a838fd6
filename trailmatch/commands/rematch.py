"""``trailmatch rematch``: after late uploads, re-match the crimes they can change."""

from __future__ import annotations

import argparse
import sys

from trailmatch.commands.argtypes import out_dir, out_file
from trailmatch.commands.options import add_rules_args, add_store_args, open_inputs
from trailmatch.scale.cluster import add_scheduler_arg


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "rematch", help="re-match crimes whose windows meet positions ingested since a time",
        description="Find the fixes ingested at or after --since (late uploads), re-match the "
                    "crimes whose windows they can change, update the hit store, and list the "
                    "new, updated and withdrawn hits as CSV on stdout (or --changes FILE).")
    add_store_args(p, flagged=True)
    p.add_argument("--since", required=True, metavar="TIMESTAMP",
                   help="ISO 8601 instant, e.g. 2025-01-27T06:00:00Z (UTC when no offset)")
    p.add_argument("--out", type=out_dir, metavar="DIR",
                   help="also rewrite the outputs of the batches whose hits changed")
    p.add_argument("--changes", type=out_file, metavar="FILE",
                   help="write the changed hits to this CSV instead of stdout")
    add_rules_args(p)
    add_scheduler_arg(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import pandas as pd

    from trailmatch.atomic import atomic_write
    from trailmatch.jobs.rematch import changes_csv, run_rematch

    try:
        since = pd.Timestamp(args.since)
    except ValueError:
        print(f"trailmatch rematch: --since {args.since!r}: not an ISO 8601 time",
              file=sys.stderr)
        return 2
    rules, engine, trails = open_inputs(args, "rematch")
    try:
        if args.scheduler:
            from trailmatch.scale.cluster import client_from_arg
            with client_from_arg(args.scheduler) as client:
                result = run_rematch(engine, trails, since, rules, out_dir=args.out,
                                     client=client)
        else:
            result = run_rematch(engine, trails, since, rules, out_dir=args.out)
    finally:
        engine.dispose()
    text = changes_csv(result.changes)
    if args.changes:
        atomic_write(args.changes, text)
    else:
        sys.stdout.write(text)
    print(result.summary, file=sys.stderr)
    return 0
