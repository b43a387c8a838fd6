"""Flags shared by the verbs: the store (``--store``, ``--db``) and the rules of every verb that
matches; the same names, units and help everywhere, and one way to open what they name."""

from __future__ import annotations

import argparse
from pathlib import Path

from trailmatch.commands.argtypes import metric_crs, non_negative, positive
from trailmatch.rules import WORKING_CRS, Rules

KMH = 3.6  # km/h per m/s: every speed on the command line is in km/h, as the tag export's


class _Renamed(argparse.Action):
    """An old flag whose meaning changed: refused with the new name, never guessed at."""

    def __init__(self, option_strings, dest, new: str, **kwargs) -> None:
        self.new = new
        super().__init__(option_strings, dest, help=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        parser.error(f"{option_string} is now {self.new}")


def add_rules_args(parser: argparse.ArgumentParser, *, speed: bool = False) -> None:
    g = parser.add_argument_group("vicinity rules")
    g.add_argument("--radius", type=non_negative, default=100.0, metavar="M",
                   help="vicinity radius in metres (default 100)")
    g.add_argument("--max-gap", type=non_negative, default=300.0, metavar="S",
                   help="fixes further apart than this many seconds are not joined (default 300)")
    g.add_argument("--buffer-before", type=non_negative, default=0.0, metavar="S",
                   help="widen each crime window this many seconds before 'from' (default 0)")
    g.add_argument("--buffer-after", type=non_negative, default=0.0, metavar="S",
                   help="widen each crime window this many seconds after 'to' (default 0)")
    g.add_argument("--no-precision", action="store_true",
                   help="do not add the fixes' precision radius to the vicinity radius")
    g.add_argument("--crs", type=metric_crs, default=WORKING_CRS, metavar="EPSG:N",
                   help=f"metric working CRS for distances (default {WORKING_CRS})")
    if speed:
        g.add_argument("--max-speed-kmh", type=positive, default=Rules.max_speed_mps * KMH,
                       metavar="KMH",
                       help="fastest a subject could move through a gap, km/h "
                            f"(default {Rules.max_speed_mps * KMH:g})")
        g.add_argument("--max-speed", action=_Renamed, new="--max-speed-kmh (km/h, not m/s)")


def rules_from_args(args: argparse.Namespace) -> Rules:
    speed_kmh = getattr(args, "max_speed_kmh", None)
    return Rules(radius_m=args.radius, max_gap_s=args.max_gap,
                 buffer_before_s=args.buffer_before, buffer_after_s=args.buffer_after,
                 count_precision=not args.no_precision,
                 max_speed_mps=Rules.max_speed_mps if speed_kmh is None else speed_kmh / KMH,
                 crs=args.crs)


def add_store_args(p: argparse.ArgumentParser, *, flagged: bool = False) -> None:
    """``--store DIR`` (required) and ``--db URL``; ``flagged``: also ``--include-flagged``
    (the verbs that match the store's fixes)."""
    p.add_argument("--store", type=Path, required=True, metavar="DIR",
                   help="trail store directory (trailmatch ingest positions ... --store DIR); "
                        "the hit store is DIR/hits.sqlite unless --db is given")
    p.add_argument("--db", metavar="URL",
                   help="hit store database URL, e.g. postgresql://user@host/trailmatch "
                        "(default: the SQLite file in the store directory)")
    if flagged:
        p.add_argument("--include-flagged", action="store_true",
                       help="also match fixes flagged as suspicious at ingest")


def open_hit_store(args: argparse.Namespace, *, trails: bool = False):
    """The hit store ``--store``/``--db`` name, migrated. The store directory must be one
    (``Store.existing``: ``StoreNotFound`` naming the path, exit 1 with one line) unless
    ``--db`` names the hit store and the verb reads no trails (``trails=False``): a misspelt
    path never gets a new hits.sqlite."""
    from trailmatch.hitstore import open_store

    if trails or not args.db:
        from trailmatch.store import Store

        Store.existing(args.store)
    return open_store(args.store, args.db)


def open_inputs(args: argparse.Namespace, verb: str):
    """(rules, hit store engine, trail source) of a verb that matches the store's fixes
    (``nightly``, ``rematch``). A store in another CRS than ``--crs`` stops the verb
    (``SystemExit``: exit 1, one line naming the CRS to give)."""
    from trailmatch.hitstore import open_store
    from trailmatch.jobs.sources import StoreTrails
    from trailmatch.store import Store

    rules = rules_from_args(args)
    stored_crs = Store.existing(args.store).crs()
    if stored_crs != rules.crs:
        raise SystemExit(f"trailmatch {verb}: the store holds x/y in {stored_crs}, not "
                         f"{rules.crs}: give --crs {stored_crs}")
    engine = open_store(args.store, args.db)
    return rules, engine, StoreTrails(args.store, include_flagged=args.include_flagged)
