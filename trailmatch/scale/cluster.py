"""``--scheduler``: where partitions run. ``local:N`` starts a LocalCluster of N worker processes
on this machine (listening on 127.0.0.1 only); ``tcp://HOST:PORT`` joins an existing cluster.

Adding the flag imports nothing from Dask; only ``client_from_arg`` does, when it is used.
"""

from __future__ import annotations

import argparse
import logging
import os
import re

_LOCAL = re.compile(r"local:(\d+)")
_ADDRESS = re.compile(r"(tcp|tls|ucx|inproc)://\S+")


DASK_INSTALL = "pip install 'trailmatch[dask]'"


def dask_installed() -> bool:
    """Whether Dask's distributed scheduler can be imported (looked up, not imported)."""
    from importlib.util import find_spec

    try:
        return find_spec("dask") is not None and find_spec("distributed") is not None
    except (ImportError, ValueError):  # a module set to None, or a broken installation
        return False


def scheduler_value(value: str) -> str:
    """argparse type: a bad --scheduler is a command-line error (exit 2), before any work;
    so is a --scheduler without Dask installed."""
    if not dask_installed():
        raise argparse.ArgumentTypeError(
            f"Dask is not installed; install it with: {DASK_INSTALL}")
    m = _LOCAL.fullmatch(value)
    if m:
        if int(m.group(1)) < 1:
            raise argparse.ArgumentTypeError("local:N needs at least one worker (N >= 1)")
        return value
    if _ADDRESS.fullmatch(value):
        return value
    raise argparse.ArgumentTypeError(
        f"{value!r} is neither local:N (e.g. local:4) nor a scheduler address "
        "(e.g. tcp://10.0.0.5:8786)")


def add_scheduler_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--scheduler", type=scheduler_value, default=None, metavar="local:N|tcp://HOST:PORT",
        help="run the matching partition by partition (one UTC day each) on Dask: 'local:N' "
             "starts N worker processes on this machine, 'tcp://HOST:PORT' uses a running "
             "cluster whose workers can read the trail store; results are identical to a "
             "single-process run (default: single process, Dask not used)")


def client_from_arg(value: str, *, memory_limit: str | int = "auto"):
    """A ``dask.distributed.Client`` for a ``--scheduler`` value; use it as a context manager.

    For ``local:N`` the client owns its LocalCluster, so closing the client stops the workers.
    Each local worker runs one partition at a time and gets an equal share of the cores for
    the numba kernels (whose threads would otherwise oversubscribe the machine).
    """
    value = scheduler_value(value)
    import dask
    from distributed import Client

    # Dask logs its own lifecycle at INFO (scheduler start, comms closing): not for our stderr,
    # which carries the command's summary.
    logging.getLogger("distributed").setLevel(logging.WARNING)

    m = _LOCAL.fullmatch(value)
    if m is None:
        return Client(value)
    n = int(m.group(1))
    numba_threads = max(1, (os.cpu_count() or 1) // n)
    # Dask's nannies set MALLOC_TRIM_THRESHOLD_, which turns off glibc's adaptive mmap
    # threshold: every large array of a partition is then a fresh mmap that page-faults in,
    # measured 1.6x slower matching. A partition's memory is freed whole after each task.
    with dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}):
        # No dashboard; the scheduler's HTTP endpoint (health, metrics) on a free loopback port
        return Client(n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None,
                      scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                      silence_logs=logging.ERROR,
                      memory_limit=memory_limit,
                      env={"NUMBA_NUM_THREADS": str(numba_threads)})
