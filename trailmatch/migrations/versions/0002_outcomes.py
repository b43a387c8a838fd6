"""Case outcomes: what became of a hit after a decision (append-only, like decisions).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "outcomes",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("hit_id", sa.Integer, nullable=False),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("outcome_date", sa.Date, nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("user_id", sa.Integer),
        sa.Column("user_name", sa.String(128), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_outcomes"),
        sa.ForeignKeyConstraint(["hit_id"], ["hits.id"], name="fk_outcomes_hit_id_hits"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_outcomes_user_id_users"),
        sa.CheckConstraint("outcome IN ('arrested', 'charged', 'no_further_action', "
                           "'eliminated', 'other')", name="ck_outcomes_outcome"),
    )
    op.create_index("ix_outcomes_hit_id", "outcomes", ["hit_id"])
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for event in ("UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER outcomes_no_{event.lower()} BEFORE {event} ON outcomes "
                       "BEGIN SELECT RAISE(ABORT, 'outcomes is append-only'); END")
    elif dialect == "postgresql":
        # trailmatch_append_only() was created by 0001.
        op.execute("CREATE TRIGGER outcomes_append_only BEFORE UPDATE OR DELETE OR TRUNCATE "
                   "ON outcomes FOR EACH STATEMENT EXECUTE FUNCTION trailmatch_append_only()")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for event in ("update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS outcomes_no_{event}")
    op.drop_table("outcomes")
