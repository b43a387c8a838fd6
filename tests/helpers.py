"""Small builders shared by the tests: trails and crimes from plain numbers."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import textwrap
import threading
import time

import pandas as pd

T0 = pd.Timestamp("2025-01-20T00:00:00Z")


def touch_s(max_gap_s: float) -> float:
    """The longest time in the vicinity that a touch of measure zero (the path grazing the
    boundary at one instant: a double root) can show after round-off, which may fall either
    side in two implementations. A double root's computed interval is about
    4·sqrt(eps)·dt ≈ 6e-8·dt wide for a segment dt seconds long (dt ≤ the max gap); found by
    hypothesis: a 305 m/s segment 50 s long through the crime with R = 0 gave 1.2 µs."""
    return max(1e-6, 1e-7 * max_gap_s)


def at(seconds: float) -> pd.Timestamp:
    return T0 + pd.Timedelta(seconds=seconds)


def trail(*fixes, subject: str = "A") -> pd.DataFrame:
    """fixes: (seconds, x, y) or (seconds, x, y, precision)."""
    rows = []
    for f in fixes:
        t, x, y = f[:3]
        rows.append({"subject": subject, "time": at(t), "x": float(x), "y": float(y),
                     "precision_m": float(f[3]) if len(f) > 3 else float("nan"), "source": 1})
    return pd.DataFrame(rows)


def crime(x: float, y: float, t_from: float, t_to: float, ref: str = "1/1/25",
          force: str = "Hampshire") -> pd.DataFrame:
    return pd.DataFrame([{"crime_reference": ref, "police_force": force, "crime_type": "BIAD",
                          "x": float(x), "y": float(y), "time_from": at(t_from),
                          "time_to": at(t_to)}])


def seconds(ts) -> float:
    return (pd.Timestamp(ts) - T0).total_seconds()


def frame_source(trails: pd.DataFrame, delay_s: float = 0.0):
    """A trail source (``read_window``) holding a frame, each read ``delay_s`` slow (so a worker
    can be killed mid-task). The class is made inside the function so that it pickles by value
    to Dask workers, which cannot import the test modules."""
    from trailmatch.scale.partition import read_fixes

    class FrameSource:
        def __init__(self, frame, delay):
            self.frame = frame
            self.delay = delay

        def read_window(self, start_ns, end_ns, **options):
            time.sleep(self.delay)
            return read_fixes(self.frame, start_ns, end_ns)

    return FrameSource(trails, delay_s)


def task_starts(name: str, dask_scheduler=None) -> dict[str, int]:
    """How many times each task whose key holds ``name`` was sent to a worker (from the
    scheduler's transition log); run with ``client.run_on_scheduler(task_starts, name)``."""
    counts: dict[str, int] = {}
    for entry in dask_scheduler.transition_log:
        if entry.finish == "processing" and name in str(entry.key):
            counts[str(entry.key)] = counts.get(str(entry.key), 0) + 1
    return counts


def busy_worker(client, name: str, timeout_s: float) -> str:
    """The address of a worker running a task whose key holds ``name`` (waits for one)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for worker, keys in client.processing().items():
            if any(name in str(k) for k in keys):
                return worker
        time.sleep(0.05)
    raise AssertionError(f"no {name} task started on any worker")


def run_with_a_worker_killed(client, name: str, job, busy_timeout_s: float,
                             join_timeout_s: float):
    """``job()`` run in a thread while a worker running a task whose key holds ``name`` is
    killed (``os._exit``); returns its result. Asserts that the job finished without an error,
    that the worker really died and that some task was started again (the kill landed
    mid-run)."""
    result: dict = {}

    def run():
        try:
            result["value"] = job()
        except BaseException as e:  # handed to the test thread below
            result["error"] = e

    before = client.run_on_scheduler(task_starts, name)
    runner = threading.Thread(target=run)
    runner.start()
    victim = busy_worker(client, name, timeout_s=busy_timeout_s)
    with contextlib.suppress(Exception):  # the worker dies before it can answer
        client.run(os._exit, 1, workers=[victim])
    runner.join(timeout=join_timeout_s)
    assert not runner.is_alive()
    assert "error" not in result, result.get("error")
    assert victim not in client.scheduler_info()["workers"]  # it really died
    starts = client.run_on_scheduler(task_starts, name)
    reruns = [k for k, n in starts.items() if n > before.get(k, 0) + 1]
    assert reruns, "no partition was started twice: the kill did not land mid-run"
    return result["value"]


def dask_modules_after(code: str, cwd) -> str:
    """Run ``code`` (indented as it comes) in a fresh interpreter and return the last line it
    prints after it: the sorted names of the Dask modules it loaded (``"[]"``: none)."""
    code = textwrap.dedent(code) + (
        "import sys\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=cwd,
                         timeout=600)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip().splitlines()[-1]
