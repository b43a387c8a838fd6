"""Reports as evidence: the same bytes outside the production block on every run, a content
hash, and ``trailmatch verify`` catching a later crime version, late fixes and an edit."""

from __future__ import annotations

import datetime as dt
import io
import re
import time
from contextlib import redirect_stderr, redirect_stdout

import pandas as pd

from trailmatch.cli import main
from trailmatch.report.provenance import (
    content_hash,
    read_verify_data,
    stated_hash,
    without_production,
)
from trailmatch.store import Store
from trailmatch.store.layout import relative_partition

REF, SUBJECT = "44/10007/25", "07012"  # a hit on 2025-01-22 once the subject's fixes arrive
BATCH = "HAM20250127"


def cli(*argv) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


def night(store, crimes, out, *extra) -> str:
    code, _, err = cli("nightly", "--no-precision", "--store", store, "--crimes", crimes,
                       "--out", out, *extra)
    assert code == 0, err
    return (out / "Hampshire" / BATCH / "report.html").read_text(encoding="utf-8")


def test_two_runs_same_bytes_outside_the_production_block(tmp_path, sample_dir):
    store = tmp_path / "store"
    Store(store).ingest_positions(sample_dir / "positions.csv")
    a = night(store, sample_dir / "crimes.csv", tmp_path / "a", "--operator", "pc-one")
    b = night(store, sample_dir / "crimes.csv", tmp_path / "b", "--operator", "pc-two")
    assert a != b  # the run, operator and time differ ...
    assert without_production(a) == without_production(b)  # ... and nothing else
    assert "pc-one" in a and "pc-one" not in without_production(a)
    assert stated_hash(a) == content_hash(a) == content_hash(b)
    for name in ("hits.csv", "map/paths.geojson", "map/fixes.geojson"):
        assert ((tmp_path / "a" / "Hampshire" / BATCH / name).read_bytes()
                == (tmp_path / "b" / "Hampshire" / BATCH / name).read_bytes()), name
    # Provenance: the batch file and every trail partition read, with their SHA-256.
    data = read_verify_data(a)
    kinds = {f["kind"] for f in data["inputs"]}
    assert kinds == {"batch file", "trail partition"}
    partitions = {f["name"]: f["sha256"] for f in data["inputs"]
                  if f["kind"] == "trail partition"}
    day = dt.date(2025, 1, 22)
    assert relative_partition(day) in partitions
    import hashlib
    assert partitions[relative_partition(day)] == hashlib.sha256(
        Store(store).day_path(day).read_bytes()).hexdigest()
    assert data["rules"]["count_precision"] is False and data["algorithm_version"]
    assert len(data["hits"]) == a.count('<section class="hit">') > 0


def test_verify_stands_then_catches_late_fixes(tmp_path, sample_dir):
    raw = pd.read_csv(sample_dir / "positions.csv", dtype=str)
    late = (raw["person_id"] == SUBJECT) & raw["position_gps_date"].str.startswith("2025-01-22")
    raw[~late].to_csv(tmp_path / "export1.csv", index=False)
    raw[late].to_csv(tmp_path / "export2.csv", index=False)
    store = tmp_path / "store"
    Store(store).ingest_positions(tmp_path / "export1.csv")
    night(store, sample_dir / "crimes.csv", tmp_path / "out")
    report = tmp_path / "out" / "Hampshire" / BATCH / "report.html"

    code, out, _ = cli("verify", report, "--store", store)
    assert code == 0 and "stands" in out, out

    time.sleep(0.01)  # the late fixes come after the report
    Store(store).ingest_positions(tmp_path / "export2.csv")
    code, out, _ = cli("verify", report, "--store", store)
    assert code == 1, out
    assert "does NOT stand" in out
    assert "trail partition positions/2025-01-22.parquet changed" in out
    assert f"late fixes ingested since the report was produced for 1 subject(s): {SUBJECT}" in out
    assert f"crime {REF}, subject {SUBJECT}: a hit now that the report does not show" in out


def test_verify_catches_a_later_crime_version_and_an_edit(tmp_path, sample_dir):
    store = tmp_path / "store"
    Store(store).ingest_positions(sample_dir / "positions.csv")
    night(store, sample_dir / "crimes.csv", tmp_path / "out")
    report = tmp_path / "out" / "Hampshire" / BATCH / "report.html"
    code, out, _ = cli("verify", report, "--store", store)
    assert code == 0, out

    # The force resends one crime, moved 2 km east: a new version of it.
    line = next(x for x in (sample_dir / "crimes.csv").read_text().splitlines()
                if f",{REF}," in x)
    fields = line.split(",")
    fields[3] = f"{BATCH}-1"
    fields[10] = f"{float(fields[10]) + 0.03:.6f}"
    (tmp_path / "resend.csv").write_text(",".join(fields) + "\n")
    code, _, err = cli("nightly", "--no-precision", "--store", store, "--crimes",
                       tmp_path / "resend.csv", "--out", tmp_path / "out2")
    assert code == 0, err
    code, out, _ = cli("verify", report, "--store", store)
    assert code == 1, out
    assert f"crime {REF}: a later crime version (version 2, batch {BATCH}-1" in out

    # An edited report is named as such, whatever else holds.
    html = report.read_text(encoding="utf-8")
    edited = tmp_path / "edited.html"
    edited.write_text(html.replace("Crime reference", "Crime ref", 1), encoding="utf-8")
    code, out, _ = cli("verify", edited, "--store", store)
    assert code == 1 and "the document was changed after it was made" in out


def test_produced_is_kept_to_the_microsecond():
    """Fixes ingested in the same second as the report, before it, are not late: the
    production instant is read back exactly."""
    from trailmatch.report.provenance import Production
    from trailmatch.verify import _produced

    made = Production.now("nightly run 1", "pc-test")
    back = _produced(made.html())
    assert back == pd.Timestamp(made.produced.removesuffix(" UTC"), tz="UTC")
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6} UTC", made.produced)
