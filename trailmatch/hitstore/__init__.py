"""The hit store: crimes (with versions), batches, runs, hits, decisions, audit, users."""

from trailmatch.hitstore.db import open_store

__all__ = ["open_store"]
