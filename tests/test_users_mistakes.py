"""Users, as the processing team types them: unique names, revoke by name, the processing team
without a force, force names in any case; the force list as data."""

from __future__ import annotations

import pytest

from trailmatch.cli import main
from trailmatch.hitstore import open_store
from trailmatch.hitstore.users import list_users
from trailmatch.ingest.forces import load_forces
from trailmatch.store import Store


@pytest.fixture
def store(tmp_path):
    return str(Store.create(tmp_path / "store", "EPSG:27700").root)


def stored(store) -> list[tuple]:
    engine = open_store(store)
    try:
        return [(u["name"], u["role"], u["police_force"], u["revoked_at"] is not None)
                for u in list_users(engine)]
    finally:
        engine.dispose()


# (setup commands, the command, exit code, words of the message, users afterwards)
CASES = [
    ([], "add pc-1 --role officer --force hampshire", 0, ["pc-1", "Hampshire"],
     [("pc-1", "officer", "Hampshire", False)]),
    ([], "add pc-1 --role officer --force HAMPSHIRE", 0, ["Hampshire"],
     [("pc-1", "officer", "Hampshire", False)]),
    ([], "add boss --role processing --force Kent", 2, ["processing", "no --force"], []),
    ([], "add pc-1 --role officer --force Narnia", 2, ["unknown police force", "Narnia"], []),
    (["add pc-1 --role officer --force Kent"], "add pc-1 --role officer --force Kent", 1,
     ["'pc-1' already exists"], [("pc-1", "officer", "Kent", False)]),
    (["add pc-1 --role officer --force Kent"], "add PC-1 --role officer --force Essex", 1,
     ["already exists"], [("pc-1", "officer", "Kent", False)]),
    (["add 1 --role processing", "add 2 --role processing"], "revoke 2", 0, ["'2'"],
     [("1", "processing", None, False), ("2", "processing", None, True)]),
    (["add 2 --role processing", "add 1 --role processing"], "revoke --id 2", 0, ["id 2"],
     [("2", "processing", None, False), ("1", "processing", None, True)]),
    (["add pc-1 --role officer --force Kent"], "revoke nobody", 1, ["0 user(s)", "'nobody'"],
     [("pc-1", "officer", "Kent", False)]),
    ([], "revoke --id x", 2, ["--id", "'x'"], []),
]


@pytest.mark.parametrize(("setup", "command", "code", "words", "after"), CASES,
                         ids=[c[1] for c in CASES])
def test_users(store, capsys, setup, command, code, words, after):
    for line in setup:
        assert main(["users", *line.split(), "--store", store]) == 0
    capsys.readouterr()
    assert main(["users", *command.split(), "--store", store]) == code
    err = capsys.readouterr().err
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    for w in words:
        assert w in last, (w, last)
    assert stored(store) == after


def test_force_list_covers_england_wales_and_btp():
    forces = load_forces()
    territorial = {"AvonSomerset", "Bedfordshire", "Cambridgeshire", "Cheshire", "CoLP",
                   "Cleveland", "Cumbria", "Derbyshire", "DevonCornwall", "Dorset", "Durham",
                   "DyfedPowys", "Essex", "Gloucestershire", "GreaterManchester", "Gwent",
                   "Hampshire", "Hertfordshire", "Humberside", "Kent", "Lancashire",
                   "Leicestershire", "Lincolnshire", "Merseyside", "Metropolitan", "Norfolk",
                   "NorthWales", "NorthYorkshire", "Northamptonshire", "Northumbria",
                   "Nottinghamshire", "SouthWales", "SouthYorkshire", "Staffordshire",
                   "Suffolk", "Surrey", "Sussex", "ThamesValley", "Warwickshire",
                   "WestMercia", "WestMidlands", "WestYorkshire", "Wiltshire"}
    assert len(territorial) == 43 and territorial | {"BritishTransport"} == set(forces)
    assert len({c.upper() for c in forces.values()}) == len(forces)
