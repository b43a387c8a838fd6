"""The authenticated caller of one request: who, in what role, for which force, from where.

Its own module so that the audit log (``audit.py``) can name it without importing the
authentication that produces it (``auth.py`` records refusals through the audit log).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Principal:
    """The authenticated caller of one request."""

    user_id: int
    name: str
    role: str  # officer | processing
    force: str | None  # an officer's police force; None for the processing team
    client: str | None  # client address, for the audit log

    @property
    def is_processing(self) -> bool:
        return self.role == "processing"
