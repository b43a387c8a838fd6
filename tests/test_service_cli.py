"""``trailmatch users add|list|revoke`` and ``trailmatch serve`` (a real server on loopback)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import httpx
import pytest

from trailmatch.hitstore import open_store
from trailmatch.hitstore.users import list_users


@pytest.fixture
def store(tmp_path):
    """An empty trail store: users and serve refuse a folder that is not one."""
    from trailmatch.store import Store

    return Store.create(tmp_path / "store", "EPSG:27700").root


def users(*args: str) -> subprocess.CompletedProcess:
    """``trailmatch users ...`` in this process (the verb's own parser and run)."""
    import argparse
    import contextlib
    import io

    from trailmatch.commands import users as verb

    parser = argparse.ArgumentParser(prog="trailmatch")
    verb.add_parser(parser.add_subparsers(dest="verb"))
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        args = parser.parse_args(["users", *args])
        code = args.run(args)
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())


def test_users_add_prints_the_token_once_and_stores_only_its_hash(store):
    tmp_path = store
    r = users("add", "pc-1", "--role", "officer", "--force", "Hampshire", "--store",
              str(tmp_path))
    assert r.returncode == 0, r.stderr
    token = r.stdout.strip()
    assert token.startswith("tm_") and len(token) > 40
    engine = open_store(tmp_path)
    try:
        with engine.connect() as conn:
            dump = "\n".join(conn.connection.driver_connection.iterdump())
        assert token not in dump  # only the hash is stored
        [user] = list_users(engine)
        assert (user["name"], user["role"], user["police_force"]) == ("pc-1", "officer",
                                                                       "Hampshire")
    finally:
        engine.dispose()
    listed = users("list", "--store", str(tmp_path))
    assert "pc-1\tofficer\tHampshire" in listed.stdout and token not in listed.stdout


@pytest.mark.parametrize("args,message", [
    (["add", "x", "--role", "officer"], "needs --force"),
    (["add", "x", "--role", "officer", "--force", "Narnia"], "unknown police force"),
])
def test_users_add_refuses_bad_input(store, args, message):
    r = users(*args, "--store", str(store))
    assert r.returncode == 2 and message in r.stderr


def test_serve_answers_on_loopback_and_revoke_takes_effect(store):
    tmp_path = store
    token = users("add", "boss", "--role", "processing", "--store", str(tmp_path)).stdout.strip()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code = ("import argparse, sys\n"
            "from trailmatch.commands import serve\n"
            "p = argparse.ArgumentParser(); serve.add_parser(p.add_subparsers(dest='verb'))\n"
            "a = p.parse_args(sys.argv[1:]); sys.exit(a.run(a))\n")
    proc = subprocess.Popen([sys.executable, "-c", code, "serve", "--store", str(tmp_path),
                             "--port", str(port)], env=dict(os.environ),
                            stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(base + "/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline and proc.poll() is None, "serve did not start"
            time.sleep(0.2)
        me = httpx.get(base + "/me", headers={"Authorization": f"Bearer {token}"})
        assert me.json() == {"name": "boss", "role": "processing", "force": None}
        assert users("revoke", "boss", "--store", str(tmp_path)).returncode == 0
        again = httpx.get(base + "/me", headers={"Authorization": f"Bearer {token}"})
        assert again.status_code == 401
    finally:
        proc.terminate()
        proc.wait(timeout=20)
