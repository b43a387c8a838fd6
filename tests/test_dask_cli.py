"""``--scheduler`` on the CLI: the same hits CSV, byte for byte, with and without Dask; and
without the flag nothing from Dask is imported."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import dask_modules_after
from test_dask_data import DATA

from trailmatch.cli import build_parser, main

ROOT = Path(__file__).parents[1]
# the verbs that take --scheduler (each wired with trailmatch.scale.cluster.add_scheduler_arg)
SCHEDULED_VERBS = ["match", "nightly", "rematch", "eliminate"]


@pytest.fixture(scope="module")
def cluster_address():
    """A running cluster to pass as tcp://... (as an operator would), started once."""
    from trailmatch.scale.cluster import client_from_arg

    with client_from_arg("local:2", memory_limit="2GiB") as client:
        client.wait_for_workers(2)
        yield client.scheduler.address


def test_match_from_files_same_csv_with_local_cluster(tmp_path, capsys):
    plain = tmp_path / "plain.csv"
    dask = tmp_path / "dask.csv"
    common = ["match", "--positions", str(DATA / "positions.csv"),
              "--crimes", str(DATA / "crimes.csv")]
    assert main([*common, "--out", str(plain)]) == 0
    assert main([*common, "--out", str(dask), "--scheduler", "local:2"]) == 0
    assert "partitions on Dask" in capsys.readouterr().err
    assert plain.read_bytes() == dask.read_bytes()
    assert len(plain.read_text().splitlines()) > 20


def test_match_without_scheduler_imports_no_dask(tmp_path):
    """In a fresh interpreter: the whole command runs and no Dask module is loaded."""
    assert dask_modules_after(f"""
        from trailmatch.cli import main
        assert main(["match", "--positions", {str(DATA / "positions.csv")!r},
                     "--crimes", {str(DATA / "crimes.csv")!r},
                     "--out", {str(tmp_path / "hits.csv")!r}]) == 0
    """, ROOT) == "[]"
    assert (tmp_path / "hits.csv").stat().st_size > 0


def test_match_from_store_same_csv_on_a_running_cluster(tmp_path, cluster_address):
    store = tmp_path / "store"
    assert main(["ingest", "positions", str(DATA / "positions.csv"), "--store", str(store)]) == 0
    plain = tmp_path / "plain.csv"
    dask = tmp_path / "dask.csv"
    common = ["match", "--store", str(store), "--crimes", str(DATA / "crimes.csv")]
    assert main([*common, "--out", str(plain)]) == 0
    assert main([*common, "--out", str(dask), "--scheduler", cluster_address]) == 0
    assert plain.read_bytes() == dask.read_bytes()
    assert len(plain.read_text().splitlines()) > 20


@pytest.mark.parametrize("verb", SCHEDULED_VERBS)
def test_bad_scheduler_is_a_command_line_error(verb):
    with pytest.raises(SystemExit) as e:
        build_parser().parse_args([verb, "--scheduler", "somewhere"])
    assert e.value.code == 2


@pytest.mark.parametrize("verb", SCHEDULED_VERBS)
def test_scheduler_flag_documented(verb, capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args([verb, "--help"])
    assert "--scheduler" in capsys.readouterr().out


def test_nightly_same_outputs_on_a_running_cluster(tmp_path, cluster_address, capsys):
    """The nightly job matching on Dask writes the same hits (hits.csv byte for byte; the
    hit ids are the hit store's own, so each run has its own store)."""
    outs = {}
    for name, extra in (("plain", []), ("dask", ["--scheduler", cluster_address])):
        store = tmp_path / f"store-{name}"
        assert main(["ingest", "positions", str(DATA / "positions.csv"),
                     "--store", str(store)]) == 0
        out = tmp_path / f"out-{name}"
        assert main(["nightly", "--store", str(store), "--crimes", str(DATA / "crimes.csv"),
                     "--out", str(out), "--no-precision", *extra]) == 0
        outs[name] = sorted(out.rglob("hits.csv"))
    capsys.readouterr()
    assert [p.relative_to(tmp_path / "out-plain") for p in outs["plain"]] == \
        [p.relative_to(tmp_path / "out-dask") for p in outs["dask"]]
    for a, b in zip(outs["plain"], outs["dask"], strict=True):
        assert a.read_bytes() == b.read_bytes()
        assert len(a.read_text().splitlines()) > 20
