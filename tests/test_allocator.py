"""The allocator settings the trailmatch command applies (trailmatch/allocator.py)."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

GLIBC = platform.libc_ver()[0] == "glibc"

_PROBE = """
from trailmatch.allocator import tune_allocator
print(tune_allocator(), tune_allocator())
"""


def _probe(env_extra: dict[str, str]) -> str:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith(("MALLOC_", "TRAILMATCH_"))}
    done = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True,
                          check=True, env={**env, **env_extra})
    return done.stdout.strip()


@pytest.mark.skipif(not GLIBC, reason="the settings are glibc's mallopt")
def test_applied_once_per_process_on_glibc():
    assert _probe({}) == "True True"


def test_the_users_own_settings_and_the_opt_out_win():
    assert _probe({"MALLOC_TRIM_THRESHOLD_": "1000000"}) == "False False"
    assert _probe({"TRAILMATCH_MALLOC": "default"}) == "False False"


def test_the_command_applies_it(monkeypatch, tmp_path):
    from trailmatch import allocator, cli

    calls = []
    monkeypatch.setattr(allocator, "tune_allocator", lambda: calls.append(1) or True)
    cli.main(["purge", "--store", str(tmp_path / "store"), "--before", "2020-01-01"])
    assert calls == [1]
