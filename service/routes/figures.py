"""Scheme figures for a month (``trailmatch.figures``): aggregates only, never a subject.

The processing team sees every force and the total, unsuppressed. An officer sees their own
force's rows only, with disclosure control applied (small counts withheld as ``[c]``, with the
cells that would give them away): the pattern is computed over the whole table first, so what
an officer sees cannot be combined with another force's view to undo it. Every request is
audited.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import create_model

from service import audit
from service.deps import Cfg, CurrentUser, Db
from service.settings import unprocessable
from trailmatch.figures import FIGURE_COLUMNS, Month, figures_trend, force_rows, suppress
from trailmatch.store import Store

router = APIRouter(tags=["figures"])

SUPPRESSION_THRESHOLD = 5
_TEXT = {"police_force", "cohort", "month"}
# One row of figures.csv: counts and rates are numbers, or "[c]" where withheld.
FigureRow = create_model(
    "FigureRow",
    **{c: (str, ...) if c in _TEXT else (int | float | str | None, None) for c in FIGURE_COLUMNS},
)
MonthText = Annotated[str, Query(min_length=7, max_length=7, pattern=r"^\d{4}-\d{2}$",
                                 description="the month, YYYY-MM (UTC)")]


@router.get("/figures", response_model=list[FigureRow])
def get_figures(principal: CurrentUser, db: Db, cfg: Cfg, month: MonthText) -> list[dict]:
    """The month's figures, one row per police force × cohort (columns: docs/figures.md)."""
    try:
        which = Month.parse(month)
    except ValueError as exc:
        audit.record(db, principal, "figures.read.invalid", f"month:{month}")
        raise unprocessable(["query", "month"], str(exc)) from None
    audit.record(db, principal, "figures.read", f"month:{which.label}")
    table = figures_trend(Store(cfg.store_dir), db, which, cfg.rules, months=1)
    if not principal.is_processing:
        table = force_rows(suppress(table, SUPPRESSION_THRESHOLD), principal.force or "")
    table = table.astype(object).where(table.notna(), None)
    return [{k: _plain(v) for k, v in row.items()} for row in table.to_dict("records")]


def _plain(value):
    """numpy scalars to Python ones, for the JSON answer."""
    return value.item() if hasattr(value, "item") else value


