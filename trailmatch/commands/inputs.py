"""The input flags and readers shared by the verbs that take crimes and positions files
(``match``, ``eliminate``): the same names, help and error messages everywhere."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path


class Unusable(Exception):
    """An input file that cannot be used as a whole (the verb exits 1, naming it)."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: unusable: {reason}")


def add_input_args(p: argparse.ArgumentParser, *, store_help: str) -> None:
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--positions", nargs="+", type=Path, metavar="FILE",
                     help="position files: tag data store export CSV, or CSV/Parquet with "
                          "--mapping")
    src.add_argument("--store", type=Path, metavar="DIR", help=store_help)
    p.add_argument("--crimes", nargs="+", type=Path, required=True, metavar="FILE",
                   help="crime batch CSV files (FORMATS.md §1), or generic files with "
                        "--crimes-format generic")
    p.add_argument("--positions-format", choices=["auto", "export", "generic"], default="auto",
                   help="'export': the tag data store's position export; 'generic': CSV/Parquet "
                        "described by --mapping; 'auto' (default): export unless --mapping")
    p.add_argument("--mapping", type=Path, metavar="FILE",
                   help="TOML column mapping for generic position files")
    p.add_argument("--timezone", metavar="ZONE",
                   help="zone of position times written without an offset, e.g. Europe/London")
    p.add_argument("--crimes-format", choices=["batch", "generic"], default="batch",
                   help="'batch' (default): the forces' crime batch CSV; 'generic': CSV/Parquet "
                        "with columns crime_reference, police_force, crime_type, time_from, "
                        "time_to and x/y (working CRS) or latitude/longitude")


def _nothing(_label: str) -> None:
    return None


def read_crime_files(args: argparse.Namespace, crs: str, step: Callable[[str], None] = _nothing):
    """(crimes, reject frames): every crime file of ``args.crimes``, the latest version of each
    crime. Raises ``Unusable`` for a file that cannot be read at all."""
    import pandas as pd

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
            raise Unusable(path, str(e)) from e
    crimes = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    if args.crimes_format == "batch" and len(crimes):
        crimes = latest_versions(crimes)
    return crimes, rejects


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
            raise Unusable(path, str(e)) from e
        parts.append(read.fixes)
        rejects.append(read.rejects)
    return pd.concat(parts, ignore_index=True), rejects
