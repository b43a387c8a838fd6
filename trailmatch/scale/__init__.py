"""Scale-out: the single-process matching kernels run per UTC-day partition, in-process or on a
Dask cluster, with results identical to ``trailmatch.match.match``.

``plan`` cuts the crimes into partitions and says which stretch of fixes each needs;
``partition`` is what a worker runs for one partition (reads its fixes, calls ``match_prepared``);
``run`` submits the partitions and gathers the hits; ``cluster`` turns ``--scheduler`` into a
Dask client. Nothing here imports Dask until a client is asked for.
"""

from trailmatch.scale.plan import Partition, plan_partitions
from trailmatch.scale.run import match_distributed

__all__ = ["Partition", "match_distributed", "plan_partitions"]
