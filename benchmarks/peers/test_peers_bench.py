"""pytest-benchmark wrappers of the peer comparison (``make bench``). Scale with
``TRAILMATCH_BENCH_SCALE`` (default 0.02 here: the slow peers run the same data as trailmatch).
Each peer's hit set must equal trailmatch's, or the benchmark fails."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numba as nb
import pytest

from benchmarks.peers import (
    common,
    geopandas_peer,
    meos_peer,
    postgis_peer,
    rtree_peer,
    strtree_peer,
    trailmatch_peer,
)
from trailmatch.match import match_prepared
from trailmatch.store import day_index
from trailmatch.store.layout import Layout
from trailmatch.trails import prepare_crimes

SCALE = common.scale_env(0.02)
PEERS = [geopandas_peer, postgis_peer, meos_peer, rtree_peer, strtree_peer]


@pytest.fixture(scope="module")
def day():
    trailmatch_peer.warm_up()
    work = common.national_day(SCALE)
    return work, trailmatch_peer.run(work)


def test_trailmatch_national_day(benchmark, day):
    work, truth = day
    got = benchmark.pedantic(trailmatch_peer.run, args=(work,), rounds=3, iterations=1)
    assert got["pairs"] == truth["pairs"] and len(truth["pairs"]) > 0


@pytest.mark.parametrize("peer", PEERS, ids=[p.__name__.split(".")[-1] for p in PEERS])
def test_peer_national_day(benchmark, day, peer):
    why = peer.available() if hasattr(peer, "available") else None
    if why:
        pytest.skip(why)
    work, truth = day
    got = benchmark.pedantic(peer.run, args=(work,), rounds=1, iterations=1)
    expected = truth["fix_pairs"] if peer.KIND == "points" else truth["pairs"]
    assert got["pairs"] == expected, common.agreement(got["pairs"], expected)


@pytest.fixture(scope="module")
def store():
    work = common.month(max(SCALE, 0.01), days=3)
    path = Path(tempfile.mkdtemp(prefix="tm-bench-store-"))
    trailmatch_peer.write_store(work, path)
    yield work, path
    day_index.forget_open_indexes()
    shutil.rmtree(path, ignore_errors=True)


def test_open_a_days_index(benchmark, store):
    _, path = store
    part = list(Layout(path).partitions().values())[1]

    def cold_open():
        day_index.forget_open_indexes()
        return day_index.day_index(path, part.stem, part, common.RULES)

    trail, _ = benchmark(cold_open)
    assert trail.n_fixes > 0


def test_one_lookup_from_the_store(benchmark, store):
    work, path = store
    queries = common.adhoc_lookups(work, 50)
    cx, cy, w0, w1 = common.crime_arrays(queries)
    state = {"i": 0}
    threads = nb.get_num_threads()
    nb.set_num_threads(1)

    def lookup():
        i = state["i"] % len(queries)
        state["i"] += 1
        trail, index = day_index.load_index_for_window(path, int(w0[i]), int(w1[i]),
                                                     common.RULES)
        return match_prepared(trail, index, prepare_crimes(queries.iloc[[i]]), common.RULES)

    try:
        benchmark(lookup)
    finally:
        nb.set_num_threads(threads)
