"""The same hits on a LocalCluster of 2 worker processes as in one process — also when a worker
dies in the middle of the run and Dask reruns its partitions."""

from __future__ import annotations

import pandas as pd
import pytest
from helpers import frame_source, run_with_a_worker_killed
from test_dask_data import multi_day, sample, store_of

from trailmatch.match import match
from trailmatch.scale import match_distributed
from trailmatch.scale.cluster import client_from_arg
from trailmatch.scale.run import RunStats


@pytest.fixture(scope="module")
def expected():
    """Single-process results, computed first (this also fills the numba cache the workers
    load, so they do not each compile the kernels)."""
    out = {}
    for name, build in (("sample", sample), ("multi_day", multi_day)):
        trails, crimes, rules = build()
        out[name] = (trails, crimes, rules, match(trails, crimes, rules))
    return out


@pytest.fixture(scope="module")
def client(expected):
    with client_from_arg("local:2", memory_limit="2GiB") as c:
        c.wait_for_workers(2)
        yield c


@pytest.mark.parametrize("name", ["sample", "multi_day"])
def test_cluster_equals_single_process(client, expected, name):
    trails, crimes, rules, hits = expected[name]
    assert len(hits) > 20
    stats = RunStats()
    got = match_distributed(trails, crimes, rules, client, stats=stats)
    pd.testing.assert_frame_equal(got, hits)
    assert stats.partitions >= 3 and stats.hits == len(hits)
    # both workers took part
    assert len(client.scheduler_info()["workers"]) == 2


def test_progress_bar_goes_to_stderr(client, expected, capsys):
    """The Dask progress bar (shown when stderr is a terminal) never mixes into stdout,
    which may carry data."""
    trails, crimes, rules, hits = expected["sample"]
    got = match_distributed(trails, crimes, rules, client, progress=True)
    pd.testing.assert_frame_equal(got, hits)
    out = capsys.readouterr()
    assert "100% Completed" in out.err
    assert out.out == ""


def test_cluster_reads_a_store_object(client, expected):
    """Workers read their own stretch from a store (here an object with read_window)."""
    trails, crimes, rules, hits = expected["multi_day"]
    store = frame_source(trails, delay_s=0.0)
    pd.testing.assert_frame_equal(match_distributed(store, crimes, rules, client), hits)


@pytest.mark.parametrize("as_url", [False, True])
def test_cluster_reads_a_trail_store(client, expected, tmp_path, as_url):
    """Workers open the store by path (shared disk) or fsspec URL (object storage) and read
    only their own stretch; nothing but crimes and hits passes through the client."""
    trails, crimes, rules, _ = expected["sample"]
    path, everything = store_of(trails, tmp_path / "store")
    hits = match(everything, crimes, rules)
    assert len(hits) > 20
    source = f"file://{path}" if as_url else path
    pd.testing.assert_frame_equal(match_distributed(source, crimes, rules, client), hits)


def test_rematch_on_the_cluster_saves_the_same_hits(client, tmp_path, sample_dir):
    """``trailmatch rematch --scheduler``: late uploads re-matched on Dask change the hit store
    exactly as in one process."""
    from trailmatch.hitstore import open_store
    from trailmatch.hitstore import repository as repo
    from trailmatch.ingest.positions import read_positions
    from trailmatch.jobs.nightly import run_nightly
    from trailmatch.jobs.rematch import run_rematch
    from trailmatch.jobs.sources import FrameTrails
    from trailmatch.rules import Rules

    rules = Rules(count_precision=False)
    fixes = read_positions(sample_dir / "positions.csv").fixes
    t_ingest = pd.Timestamp("2025-01-27 06:00", tz="UTC")
    late = (fixes["subject"] == "07012") & (fixes["time"] >= pd.Timestamp("2025-01-22", tz="UTC"))
    on_time = fixes[~late].assign(ingested_at=t_ingest)
    uploaded = FrameTrails(pd.concat([on_time, fixes[late].assign(
        ingested_at=t_ingest + pd.Timedelta(hours=5))]).reset_index(drop=True))
    results = {}
    for name, dask_client in (("single", None), ("dask", client)):
        engine = open_store(tmp_path / name)
        try:
            run_nightly(engine, [sample_dir / "crimes.csv"], FrameTrails(on_time),
                        tmp_path / f"out-{name}", rules)
            done = run_rematch(engine, uploaded, t_ingest + pd.Timedelta(hours=1), rules,
                               client=dask_client)
            hits = repo.hits_for_crime_ids(engine, repo.current_crimes(engine)["id"])
        finally:
            engine.dispose()
        results[name] = (done, hits)
    (single, single_hits), (dask, dask_hits) = results["single"], results["dask"]
    assert (single.changes["change"] == "new").sum() > 0
    assert single.crimes_rematched == dask.crimes_rematched
    pd.testing.assert_frame_equal(dask.changes, single.changes)
    drop = [c for c in single_hits.columns if c in ("run_id", "created_at", "updated_at")]
    pd.testing.assert_frame_equal(dask_hits.drop(columns=drop), single_hits.drop(columns=drop))


def test_worker_killed_mid_run_changes_nothing(client, expected):
    trails, crimes, rules, hits = expected["multi_day"]
    store = frame_source(trails, delay_s=1.5)  # slow reads: the kill lands while tasks run
    got = run_with_a_worker_killed(
        client, "match-partition", lambda: match_distributed(store, crimes, rules, client),
        busy_timeout_s=60, join_timeout_s=180)
    pd.testing.assert_frame_equal(got, hits)
    client.wait_for_workers(2, timeout=60)  # the nanny brought a new one
