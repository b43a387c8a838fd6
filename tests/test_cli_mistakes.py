"""Mistakes on the command line, as a new user makes them: each gets argparse's own one-line
error (exit 2) or one line naming the file (exit 1), never a traceback, and nothing is written.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest

from trailmatch.cli import _subparsers, build_parser, main
from trailmatch.store import Store

POSITIONS_HEADER = ("position_id,person_id,device_id,position_gps_date,position_latitude,"
                    "position_longitude,position_precision,position_lbs\n")


@pytest.fixture
def world(tmp_path, sample_dir):
    """Paths a command line may name: the sample inputs, a directory, a plain file."""
    (tmp_path / "a_dir").mkdir()
    (tmp_path / "a_file").write_text("x\n")
    return {"P": str(sample_dir / "positions.csv"), "C": str(sample_dir / "crimes.csv"),
            "DIR": str(tmp_path / "a_dir"), "FILE": str(tmp_path / "a_file"),
            "T": str(tmp_path), "S": str(Store.create(tmp_path / "store", "EPSG:27700").root)}


def _argv(template: str, world: dict) -> list[str]:
    return [w.format(**world) for w in template.split()]


MATCH = "match --positions {P} --crimes {C}"
ELIMINATE = "eliminate --positions {P} --crimes {C}"
# (command line, exit code, words the one-line message must hold)
CASES = [
    (MATCH + " --out {DIR}", 2, ["--out", "{DIR}", "is a directory"]),
    (MATCH + " --out {FILE}/hits.csv", 2, ["--out", "{FILE}", "not a directory"]),
    (ELIMINATE + " --out {DIR}", 2, ["--out", "{DIR}", "is a directory"]),
    ("nightly --store {T} --crimes {C} --out {FILE}", 2, ["--out", "{FILE}", "is a file"]),
    ("rematch --store {T} --since 2025-01-01 --changes {DIR}", 2, ["--changes", "{DIR}"]),
    ("purge --store {T} --before 2025-01-01 --report {DIR}", 2, ["--report", "{DIR}"]),
    ("ingest positions {P} --store {T}/s --rejects {DIR}", 2, ["--rejects", "{DIR}"]),
    (MATCH + " --out {T}/h.csv --radius -5", 2, ["--radius", "'-5'", "negative"]),
    (MATCH + " --out {T}/h.csv --max-gap nan", 2, ["--max-gap", "'nan'", "finite"]),
    (MATCH + " --out {T}/h.csv --buffer-before x", 2, ["--buffer-before", "'x'"]),
    (MATCH + " --out {T}/h.csv --crs EPSG:4326", 2, ["--crs", "EPSG:4326", "metres"]),
    (MATCH + " --out {T}/h.csv --crs EPSG:99999", 2, ["--crs", "EPSG:99999"]),
    (ELIMINATE + " --out {T}/c.csv --max-speed-kmh 0", 2, ["--max-speed-kmh", "'0'"]),
    (ELIMINATE + " --out {T}/c.csv --max-speed 50", 2, ["--max-speed", "--max-speed-kmh",
                                                        "km/h"]),
    (ELIMINATE + " --out {T}/c.csv --lookback -1", 2, ["--lookback", "'-1'"]),
    ("ingest positions {P} --store {T}/s --max-speed-kmh -3", 2, ["--max-speed-kmh", "'-3'"]),
    ("ingest crimes {C} --store {T}/s --max-window-h 0", 2, ["--max-window-h", "'0'"]),
    ("ingest crimes {C} --store {T}/s --crs EPSG:4326", 2, ["--crs", "EPSG:4326"]),
    ("nightly --store {T} --crimes {C} --out {T}/o --radius -1", 2, ["--radius", "'-1'"]),
    (MATCH + " --out {T}/h.csv --scheduler nowhere", 2, ["--scheduler", "nowhere"]),
    ("figures --store {T} --month 2025-01 --out {FILE}", 2, ["--out", "{FILE}", "is a file"]),
    ("figures --store {T} --month 2025-01 --out {FILE}/x", 2, ["--out", "{FILE}",
                                                              "not a directory"]),
    ("figures --store {T} --month 2025-01 --out {T}/f --max-gap -5", 2, ["--max-gap", "'-5'"]),
    (MATCH + " --out {T}/h.csv --timezone Mars/Base", 2, ["--timezone", "'Mars/Base'"]),
    ("ingest positions {P} --store {T}/s --timezone Europe/Londn", 2, ["--timezone",
                                                                     "'Europe/Londn'"]),
    (MATCH + " --out {T}/h.csv --mapping {FILE}", 2, ["--mapping", "{FILE}",
                                                      "not a TOML column mapping"]),
    (MATCH + " --out {T}/h.csv --mapping {T}/none.toml", 2, ["--mapping", "{T}/none.toml",
                                                             "no such file"]),
    ("ingest positions {P} --store {T}/s --mapping {DIR}", 2, ["--mapping", "{DIR}",
                                                             "is a directory"]),
    ("serve --store {T} --port 99999", 2, ["--port", "'99999'", "from 1 to 65535"]),
    ("serve --store {T} --port x", 2, ["--port", "'x'"]),
    ("serve --store {T} --workers 0", 2, ["--workers", "'0'", "at least 1"]),
    ("rematch --store {T} --since 2025-01-01 --out {FILE}", 2, ["--out", "{FILE}", "is a file"]),
    (ELIMINATE + " --out {T}/c.csv --evidence {DIR}", 2, ["--evidence", "{DIR}",
                                                          "is a directory"]),
    ("demo --out {FILE}", 2, ["--out", "{FILE}", "is a file"]),
    ("nightly --store {S} --crimes {T}/missing.csv --out {T}/o", 1,
     ["{T}/missing.csv", "no such file"]),
    ("match --positions {T}/missing.csv --crimes {C} --out {T}/h.csv", 1,
     ["{T}/missing.csv", "no such file"]),
    ("match --positions {P} --crimes {DIR} --out {T}/h.csv", 1, ["{DIR}", "is a directory"]),
    ("ingest positions {C} --store {T}/s", 1, ["crimes.csv", "not a tag position export"]),
]


@pytest.mark.parametrize(("template", "code", "words"), CASES,
                         ids=[c[0].replace(MATCH, "match").replace(ELIMINATE, "eliminate")
                              for c in CASES])
def test_mistake_gets_one_clear_line(world, capsys, template, code, words):
    before = sorted(p.name for p in Path(world["T"]).iterdir())
    assert main(_argv(template, world)) == code
    err = capsys.readouterr().err
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    for w in words:
        assert w.format(**world) in last, (w, last)
    # the file is named once: "x.csv: unusable: x.csv: ..." is not a clear line
    named = [w.format(**world) for w in words if w.startswith("{")]
    for path in named:
        assert last.count(path) == 1, last
    # nothing written: no hits, no coverage, no store, no rejects
    after = sorted(p.name for p in Path(world["T"]).iterdir())
    if code == 2:
        assert after == before


def test_scheduler_without_dask_names_the_install_command(world, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # as if not installed
    assert main(_argv(MATCH + " --out {T}/h.csv --scheduler local:2", world)) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert "--scheduler" in last and "pip install 'trailmatch[dask]'" in last


def test_version(capsys):
    from importlib.metadata import version

    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"trailmatch {version('trailmatch')}"


@pytest.mark.parametrize("argv", [
    ["-v", "match", "--positions", "p", "--crimes", "c", "--out", "h.csv"],
    ["match", "-v", "--positions", "p", "--crimes", "c", "--out", "h.csv"],
    ["match", "--positions", "p", "--crimes", "c", "--out", "h.csv", "--verbose"],
    ["ingest", "positions", "p", "--store", "s", "-v"],
    ["users", "list", "--store", "s", "-v"],
])
def test_verbose_before_or_after_the_verb(argv):
    assert build_parser().parse_args(argv).verbose is True


def test_not_verbose_by_default():
    args = build_parser().parse_args(["ingest", "positions", "p", "--store", "s"])
    assert args.verbose is False


@pytest.mark.parametrize("argv", [
    ["explain", "--store", "s", "--crime", "1/1/25", "--subject", "A", "--police-force", "{}"],
    ["figures", "--store", "s", "--month", "2025-01", "--out", "o", "--force", "{}"],
])
@pytest.mark.parametrize("spelt", ["hampshire", "HAMPSHIRE", " Hampshire "])
def test_force_names_in_any_case_on_the_command_line(argv, spelt):
    args = build_parser().parse_args([spelt if a == "{}" else a for a in argv])
    assert (args.police_force if argv[0] == "explain" else args.force) == "Hampshire"


def test_help_has_no_markup():
    parser = build_parser()
    for p in [parser, *_subparsers(parser)]:
        text = p.format_help()
        assert "`" not in text, (p.prog, [line for line in text.splitlines() if "`" in line])


def test_one_speed_unit():
    """km/h on every verb: ingest's jump flag and eliminate's prism speed."""
    parser = build_parser()
    for p in _subparsers(parser):
        flags = {o for a in p._actions for o in a.option_strings
                 if a.help != "==SUPPRESS==" and "speed" in o}
        assert flags <= {"--max-speed-kmh"}, (p.prog, flags)
    from trailmatch.commands.options import rules_from_args
    args = parser.parse_args(["eliminate", "--positions", "p", "--crimes", "c", "--out", "o",
                              "--max-speed-kmh", "36"])
    assert rules_from_args(args).max_speed_mps == pytest.approx(10.0)


def _export(path, rows):
    path.write_text(POSITIONS_HEADER + "".join(
        f"{i},{s},D,{t},50.9,-1.4,10,1\n" for i, (s, t) in enumerate(rows, start=1)))
    return path


def test_rejects_file_is_replaced_per_run_on_every_verb(tmp_path, sample_dir, capsys):
    bad = _export(tmp_path / "bad.csv", [("A", "2025-01-20 10:00:00"), ("B", "not a time")])
    rejects = tmp_path / "rejects.csv"
    for _ in range(2):  # a rerun leaves the same lines, not twice as many
        assert main(["ingest", "positions", str(bad), "--store", str(tmp_path / "s"),
                     "--rejects", str(rejects)]) == 0
        back = pd.read_csv(rejects, dtype=str)
        assert back[["row", "subject", "field", "value", "error"]].values.tolist() == [
            ["2", "B", "position_gps_date", "not a time", "invalid_format"]]
    # match: the same flag, one file, crimes and positions rejects together
    crimes = tmp_path / "crimes.csv"
    crimes.write_text((sample_dir / "crimes.csv").read_text().splitlines()[0] + "\n"
                      "Hampshire,XX,x,HAM20250127,1/1/25,20250126183000,20250126230000,,,"
                      "50.9,-1.4,WGS84,\n")
    for _ in range(2):
        assert main(["match", "--positions", str(bad), "--crimes", str(crimes),
                     "--out", str(tmp_path / "h.csv"), "--rejects", str(rejects)]) == 0
        back = pd.read_csv(rejects, dtype=str)
        assert sorted(back["error"]) == ["invalid_format", "unknown_crime_type"]
        assert {"crime_reference", "subject"} <= set(back.columns)
    # nightly: the same flag, the run's crime rejects in one file (each batch folder keeps
    # its own rejects.csv too)
    for _ in range(2):
        assert main(["nightly", "--store", str(tmp_path / "s"), "--crimes", str(crimes),
                     "--out", str(tmp_path / "night"), "--rejects", str(rejects)]) == 0
        back = pd.read_csv(rejects, dtype=str, keep_default_na=False)
        assert back[["file", "row", "field", "value", "error"]].values.tolist() == [
            [str(crimes), "2", "crime_type", "XX", "unknown_crime_type"]]
    assert "reject line(s) -> " + str(rejects) in capsys.readouterr().err
    # a clean run leaves the header only
    assert main(["ingest", "positions", str(sample_dir / "positions.csv"),
                 "--store", str(tmp_path / "s"), "--rejects", str(rejects)]) == 0
    assert len(pd.read_csv(rejects)) == 0
    capsys.readouterr()


STORE_VERBS = [
    "match --store {S} --crimes {C} --out {T}/h.csv",
    "eliminate --store {S} --crimes {C} --out {T}/c.csv",
    "nightly --store {S} --crimes {C} --out {T}/o",
    "rematch --store {S} --since 2025-01-01T00:00:00Z --changes {T}/ch.csv",
    "purge --store {S} --before 2025-01-01 --report {T}/r.csv",
    "users add pc-1 --role officer --force Hampshire --store {S}",
    "users list --store {S}",
    "users revoke pc-1 --store {S}",
    "serve --store {S} --port 1",
    "verify --store {S} {FILE}",
    "explain --store {S} --crime 44/1/25 --subject 07011",
    "figures --store {S} --month 2025-01 --out {T}/fig",
    "outcomes add --store {S} --hit 1 --outcome charged --date 2025-01-01 --note n",
    "outcomes list --store {S} --hit 1",
    "upgrade --store {S}",
]


@pytest.mark.parametrize("kind", ["missing", "not_a_store", "a_file"])
@pytest.mark.parametrize("template", STORE_VERBS, ids=[t.split(" --")[0] for t in STORE_VERBS])
def test_store_path_must_be_a_store(world, capsys, template, kind):
    """Every verb but ingest (which creates stores) refuses a store path that is not one, with
    exit 1 and the path named, and creates nothing there: no hits.sqlite in a misspelt folder,
    no "0 hits"."""
    store = {"missing": Path(world["T"]) / "nosuchdir", "not_a_store": Path(world["DIR"]),
             "a_file": Path(world["FILE"])}[kind]
    before = sorted(p.relative_to(world["T"]) for p in Path(world["T"]).rglob("*"))
    assert main(_argv(template, {**world, "S": str(store)})) == 1
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert str(store) in last and ("no such store directory" in last if kind == "missing"
                                   else "not a" in last), last
    assert sorted(p.relative_to(world["T"]) for p in Path(world["T"]).rglob("*")) == before
