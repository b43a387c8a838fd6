"""``trailmatch users add|list|revoke``: the service's users and their bearer tokens."""

from __future__ import annotations

import argparse
import sys

from trailmatch.commands.options import add_store_args, open_hit_store


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("users", help="add, list or revoke users of the officer service",
                       description="Users of the officer service. A new user's token is printed "
                                   "once, on stdout; only its hash is stored.")
    verbs = p.add_subparsers(dest="users_verb", metavar="ACTION")
    verbs.required = True

    add = verbs.add_parser("add", help="add a user and print their token (once)")
    add.add_argument("name", help="the user's name, as it will appear in the audit log")
    add.add_argument("--role", required=True, choices=["officer", "processing"],
                     help="officer (sees their own force only) or processing (the central team)")
    add.add_argument("--force", metavar="FORCE",
                     help="the officer's police force, e.g. Hampshire, any case (required for "
                          "officers; the processing team has none)")
    add_store_args(add)
    lst = verbs.add_parser("list", help="list users (tokens are never shown)")
    add_store_args(lst)
    rev = verbs.add_parser("revoke", help="revoke a user's token, by name (or --id N)")
    who = rev.add_mutually_exclusive_group(required=True)
    who.add_argument("user", nargs="?", help="the user's name (a name of digits is a name)")
    who.add_argument("--id", type=int, metavar="N", help="the user's id instead of a name")
    add_store_args(rev)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from trailmatch.hitstore import users

    if args.users_verb == "add":
        if args.role == "officer" and not args.force:
            print("trailmatch users add: an officer needs --force", file=sys.stderr)
            return 2
        if args.role == "processing" and args.force:
            print("trailmatch users add: the processing team sees every force: give no --force",
                  file=sys.stderr)
            return 2
        if args.force:
            from trailmatch.ingest.forces import load_forces

            known = {k.lower(): k for k in load_forces()}
            if args.force.lower() not in known:
                print(f"trailmatch users add: unknown police force {args.force!r} (known: "
                      f"{', '.join(sorted(known.values()))})", file=sys.stderr)
                return 2
            args.force = known[args.force.lower()]  # stored with the list's spelling
    engine = open_hit_store(args)
    try:
        if args.users_verb == "add":
            try:
                user_id, token = users.add_user(engine, args.name, args.role, args.force)
            except users.UserError as e:
                print(f"trailmatch users add: {e}", file=sys.stderr)
                return 1
            print(f"user {user_id} {args.name!r} ({args.role}"
                  f"{', ' + args.force if args.force else ''}) added; the token below is shown "
                  "once and cannot be recovered", file=sys.stderr)
            print(token)
        elif args.users_verb == "list":
            print("id\tname\trole\tforce\tcreated\trevoked")
            for u in users.list_users(engine):
                print(f"{u['id']}\t{u['name']}\t{u['role']}\t{u['police_force'] or ''}\t"
                      f"{u['created_at'].isoformat()}\t"
                      f"{u['revoked_at'].isoformat() if u['revoked_at'] else ''}")
        else:
            who: int | str = args.id if args.id is not None else args.user
            n = users.revoke_user(engine, who)
            label = f"id {args.id}" if args.id is not None else repr(args.user)
            print(f"revoked {n} user(s) matching {label}", file=sys.stderr)
            if n == 0:
                return 1
    finally:
        engine.dispose()
    return 0
