"""runs.status may be ``interrupted``: a run killed mid-way, closed when the next run starts.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03

Before this, such runs were closed as ``failed`` with a summary starting ``interrupted:``; they
are renamed here. The check constraint on ``runs.status`` is recreated (on SQLite by rebuilding
the table, in the migration's one transaction). 0001 created it as ``ck_runs_ck_runs_status``
(the naming convention applied to a name that already had the prefix); it is now
``ck_runs_status``, the schema's name.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_OLD = "status IN ('running', 'ok', 'failed')"
_NEW = "status IN ('running', 'ok', 'failed', 'interrupted')"


def _replace_status_check(condition: str) -> None:
    names = [c["name"] for c in sa.inspect(op.get_bind()).get_check_constraints("runs")
             if "status" in (c.get("sqltext") or "")]
    with op.batch_alter_table("runs", recreate="auto") as batch:
        for name in names:
            batch.drop_constraint(op.f(name), type_="check")
        batch.create_check_constraint(op.f("ck_runs_status"), condition)


def upgrade() -> None:
    _replace_status_check(_NEW)
    op.execute("UPDATE runs SET status = 'interrupted' "
               "WHERE status = 'failed' AND summary LIKE 'interrupted:%'")


def downgrade() -> None:
    op.execute("UPDATE runs SET status = 'failed' WHERE status = 'interrupted'")
    _replace_status_check(_OLD)
