"""The persisted segment index: round trip, memory-mapping, staleness, atomicity, and windows
that cross midnight give exactly the hits of an in-memory match over all the fixes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from trailmatch import synthetic
from trailmatch.index.segments import build_index
from trailmatch.match import match, match_prepared
from trailmatch.rules import Rules
from trailmatch.store import Store, day_index
from trailmatch.trails import prepare_crimes, prepare_trail

DAY = "2025-01-20"
T0 = pd.Timestamp(DAY, tz="UTC").value
NS = 10**9


def write_days(store: Path, frame: pd.DataFrame) -> dict[str, Path]:
    """Ingest a trails frame into a store (``Store.ingest_fixes``: one partition per UTC day,
    every fix kept); day name -> partition file."""
    counts, _ = Store(store).ingest_fixes(frame)
    assert counts.accepted == len(frame), counts
    return Store(store).layout.partitions()


@pytest.fixture(autouse=True)
def fresh_cache():
    day_index.forget_open_indexes()
    yield
    day_index.forget_open_indexes()


@pytest.fixture(scope="module")
def three_days() -> pd.DataFrame:
    frame = synthetic.trails(n_subjects=40, fixes_per_day=288, days=3, extent_m=3000.0, seed=3)
    frame["subject"] = frame["subject"].astype(str)
    # a subject whose only path near the probe crosses midnight: 23:58 -> 00:02, joined
    cross = pd.DataFrame({
        "subject": ["MIDNIGHT"] * 2,
        "time": pd.to_datetime([T0 + NS * (86_400 - 120), T0 + NS * (86_400 + 120)], unit="ns",
                               utc=True),
        "x": [900_000.0, 900_400.0], "y": [100_000.0, 100_000.0],
        "precision_m": [5.0, 5.0], "source": np.array([1, 1], dtype=np.uint8),
    })
    return pd.concat([frame, cross], ignore_index=True)


def hits_key(hits: pd.DataFrame) -> pd.DataFrame:
    return hits.sort_values(["crime_reference", "subject"]).reset_index(drop=True)


def test_round_trip_is_exact_and_memory_mapped(tmp_path, three_days):
    trail = prepare_trail(three_days)
    rules = Rules()
    params = day_index.index_params(rules)
    index = day_index.build_for(trail, params)
    day_index.save_index(tmp_path / "d", trail, index, params=params, fingerprint="abc")
    got_trail, got = day_index.open_index(tmp_path / "d", params, "abc")
    for name, value in index.arrays().items():
        np.testing.assert_array_equal(getattr(got, name), value, err_msg=name)
    for name in ("subject", "t", "x", "y", "precision", "source", "starts"):
        np.testing.assert_array_equal(getattr(got_trail, name), getattr(trail, name))
    assert list(got_trail.subjects) == list(trail.subjects)
    assert isinstance(got.t.base, np.memmap)
    crimes = prepare_crimes(synthetic.crimes(300, days=3, extent_m=3000.0))
    pd.testing.assert_frame_equal(match_prepared(got_trail, got, crimes, rules),
                                  match_prepared(trail, index, crimes, rules))
    # copy-on-write: a write stays in this process, the file is untouched
    got.x[0] += 1.0
    np.testing.assert_array_equal(day_index.open_index(tmp_path / "d", params, "abc")[0].x,
                                  trail.x)


def test_open_refuses_other_fingerprint_or_params(tmp_path, three_days):
    trail = prepare_trail(three_days.head(500))
    params = day_index.index_params(Rules())
    day_index.save_index(tmp_path, trail, day_index.build_for(trail, params), params=params,
                       fingerprint="one")
    with pytest.raises(day_index.StaleIndex, match="partition changed"):
        day_index.open_index(tmp_path, params, "two")
    with pytest.raises(day_index.StaleIndex, match="no index"):
        day_index.open_index(tmp_path, day_index.index_params(Rules(max_gap_s=60)), "one")


def test_rewrite_of_a_partition_is_detected_and_rebuilt(tmp_path, three_days):
    parts = write_days(tmp_path, three_days)  # the store writes each day's index with it
    rules = Rules()
    built = day_index.STATS["built"]
    trail, _ = day_index.day_index(tmp_path, DAY, parts[DAY], rules)
    day_index.forget_open_indexes()
    day_index.day_index(tmp_path, DAY, parts[DAY], rules)
    assert day_index.STATS["built"] == built  # current: opened, not rebuilt
    # the day is re-ingested with one subject fewer
    day = three_days[three_days["time"].dt.strftime("%Y-%m-%d") == DAY]
    dropped = day[day["subject"] != trail.subjects[0]]
    dropped.reset_index(drop=True).to_parquet(parts[DAY], index=False)
    day_index.forget_open_indexes()
    trail2, index2 = day_index.day_index(tmp_path, DAY, parts[DAY], rules)
    assert day_index.STATS["built"] == built + 1
    assert trail2.n_fixes == len(dropped)
    assert trail.subjects[0] not in set(trail2.subjects)
    # only the current generation is left on disk
    gens = [p for p in day_index.day_index_dir(tmp_path, DAY).iterdir() if p.is_dir()]
    assert len(gens) == 1


def test_rules_with_other_max_gap_get_their_own_index(tmp_path, three_days):
    parts = write_days(tmp_path, three_days)
    a = day_index.day_index(tmp_path, DAY, parts[DAY], Rules(max_gap_s=300))[1]
    b = day_index.day_index(tmp_path, DAY, parts[DAY], Rules(max_gap_s=60))[1]
    assert a.max_gap_ns == 300 * NS and b.max_gap_ns == 60 * NS
    manifests = sorted(day_index.day_index_dir(tmp_path, DAY).glob("manifest-*.json"))
    assert len(manifests) == 2


def test_leftovers_of_a_crashed_writer_are_ignored(tmp_path, three_days):
    parts = write_days(tmp_path, three_days)
    rules = Rules()
    day_index.day_index(tmp_path, DAY, parts[DAY], rules)
    directory = day_index.day_index_dir(tmp_path, DAY)
    # a writer died half way: its temp directory holds a truncated array
    junk = directory / ".deadbeef.crashed"
    junk.mkdir()
    (junk / "t.npy").write_bytes(b"\x93NUMPY garbage")
    day_index.forget_open_indexes()
    built = day_index.STATS["built"]
    day_index.day_index(tmp_path, DAY, parts[DAY], rules)
    assert day_index.STATS["built"] == built
    # the generation a manifest names vanished (deleted by hand): rebuilt, not a crash
    manifest = day_index.read_manifest(directory, day_index.index_params(rules))
    for f in (directory / manifest["generation"]).iterdir():
        f.unlink()
    day_index.forget_open_indexes()
    day_index.day_index(tmp_path, DAY, parts[DAY], rules)
    assert day_index.STATS["built"] == built + 1


def test_load_for_window_never_rebuilds_a_current_index(tmp_path, three_days, monkeypatch):
    parts = write_days(tmp_path, three_days)
    rules = Rules()
    for day, path in parts.items():
        day_index.write_day_index(tmp_path, day, path, rules)
    day_index.forget_open_indexes()

    def no_parquet(_):
        raise AssertionError("a current index must not be rebuilt from its partition")

    monkeypatch.setattr(day_index, "read_partition_trail", no_parquet)
    trail, index = day_index.load_index_for_window(tmp_path, T0 + 6 * 3600 * NS,
                                                 T0 + 8 * 3600 * NS, rules)
    assert isinstance(index.chunk_key.base, np.memmap)  # the persisted index itself
    assert trail.t.min() >= T0 and trail.t.max() < T0 + 86_400 * NS
    day_index.load_index_for_window(tmp_path, T0 + 23 * 3600 * NS, T0 + 25 * 3600 * NS, rules)


def crimes_at(windows: list[tuple[int, int]], xy: list[tuple[float, float]]) -> pd.DataFrame:
    return pd.DataFrame({
        "crime_reference": [f"C{i}" for i in range(len(windows))],
        "police_force": "Hampshire", "crime_type": "RB",
        "x": [p[0] for p in xy], "y": [p[1] for p in xy],
        "time_from": pd.to_datetime([w[0] for w in windows], unit="ns", utc=True),
        "time_to": pd.to_datetime([w[1] for w in windows], unit="ns", utc=True),
    })


def test_segment_across_midnight_is_found(tmp_path, three_days):
    write_days(tmp_path, three_days)
    # the MIDNIGHT subject is at x=900200 at 00:00:00; its fixes are 200 m away either side
    midnight = T0 + 86_400 * NS
    for w in [(midnight - 30 * NS, midnight - 10 * NS), (midnight + 10 * NS, midnight + 30 * NS)]:
        crimes = crimes_at([w], [(900_200.0, 100_000.0)])
        trail, index = day_index.load_index_for_window(tmp_path, *w)
        hits = match_prepared(trail, index, prepare_crimes(crimes), Rules())
        assert list(hits["subject"]) == ["MIDNIGHT"]
        assert hits["fixes_in"].iloc[0] == 0
        assert hits["min_distance_m"].iloc[0] < 20


def test_windows_match_an_in_memory_match_over_all_fixes(tmp_path, three_days):
    write_days(tmp_path, three_days)
    rules = Rules()
    rng = np.random.default_rng(7)
    sub = three_days[three_days["subject"] != "MIDNIGHT"]
    x0, y0 = sub["x"].min(), sub["y"].min()
    windows, places = [], []
    for k in range(60):
        # half of the windows are put around a midnight
        if k % 2:
            mid = T0 + int(rng.integers(1, 3)) * 86_400 * NS
            a = mid + int(rng.integers(-3 * 3600, 600)) * NS
        else:
            a = T0 + int(rng.integers(0, 3 * 86_400 - 7200)) * NS
        windows.append((a, a + int(rng.integers(0, 3 * 3600)) * NS))
        places.append((x0 + rng.uniform(0, 3000), y0 + rng.uniform(0, 3000)))
    crimes = crimes_at(windows, places)
    expected = match(three_days, crimes, rules)
    assert len(expected) > 20  # the comparison is not vacuous
    got = []
    for i, w in enumerate(windows):
        trail, index = day_index.load_index_for_window(tmp_path, *w, rules)
        got.append(match_prepared(trail, index, prepare_crimes(crimes.iloc[[i]]), rules))
    got = pd.concat(got, ignore_index=True)
    pd.testing.assert_frame_equal(hits_key(got), hits_key(expected), check_dtype=False)


def test_window_outside_the_store_is_empty(tmp_path, three_days):
    write_days(tmp_path, three_days)
    trail, index = day_index.load_index_for_window(tmp_path, 0, NS)
    assert trail.n_fixes == 0 and index.n_chunks == 0
    with pytest.raises(ValueError, match="before start"):
        day_index.load_index_for_window(tmp_path, 2 * NS, NS)


def test_stitch_keeps_subject_then_time_order(three_days):
    days = three_days["time"].dt.strftime("%Y-%m-%d")
    trails = [prepare_trail(part) for _, part in three_days.groupby(days, sort=True)]
    # stitch numbers subjects in name order; a trail numbers them by first appearance, which
    # is name order when the rows come in name order
    whole = prepare_trail(three_days.sort_values("subject", kind="stable"))
    got = day_index.stitch(trails, -(2**62), 2**62)
    np.testing.assert_array_equal(got.t, whole.t)
    np.testing.assert_array_equal(got.subject, whole.subject)
    np.testing.assert_array_equal(got.starts, whole.starts)
    np.testing.assert_array_equal(build_index(got).chunk_key, build_index(whole).chunk_key)


# --- the trail store keeps each day's index with its partition ---------------------------


def store_with(tmp_path: Path, frame: pd.DataFrame):
    from trailmatch.store import Store

    store = Store(tmp_path / "store")
    fixes = frame.assign(subject=frame["subject"].astype(str))
    store.ingest_fixes(fixes, ingested_at_ns=T0)
    return store


def test_ingest_writes_each_days_index_and_reads_never_rebuild(tmp_path, three_days,
                                                               monkeypatch):
    store = store_with(tmp_path, three_days)
    days = [d.isoformat() for d in store.days()]
    assert len(days) == 3
    for d in days:
        assert day_index.read_manifest(day_index.day_index_dir(store.root, d),
                                     day_index.index_params(Rules())) is not None

    def no_rebuild(_):
        raise AssertionError("the store's write kept the index current: no rebuild expected")

    monkeypatch.setattr(day_index, "read_partition_trail", no_rebuild)
    rules = Rules()
    lo, hi = T0 + 3600 * NS, T0 + 3 * 86_400 * NS - 3600 * NS
    crimes = synthetic.crimes(60, days=3, extent_m=3000.0, seed=9)
    crimes["x"] += three_days["x"].min() - 400_000.0
    crimes["y"] += three_days["y"].min() - 100_000.0
    prepared = prepare_crimes(crimes)
    got = []
    for i in range(len(crimes)):
        trail, index = day_index.load_index_for_window(store.root, int(prepared.w0[i]),
                                                     int(prepared.w1[i]), rules)
        got.append(match_prepared(trail, index, prepare_crimes(crimes.iloc[[i]]), rules))
    got = pd.concat(got, ignore_index=True)
    expected = match(store.read_window(lo - 86_400 * NS, hi + 86_400 * NS), crimes, rules)
    assert len(expected) > 3
    pd.testing.assert_frame_equal(hits_key(got), hits_key(expected), check_dtype=False)


def test_reingest_refreshes_the_index_and_purge_drops_it(tmp_path, three_days):
    store = store_with(tmp_path, three_days)
    rules = Rules()
    part = store.day_path(pd.Timestamp(DAY).date())
    before, _ = day_index.day_index(store.root, DAY, part, rules)
    built = day_index.STATS["built"]
    extra = pd.DataFrame({"subject": ["LATE"], "time": pd.to_datetime([T0 + 3600 * NS],
                                                                      unit="ns", utc=True),
                          "x": [1.0], "y": [2.0], "precision_m": [5.0],
                          "source": np.array([1], dtype=np.uint8)})
    store.ingest_fixes(extra, ingested_at_ns=T0 + NS)
    day_index.forget_open_indexes()
    after, _ = day_index.day_index(store.root, DAY, part, rules)
    assert day_index.STATS["built"] == built  # refreshed by the write, not by the reader
    assert after.n_fixes == before.n_fixes + 1 and "LATE" in set(after.subjects)
    # a day whose partition is removed loses its index
    store.write_day(pd.Timestamp(DAY).date(),
                    store.read_day(pd.Timestamp(DAY).date()).slice(0, 0))
    assert not day_index.day_index_dir(store.root, DAY).exists()


def test_flagged_fixes_are_left_out_like_read_window(tmp_path, three_days):
    frame = three_days.copy()
    # a fix 50 km off the path: a speed jump the store flags
    frame.loc[100, "x"] += 50_000.0
    store = store_with(tmp_path, frame)
    day0 = T0
    view = store.read_window(day0, day0 + 86_400 * NS - 1)
    assert len(view) < (frame["time"].dt.strftime("%Y-%m-%d") == DAY).sum()
    trail, _ = day_index.day_index(store.root, DAY, store.day_path(pd.Timestamp(DAY).date()),
                                 Rules())
    assert trail.n_fixes == len(view)


def test_new_activation_periods_make_the_days_index_stale(tmp_path, three_days):
    store = store_with(tmp_path, three_days)
    part = store.day_path(pd.Timestamp(DAY).date())
    rules = Rules()
    before, _ = day_index.day_index(store.root, DAY, part, rules)
    built = day_index.STATS["built"]
    subjects = tmp_path / "subjects.csv"
    subjects.write_text("subject,device,activation_start,activation_end,licence_end,force,"
                        f"cohort\nS000001,D1,{DAY}T12:00:00Z,,,,\n")
    store.ingest_subjects(subjects)
    day_index.forget_open_indexes()
    after, _ = day_index.day_index(store.root, DAY, part, rules)
    assert day_index.STATS["built"] == built + 1  # the partition is unchanged: the subjects file
    code = list(after.subjects).index("S000001")
    t = after.t[after.starts[code]:after.starts[code + 1]]
    assert t.size > 0 and t.min() >= T0 + 12 * 3600 * NS
    assert after.n_fixes < before.n_fixes
    assert after.n_fixes == len(store.read_window(T0, T0 + 86_400 * NS - 1))
