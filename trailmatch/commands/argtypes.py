"""argparse value types: a bad option value is a command-line error (argparse's own message,
exit 2), found before any work starts and before anything is written.

Every check here is cheap: no heavy import unless the option is actually given a value that
needs it (a non-default ``--crs`` parses the CRS with pyproj).
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from trailmatch.rules import WORKING_CRS


def _number(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number") from None
    if not math.isfinite(number):
        raise argparse.ArgumentTypeError(f"{value!r} is not a finite number")
    return number


def non_negative(value: str) -> float:
    """A finite number >= 0 (a radius, a gap, a buffer, hours of look-back)."""
    number = _number(value)
    if number < 0:
        raise argparse.ArgumentTypeError(f"{value!r} is negative; give a number >= 0")
    return number


def positive(value: str) -> float:
    """A finite number > 0 (a speed, a window length)."""
    number = _number(value)
    if number <= 0:
        raise argparse.ArgumentTypeError(f"{value!r} is not above 0")
    return number


def metric_crs(value: str) -> str:
    """A projected CRS whose axes are metres (distances in any other would be meaningless)."""
    if value == WORKING_CRS:
        return value
    from pyproj.exceptions import CRSError

    from trailmatch.crs import check_metric
    try:
        check_metric(value)
    except CRSError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a coordinate reference system "
                                         "pyproj knows (e.g. EPSG:27700)") from None
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return value


def _first_existing(path: Path) -> Path:
    for p in (path, *path.parents):
        if p.exists():
            return p
    return Path(".")


def out_file(value: str) -> Path:
    """A file to write: not an existing directory, and no file where a folder of its path is
    needed (missing folders are created when it is written)."""
    path = Path(value)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{value} is a directory; give a file name")
    if value.endswith(("/", "\\")):
        raise argparse.ArgumentTypeError(f"{value} names a directory; give a file name")
    parent = _first_existing(path.parent)
    if not parent.is_dir():
        raise argparse.ArgumentTypeError(f"{parent} is a file, not a directory")
    return path


def out_dir(value: str) -> Path:
    """A directory to write into (created when absent): not an existing file, and no file where
    a folder of its path is needed."""
    path = Path(value)
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{value} is a file; give a directory")
    existing = _first_existing(path)
    if not existing.is_dir():
        raise argparse.ArgumentTypeError(f"{existing} is a file, not a directory")
    return path


def time_zone(value: str) -> str:
    """An IANA time zone name (``Europe/London``)."""
    from trailmatch.ingest.mapping import check_timezone

    try:
        check_timezone(value)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return value


def mapping_file(value: str) -> Path:
    """A TOML column mapping that loads (its own faults named here, not as the data file's)."""
    import tomllib

    from trailmatch.ingest.mapping import load_mapping

    try:
        load_mapping(value)
    except FileNotFoundError:
        raise argparse.ArgumentTypeError(f"{value}: no such file") from None
    except IsADirectoryError:
        raise argparse.ArgumentTypeError(f"{value} is a directory; give a file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise argparse.ArgumentTypeError(f"{value}: cannot read it ({e})") from None
    except tomllib.TOMLDecodeError as e:
        raise argparse.ArgumentTypeError(f"{value}: not a TOML column mapping ({e})") from None
    except (ValueError, TypeError, AttributeError) as e:
        message = str(e)
        raise argparse.ArgumentTypeError(
            message if message.startswith(value) else f"{value}: {message}") from None
    return Path(value)


def force_name(value: str) -> str:
    """A police force as the force list spells it, typed in any case ("hampshire")."""
    from trailmatch.ingest.forces import force_spelling

    return force_spelling(value)


def _whole(value: str, low: int, high: int | None = None) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {value!r}") from None
    if number < low or (high is not None and number > high):
        bounds = f"from {low} to {high}" if high is not None else f"at least {low}"
        raise argparse.ArgumentTypeError(f"{value!r}: must be {bounds}")
    return number


def port(value: str) -> int:
    """A TCP port, 1-65535."""
    return _whole(value, 1, 65535)


def at_least_one(value: str) -> int:
    """A whole number >= 1 (a count of workers)."""
    return _whole(value, 1)
