"""Ingest throughput: a national day (10,000 subjects x 1,440 fixes = 14.4 M fixes) from a tag
position export CSV and from the same export as Parquet, into an empty trail store.

Targets on the 2-core reference machine: >= 300 k fixes/s from CSV, >= 2 M fixes/s from
Parquet. Reported per run in ``extra_info``: fixes/s and the peak resident memory above the
baseline (sampled every 20 ms).

    .venv/bin/python -m pytest benchmarks/test_ingest_throughput.py -s
    TRAILMATCH_BENCH_SCALE=0.05 .venv/bin/python -m pytest benchmarks/test_ingest_throughput.py -s

``TRAILMATCH_BENCH_SCALE`` scales the number of subjects (smoke checks). ``test_ingest_stages``
prints the CPU per fix of each stage of the Parquet ingest (read, validate, project, merge,
write), each run alone on one thread.
"""

from __future__ import annotations

import os
import shutil
import threading
import time

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from trailmatch import synthetic
from trailmatch.allocator import tune_allocator
from trailmatch.crs import working_to_lonlat
from trailmatch.store import Store, partitions

psutil = pytest.importorskip("psutil")
tune_allocator()  # as the trailmatch command runs (trailmatch/allocator.py)

SCALE = float(os.environ.get("TRAILMATCH_BENCH_SCALE", "1"))
N_SUBJECTS = max(10, int(round(10_000 * SCALE)))
FIXES_PER_DAY = 1440


def export_table(n_subjects: int, fixes_per_day: int = FIXES_PER_DAY) -> pa.Table:
    """A tag position export (FORMATS.md §2) of a synthetic day, rows in upload order
    (shuffled by blocks, as exports come)."""
    tr = synthetic.trails(n_subjects=n_subjects, fixes_per_day=fixes_per_day, days=1, seed=7)
    lon, lat = working_to_lonlat(tr["x"].to_numpy(), tr["y"].to_numpy())
    n = len(tr)
    rng = np.random.default_rng(3)
    blocks = np.array_split(np.arange(n), max(1, n // 5000))
    order = np.concatenate([blocks[i] for i in rng.permutation(len(blocks))])
    t = pa.array(tr["time"].dt.tz_localize(None).to_numpy().astype("datetime64[s]")[order])
    names = np.asarray(tr["subject"].astype(str))[order]
    return pa.table({
        "position_id": pa.array(np.arange(1, n + 1)[order].astype(str)),
        "person_id": pa.array(names),
        "device_id": pa.array(np.char.add("D", names)),
        "position_gps_date": pc.strftime(t, "%Y-%m-%d %H:%M:%S"),
        "position_recorded_date": pc.strftime(t, "%Y-%m-%d %H:%M:%S"),
        "position_uploaded_date": pc.strftime(t, "%Y-%m-%d %H:%M:%S"),
        "position_latitude": pa.array(np.round(lat[order], 6)),
        "position_longitude": pa.array(np.round(lon[order], 6)),
        "position_precision": pa.array(np.round(tr["precision_m"].to_numpy()[order], 1)),
        "position_hdop": pa.array(np.full(n, 1.1)),
        "position_satellite": pa.array(np.full(n, 9, dtype=np.int8)),
        "position_speed": pa.array(np.zeros(n)),
        "position_direction": pa.array(np.zeros(n)),
        "position_lbs": pa.array(tr["source"].to_numpy()[order]),
    })


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    d = tmp_path_factory.mktemp("ingest_bench")
    table = export_table(N_SUBJECTS)
    csv_path = d / "positions.csv"
    pacsv.write_csv(table, csv_path,
                    write_options=pacsv.WriteOptions(quoting_style="none"))
    pq_path = d / "positions.parquet"
    # The Parquet export carries real types: timestamps and floats, not text.
    typed = table.set_column(3, "position_gps_date",
                             pc.cast(pc.strptime(table["position_gps_date"],
                                                 "%Y-%m-%d %H:%M:%S", "s"),
                                     pa.timestamp("ns", tz="UTC")))
    pq.write_table(typed, pq_path, compression="zstd")
    return d, csv_path, pq_path, table.num_rows


class PeakRSS:
    """Peak resident set size above the value at start, sampled in a thread."""

    def __enter__(self):
        self.proc = psutil.Process()
        self.base = self.proc.memory_info().rss
        self.peak = self.base
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        return self

    def _run(self):
        while not self.stop.is_set():
            self.peak = max(self.peak, self.proc.memory_info().rss)
            time.sleep(0.02)

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()
        self.peak = max(self.peak, self.proc.memory_info().rss)

    @property
    def mib(self) -> float:
        return (self.peak - self.base) / 2**20

    @property
    def total_mib(self) -> float:
        return self.peak / 2**20


def _ingest_once(src, store_dir):
    """One ingest of the whole file into an empty store."""
    if store_dir.exists():
        shutil.rmtree(store_dir)
    counts, rejects = Store(store_dir).ingest_positions(src)
    assert counts.rejected == 0 and len(rejects) == 0
    return counts


@pytest.mark.parametrize("kind", ["csv", "parquet", "parquet+index"])
def test_ingest_throughput(benchmark, exports, kind, monkeypatch):
    """``csv`` / ``parquet``: the ingest itself (validation, projection, merge, partition
    write). ``parquet+index``: as ``trailmatch ingest`` runs it, including the persisted segment
    index that ``Store.write_day`` refreshes after each partition (trailmatch.store.day_index)."""
    d, csv_path, pq_path, n = exports
    src = csv_path if kind == "csv" else pq_path
    if not kind.endswith("+index"):
        monkeypatch.setattr("trailmatch.store.store.on_day_written", lambda *a, **k: None)
    store_dir = d / f"store_{kind.replace('+', '_')}"
    _ingest_once(src, store_dir)  # warm up: numba compile, page cache
    cpu0 = psutil.Process().cpu_times()
    with PeakRSS() as mem:
        counts = benchmark.pedantic(_ingest_once, args=(src, store_dir), rounds=1,
                                    iterations=1)
    cpu1 = psutil.Process().cpu_times()
    # CPU seconds of this process (all threads): on a shared machine the wall clock depends on
    # the other jobs, the CPU time much less.
    cpu = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
    assert counts.read == n
    assert counts.accepted + counts.flagged + counts.duplicate == n
    secs = benchmark.stats.stats.mean
    rate = n / secs
    benchmark.extra_info.update({"fixes": n, "fixes_per_s": round(rate),
                                 "peak_rss_mib": round(mem.mib),
                                 "peak_rss_total_mib": round(mem.total_mib), "source": kind,
                                 "cpu_s": round(cpu, 2), "fixes_per_cpu_s": round(n / cpu)})
    print(f"\ningest {kind}: {n:,} fixes in {secs:.2f} s = {rate:,.0f} fixes/s, "
          f"{cpu:.1f} CPU s ({n / cpu:,.0f} fixes per CPU s), "
          f"peak RSS +{mem.mib:,.0f} MiB above the start ({mem.total_mib:,.0f} MiB in all)")


def test_ingest_stages(exports):
    """Where the Parquet ingest's time goes: each stage run alone on one thread, in CPU
    seconds per fix (the wall clock of a shared machine says little). Stages: reading the
    Parquet batches, validation and conversion without the projection, the projection
    (pyproj, the pipeline of ``trailmatch.crs``), the day merge (sort, duplicates, flags,
    gather), the LZ4 partition write."""
    from datetime import date

    from trailmatch.crs import WGS84, project
    from trailmatch.ingest import positions as P

    _, _, pq_path, n = exports
    pf = pq.ParquetFile(pq_path)
    m = P._choose_mapping(pf.schema_arrow.names, None, str(pq_path))
    roles = P._roles_present(m, pf.schema_arrow.names)
    wanted = sorted(set(roles.values()))
    pf = pq.ParquetFile(pq_path, read_dictionary=P._dictionary_columns(pf, wanted))
    proc = psutil.Process()
    cpu: dict[str, float] = {}

    def stage(name, fn):
        t0 = proc.cpu_times()
        out = fn()
        t1 = proc.cpu_times()
        cpu[name] = (t1.user - t0.user) + (t1.system - t0.system)
        return out

    batches = stage("read", lambda: list(pf.iter_batches(
        batch_size=P.BATCH_ROWS, columns=wanted, use_threads=False)))

    def convert():
        parts, first = [], 0
        for b in batches:
            rows = np.arange(first + 1, first + b.num_rows + 1)
            first += b.num_rows
            cols = {r: b.column(c) for r, c in roles.items()}
            parts.append(P._convert(cols, rows, m, "EPSG:27700", str(pq_path), 1)[0])
        return pa.concat_tables(parts)

    real = P._project_lonlat
    P._project_lonlat = lambda lon, lat, crs, threads=0: (lon.copy(), lat.copy())
    try:
        fixes = stage("validate", convert)
    finally:
        P._project_lonlat = real
    lon = fixes.column("lon").to_numpy()
    lat = fixes.column("lat").to_numpy()
    x, y = stage("project", lambda: project(lon, lat, WGS84, "EPSG:27700"))
    fixes = fixes.set_column(2, "x", pa.array(x)).set_column(3, "y", pa.array(y))
    day = date.fromisoformat(str(fixes.column("time")[0].as_py().date()))
    merged = stage("merge", lambda: partitions.merge_day(day, None, fixes,
                                                          ingested_at_ns=time.time_ns()))
    d = exports[0] / "stages"
    shutil.rmtree(d, ignore_errors=True)
    stage("write", lambda: pq.write_table(
        partitions._storable(merged.table), d.with_suffix(".parquet"), compression="lz4",
        row_group_size=1 << 20, use_dictionary=list(partitions.CODED_COLUMNS),
        write_statistics=["time", "ingested_at", "subject"], store_schema=False))
    total = sum(cpu.values())
    print(f"\ningest stages, {n:,} fixes, CPU per fix (one thread each):")
    for name, s in cpu.items():
        print(f"  {name:9s} {s:6.2f} CPU s  {s / n * 1e6:5.2f} us/fix  {s / total:5.1%}")
    print(f"  {'total':9s} {total:6.2f} CPU s  {total / n * 1e6:5.2f} us/fix")
    assert merged.new_kept == n
