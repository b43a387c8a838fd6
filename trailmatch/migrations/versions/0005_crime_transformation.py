"""crimes.transformation and crimes.located_by: how a crime version was placed.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03

``transformation``: what placed the version's x/y (or, for a grid reference, its WGS84
lat/lon) across the WGS84 <-> OSGB36 datum change: ``OSTN15`` from now on; NULL for versions
stored before this column, which pyproj's Helmert placed (0.1-5 m off). Matching refuses
NULL versions (``repository.crimes_in_rules_crs``) until ``trailmatch upgrade`` re-projects
them, so a match never mixes the two. ``located_by``: which location the batch gave,
``grid`` (easting/northing) or ``lonlat``; NULL when stored before this column (the upgrade
tells them apart by their digits: see ``trailmatch.hitstore.upgrade``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("crimes", sa.Column("transformation", sa.String(16), nullable=True))
    op.add_column("crimes", sa.Column("located_by", sa.String(8), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("crimes") as batch:
        batch.drop_column("located_by")
        batch.drop_column("transformation")
