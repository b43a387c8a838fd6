"""Scale-out: the single-process matching kernels run per UTC-day partition, in-process or on a
Dask cluster, with results identical to ``trailmatch.match.match``.

``plan`` cuts the crimes into partitions and says which stretch of fixes each needs;
``partition`` is what a worker runs for one partition (reads its fixes, calls ``match_prepared``);
``run`` submits the partitions and gathers the hits; ``coverage`` does the same for
elimination (``eliminate_distributed``: a day-ends pass, then partitions with a halo of the
fixes that bound them); ``cluster`` turns ``--scheduler`` into a Dask client. Nothing here
imports Dask until a client is asked for, and importing this package imports nothing heavy
(``--help`` stays instant): the names below load on first use.
"""

from __future__ import annotations

import importlib

_EXPORTS = {"Partition": "plan", "plan_partitions": "plan", "match_distributed": "run",
            "RunStats": "run", "eliminate_distributed": "coverage"}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"trailmatch.scale.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'trailmatch.scale' has no attribute {name!r}")
