"""The ``trailmatch`` command: one verb per job (see ``trailmatch --help``).

Each verb lives in ``trailmatch/commands/<verb>.py`` with ``add_parser(subparsers)`` and
``run(args) -> int``; heavy imports happen inside ``run`` so ``--help`` is instant.
Human-readable summaries go to stderr; data goes to files or stdout. Exit codes: 0 success,
1 the job failed (an input unusable as a whole), 2 bad command line.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

# The verbs, in the order --help lists them.
VERBS = [
    "ingest",
    "match",
    "serve",
    "users",
    "purge",
    "nightly",
    "rematch",
    "eliminate",
    "demo",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="trailmatch",
        description="Correlate GPS tag trails of subjects on licence with reported crimes.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    sub.required = True
    for verb in VERBS:
        importlib.import_module(f"trailmatch.commands.{verb}").add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    from trailmatch.allocator import tune_allocator

    tune_allocator()  # big arrays freed by one step are reused by the next (allocator.py)
    try:
        return int(args.run(args) or 0)
    except KeyboardInterrupt:
        print("trailmatch: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
