"""The police forces that send crime batches, and the code each uses in its batch ids.

The list is data, not code: ``trailmatch/data/forces.csv`` (columns ``force,code``) ships with
the national scheme's forces; more join over time, so a site adds its own in a CSV of the same
shape, named by ``--forces FILE`` or the ``TRAILMATCH_FORCES`` environment variable (several
files separated by ``os.pathsep``). A later file may add forces or change a force's code.
"""

from __future__ import annotations

import csv
import functools
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

SHIPPED = Path(__file__).resolve().parent.parent / "data" / "forces.csv"
ENV_VAR = "TRAILMATCH_FORCES"


def read_forces_file(path: str | os.PathLike) -> dict[str, str]:
    """``{force name: batch code}`` from a ``force,code`` CSV (header row required)."""
    forces: dict[str, str] = {}
    with open(path, encoding="utf-8-sig", newline="") as f:
        reader = csv.reader(f)
        header = [h.strip().lower() for h in next(reader, [])]
        if header[:2] != ["force", "code"]:
            raise ValueError(f"{path}: a forces file starts with the header 'force,code', "
                             f"found {','.join(header)!r}")
        for n, rec in enumerate(reader, start=1):
            if not rec or not any(v.strip() for v in rec):
                continue
            if len(rec) < 2 or not rec[0].strip() or not rec[1].strip():
                raise ValueError(f"{path}: record {n}: need a force name and a code, got {rec!r}")
            forces[rec[0].strip()] = rec[1].strip()
    return forces


def load_forces(extra: str | os.PathLike | Iterable[str | os.PathLike] | Mapping[str, str]
                | None = None) -> dict[str, str]:
    """The shipped forces, then those of ``$TRAILMATCH_FORCES``, then ``extra``.

    ``extra`` is a mapping ``{force: code}``, a path, or several paths.
    """
    forces = read_forces_file(SHIPPED)
    env = os.environ.get(ENV_VAR, "")
    for p in (p for p in env.split(os.pathsep) if p.strip()):
        forces.update(read_forces_file(p))
    if extra is None:
        return forces
    if isinstance(extra, Mapping):
        forces.update({str(k): str(v) for k, v in extra.items()})
    elif isinstance(extra, str | os.PathLike):
        forces.update(read_forces_file(extra))
    else:
        for p in extra:
            forces.update(read_forces_file(p))
    return forces


@functools.lru_cache(maxsize=8)
def _spellings(env: str) -> dict[str, str]:
    return {k.lower(): k for k in load_forces()}


def force_spelling(name: str) -> str:
    """A force name as the list spells it, whatever case it was typed in ("hampshire" ->
    "Hampshire"); a name not on the list comes back as given (and matches nothing)."""
    return _spellings(os.environ.get(ENV_VAR, "")).get(name.strip().lower(), name)
