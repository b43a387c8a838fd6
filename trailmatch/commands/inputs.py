"""The input flags and readers shared by the verbs that take crimes and positions files
(``match``, ``eliminate``): the same names, help and error messages everywhere."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from trailmatch.commands.argtypes import mapping_file, out_file, time_zone


def reason(path: Path | str, error: BaseException) -> str:
    """What is wrong with ``path``, in words, without repeating its name (readers and the
    operating system put the file name in their messages; the verb names it once)."""
    if isinstance(error, OSError) and error.strerror:
        text = error.strerror[0].lower() + error.strerror[1:]
    else:
        text = str(error)
    path = Path(path)
    for name in (str(path), path.name):
        for form in (f"{name}: ", f"'{name}': ", f"{name} "):
            if text.startswith(form):
                text = text[len(form):]
    return text.splitlines()[0] if text else type(error).__name__


def unusable(path: Path | str, error: BaseException | str) -> str:
    """The one line naming a file that cannot be used as a whole, and why."""
    why = error if isinstance(error, str) else reason(path, error)
    return f"{path}: unusable: {why}"


class Unusable(Exception):
    """An input file that cannot be used as a whole (the verb exits 1, naming it)."""

    def __init__(self, path: Path, error: BaseException | str) -> None:
        super().__init__(unusable(path, error))


class NotStored(Unusable):
    """``--batch ID`` names a batch the hit store has never received (the verb exits 1)."""

    def __init__(self, message: str) -> None:
        Exception.__init__(self, message)


def add_input_args(p: argparse.ArgumentParser, *, store_help: str) -> None:
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--positions", nargs="+", type=Path, metavar="FILE",
                     help="position files: tag data store export CSV, or CSV/Parquet with "
                          "--mapping")
    src.add_argument("--store", type=Path, metavar="DIR", help=store_help)
    crimes = p.add_mutually_exclusive_group(required=True)
    crimes.add_argument("--crimes", nargs="+", type=Path, metavar="FILE",
                        help="crime batch CSV files (docs/formats.md), or generic files with "
                             "--crimes-format generic")
    crimes.add_argument("--batch", action="append", metavar="ID",
                        help="with --store: a crime batch already stored by trailmatch ingest "
                             "crimes (e.g. HAM20250127-1), the current version of each of its "
                             "crimes; may be repeated")
    p.add_argument("--db", metavar="URL",
                   help="with --batch: hit store database URL (default: the SQLite file in the "
                        "store directory)")
    p.add_argument("--positions-format", choices=["auto", "export", "generic"], default="auto",
                   help="'export': the tag data store's position export; 'generic': CSV/Parquet "
                        "described by --mapping; 'auto' (default): export unless --mapping")
    p.add_argument("--rejects", type=out_file, metavar="FILE",
                   help="write the rejected input rows of this run here, one CSV line per "
                        "problem (replaced on every run)")
    p.add_argument("--mapping", type=mapping_file, metavar="FILE",
                   help="TOML column mapping for generic position files")
    p.add_argument("--timezone", type=time_zone, metavar="ZONE",
                   help="zone of position times written without an offset, e.g. Europe/London")
    p.add_argument("--crimes-format", choices=["batch", "generic"], default="batch",
                   help="'batch' (default): the forces' crime batch CSV; 'generic': CSV/Parquet "
                        "with columns crime_reference, police_force, crime_type, time_from, "
                        "time_to and x/y (working CRS) or latitude/longitude")


def _nothing(_label: str) -> None:
    return None


def batch_without_store(args: argparse.Namespace) -> str | None:
    """The command-line error of ``--batch`` without ``--store`` (exit 2), or None."""
    if getattr(args, "batch", None) and args.store is None:
        return "--batch reads a batch from the store's hit store: give --store DIR"
    return None


def read_crime_files(args: argparse.Namespace, crs: str, step: Callable[[str], None] = _nothing):
    """(crimes, reject frames): every crime file of ``args.crimes``, the latest version of each
    crime (``version_order``: the rule the hit store follows), or with ``--batch`` the current
    versions of the stored batches' crimes. Raises ``Unusable`` for a file that cannot be read
    at all and ``NotStored`` for a batch never stored."""
    import pandas as pd

    if getattr(args, "batch", None):
        step("crimes from the hit store")
        return _stored_crimes(args, crs), []

    from trailmatch.ingest.crime_batch import latest_versions, read_crime_batch
    from trailmatch.io import read_generic_crimes

    parts, rejects = [], []
    for path in args.crimes:
        step(f"crimes {path.name}")
        try:
            if args.crimes_format == "batch":
                batch = read_crime_batch(path, crs=crs)
                parts.append(batch.crimes)
                rejects.append(batch.rejects)
            else:
                parts.append(read_generic_crimes(path, crs=crs))
        except (OSError, ValueError) as e:
            raise Unusable(path, e) from e
    crimes = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    if args.crimes_format == "batch" and len(crimes):
        crimes = latest_versions(crimes)
    return crimes, rejects


def _stored_crimes(args: argparse.Namespace, crs: str):
    from trailmatch.hitstore import open_store
    from trailmatch.hitstore.batches import UnknownBatch, batch_crimes
    from trailmatch.hitstore.repository import crimes_in_rules_crs
    from trailmatch.rules import Rules

    engine = open_store(args.store, args.db)
    try:
        crimes = batch_crimes(engine, args.batch)
    except UnknownBatch as e:
        raise NotStored(str(e)) from None
    finally:
        engine.dispose()
    return crimes_in_rules_crs(crimes, Rules(crs=crs))


def read_position_files(args: argparse.Namespace, crs: str,
                        step: Callable[[str], None] = _nothing):
    """(fixes, reject frames) of ``args.positions``. Raises ``ValueError`` for flags that do not
    go together and ``Unusable`` for a file that cannot be read at all."""
    import pandas as pd

    from trailmatch.ingest.positions import read_positions

    mapping = args.mapping if args.positions_format != "export" else None
    if args.positions_format == "generic" and mapping is None:
        raise ValueError("--positions-format generic needs --mapping FILE")
    parts, rejects = [], []
    for path in args.positions:
        step(f"positions {path.name}")
        try:
            read = read_positions(path, crs=crs, mapping=mapping, timezone=args.timezone)
        except (OSError, ValueError) as e:
            raise Unusable(path, e) from e
        parts.append(read.fixes)
        rejects.append(read.rejects)
    fixes = pd.concat(parts, ignore_index=True)
    # as the store flags them (trailmatch.ingest.quality): left out of matching
    from trailmatch.ingest.plausible import plausible
    ceiling = plausible().max_precision_m
    absurd = (fixes["precision_m"] > ceiling).to_numpy()
    if absurd.any():
        print(f"{int(absurd.sum())} fix(es) with a precision above {ceiling:g} m "
              "(implausible_precision) left out", file=sys.stderr)
        fixes = fixes[~absurd].reset_index(drop=True)
    return fixes, rejects


def report_rejects(verb: str, frames: list, path: Path | None,
                   columns: list[str] | None = None) -> None:
    """A run's rejected rows: written to ``--rejects FILE`` (replaced, header only when there
    are none, so a clean rerun leaves no stale lines), else counted on stderr with each file's
    first problem. The same on every verb."""
    from trailmatch.ingest.rejects import write_rejects

    frames = [f for f in frames if len(f)]
    if path is not None:
        write_rejects(frames, path, columns)
        if frames:
            print(f"trailmatch {verb}: {sum(len(f) for f in frames)} reject line(s) -> {path}",
                  file=sys.stderr)
        return
    for f in frames:
        first = f.iloc[0]
        print(f"{first['file']}: {len(f)} reject line(s) not written (no --rejects FILE); "
              f"first: row {first['row']} {first['field']} {first['error']}", file=sys.stderr)


def existing_folder(path) -> Path:
    """A store folder of any age (``upgrade``, which reads stores ``Store.existing`` may not
    yet open): the path, or ``StoreNotFound`` naming it when there is no such directory or it
    is a file. Every other verb opens its store with ``Store.existing``."""
    from trailmatch.store import StoreNotFound

    folder = Path(path)
    if not folder.exists():
        raise StoreNotFound(f"{path}: no such store directory")
    if not folder.is_dir():
        raise StoreNotFound(f"{path}: not a store directory (it is a file)")
    return folder
