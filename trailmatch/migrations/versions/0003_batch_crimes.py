"""batch_crimes: which crime version each record of a stored batch resolved to.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03

``match --batch ID`` and ``nightly --batch ID`` read a stored batch back. A record resent
unchanged adds no crime version, so ``crimes.batch_key`` alone cannot say which crimes a batch
named; this table can. Existing versions are linked to the batch that brought them.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "batch_crimes",
        sa.Column("batch_key", sa.Integer, nullable=False),
        sa.Column("crime_id", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("batch_key", "crime_id", name="pk_batch_crimes"),
        sa.ForeignKeyConstraint(["batch_key"], ["batches.id"],
                                name="fk_batch_crimes_batch_key_batches"),
        sa.ForeignKeyConstraint(["crime_id"], ["crimes.id"],
                                name="fk_batch_crimes_crime_id_crimes"),
    )
    op.execute("INSERT INTO batch_crimes (batch_key, crime_id) SELECT batch_key, id FROM crimes")


def downgrade() -> None:
    op.drop_table("batch_crimes")
