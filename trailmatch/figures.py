"""Scheme figures: one row per police force × cohort × month, for IOM leads and evaluation.

What each column means, and the decisions behind them, is in docs/figures.md. In short:

- **Monitoring** (from the trail store): subjects are counted under the force and cohort of
  their latest subjects record (``unassigned`` / ``unknown`` without one). A subject is
  monitored during its activation periods; without any, from its first to its last fix of the
  month. Trail coverage is the share of monitored time on joined segments (the vicinity
  contract's joining rule, ``max_gap``); gaps are the stretches between fixes further apart
  than ``max_gap`` that meet monitored time (index/compliance.py).
- **Casework** (from the hit store): a crime belongs to the month of the batch its first
  version came in (the date in the batch id); a hit (current status) to its crime's month,
  under the crime's force and the subject's cohort. Decisions count each hit once, by its
  latest decision; time to decision runs from the run that found the hit to the first
  decision on it.

Rows: every force with anything to report, each cohort (fixed, flex, free, unknown) and
``all`` (the force's total); plus ``police_force = all`` rows, the total over forces. Crime
counts belong to a force, not a cohort: they are given on the ``cohort = all`` rows only.
Figures are aggregates; ``suppress`` applies disclosure control for publishing.
"""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sqlalchemy import case, func, select, tuple_

from trailmatch.hitstore.repository import batch_order
from trailmatch.hitstore.schema import batches, crimes, decisions, hits, outcomes, runs
from trailmatch.index.compliance import Compliance, monitored_intervals
from trailmatch.rules import Rules
from trailmatch.store.day_summary import Activations, Summarised, day_summary
from trailmatch.units import DAY_NS

COHORTS = ("fixed", "flex", "free", "unknown")
ALL = "all"
UNASSIGNED = "unassigned"  # subjects whose records name no force
CASE_OUTCOME_COLUMNS = ["outcomes_arrested", "outcomes_charged", "outcomes_no_further_action",
                        "outcomes_eliminated", "outcomes_other"]

# Columns of figures.csv, in order. ``COUNTS`` are additive (they sum over cohorts and forces):
# those are the cells disclosure control protects; the rest are rates and medians derived
# from them, withheld where what they are computed over is withheld or small.
COUNTS = ["subjects_monitored", "gaps", "crimes_received", "crimes_rejected", "crimes_matched",
          "hits", "decisions_ruled_in", "decisions_ruled_out", "decisions_further_enquiries",
          "hits_not_reviewed", "outcomes_recorded", *CASE_OUTCOME_COLUMNS]
FIGURE_COLUMNS = [
    "police_force", "cohort", "month",
    "subjects_monitored", "monitored_subject_days", "coverage_median", "coverage_p10",
    "gaps", "gap_median_min",
    "crimes_received", "crimes_rejected", "crimes_matched",
    "hits", "hits_per_100_crimes",
    "decisions_ruled_in", "decisions_ruled_out", "decisions_further_enquiries",
    "hits_not_reviewed", "decision_hours_median", "decision_hours_p90",
    "outcomes_recorded", *CASE_OUTCOME_COLUMNS,
]
# Derived column -> the count whose suppression (or smallness) withholds it.
DERIVED_FROM = {
    "monitored_subject_days": "subjects_monitored",
    "coverage_median": "subjects_monitored",
    "coverage_p10": "subjects_monitored",
    "gap_median_min": "gaps",
    "hits_per_100_crimes": "hits",
    "decision_hours_median": "hits",
    "decision_hours_p90": "hits",
}
SUPPRESSED = "[c]"  # the Government Statistical Service's mark for a confidential value


@dataclass(frozen=True)
class Month:
    """A calendar month in UTC: ``[start, end)``."""

    year: int
    month: int

    @classmethod
    def parse(cls, text: str) -> Month:
        try:
            day = dt.date.fromisoformat(f"{text}-01") if len(text) == 7 else None
        except ValueError:
            day = None
        if day is None:
            raise ValueError(f"month {text!r} is not YYYY-MM")
        from trailmatch.ingest.plausible import plausible

        lim = plausible()  # a month of year 1 or 9999 holds no data and overflows the clock
        if not lim.years[0] <= day.year <= lim.years[1]:
            raise ValueError(f"month {text!r} is outside the plausible range "
                             f"{lim.describe()}")
        return cls(day.year, day.month)

    @property
    def label(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def first_day(self) -> dt.date:
        return dt.date(self.year, self.month, 1)

    def next(self) -> Month:
        return Month(self.year + (self.month == 12), self.month % 12 + 1)

    def previous(self) -> Month:
        return Month(self.year - (self.month == 1), (self.month - 2) % 12 + 1)

    @property
    def start_ns(self) -> int:
        return int(pd.Timestamp(self.first_day, tz="UTC").value)

    @property
    def end_ns(self) -> int:
        return self.next().start_ns

    def last(self, n: int) -> list[Month]:
        """The ``n`` months ending with this one, oldest first."""
        out = [self]
        for _ in range(n - 1):
            out.append(out[-1].previous())
        return out[::-1]


# --- monitoring: the trail store --------------------------------------------------------------

def subject_register(subjects: pd.DataFrame) -> pd.DataFrame:
    """One row per subject: its force and cohort, from its latest record (by activation start).
    """
    if subjects.empty:
        return pd.DataFrame({"subject": pd.Series(dtype=object),
                             "police_force": pd.Series(dtype=object),
                             "cohort": pd.Series(dtype=object)})
    latest = subjects.sort_values(["subject", "activation_start"], kind="stable") \
        .drop_duplicates("subject", keep="last")
    force = latest["force"].fillna("").astype(str).str.strip()
    cohort = latest["cohort"].fillna("").astype(str).str.strip().str.lower()
    return pd.DataFrame({
        "subject": latest["subject"].astype(str).to_numpy(),
        "police_force": np.where(force == "", UNASSIGNED, force),
        "cohort": np.where(cohort.isin(COHORTS[:3]), cohort, "unknown"),
    })


def monitoring(store, month: Month, rules: Rules, subjects: pd.DataFrame | None = None,
               activations: Activations | None = None, register: pd.DataFrame | None = None
               ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per subject: ``subject, police_force, cohort, monitored_ns, covered_ns, gaps``; and one
    row per gap: ``subject, length_ns``. Built from the day summaries
    (``store/day_summary.py``: per subject and day partition, first and last fix, covered
    time and gaps, of the fixes matching uses) of the month's days and the day either side (a
    segment or gap across the month's edges is seen whole); a summary missing or stale is
    built from its partition and kept. Subjects with no monitored time in the month are left
    out. ``subjects``, ``activations``, ``register``: the store's subjects file, its
    ``Activations`` and its ``subject_register``, when the caller has them."""
    subjects = store.subjects() if subjects is None else subjects
    activations = activations or Activations(subjects)
    register = subject_register(subjects) if register is None else register
    names = sorted(set(subjects["subject"].astype(str))) if not subjects.empty else []
    iv_starts, m0, m1 = monitored_intervals(subjects, names, month.start_ns, month.end_ns)
    known = pd.Index(names, dtype=object)  # subject -> index into the state
    state = Compliance(len(names), month.start_ns, month.end_ns, rules.max_gap_ns,
                       np.ones(len(names), dtype=bool), iv_starts, m0, m1)
    first = month.first_day - dt.timedelta(days=1)
    last = month.next().first_day
    days = [d for d in store.days() if first <= d <= last]

    def summary(day: dt.date) -> Summarised:
        return day_summary(store.layout, day, rules.max_gap_ns, activations)

    # the next day is read (or, cold, built: Parquet decoding leaves the GIL) while this one
    # is added
    with ThreadPoolExecutor(max_workers=1) as pool:
        ahead = [pool.submit(summary, d) for d in days[:1]]
        for k in range(len(days)):
            got = ahead[k].result()
            if k + 1 < len(days):
                ahead.append(pool.submit(summary, days[k + 1]))
            ahead[k] = None
            rows = known.get_indexer(got.names)
            fresh = rows < 0  # subjects without records get the next indexes
            if fresh.any():
                rows[fresh] = np.arange(len(known), len(known) + int(fresh.sum()))
                known = known.append(pd.Index(got.names[fresh], dtype=object))
                state.grow(len(known))
            state.add_day_summary(got.summary, rows)
    all_names = known.to_numpy(dtype=object)
    per = pd.DataFrame({"subject": all_names, "monitored_ns": state.monitored(),
                        "covered_ns": state.covered, "gaps": state.gap_count})
    per = per.merge(register, on="subject", how="left")
    per["police_force"] = per["police_force"].fillna(UNASSIGNED)
    per["cohort"] = per["cohort"].fillna("unknown")
    gaps = pd.DataFrame({"subject": all_names[state.gap_subject],
                         "length_ns": state.gap_length})
    return per[per["monitored_ns"] > 0].reset_index(drop=True), gaps


# --- casework: the hit store ------------------------------------------------------------------

def batch_month(batch_id: str, received_at) -> str:
    """The month a batch belongs to: the date in its id (the force's own date for it), or
    the month it was received when the id carries none."""
    day, _ = batch_order(batch_id)
    if day:
        return f"{day[:4]}-{day[4:6]}"
    return pd.Timestamp(received_at).strftime("%Y-%m")


@dataclass
class Casework:
    """Everything the figures need from the hit store, read once, each row with its month."""

    crimes: pd.DataFrame  # police_force, month, crimes_received, crimes_matched
    rejected: pd.DataFrame  # police_force, rejected, month
    review: pd.DataFrame  # one row per current hit of those crimes: see ``casework``


def _frame(result, names: list[str]) -> pd.DataFrame:
    """A query's rows as columns (pandas builds a frame from Row objects slowly)."""
    rows = result.all()
    cols = list(zip(*rows, strict=True)) if rows else [() for _ in names]
    return pd.DataFrame({n: pd.Series(list(c), dtype=object) for n, c in zip(names, cols,
                                                                             strict=True)})


def _months(batch_ids, received) -> list[str]:
    """``batch_month`` of each (batch id, received at) pair, each distinct pair worked out
    once."""
    known: dict = {}
    out = []
    for pair in zip(batch_ids, received, strict=True):
        month = known.get(pair)
        if month is None:
            month = known[pair] = batch_month(*pair)
        out.append(month)
    return out


def casework(engine, cohort_of: dict[str, str]) -> Casework:
    """Read the crimes, batches, hits, decisions and outcomes once, aggregated in the
    database where the figures need no row: crime versions counted per force and batch, each
    hit's first and latest decision and its outcomes by kind. A crime belongs to the month of
    the batch its first version came in; its hits (current ones) to the same month, under the
    crime's force and the subject's cohort (the cohorts are in the trail store's subjects
    file, so hits come out one row each, a few columns, and are grouped by cohort here)."""
    matched = case((crimes.c.matched_run_id.is_not(None), 1), else_=0)
    key = (crimes.c.police_force, crimes.c.crime_reference)
    by_batch = (crimes.c.police_force, crimes.c.batch_key, crimes.c.batch_id,
                crimes.c.received_at)
    per_batch = select(*by_batch, func.count().label("crimes"),
                       func.sum(matched).label("matched")).group_by(*by_batch)
    # crimes of more than one version (few): every version, to find the first one's month
    several = select(*key, crimes.c.batch_id, crimes.c.received_at,
                     matched.label("matched")).where(
        tuple_(*key).in_(select(*key).where(crimes.c.version > 1)))
    # each hit's decisions: the first one's time and the latest one's outcome (by time, then
    # the order they were recorded); its case outcomes by kind
    ranked = select(
        decisions.c.hit_id, decisions.c.outcome,
        func.min(decisions.c.at).over(partition_by=decisions.c.hit_id).label("first_at"),
        func.row_number().over(partition_by=decisions.c.hit_id,
                               order_by=(decisions.c.at.desc(), decisions.c.id.desc())
                               ).label("rank")).subquery()
    latest = select(ranked.c.hit_id, ranked.c.outcome, ranked.c.first_at).where(
        ranked.c.rank == 1).subquery()
    told = select(outcomes.c.hit_id, *[
        func.sum(case((outcomes.c.outcome == col.removeprefix("outcomes_"), 1), else_=0))
        .label(col) for col in CASE_OUTCOME_COLUMNS]).group_by(outcomes.c.hit_id).subquery()

    def review_query(with_receipt: bool):
        receipt = [crimes.c.batch_id, crimes.c.received_at] if with_receipt else []
        return select(
            hits.c.id, hits.c.police_force, hits.c.crime_reference, hits.c.subject,
            hits.c.run_id, crimes.c.batch_key, *receipt, latest.c.outcome, latest.c.first_at,
            *[told.c[col] for col in CASE_OUTCOME_COLUMNS]
        ).select_from(
            hits.join(crimes, crimes.c.id == hits.c.crime_id)
            .outerjoin(latest, latest.c.hit_id == hits.c.id)
            .outerjoin(told, told.c.hit_id == hits.c.id)
        ).where(hits.c.status == "current")

    with engine.connect() as conn:
        versions = _frame(conn.execute(per_batch), ["police_force", "batch_key", "batch_id",
                                                    "received_at", "crimes", "matched"])
        multi = _frame(conn.execute(several), ["police_force", "crime_reference", "batch_id",
                                               "received_at", "matched"])
        batch_rows = _frame(conn.execute(
            select(batches.c.police_force, batches.c.batch_id, batches.c.received_at,
                   func.sum(batches.c.rejected)).group_by(
                batches.c.police_force, batches.c.batch_id, batches.c.received_at)),
            ["police_force", "batch_id", "received_at", "rejected"])
        found_at = dict(conn.execute(select(
            runs.c.id, func.coalesce(runs.c.ended, runs.c.started))).all())
        versions["month"] = _months(versions["batch_id"], versions["received_at"])
        # a batch's crimes all have its month, unless its id has no date and they were
        # stored either side of a month's end: then each hit's own receipt is read
        exact = versions.groupby("batch_key")["month"].nunique().gt(1).any()
        review = _frame(conn.execute(review_query(exact)), [
            "hit_id", "police_force", "crime_reference", "subject", "run_id", "batch_key",
            *(["batch_id", "received_at"] if exact else []), "decision", "first_decision",
            *CASE_OUTCOME_COLUMNS])

    k = ["police_force", "crime_reference"]
    multi["month"] = _months(multi["batch_id"], multi["received_at"])
    batch_rows["month"] = _months(batch_rows["batch_id"], batch_rows["received_at"])
    # a crime of several versions counts once, in the first version's month; it is matched
    # when any version was
    first_month = multi.sort_values([*k, "month"], kind="stable").groupby(k, sort=False) \
        .agg(month=("month", "first"), matched=("matched", "max")).reset_index()
    counted = pd.concat([
        versions[["police_force", "month", "crimes", "matched"]],
        multi[["police_force", "month"]].assign(crimes=-1, matched=-multi["matched"]),
        first_month[["police_force", "month"]].assign(crimes=1,
                                                      matched=first_month["matched"])])
    counted[["crimes", "matched"]] = counted[["crimes", "matched"]].astype(np.int64)
    per_force = counted.groupby(["police_force", "month"], as_index=False).agg(
        crimes_received=("crimes", "sum"), crimes_matched=("matched", "sum"))
    per_force = per_force[per_force["crimes_received"] > 0]

    if exact:
        review["month"] = _months(review["batch_id"], review["received_at"])
    else:
        review["month"] = review["batch_key"].map(
            versions.drop_duplicates("batch_key").set_index("batch_key")["month"])
    if len(first_month):  # hits of a crime of several versions: the crime's month
        first = review[k].merge(first_month[[*k, "month"]], on=k, how="left")["month"]
        review["month"] = first.where(first.notna(), review["month"]).to_numpy()
    review["found"] = review["run_id"].map(found_at)
    cohort = review["subject"].map(cohort_of).astype(object)
    review["cohort"] = cohort.where(cohort.notna(), "unknown")
    found = pd.to_datetime(review["found"], utc=True)
    decided = pd.to_datetime(review["first_decision"], utc=True)
    review["decision_hours"] = (decided - found).dt.total_seconds() / 3600.0
    for col in CASE_OUTCOME_COLUMNS:
        review[col] = review[col].fillna(0).astype(np.int64)
    review["outcomes_recorded"] = review[CASE_OUTCOME_COLUMNS].sum(axis=1).astype(np.int64)
    review = review.drop(columns=["run_id", "batch_key", "batch_id", "received_at"],
                         errors="ignore")
    batch_rows["rejected"] = batch_rows["rejected"].astype(np.int64)
    return Casework(per_force, batch_rows[["police_force", "rejected", "month"]], review)


def crimes_by_force(work: Casework, month: Month) -> pd.DataFrame:
    """crimes_received, crimes_rejected, crimes_matched per force for ``month``."""
    these = work.crimes[work.crimes["month"] == month.label].set_index("police_force")
    rejected = work.rejected[work.rejected["month"] == month.label]
    return pd.concat([
        these["crimes_received"],
        rejected.groupby("police_force")["rejected"].sum().rename("crimes_rejected"),
        these["crimes_matched"],
    ], axis=1).fillna(0).astype(np.int64)


# --- the table ----------------------------------------------------------------------------------

def _aggregate(per: pd.DataFrame, gaps: pd.DataFrame, review: pd.DataFrame,
               keys: list[str]) -> pd.DataFrame:
    """The figures of every group of ``keys`` (none: the whole), indexed by police force and
    cohort (``all`` where a key is not grouped on)."""
    def by(frame: pd.DataFrame):
        frame = frame.assign(police_force_=frame["police_force"] if "police_force" in keys
                             else ALL, cohort_=frame["cohort"] if "cohort" in keys else ALL)
        return frame.groupby(["police_force_", "cohort_"], sort=False)

    share = per.assign(share=per["covered_ns"] / per["monitored_ns"])
    p, g = by(share), by(gaps)
    r = by(review.assign(
        ruled_in=review["decision"] == "ruled_in", ruled_out=review["decision"] == "ruled_out",
        further=review["decision"] == "further_enquiries",
        not_reviewed=review["decision"].isna()))
    out = pd.concat({
        "subjects_monitored": p.size(),
        "monitored_ns": p["monitored_ns"].sum(),
        "coverage_median": p["share"].quantile(0.5),
        "coverage_p10": p["share"].quantile(0.1),
        "gaps": p["gaps"].sum(),
        "gap_median_min": g["length_ns"].median() / 60e9,
        "hits": r.size(),
        "decisions_ruled_in": r["ruled_in"].sum(),
        "decisions_ruled_out": r["ruled_out"].sum(),
        "decisions_further_enquiries": r["further"].sum(),
        "hits_not_reviewed": r["not_reviewed"].sum(),
        "decision_hours_median": r["decision_hours"].quantile(0.5),
        "decision_hours_p90": r["decision_hours"].quantile(0.9),
        "outcomes_recorded": r["outcomes_recorded"].sum(),
        **{col: r[col].sum() for col in CASE_OUTCOME_COLUMNS},
    }, axis=1)
    out.index.names = ["police_force", "cohort"]
    return out


def monthly_figures(store, engine, month: Month, rules: Rules | None = None) -> pd.DataFrame:
    """The figures of ``month``, every force and the total, unsuppressed."""
    return figures_trend(store, engine, month, rules, months=1)


def figures_table(per: pd.DataFrame, gaps: pd.DataFrame, force_crimes: pd.DataFrame,
                  review: pd.DataFrame, month: Month) -> pd.DataFrame:
    """Assemble the rows from the per-subject monitoring, the gaps, the per-force crimes and
    the per-hit review: every force × cohort, each force's ``all``, each cohort over all
    forces and the grand total."""
    gaps = gaps.merge(per[["subject", "police_force", "cohort"]], on="subject", how="inner")
    forces = sorted(set(per["police_force"]) | set(review["police_force"])
                    | set(force_crimes.index))
    if not forces:
        return pd.DataFrame(columns=FIGURE_COLUMNS)
    full = pd.MultiIndex.from_product([[*forces, ALL], [*COHORTS, ALL]],
                                      names=["police_force", "cohort"])
    table = pd.concat([_aggregate(per, gaps, review, keys) for keys in
                       (["police_force", "cohort"], ["police_force"], ["cohort"], [])])
    table = table.reindex(full)
    counts = [c for c in COUNTS if c in table.columns] + ["monitored_ns"]
    table[counts] = table[counts].fillna(0).astype(np.int64)
    table["monitored_subject_days"] = (table["monitored_ns"] / DAY_NS).round(3)
    for col, digits in (("coverage_median", 4), ("coverage_p10", 4), ("gap_median_min", 2),
                        ("decision_hours_median", 2), ("decision_hours_p90", 2)):
        table[col] = table[col].astype(float).round(digits)
    table = table.reset_index()
    crimes_of = force_crimes.reindex(forces, fill_value=0)
    crimes_of.loc[ALL] = crimes_of.sum()
    matched = table["police_force"].map(crimes_of["crimes_matched"]).astype(float)
    table["hits_per_100_crimes"] = (100.0 * table["hits"] / matched.where(matched > 0)).round(2)
    for col in ("crimes_received", "crimes_rejected", "crimes_matched"):
        values = table["police_force"].map(crimes_of[col]).astype("Int64")
        table[col] = values.where(table["cohort"] == ALL, pd.NA)
    table["month"] = month.label
    return table[FIGURE_COLUMNS]


def figures_trend(store, engine, month: Month, rules: Rules | None = None,
                  months: int = 12) -> pd.DataFrame:
    """The figures of the ``months`` months ending with ``month``, every force and the total,
    unsuppressed, oldest first (a month with nothing in either store gives no rows)."""
    rules = rules or Rules()
    subjects = store.subjects()
    register = subject_register(subjects)
    activations = Activations(subjects)
    work = casework(engine, dict(zip(register["subject"], register["cohort"], strict=True)))
    frames = []
    for m in month.last(months):
        per, gaps = monitoring(store, m, rules, subjects, activations, register)
        frame = figures_table(per, gaps, crimes_by_force(work, m),
                              work.review[work.review["month"] == m.label], m)
        if len(frame):
            frames.append(frame)
    return (pd.concat(frames, ignore_index=True) if frames
            else pd.DataFrame(columns=FIGURE_COLUMNS))


def force_rows(figures: pd.DataFrame, force: str) -> pd.DataFrame:
    """One force's rows (force names compare case-insensitively)."""
    return figures[figures["police_force"].str.lower() == force.lower()].reset_index(drop=True)


# --- disclosure control -------------------------------------------------------------------------

Cell = tuple[int, int]
Equation = tuple[list[Cell], Cell]  # these cells add up to that total


def table_equations(n_rows: int, n_cols: int) -> list[Equation]:
    """The additive relations of a table whose last row and last column are totals."""
    eqs: list[Equation] = [([(i, j) for j in range(n_cols - 1)], (i, n_cols - 1))
                           for i in range(n_rows)]
    eqs += [([(i, j) for i in range(n_rows - 1)], (n_rows - 1, j)) for j in range(n_cols)]
    return eqs


def determined_cells(hidden: set[Cell], equations: list[Equation]) -> set[Cell]:
    """The withheld cells that the published cells and the equations pin down exactly: cell
    ``c`` is pinned when its unit vector lies in the row space of the equations restricted to
    the withheld cells (everything else in them is published, hence known)."""
    unknown = sorted(hidden)
    if not unknown:
        return set()
    index = {c: i for i, c in enumerate(unknown)}
    rows = []
    for parts, total in equations:
        coeff = np.zeros(len(unknown))
        for c in parts:
            if c in index:
                coeff[index[c]] += 1.0
        if total in index:
            coeff[index[total]] -= 1.0
        if coeff.any():
            rows.append(coeff)
    if not rows:
        return set(unknown)  # withheld but in no relation: nothing to undo it with
    a = np.vstack(rows)
    rank = np.linalg.matrix_rank(a)
    pinned = set()
    for c, i in index.items():
        e = np.zeros(len(unknown))
        e[i] = 1.0
        if np.linalg.matrix_rank(np.vstack([a, e])) == rank:
            pinned.add(c)
    return pinned


def suppression_pattern(values: dict[Cell, int], equations: list[Equation],
                        threshold: int) -> set[Cell]:
    """Which cells to withhold: primary — counts from 1 to ``threshold - 1``; secondary — more
    cells until no withheld cell can be worked out from the published cells and the equations.
    A pinned cell is freed by the cheapest rectangle of cells through it (the classic
    hypercube method: each of its two lines then holds two unknowns); a one-line table falls
    back to the smallest published cell of the line."""
    hidden = {c for c, v in values.items() if 0 < v < threshold}
    rows = sorted({i for i, _ in values})
    cols = sorted({j for _, j in values})
    while True:
        pinned = determined_cells(hidden, equations)
        pinned = {c for c in pinned if any(c == t or c in p for p, t in equations)}
        if not pinned:
            return hidden
        new: list[Cell] = []
        for cell in sorted(pinned):
            best = None
            for r2 in rows:
                for c2 in cols:
                    if r2 == cell[0] or c2 == cell[1]:
                        continue
                    corners = [(cell[0], c2), (r2, cell[1]), (r2, c2)]
                    if any(c not in values for c in corners):
                        continue
                    fresh = [c for c in corners if c not in hidden]
                    cost = (sum(values[c] for c in fresh), len(fresh), corners)
                    if fresh and (best is None or cost < best[0]):
                        best = (cost, fresh)
            if best is not None:
                new = best[1]
                break
            line = {c for parts, total in equations if cell == total or cell in parts
                    for c in (*parts, total) if c in values and c not in hidden}
            if line:
                new = [min(line, key=lambda c: (values[c], c))]
                break
        if not new:  # every relation of every pinned cell is withheld already
            return hidden
        hidden.update(new)


def suppress(figures: pd.DataFrame, threshold: int = 5) -> pd.DataFrame:
    """Disclosure control for publishing: small counts, and the cells that would give them
    away through the totals, become ``[c]``; rates and medians over a withheld or small count
    are withheld too. Give it the whole table (all forces and the ``all`` rows) and select a
    force's rows afterwards: the pattern is then the same whoever looks."""
    out = figures.astype(object).copy()
    for _, part in figures.groupby("month", sort=False):
        forces = [f for f in dict.fromkeys(part["police_force"]) if f != ALL]
        force_axis = [*forces, ALL] if (part["police_force"] == ALL).any() else forces
        cohort_axis = [*COHORTS, ALL]
        where = {(f, c): idx for idx, f, c in zip(part.index, part["police_force"],
                                                   part["cohort"], strict=True)}
        has_total = force_axis[-1] == ALL
        for col in COUNTS:
            if col.startswith("crimes_"):  # a force's count (cohort all) and their total
                cells = {(i, 0): part.at[where[(f, ALL)], col]
                         for i, f in enumerate(force_axis) if (f, ALL) in where}
                equations = ([([(i, 0) for i in range(len(forces))], (len(forces), 0))]
                             if has_total else [])
                names = {(i, 0): (f, ALL) for i, f in enumerate(force_axis)}
            else:
                cells = {(i, j): part.at[where[(f, c)], col]
                         for i, f in enumerate(force_axis) for j, c in enumerate(cohort_axis)
                         if (f, c) in where}
                equations = (table_equations(len(force_axis), len(cohort_axis)) if has_total
                             else [([(i, j) for j in range(len(COHORTS))], (i, len(COHORTS)))
                                   for i in range(len(force_axis))])
                names = {(i, j): (f, c) for i, f in enumerate(force_axis)
                         for j, c in enumerate(cohort_axis)}
            values = {k: int(v) for k, v in cells.items() if not pd.isna(v)}
            for cell in suppression_pattern(values, equations, threshold):
                out.at[where[names[cell]], col] = SUPPRESSED
        for derived, base in DERIVED_FROM.items():
            small = part[base].apply(lambda v: not pd.isna(v) and 0 < int(v) < threshold)
            withheld = (out.loc[part.index, base] == SUPPRESSED) | small
            out.loc[withheld[withheld].index, derived] = SUPPRESSED
    return out
