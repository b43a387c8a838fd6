"""``trailmatch explain``: why one subject is, or is not, excluded from one crime
(``trailmatch/explain.py``), from the hit store's crime and the trail store's fixes."""

from __future__ import annotations

import argparse
import json
import sys

from trailmatch.commands.argtypes import force_name, non_negative
from trailmatch.commands.options import add_rules_args, add_store_args, rules_from_args


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "explain", help="why one subject is (or is not) excluded from one crime",
        description="For one crime (its current version in the hit store, as the nightly job "
                    "stored it) and one subject: the subject's status as trailmatch eliminate "
                    "--all-pairs gives it, every gap in its trail that meets the crime's window "
                    "with the fixes that bound it, their distances to the crime, the time "
                    "available and the speed it would have needed, and one plain sentence.")
    add_store_args(p)
    p.add_argument("--crime", required=True, metavar="REF", help="crime reference, e.g. 44/1234/25")
    p.add_argument("--subject", required=True, metavar="ID", help="subject id")
    p.add_argument("--police-force", type=force_name, metavar="FORCE",
                   help="the crime's force (needed when two forces use the same reference)")
    p.add_argument("--lookback", type=non_negative, default=24.0, metavar="HOURS",
                   help="read fixes this many hours either side of the window (default 24, as "
                        "trailmatch eliminate --store)")
    p.add_argument("--json", action="store_true", help="print the answer as JSON")
    add_rules_args(p, speed=True)
    p.set_defaults(run=run)


def _find_crime(engine, ref: str, force: str | None):
    """The crime's current version, or an error message."""
    from sqlalchemy import select

    from trailmatch.hitstore import repository
    from trailmatch.hitstore.schema import crimes

    if force is None:
        with engine.connect() as conn:
            forces = sorted({r[0] for r in conn.execute(
                select(crimes.c.police_force).where(crimes.c.crime_reference == ref,
                                                    crimes.c.superseded.is_(False)))})
        if not forces:
            return None, f"no crime {ref} in the hit store"
        if len(forces) > 1:
            return None, (f"crime {ref} is known to {len(forces)} forces ({', '.join(forces)}): "
                          "give --police-force")
        force = forces[0]
    found = repository.current_crimes_for(engine, [(force, ref)])
    if found.empty:
        return None, f"no crime {ref} from {force} in the hit store"
    return found, None


def run(args: argparse.Namespace) -> int:
    from trailmatch.explain import explain_from_store, explanation_dict
    from trailmatch.hitstore import open_store
    from trailmatch.hitstore.repository import crimes_in_rules_crs
    from trailmatch.store import Store

    rules = rules_from_args(args)
    stored_crs = Store.existing(args.store).crs()
    if stored_crs != rules.crs:
        print(f"trailmatch explain: the store holds x/y in {stored_crs}, not {rules.crs}: give "
              f"--crs {stored_crs}", file=sys.stderr)
        return 2
    engine = open_store(args.store, args.db)
    try:
        found, problem = _find_crime(engine, args.crime, args.police_force)
    finally:
        engine.dispose()
    if problem:
        print(f"trailmatch explain: {problem}", file=sys.stderr)
        return 1
    crime = crimes_in_rules_crs(found, rules).iloc[0].to_dict()
    e = explain_from_store(args.store, crime, args.subject, rules, lookback_h=args.lookback)
    if args.json:
        print(json.dumps(explanation_dict(e), indent=2))
        return 0
    r = e.row
    print(e.sentence)
    print(f"status {r['status']}; fixes in the window {r['fixes_in_window']}; monitored "
          f"{100 * r['covered_fraction']:.0f}% of the window; gaps meeting it {r['gaps']}")
    for k, g in enumerate(e.gaps, 1):
        print(f"gap {k}: {g['sentence']}")
    return 0
