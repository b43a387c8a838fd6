"""Which transformation placed a store's x/y (the record in ``store.json``).

``store.json`` records ``"transformation": "OSTN15"`` (``trailmatch.crs``) from the first
ingest on. A store without the record was made before OSTN15: its fixes (and the crimes kept
beside them) hold x/y from pyproj's Helmert, 0.1-5 m from where OSTN15 puts them. Every read
of fixes for matching (``partitions.read_fixes``, the persisted day indexes) and every write
checks the record (``check``) and refuses such a store with ``StoreNeedsUpgrade``, whose
message names the command that fixes it (``trailmatch.store.upgrade``) — so a match never
mixes the two.
"""

from __future__ import annotations

import json

from trailmatch.crs import HELMERT, OSTN15
from trailmatch.store.layout import Layout

KEY = "transformation"


class StoreNeedsUpgrade(ValueError):
    """The store's x/y were made with another transformation than this trailmatch uses; the
    message names the command that re-projects it."""


def recorded(layout: Layout) -> str | None:
    """The store's recorded transformation (``HELMERT`` for a store made before the record
    existed), or None when the store has no ``store.json`` yet."""
    if not layout.meta.exists():
        return None
    return json.loads(layout.meta.read_text()).get(KEY, HELMERT)


def check(layout: Layout) -> None:
    """Refuse a store whose x/y another transformation made (``StoreNeedsUpgrade``)."""
    found = recorded(layout)
    if found is not None and found != OSTN15:
        raise StoreNeedsUpgrade(
            f"{layout.root}: the store's x/y were placed with {found}, not {OSTN15}; run "
            f"`trailmatch upgrade --store {layout.root}` once to re-project it")


