"""The trails some crimes need, read once and prepared once, and what the jobs ask of them.

``LoadedTrails.load`` reads the fixes of the crimes' stretches of time (``trail_spans``) from a
trail source, prepares them (``prepare_trail``) and builds one segment index for every force;
then it answers the jobs' questions: the hits of some crime versions, their coverage, the
evidence of each hit and how many subjects were monitored. ``match_on_cluster`` gives the same
hits on Dask (``--scheduler``), the workers reading their own day partitions.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from trailmatch.evidence import HitEvidence, reach_of, trail_evidence
from trailmatch.hits import HIT_COLUMNS
from trailmatch.index.segments import build_index
from trailmatch.index.windows import subjects_in_windows
from trailmatch.jobs.sources import TrailSource, trail_spans
from trailmatch.match import match_prepared
from trailmatch.rules import Rules
from trailmatch.trails import Trail, prepare_crimes, prepare_trail


def _concat_trails(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """The stretches' fixes as one frame for ``prepare_trail``, subjects as they came: the
    store's categoricals stay one categorical (no string per fix is made; prepare_trail
    groups the rows by subject in O(n))."""
    if len(parts) == 1:
        return parts[0]
    subjects = [p["subject"] for p in parts]
    if all(isinstance(s.dtype, pd.CategoricalDtype) for s in subjects):
        subject = pd.api.types.union_categoricals(subjects, ignore_order=True)
    else:
        subject = pd.concat([s.astype(str) for s in subjects], ignore_index=True)
    frame = pd.concat([p.drop(columns="subject") for p in parts], ignore_index=True)
    frame.insert(0, "subject", subject)
    return frame


def _with_crime_ids(found: pd.DataFrame, crimes: pd.DataFrame) -> pd.DataFrame:
    """Hits with the ``crime_id`` of their stored crime version (``crimes``' ``id``)."""
    ids = crimes.set_index(["police_force", "crime_reference"])["id"]
    key = pd.MultiIndex.from_arrays([found["police_force"], found["crime_reference"]])
    return found.assign(crime_id=ids.reindex(key).to_numpy())


@dataclass
class LoadedTrails:
    trail: Trail
    index: object
    codes: dict
    activations: pd.DataFrame | None = None  # for coverage: None = first to last fix
    _reach: dict = field(default_factory=dict, repr=False)  # precision counted per fix

    @classmethod
    def load(cls, source: TrailSource, crimes: pd.DataFrame, rules: Rules) -> LoadedTrails:
        parts = [p for p in (source.read(a, b) for a, b in trail_spans(crimes, rules)) if len(p)]
        if parts:
            frame = _concat_trails(parts)
        else:
            frame = pd.DataFrame({"subject": pd.Series(dtype=str),
                                  "time": pd.Series(dtype="datetime64[ns, UTC]"),
                                  "x": pd.Series(dtype=float), "y": pd.Series(dtype=float)})
        trail = prepare_trail(frame)
        index = build_index(trail, rules.max_gap_s, rules.count_precision)
        codes = {s: i for i, s in enumerate(trail.subjects.tolist())}
        activations = None
        if hasattr(source, "activations"):
            # only periods meeting the fixes read: others would list every past subject
            activations = (source.activations(frame["time"].min(), frame["time"].max())
                           if len(frame) else source.activations())
        return cls(trail=trail, index=index, codes=codes, activations=activations)

    def coverage(self, crimes: pd.DataFrame, rules: Rules):
        """The per-crime coverage (``trailmatch.coverage.Coverage``) of these crimes against
        the loaded trails. Only the fixes read for matching are known here (windows widened by
        max gap): a gap reaching beyond them loses its outer fix, which can only make fewer
        exclusions."""
        from trailmatch.coverage import coverage_prepared

        prepared = prepare_crimes(crimes, rules.buffer_before_ns, rules.buffer_after_ns)
        return coverage_prepared(self.trail, self.index, prepared, rules,
                                 activations=self.activations)

    def match(self, crimes: pd.DataFrame, rules: Rules) -> pd.DataFrame:
        """Hits of stored crime versions (``id`` column) with a ``crime_id`` column added."""
        if crimes.empty:
            return pd.DataFrame(columns=[*HIT_COLUMNS, "crime_id"])
        prepared = prepare_crimes(crimes, rules.buffer_before_ns, rules.buffer_after_ns)
        return _with_crime_ids(match_prepared(self.trail, self.index, prepared, rules), crimes)

    def subjects_monitored(self, crimes: pd.DataFrame, rules: Rules) -> int:
        """Subjects with at least one fix inside some crime's widened window."""
        t = self.trail.t
        if crimes.empty or t.size == 0:
            return 0
        w0 = crimes["time_from"].to_numpy(dtype="datetime64[ns]").view(np.int64)
        w1 = crimes["time_to"].to_numpy(dtype="datetime64[ns]").view(np.int64)
        # each subject's fixes walked with the merged windows (not every fix once per force)
        return int(subjects_in_windows(t, self.trail.starts, w0 - rules.buffer_before_ns,
                                       w1 + rules.buffer_after_ns).sum())

    def evidence(self, crimes: list[dict], hits: list[dict], rules: Rules) -> list[HitEvidence]:
        """The evidence of each hit (``crimes[k]`` is ``hits[k]``'s crime), all at once. A
        subject whose fixes are gone (purged or flagged since) gets an empty path."""
        key = bool(rules.count_precision)
        if key not in self._reach:  # once a run, not once a batch (14 M fixes nationally)
            self._reach[key] = reach_of(self.trail.precision, rules)
        return trail_evidence(self.trail, hits, crimes, rules, codes=self.codes,
                              reach=self._reach[key])


def match_on_cluster(client, source, crimes: pd.DataFrame, rules: Rules) -> pd.DataFrame:
    """``LoadedTrails.match`` on Dask (``trailmatch.scale``, ``--scheduler``): the workers read
    their day partitions from ``source`` themselves; same hits, same ``crime_id``."""
    from trailmatch.scale.run import match_distributed

    if crimes.empty:
        return pd.DataFrame(columns=[*HIT_COLUMNS, "crime_id"])
    return _with_crime_ids(match_distributed(source, crimes, rules, client), crimes)
