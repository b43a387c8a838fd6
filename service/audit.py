"""The audit log: one appended row per read of a hit, report or positions, per proximity query
and per decision — including refused attempts (action suffixed ``.denied``).

Only ``record`` writes it (through the hit store's ``append_audit``); nothing in the service or
CLI updates or deletes audit rows, and the database refuses both anyway (triggers installed by
the hit store's first migration).
"""

from __future__ import annotations

from sqlalchemy import Connection, Engine

from service.principal import Principal
from trailmatch.hitstore import repository


def record(engine: Engine | Connection, principal: Principal, action: str, target: str) -> None:
    repository.append_audit(engine, user_name=principal.name, role=principal.role,
                            action=action, target=target[:2000], user_id=principal.user_id,
                            police_force=principal.force, client_address=principal.client)
