"""The trail store: one owner for the store folder (see ``trailmatch.store.store``).

``layout`` spells the folder's paths; ``partitions`` merges, writes and reads the day files;
``day_index`` keeps each day's segment index beside its partition; ``Store`` ties them
together and is what every reader and writer uses; ``transformation`` records how x/y were
placed (OSTN15) and upgrades stores made before it.
"""

from trailmatch.store.store import IngestCounts, PurgeReport, Store, StoreNotFound, store_lock
from trailmatch.store.transformation import StoreNeedsUpgrade

__all__ = ["IngestCounts", "PurgeReport", "Store", "StoreNeedsUpgrade", "StoreNotFound",
           "store_lock"]
