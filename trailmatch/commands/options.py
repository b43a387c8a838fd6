"""Flags shared by every verb that matches: the same names and help everywhere."""

from __future__ import annotations

import argparse

from trailmatch.rules import WORKING_CRS, Rules


def add_rules_args(parser: argparse.ArgumentParser, *, speed: bool = False) -> None:
    g = parser.add_argument_group("vicinity rules")
    g.add_argument("--radius", type=float, default=100.0, metavar="M",
                   help="vicinity radius in metres (default 100)")
    g.add_argument("--max-gap", type=float, default=300.0, metavar="S",
                   help="fixes further apart than this many seconds are not joined (default 300)")
    g.add_argument("--buffer-before", type=float, default=0.0, metavar="S",
                   help="widen each crime window this many seconds before 'from' (default 0)")
    g.add_argument("--buffer-after", type=float, default=0.0, metavar="S",
                   help="widen each crime window this many seconds after 'to' (default 0)")
    g.add_argument("--no-precision", action="store_true",
                   help="do not add the fixes' precision radius to the vicinity radius")
    g.add_argument("--crs", default=WORKING_CRS, metavar="EPSG:N",
                   help=f"metric working CRS for distances (default {WORKING_CRS})")
    if speed:
        g.add_argument("--max-speed", type=float, default=50.0, metavar="M/S",
                       help="fastest a subject could move through a gap, m/s (default 50)")


def rules_from_args(args: argparse.Namespace) -> Rules:
    return Rules(radius_m=args.radius, max_gap_s=args.max_gap,
                 buffer_before_s=args.buffer_before, buffer_after_s=args.buffer_after,
                 count_precision=not args.no_precision,
                 max_speed_mps=getattr(args, "max_speed", 50.0), crs=args.crs)
