"""Ingest throughput: a national day (10,000 subjects x 1,440 fixes = 14.4 M fixes) from a tag
position export CSV and from the same export as Parquet, into an empty trail store.

Targets on the 2-core reference machine: >= 300 k fixes/s from CSV, >= 2 M fixes/s from
Parquet. Reported per run in ``extra_info``: fixes/s and the peak resident memory above the
baseline (sampled every 20 ms).

    .venv/bin/python -m pytest benchmarks/test_ingest_throughput.py -s
    TRAILMATCH_BENCH_SCALE=0.05 .venv/bin/python -m pytest benchmarks/test_ingest_throughput.py -s

``TRAILMATCH_BENCH_SCALE`` scales the number of subjects (smoke checks). ``test_ingest_stages``
prints the CPU per fix of each stage of the Parquet ingest (read, validate, project, merge,
write), each run alone on one thread, and of the pyarrow pipeline's stages as it runs them.
``test_ingest_against_a_pipeline`` puts trailmatch beside the pipeline a team would write (the
issue's 2x target), with each tool's peak memory in a fresh process; the figures in
docs/ingest.md come from:

    .venv/bin/python -m pytest benchmarks/test_ingest_throughput.py -k "stages or against" -s
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


def export_table(n_subjects: int, fixes_per_day: int = FIXES_PER_DAY, **world) -> pa.Table:
    """A tag position export (docs/formats.md §2) of a synthetic day, rows in upload order
    (shuffled by blocks, as exports come); ``world``: ``extent_m``, ``origin`` of the square."""
    tr = synthetic.trails(n_subjects=n_subjects, fixes_per_day=fixes_per_day, days=1, seed=7,
                          **world)
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
    (OSTN15 through ``trailmatch.crs``), the day merge (sort, duplicates, flags,
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
    P._project_lonlat = lambda lon, lat, crs, threads=0: (lon.copy(), lat.copy(),
                                                          np.zeros(lon.size, dtype=bool))
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
    # The ingest itself merges a file of more than spill.SPILL_ROWS fixes (this one) bucket
    # by bucket (spill.BUCKETS subject ranges, trailmatch/store/spill.py), not in one call:
    # the same merge on ~1/32 of the day at a time, its arrays small enough to stay in cache
    # and in the allocator's reused heap. Timed apart (not in the total above).
    from trailmatch.store import spill

    names = fixes.column("subject").cast(pa.string()).to_numpy(zero_copy_only=False)
    ranked = np.unique(names, return_inverse=True)[1]
    cuts = np.quantile(ranked, np.linspace(0, 1, spill.BUCKETS + 1)[1:-1]).astype(int)
    buckets = [fixes.filter(pa.array(np.searchsorted(cuts, ranked, side="right") == k))
               for k in range(spill.BUCKETS)]
    names = ranked = None
    bucketed = {}
    stage_cpu = dict(cpu)
    for b in buckets:
        stage("bucket", lambda b=b: partitions.merge_day(day, None, b,
                                                         ingested_at_ns=time.time_ns()))
        bucketed["merge"] = bucketed.get("merge", 0.0) + cpu.pop("bucket")
    buckets = None
    cpu = stage_cpu
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
    print(f"  merge as the ingest runs it ({spill.BUCKETS} subject buckets): "
          f"{bucketed['merge']:5.2f} CPU s  {bucketed['merge'] / n * 1e6:5.2f} us/fix")
    assert merged.new_kept == n

    # The pyarrow pipeline's stages on the same file, as it runs them (its reader and
    # convertbng use both cores; its sort and write one): CPU and wall per fix.
    from convertbng.cutil import convert_bng

    batches = fixes = merged = None  # noqa: F841 - freed before the pipeline runs
    pcpu: dict[str, tuple[float, float]] = {}

    def pstage(name, fn):
        t0, w0 = proc.cpu_times(), time.perf_counter()
        out = fn()
        t1 = proc.cpu_times()
        pcpu[name] = ((t1.user - t0.user) + (t1.system - t0.system), time.perf_counter() - w0)
        return out

    table = pstage("read", lambda: pq.read_table(pq_path, columns=PIPELINE_COLUMNS))
    x, y = pstage("project", lambda: convert_bng(table["position_longitude"].to_numpy(),
                                                 table["position_latitude"].to_numpy()))
    table = table.append_column("x", pa.array(x)).append_column("y", pa.array(y))
    table = pstage("sort", lambda: table.sort_by([("person_id", "ascending"),
                                                  ("position_gps_date", "ascending")]))
    pstage("write", lambda: pq.write_table(table, d.with_suffix(".pipeline.parquet")))
    ptotal = sum(c for c, _ in pcpu.values())
    print(f"pipeline (pyarrow) stages, CPU and wall per fix (load {os.getloadavg()[0]:.1f}):")
    for name, (c, w) in pcpu.items():
        print(f"  {name:9s} {c / n * 1e6:5.2f} CPU-us/fix  {w / n * 1e6:5.2f} wall-us/fix "
              f"({c / w:3.1f} cores)")
    print(f"  {'total':9s} {ptotal / n * 1e6:5.2f} CPU-us/fix "
          f"{sum(w for _, w in pcpu.values()) / n * 1e6:5.2f} wall-us/fix")


# ----------------------------------------------------------------------------- against a pipeline

PIPELINE_COLUMNS = ["person_id", "position_gps_date", "position_latitude",
                    "position_longitude", "position_precision", "position_lbs"]


def pipeline_pyarrow(src, out) -> int:
    """What a team would write without trailmatch, in pyarrow: read (multi-threaded), the
    same OSTN15 transform (convertbng, one call), sort by subject and time, Parquet write. No
    validation, no rejects, no duplicates, no flags, no index."""
    from convertbng.cutil import convert_bng

    if str(src).endswith(".csv"):
        table = pacsv.read_csv(src, convert_options=pacsv.ConvertOptions(
            include_columns=PIPELINE_COLUMNS,
            column_types={"person_id": pa.string(),
                          "position_gps_date": pa.timestamp("s")}))  # UTC, as written
    else:
        table = pq.read_table(src, columns=PIPELINE_COLUMNS)
    x, y = convert_bng(table["position_longitude"].to_numpy(),
                       table["position_latitude"].to_numpy())
    table = table.append_column("x", pa.array(x)).append_column("y", pa.array(y))
    table = table.sort_by([("person_id", "ascending"), ("position_gps_date", "ascending")])
    pq.write_table(table, out)
    return table.num_rows


def pipeline_pandas(src, out) -> int:
    """The same in pandas (pyarrow engine for the CSV)."""
    import pandas as pd
    from convertbng.cutil import convert_bng

    if str(src).endswith(".csv"):
        df = pd.read_csv(src, engine="pyarrow", usecols=PIPELINE_COLUMNS,
                         dtype={"person_id": str})
        df["position_gps_date"] = pd.to_datetime(df["position_gps_date"], utc=True,
                                                 format="%Y-%m-%d %H:%M:%S")
    else:
        df = pd.read_parquet(src, columns=PIPELINE_COLUMNS)
    df["x"], df["y"] = convert_bng(df["position_longitude"].to_numpy(),
                                   df["position_latitude"].to_numpy())
    df = df.sort_values(["person_id", "position_gps_date"], kind="stable")
    df.to_parquet(out, index=False)
    return len(df)


_CHILD = """
import shutil, sys
from pathlib import Path
from benchmarks.test_ingest_throughput import pipeline_pandas, pipeline_pyarrow
from trailmatch.store import Store

def hwm():  # this address space's peak resident set, KiB (not the parent's, as ru_maxrss is)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])

src, out, which = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
base = hwm()
if which.startswith("trailmatch"):
    shutil.rmtree(out, ignore_errors=True)
    if which == "trailmatch-noindex":
        import trailmatch.store.store as S
        S.on_day_written = lambda *a, **k: None
    Store(out).ingest_positions(src)
else:
    {"pyarrow": pipeline_pyarrow, "pandas": pipeline_pandas}[which](src, out)
print(base, hwm())
"""


def peak_rss_mib(src, out, which: str) -> float:
    """Peak resident memory of a fresh process doing only ``which`` on ``src``, above what
    its imports took (a process of its own: in-process figures are blurred by memory that
    earlier runs freed and the allocator kept). Read from the child's ``VmHWM``: Linux keeps
    ``ru_maxrss`` across fork and exec, so a child of a big process would report the
    parent's size."""
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parent.parent
    done = subprocess.run([sys.executable, "-c", _CHILD, str(src), str(out), which],
                          capture_output=True, text=True, cwd=repo, check=True,
                          env={**os.environ, "PYTHONPATH": str(repo)})
    base, peak = map(int, done.stdout.split()[-2:])
    return (peak - base) / 1024


def _measured(fn, *args):
    proc = psutil.Process()
    c0 = proc.cpu_times()
    with PeakRSS() as mem:
        w = time.perf_counter()
        out = fn(*args)
        wall = time.perf_counter() - w
    c1 = proc.cpu_times()
    return out, wall, (c1.user - c0.user) + (c1.system - c0.system), mem.mib


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_ingest_against_a_pipeline(benchmark, exports, kind, monkeypatch):
    """trailmatch ingest (into an empty store, without and with the persisted index) against
    ``pipeline_pyarrow`` and ``pipeline_pandas`` on the same file, side by side in one run,
    each once untimed first; the same rows come out (subject, time, x, y compared). Prints
    wall, CPU seconds (cores busy = CPU / wall), the ratios, and the peak RSS of each (a fresh
    process per tool, ``peak_rss_mib``; trailmatch without the index: in-process) against the
    day's Parquet partition (the memory target: peak <= 2x it)."""
    d, csv_path, pq_path, n = exports
    src = csv_path if kind == "csv" else pq_path
    out = d / f"pipeline_{kind}.parquet"
    store_dir = d / f"store_vs_{kind}"
    no_index = lambda *a, **k: None  # noqa: E731
    results = {}

    def trailmatch_ingest():
        return _ingest_once(src, store_dir)

    def trailmatch_no_index():
        with monkeypatch.context() as m:
            m.setattr("trailmatch.store.store.on_day_written", no_index)
            return _ingest_once(src, store_dir)

    runs = {"trailmatch ingest (no index)": trailmatch_no_index,
            "trailmatch ingest (+ day index)": trailmatch_ingest,
            "pipeline: pyarrow": lambda: pipeline_pyarrow(src, out),
            "pipeline: pandas": lambda: pipeline_pandas(src, out)}
    for fn in runs.values():  # untimed first runs (numba compile, page cache)
        fn()
    for name, fn in runs.items():
        if name == "trailmatch ingest (no index)":
            cell = {}

            def timed(fn=fn, cell=cell):
                cell["r"] = _measured(fn)

            benchmark.pedantic(timed, rounds=1, iterations=1)
            results[name] = cell["r"][1:]
        else:
            results[name] = _measured(fn)[1:]

    # same rows out: the store's day against the pyarrow pipeline's file
    pipeline_pyarrow(src, out)
    ref = pq.read_table(out, columns=["person_id", "position_gps_date", "x", "y"])
    store = Store(store_dir)
    got = pa.concat_tables([store.read_day(day, ["subject", "time", "x", "y"])
                            for day in store.days()])
    assert got.num_rows == ref.num_rows == n
    assert got["subject"].cast(pa.string()).combine_chunks().equals(
        ref["person_id"].cast(pa.string()).combine_chunks())
    ref_t = ref["position_gps_date"]
    np.testing.assert_array_equal(got["time"].cast(pa.int64()).to_numpy(),
                                  ref_t.cast(pa.timestamp("ns", tz=ref_t.type.tz))
                                  .cast(pa.int64()).to_numpy())
    np.testing.assert_array_equal(got["x"].to_numpy(), ref["x"].to_numpy())
    np.testing.assert_array_equal(got["y"].to_numpy(), ref["y"].to_numpy())

    day_parquet_mib = sum(store.day_path(dd).stat().st_size for dd in store.days()) / 2**20
    peaks = {"trailmatch ingest (no index)": peak_rss_mib(src, d / "child_store",
                                                         "trailmatch-noindex"),
             "trailmatch ingest (+ day index)": peak_rss_mib(src, d / "child_store",
                                                            "trailmatch"),
             "pipeline: pyarrow": peak_rss_mib(src, out, "pyarrow"),
             "pipeline: pandas": peak_rss_mib(src, out, "pandas")}
    results = {k: (w, c, peaks.get(k, m)) for k, (w, c, m) in results.items()}
    src_mib = src.stat().st_size / 2**20
    best_pipeline = min(results["pipeline: pyarrow"][0], results["pipeline: pandas"][0])
    print(f"\n{kind}, {n:,} fixes; load average {os.getloadavg()[0]:.1f}; source file "
          f"{src_mib:,.0f} MiB, the day's partition {day_parquet_mib:,.0f} MiB")
    for name, (wall, cpu, mib) in results.items():
        print(f"  {name:32s} {wall:6.2f} s  {cpu:6.1f} CPU s ({cpu / wall:3.1f} cores, "
              f"{cpu / n * 1e6:4.2f} CPU-us/fix)  peak +{mib:,.0f} MiB "
              f"({mib / day_parquet_mib:.1f}x the partition)  "
              f"x{best_pipeline / wall:.2f} vs the faster pipeline")
        benchmark.extra_info[name] = {"wall_s": round(wall, 3), "cpu_s": round(cpu, 2),
                                      "peak_mib": round(mib)}
    benchmark.extra_info["load_average"] = os.getloadavg()[0]
    benchmark.extra_info["partition_mib"] = round(day_parquet_mib)
