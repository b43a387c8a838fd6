"""The trail store: one owner for the store folder (see ``trailmatch.store.store``).

``layout`` spells the folder's paths; ``partitions`` merges, writes and reads the day files;
``day_index`` keeps each day's segment index beside its partition; ``Store`` ties them
together and is what every reader and writer uses.
"""

from trailmatch.store.store import IngestCounts, PurgeReport, Store, StoreNotFound, store_lock

__all__ = ["IngestCounts", "PurgeReport", "Store", "StoreNotFound", "store_lock"]
