"""``trailmatch figures --store DIR --month YYYY-MM --out DIR``: the scheme's monthly figures.

Writes figures.csv (one row per police force × cohort, the month's figures; columns in
docs/figures.md) and figures.html (a trend chart and table per measure over the last 12
months, printable, no network). --publish applies disclosure control (small counts withheld
as "[c]", with the cells that would give them away); --force keeps one force's rows.
"""

from __future__ import annotations

import argparse
import sys

from trailmatch.commands.argtypes import force_name, non_negative, out_dir
from trailmatch.commands.options import add_store_args


def _threshold(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 2:
        raise argparse.ArgumentTypeError("must be at least 2")
    return value


def _month(text: str):
    from trailmatch.figures import Month

    try:
        return Month.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("figures", help="monthly scheme figures per force and cohort (CSV + HTML)",
                       description=__doc__.split("\n\n", 1)[1])
    add_store_args(p)
    p.add_argument("--month", required=True, type=_month, metavar="YYYY-MM",
                   help="the month (UTC) to report")
    p.add_argument("--force", type=force_name, metavar="FORCE",
                   help="only this police force's rows (any case)")
    p.add_argument("--out", type=out_dir, required=True, metavar="DIR",
                   help="directory for figures.csv and figures.html (created if missing)")
    p.add_argument("--publish", action="store_true",
                   help="withhold small counts and what would give them away, for publication")
    p.add_argument("--threshold", type=_threshold, default=5, metavar="N",
                   help="with --publish: counts from 1 to N-1 are withheld (default 5)")
    p.add_argument("--max-gap", type=non_negative, default=300.0, metavar="S",
                   help="fixes further apart than this many seconds make a gap (default 300)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from trailmatch.atomic import atomic_write
    from trailmatch.figures import ALL, figures_trend, force_rows, suppress
    from trailmatch.hitstore import open_store
    from trailmatch.report.figures_page import render_figures
    from trailmatch.rules import Rules
    from trailmatch.store import Store

    store = Store.existing(args.store)
    out = Path(args.out)
    rules = Rules(max_gap_s=args.max_gap)
    engine = open_store(args.store, args.db)
    try:
        trend = figures_trend(store, engine, args.month, rules)
    finally:
        engine.dispose()
    if args.publish:
        trend = suppress(trend, args.threshold)
    scope = ALL
    if args.force:
        trend = force_rows(trend, args.force)
        if trend.empty:
            print(f"trailmatch figures: no figures for police force {args.force!r}",
                  file=sys.stderr)
            return 1
        scope = trend["police_force"].iloc[0]
    current = trend[trend["month"] == args.month.label]
    out.mkdir(parents=True, exist_ok=True)
    atomic_write(out / "figures.csv", current.to_csv(index=False))
    atomic_write(out / "figures.html",
                 render_figures(trend, args.month.label, scope=scope, published=args.publish,
                                threshold=args.threshold))
    print(f"trailmatch figures {args.month.label}: {len(current)} rows "
          f"({current['police_force'].nunique()} forces incl. total"
          f"{', published' if args.publish else ''}) -> {out / 'figures.csv'}, "
          f"{out / 'figures.html'}", file=sys.stderr)
    return 0
