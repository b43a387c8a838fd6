"""Elimination partition by partition (in process and on a LocalCluster of 2 workers): the very
frame ``eliminate`` returns, on the sample week and on synthetic days whose gaps span midnight
— with and without activation periods — and the same CSV from ``trailmatch eliminate
--scheduler``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import dask_modules_after, frame_source, run_with_a_worker_killed
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_dask_data import DATA, multi_day, sample, store_of

from trailmatch import synthetic
from trailmatch.cli import main
from trailmatch.eliminate import eliminate
from trailmatch.rules import Rules
from trailmatch.scale import coverage as scale_coverage
from trailmatch.scale import eliminate_distributed
from trailmatch.scale.run import RunStats
from trailmatch.trails import to_utc_ns
from trailmatch.units import DAY_NS

ROOT = Path(__file__).parents[1]
HOUR_NS = 3600 * 10**9
START = "2025-01-20"


def gap_days(n_subjects: int = 24, days: int = 4, seed: int = 11
             ) -> tuple[pd.DataFrame, pd.DataFrame, Rules]:
    """Trails at one fix per 5 minutes with one long silence per subject around a midnight
    (some longer than a day, so a whole day partition has no fix of that subject), subjects
    whose trail starts late or ends early, and crimes inside the silences near the fixes that
    bound them (their statuses depend on fixes on another day)."""
    rules = Rules(radius_m=150.0, max_gap_s=600.0, max_speed_mps=1.5, count_precision=False)
    rng = np.random.default_rng(seed)
    trails = synthetic.trails(n_subjects=n_subjects, fixes_per_day=288, days=days,
                              extent_m=4000.0, start=START, seed=seed)
    t = to_utc_ns(trails["time"], "t")
    t0 = pd.Timestamp(START, tz="UTC").value
    code = trails["subject"].cat.codes.to_numpy()
    midnight = t0 + rng.integers(1, days, size=n_subjects) * DAY_NS
    before = (rng.uniform(0.3, 8, size=n_subjects) * HOUR_NS).astype(np.int64)
    after = (rng.uniform(0.5, 30, size=n_subjects) * HOUR_NS).astype(np.int64)
    silent = (t > midnight[code] - before[code]) & (t < midnight[code] + after[code])
    silent |= (code == 0) & (t > t0 + 2 * DAY_NS + 12 * HOUR_NS)  # device ends early
    silent |= (code == 1) & (t < t0 + DAY_NS + 9 * HOUR_NS)  # starts late
    trails = trails[~silent].reset_index(drop=True)
    t = t[~silent]
    code = code[~silent]

    # crimes in each silence, near the fix before or after it
    rows = []
    for s in range(n_subjects):
        mine = np.flatnonzero(code == s)
        ends = mine[np.flatnonzero(np.diff(t[mine]) > rules.max_gap_ns)]
        for a in ends:
            for _ in range(6):
                at = a if rng.random() < 0.5 else a + 1
                w0 = int(rng.integers(t[a] - HOUR_NS, t[a + 1] + HOUR_NS))
                angle = rng.uniform(0, 2 * np.pi)
                dist = rng.uniform(0, 3000)
                rows.append((trails["x"].iloc[at] + dist * np.cos(angle),
                             trails["y"].iloc[at] + dist * np.sin(angle), w0,
                             w0 + int(rng.choice([0, 600, 2 * 3600])) * 10**9))
            # just after (before) the midnight the silence spans, about as far from the fix
            # before (after) it as the subject can go by then: only that fix can exclude it
            m = (t[a + 1] // DAY_NS) * DAY_NS
            if m <= t[a]:
                continue
            for _ in range(6):
                after_midnight = rng.random() < 0.5
                w0 = m + (1 if after_midnight else -1) * int(rng.integers(15, 50)) * 60 * 10**9
                at = a if after_midnight else a + 1
                reach = rules.max_speed_mps * abs(w0 - t[at]) / 1e9 + rules.radius_m
                dist = min(reach * rng.uniform(0.5, 1.5), 8000.0)
                angle = rng.uniform(0, 2 * np.pi)
                rows.append((trails["x"].iloc[at] + dist * np.cos(angle),
                             trails["y"].iloc[at] + dist * np.sin(angle), w0, w0))
    x, y, w0, w1 = (np.array(v) for v in zip(*rows, strict=True))
    # no stretch [w0 − max_gap, w1 + max_gap] crosses midnight, so partitions read one day
    # and the fixes of another day reach them only through the halo
    alone = ((w0 - rules.max_gap_ns) // DAY_NS) == ((w1 + rules.max_gap_ns) // DAY_NS)
    x, y, w0, w1 = x[alone], y[alone], w0[alone], w1[alone]
    force = rng.choice(["Hampshire", "Thames Valley"], size=x.size)
    crimes = pd.DataFrame({
        "crime_reference": [f"45/{i}/25" for i in range(x.size)], "police_force": force,
        "crime_type": "BIAD", "x": x, "y": y,
        "time_from": pd.to_datetime(w0, unit="ns", utc=True),
        "time_to": pd.to_datetime(w1, unit="ns", utc=True)})
    spread = synthetic.crimes(n_crimes=40, days=days, extent_m=4000.0, start=START,
                              max_window_h=3.0, forces=("Hampshire",), seed=seed + 1)
    s0 = to_utc_ns(spread["time_from"], "t") - rules.max_gap_ns
    s1 = to_utc_ns(spread["time_to"], "t") + rules.max_gap_ns
    spread = spread[(s0 // DAY_NS) == (s1 // DAY_NS)]
    return trails, pd.concat([crimes, spread], ignore_index=True), rules


def gap_days_activations(subjects) -> pd.DataFrame:
    """Activation periods: open, closed, two per subject, one starting after the first fix,
    and a subject with a period but no fix at all."""
    day = pd.Timedelta(days=1)
    s0 = pd.Timestamp(START, tz="UTC")
    names = sorted(str(s) for s in subjects)
    rows = [(names[0], s0 - day, None), (names[1], s0, s0 + 3 * day),
            (names[2], s0 + pd.Timedelta(hours=6), s0 + 2 * day),
            (names[2], s0 + 2.5 * day, None), (names[3], s0 + 1.5 * day, s0 + 3.2 * day),
            (names[4], s0 - day, s0 + 5 * day), ("S999999", s0 + day, s0 + 2 * day)]
    return pd.DataFrame(rows, columns=["subject", "start", "end"])


@pytest.fixture(scope="module")
def cases():
    """Inputs and single-process answers (computing them also fills the numba cache the
    workers load)."""
    out = {}
    trails, crimes, rules = sample()
    out["sample"] = (trails, crimes, rules, None)
    trails, crimes, rules = gap_days()
    out["gap_days"] = (trails, crimes, rules, None)
    out["gap_days_activations"] = (trails, crimes, rules,
                                   gap_days_activations(trails["subject"].cat.categories))
    return {name: (*case, eliminate(case[0], case[1], case[2], activations=case[3]))
            for name, case in out.items()}


@pytest.fixture(scope="module")
def client(cases):
    from trailmatch.scale.cluster import client_from_arg

    with client_from_arg("local:2", memory_limit="2GiB") as c:
        c.wait_for_workers(2)
        yield c


def test_gap_days_hold_the_hard_cases(cases):
    trails, crimes, rules, _, expected = cases["gap_days"]
    t = to_utc_ns(trails["time"], "t")
    code = trails["subject"].cat.codes.to_numpy()
    same = code[1:] == code[:-1]
    span = np.diff(t)[same]
    a = t[:-1][same]
    b = t[1:][same]
    assert ((a // DAY_NS) != (b // DAY_NS)).sum() >= 15  # gaps crossing midnight
    assert (span > DAY_NS).sum() >= 3  # a whole day without a fix
    counts = expected["status"].value_counts()
    for status in ("hit", "excluded", "cannot_exclude", "not_monitored"):
        assert counts[status] > 20, counts
    with_act = cases["gap_days_activations"][-1]
    assert "S999999" in set(with_act["subject"])
    both = with_act.merge(expected, on=["crime_reference", "police_force", "subject"],
                          suffixes=("", "_without"))
    assert len(both) == len(expected)
    assert (both["status"] != both["status_without"]).sum() > 20


@pytest.mark.parametrize("name", ["sample", "gap_days", "gap_days_activations"])
def test_in_process_partitions_equal_single_process(cases, name):
    trails, crimes, rules, activations, expected = cases[name]
    stats = RunStats()
    got = eliminate_distributed(trails, crimes, rules, activations=activations, stats=stats)
    pd.testing.assert_frame_equal(got, expected)
    assert stats.partitions >= 4
    assert stats.hits == int((expected["status"] == "hit").sum())
    assert sum(p["halo"] for p in stats.per_partition) > 0


def test_stretch_with_halo_keeps_the_bounding_fixes():
    t = pd.to_datetime(["2025-01-20 01:00", "2025-01-20 02:00", "2025-01-20 02:00",
                        "2025-01-20 05:00", "2025-01-20 09:00", "2025-01-20 10:00",
                        "2025-01-20 03:00", "2025-01-20 12:00"], utc=True)
    fixes = pd.DataFrame({"subject": ["a"] * 6 + ["b"] * 2, "time": t,
                          "x": np.arange(8.0), "y": 0.0})
    lo = pd.Timestamp("2025-01-20 04:00", tz="UTC").value
    hi = pd.Timestamp("2025-01-20 06:00", tz="UTC").value
    kept = scale_coverage.stretch_with_halo(fixes, lo, hi)
    # a: both rows at 02:00 (duplicates resolve later), 05:00, 09:00; b: 03:00 and 12:00
    assert kept["x"].tolist() == [1.0, 2.0, 3.0, 4.0, 6.0, 7.0]


@st.composite
def _scenes(draw):
    """A few subjects with sparse fixes over four days (clusters joined by the contract,
    silences of minutes to days), crimes anywhere in those days, optional activations."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    t0 = pd.Timestamp(START, tz="UTC").value
    rows = []
    for s in range(draw(st.integers(1, 4))):
        n_bursts = draw(st.integers(0, 6))
        for _ in range(n_bursts):
            start = t0 + int(rng.integers(0, 4 * DAY_NS))
            n = int(rng.integers(1, 8))
            times = start + np.cumsum(rng.integers(0, 400, size=n)) * 10**9
            x0, y0 = rng.uniform(0, 3000, size=2)
            for k, t in enumerate(times):
                rows.append((f"S{s}", int(t), x0 + 20.0 * k, y0 + rng.uniform(-50, 50),
                             float(rng.choice([np.nan, 10.0, 80.0]))))
    trails = pd.DataFrame(rows, columns=["subject", "t", "x", "y", "precision_m"])
    trails["time"] = pd.to_datetime(trails.pop("t").to_numpy(dtype=np.int64), unit="ns",
                                    utc=True)
    n_crimes = draw(st.integers(1, 8))
    w0 = t0 + rng.integers(-DAY_NS // 2, 4 * DAY_NS, size=n_crimes)
    w1 = w0 + rng.choice(np.array([0, 600, 3 * 3600, 30 * 3600]), size=n_crimes) * 10**9
    crimes = pd.DataFrame({
        "crime_reference": [f"1/{i % 5}/25" for i in range(n_crimes)],
        "police_force": "Hampshire", "crime_type": "RB",
        "x": rng.uniform(0, 3000, size=n_crimes), "y": rng.uniform(0, 3000, size=n_crimes),
        "time_from": pd.to_datetime(w0, unit="ns", utc=True),
        "time_to": pd.to_datetime(w1, unit="ns", utc=True)})
    rules = Rules(max_gap_s=draw(st.sampled_from([300.0, 1800.0])),
                  max_speed_mps=draw(st.sampled_from([0.5, 3.0, 30.0])),
                  buffer_before_s=draw(st.sampled_from([0.0, 900.0])),
                  count_precision=draw(st.booleans()))
    activations = None
    if draw(st.booleans()):
        starts = t0 + rng.integers(-DAY_NS, 3 * DAY_NS, size=3)
        ends = starts + rng.integers(1, 3 * DAY_NS, size=3)
        activations = pd.DataFrame({
            "subject": ["S0", "S1", "S9"],
            "start": pd.to_datetime(starts, unit="ns", utc=True),
            "end": pd.Series(pd.to_datetime(ends, unit="ns", utc=True)).where(
                rng.random(3) < 0.7)})
    return trails, crimes, rules, activations


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_scenes())
def test_partitions_equal_single_process_on_random_scenes(scene):
    trails, crimes, rules, activations = scene
    pd.testing.assert_frame_equal(
        eliminate_distributed(trails, crimes, rules, activations=activations),
        eliminate(trails, crimes, rules, activations=activations))


def test_multi_day_in_process_equals_single_process():
    """Windows crossing midnight, longer than a day, references shared across days."""
    trails, crimes, rules = multi_day(n_subjects=20, n_crimes=120)
    pd.testing.assert_frame_equal(eliminate_distributed(trails, crimes, rules),
                                  eliminate(trails, crimes, rules))


@pytest.mark.parametrize("name", ["sample", "gap_days"])
def test_without_the_halo_rows_change(cases, name, monkeypatch):
    """The halo is load-bearing: partitions given only their own days answer differently
    (gaps whose fixes lie on another day are lost)."""
    trails, crimes, rules, activations, expected = cases[name]
    monkeypatch.setattr(scale_coverage._Ends, "halo", lambda self, lo, hi: self.rows.iloc[:0])
    got = eliminate_distributed(trails, crimes, rules, activations=activations)
    assert len(got) == len(expected)
    changed = ((got["status"] != expected["status"]) | (got["gaps"] != expected["gaps"])
               | (got["worst_gap_from"] != expected["worst_gap_from"]))
    assert changed.sum() > 10


@pytest.mark.parametrize("name", ["sample", "gap_days", "gap_days_activations"])
def test_cluster_equals_single_process(client, cases, name):
    trails, crimes, rules, activations, expected = cases[name]
    got = eliminate_distributed(trails, crimes, rules, client, activations=activations)
    pd.testing.assert_frame_equal(got, expected)


def test_cluster_reads_a_trail_store(client, cases, tmp_path):
    """Workers read the store's days themselves (day ends, then partitions); the whole trail
    is the stretch [start, end] of the store."""
    trails, crimes, rules, _, _ = cases["gap_days"]
    path, _ = store_of(trails, tmp_path / "store")
    from trailmatch.store import Store

    lo = pd.Timestamp(START, tz="UTC").value + 6 * HOUR_NS  # cuts the first day
    hi = lo + 3 * DAY_NS
    expected = eliminate(Store(path).read_window(lo, hi), crimes, rules)
    got = eliminate_distributed(f"file://{path}", crimes, rules, client, start_ns=lo, end_ns=hi)
    pd.testing.assert_frame_equal(got, expected)


def test_a_source_object_read_day_by_day(cases):
    """An object with ``read_window`` (like the nightly job's sources) is read one calendar
    day at a time; the whole trail is its stretch [start, end]."""
    trails, crimes, rules, activations, _ = cases["gap_days_activations"]

    class Source:
        def read_window(self, start_ns, end_ns, **options):
            t = to_utc_ns(trails["time"], "t")
            return trails[(t >= start_ns) & (t <= end_ns)]

    lo = pd.Timestamp(START, tz="UTC").value + 20 * HOUR_NS
    hi = lo + 2 * DAY_NS
    t = to_utc_ns(trails["time"], "t")
    expected = eliminate(trails[(t >= lo) & (t <= hi)], crimes, rules, activations=activations)
    got = eliminate_distributed(Source(), crimes, rules, activations=activations, start_ns=lo,
                                end_ns=hi)
    pd.testing.assert_frame_equal(got, expected)
    with pytest.raises(ValueError, match="spans"):
        eliminate_distributed(Source(), crimes, rules, start_ns=0, end_ns=9 * 10**18)


def test_a_store_needs_its_stretch_and_must_exist(tmp_path):
    _, crimes, rules = sample()
    with pytest.raises(ValueError, match="start_ns and end_ns"):
        eliminate_distributed(str(tmp_path), crimes, rules)
    with pytest.raises(FileNotFoundError, match="no such directory"):
        eliminate_distributed(str(tmp_path / "nowhere"), crimes, rules, start_ns=0,
                              end_ns=2 * 10**18)


def test_a_fix_without_subject_is_an_error_wherever_it_is():
    trails, crimes, rules = sample()
    trails = trails.astype({"subject": object})
    trails.loc[3, "subject"] = None
    with pytest.raises(ValueError, match="row 3: missing subject"):
        eliminate(trails, crimes, rules)
    with pytest.raises(ValueError, match="row 3: missing subject"):
        eliminate_distributed(trails, crimes, rules)


def test_worker_killed_mid_run_changes_nothing(client, cases):
    """A worker dies while it computes a partition: Dask reruns it, the rows are identical."""
    trails, crimes, rules, activations, expected = cases["gap_days_activations"]
    source = frame_source(trails, delay_s=1.5)  # slow reads: the kill lands while tasks run
    lo = pd.Timestamp(START, tz="UTC").value - DAY_NS  # the whole frame is in [lo, hi]
    hi = lo + 6 * DAY_NS
    got = run_with_a_worker_killed(
        client, "eliminate-partition",
        lambda: eliminate_distributed(source, crimes, rules, client, activations=activations,
                                      start_ns=lo, end_ns=hi),
        busy_timeout_s=120, join_timeout_s=240)
    pd.testing.assert_frame_equal(got, expected)
    client.wait_for_workers(2, timeout=60)


def test_cli_same_csv_with_local_cluster(tmp_path, capsys):
    subjects = tmp_path / "subjects.csv"
    subjects.write_text("subject,device,activation_start,activation_end\n"
                        "07013,D07013,2025-01-19T00:00:00Z,\n"
                        "07012,D07012,2025-01-20T06:00:00Z,2025-01-24T00:00:00Z\n")
    common = ["eliminate", "--positions", str(DATA / "positions.csv"), "--subjects",
              str(subjects), "--crimes", str(DATA / "crimes.csv"), "--all-pairs"]
    plain, dask = tmp_path / "plain.csv", tmp_path / "dask.csv"
    assert main([*common, "--out", str(plain)]) == 0
    assert main([*common, "--out", str(dask), "--scheduler", "local:2"]) == 0
    assert "day partitions on Dask" in capsys.readouterr().err
    assert plain.read_bytes() == dask.read_bytes()
    assert len(plain.read_text().splitlines()) == 400 * 5 + 1


def test_cli_from_store_same_csv_on_a_running_cluster(client, tmp_path, capsys):
    """--store with its subjects file and --lookback: the workers read the store."""
    store = tmp_path / "store"
    subjects = tmp_path / "subjects.csv"
    subjects.write_text("subject,device,activation_start,activation_end\n"
                        "07013,D07013,2025-01-19T00:00:00Z,\n")
    assert main(["ingest", "positions", str(DATA / "positions.csv"), "--store", str(store)]) == 0
    assert main(["ingest", "subjects", str(subjects), "--store", str(store)]) == 0
    common = ["eliminate", "--store", str(store), "--crimes", str(DATA / "crimes.csv"),
              "--lookback", "30", "--all-pairs"]
    plain, dask = tmp_path / "plain.csv", tmp_path / "dask.csv"
    assert main([*common, "--out", str(plain)]) == 0
    assert main([*common, "--out", str(dask), "--scheduler", client.scheduler.address]) == 0
    capsys.readouterr()
    assert plain.read_bytes() == dask.read_bytes()


def test_cli_without_scheduler_imports_no_dask(tmp_path):
    """In a fresh interpreter: the whole command runs and no Dask module is loaded."""
    assert dask_modules_after(f"""
        from trailmatch.cli import main
        assert main(["eliminate", "--positions", {str(DATA / "positions.csv")!r},
                     "--crimes", {str(DATA / "crimes.csv")!r},
                     "--out", {str(tmp_path / "coverage.csv")!r}]) == 0
        # partitions run in this process without a client: no Dask either
        from trailmatch.ingest.crime_batch import read_crime_batch
        from trailmatch.ingest.positions import read_positions
        from trailmatch.scale import eliminate_distributed
        assert len(eliminate_distributed(
            read_positions({str(DATA / "positions.csv")!r}).fixes,
            read_crime_batch({str(DATA / "crimes.csv")!r}).crimes)) == 2000
    """, ROOT) == "[]"
    assert (tmp_path / "coverage.csv").stat().st_size > 0
