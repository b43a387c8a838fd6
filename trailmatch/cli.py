"""The trailmatch command: one verb per job (see ``trailmatch --help``).

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
    "verify",
    "eliminate",
    "explain",
    "figures",
    "outcomes",
    "demo",
    "upgrade",
]


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("trailmatch")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


def _subparsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """Every parser below ``parser`` (verbs, and actions such as ``ingest positions``)."""
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in dict.fromkeys(action.choices.values()):
                found += [child, *_subparsers(child)]
    return found


def _plain(text: str | None) -> str | None:
    """Help as a terminal shows it: a verb's docstring used as its description keeps no
    reStructuredText markup (``name`` reads as name, `cmd` as 'cmd')."""
    if not text:
        return text
    return text.replace("``", "").replace("`", "'")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="trailmatch",
        description="Correlate GPS tag trails of subjects on licence with reported crimes.",
        epilog="Exit codes: 0 success, 1 an input or store unusable as a whole, "
               "2 bad command line.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    parser.add_argument("--version", action="version", version=f"trailmatch {_version()}")
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    sub.required = True
    for verb in VERBS:
        importlib.import_module(f"trailmatch.commands.{verb}").add_parser(sub)
    for child in _subparsers(parser):
        child.description = _plain(child.description)
        child.epilog = _plain(child.epilog)
        for action in child._actions:
            if action.help not in (None, argparse.SUPPRESS):
                action.help = _plain(action.help)
        # -v before or after the verb; SUPPRESS: a verb without it keeps the global value
        child.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                           help="log progress details")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help, --version (0) or a bad command line (2)
        return e.code if isinstance(e.code, int) else 2
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    from trailmatch.allocator import tune_allocator

    tune_allocator()  # big arrays freed by one step are reused by the next (allocator.py)
    from trailmatch.store import StoreNeedsUpgrade, StoreNotFound

    try:
        return int(args.run(args) or 0)
    except (StoreNotFound, StoreNeedsUpgrade) as e:  # not a store / a store made before OSTN15
        print(f"trailmatch {args.verb}: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("trailmatch: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
