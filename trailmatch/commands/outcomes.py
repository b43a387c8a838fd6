"""``trailmatch outcomes add|list``: what became of a hit's case after a decision.

Outcomes are append-only (a later outcome adds to the history, it replaces nothing) and every
one recorded or read here is audited under the operator's name, as the service does.
"""

from __future__ import annotations

import argparse
import datetime as dt
import getpass
import sys

from trailmatch.commands.options import add_store_args, open_hit_store


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date YYYY-MM-DD: {text!r}") from None


def _hit_id(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"not a hit id: {text!r}")
    return int(text)


def add_parser(sub: argparse._SubParsersAction) -> None:
    from trailmatch.hitstore.schema import CASE_OUTCOMES

    p = sub.add_parser("outcomes", help="record or list case outcomes of hits",
                       description=__doc__.split("\n\n", 1)[1])
    verbs = p.add_subparsers(dest="outcomes_verb", metavar="ACTION")
    verbs.required = True

    def common(q: argparse.ArgumentParser) -> None:
        add_store_args(q)
        q.add_argument("--hit", required=True, type=_hit_id, metavar="ID", help="the hit's id")
        q.add_argument("--operator", default=getpass.getuser(), metavar="NAME",
                       help="who is recording or reading, for the audit log (default: you)")

    add = verbs.add_parser("add", help="record an outcome on a hit that has a decision")
    add.add_argument("--outcome", required=True, choices=CASE_OUTCOMES, help="what happened")
    add.add_argument("--date", required=True, type=_date, metavar="YYYY-MM-DD",
                     help="when it happened")
    add.add_argument("--note", default="", help="a short note (no more than needed)")
    common(add)
    common(verbs.add_parser("list", help="the outcomes recorded on a hit, oldest first"))
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from trailmatch.hitstore import repository

    engine = open_hit_store(args)
    try:
        if repository.get_hit(engine, args.hit) is None:
            print(f"trailmatch outcomes: no hit {args.hit}", file=sys.stderr)
            return 1
        audit = {"user_name": args.operator, "role": "processing"}
        if args.outcomes_verb == "add":
            try:
                with engine.begin() as conn:  # the outcome and its audit row, or neither
                    oid = repository.add_outcome(conn, args.hit, args.outcome, args.date,
                                                 args.note, user_name=args.operator)
                    repository.append_audit(conn, action="outcome.record",
                                            target=f"hit:{args.hit} outcome:{oid} "
                                                   f"{args.outcome}", **audit)
            except ValueError as exc:
                print(f"trailmatch outcomes: {exc}", file=sys.stderr)
                return 1
            print(f"outcome {oid} recorded on hit {args.hit}: {args.outcome} on {args.date}",
                  file=sys.stderr)
        else:
            repository.append_audit(engine, action="outcomes.read", target=f"hit:{args.hit}",
                                    **audit)
            print("id\toutcome\tdate\tby\trecorded\tnote")
            for r in repository.list_outcomes(engine, args.hit):
                print(f"{r['id']}\t{r['outcome']}\t{r['outcome_date']}\t{r['user_name']}\t"
                      f"{r['at'].isoformat()}\t{r['note']}")
    finally:
        engine.dispose()
    return 0
