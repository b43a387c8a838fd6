"""Initial hit store: runs, batches, crimes (versions), hits, decisions, audit, users.

Revision ID: 0001
Revises:
Create Date: 2026-11-22

Written out in full (not derived from ``schema.metadata``) so that this migration keeps meaning
the same thing after the schema moves on. Also installs the triggers that make ``decisions``
and ``audit`` append-only in the database itself.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

UTC = sa.DateTime(timezone=True)
APPEND_ONLY = ("decisions", "audit")


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("started", UTC, nullable=False),
        sa.Column("ended", UTC),
        sa.Column("algorithm_version", sa.String(32), nullable=False),
        sa.Column("rules", sa.JSON, nullable=False),
        sa.Column("counts", sa.JSON),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("summary", sa.Text),
        sa.CheckConstraint("status IN ('running', 'ok', 'failed')", name="ck_runs_status"),
        sa.PrimaryKeyConstraint("id", name="pk_runs"),
    )
    op.create_table(
        "batches",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("police_force", sa.String(64), nullable=False),
        sa.Column("batch_id", sa.String(64), nullable=False),
        sa.Column("file_name", sa.Text, nullable=False),
        sa.Column("file_sha256", sa.String(64), nullable=False),
        sa.Column("received_at", UTC, nullable=False),
        sa.Column("run_id", sa.Integer, nullable=False),
        sa.Column("rows_read", sa.Integer, nullable=False),
        sa.Column("accepted", sa.Integer, nullable=False),
        sa.Column("rejected", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_batches"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_batches_run_id_runs"),
        sa.UniqueConstraint("police_force", "batch_id", "file_sha256",
                            name="uq_batches_police_force_batch_id_file_sha256"),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("police_force", sa.String(64)),
        sa.Column("token_hash", sa.String(128), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("revoked_at", UTC),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        sa.UniqueConstraint("token_hash", name="uq_users_token_hash"),
        sa.CheckConstraint("role IN ('officer', 'processing')", name="ck_users_role"),
    )
    op.create_table(
        "crimes",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("police_force", sa.String(64), nullable=False),
        sa.Column("crime_reference", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("batch_key", sa.Integer, nullable=False),
        sa.Column("batch_id", sa.String(64), nullable=False),
        sa.Column("crime_type", sa.String(16), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("time_from", UTC, nullable=False),
        sa.Column("time_to", UTC, nullable=False),
        sa.Column("x", sa.Float, nullable=False),
        sa.Column("y", sa.Float, nullable=False),
        sa.Column("crs", sa.String(32), nullable=False),
        sa.Column("lat", sa.Float, nullable=False),
        sa.Column("lon", sa.Float, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("content_sha256", sa.String(64), nullable=False),
        sa.Column("received_at", UTC, nullable=False),
        sa.Column("superseded", sa.Boolean, nullable=False),
        sa.Column("superseded_by", sa.Integer),
        sa.Column("matched_run_id", sa.Integer),
        sa.Column("matched_rules", sa.String(64)),
        sa.PrimaryKeyConstraint("id", name="pk_crimes"),
        sa.ForeignKeyConstraint(["batch_key"], ["batches.id"], name="fk_crimes_batch_key_batches"),
        sa.ForeignKeyConstraint(["superseded_by"], ["crimes.id"],
                                name="fk_crimes_superseded_by_crimes"),
        sa.ForeignKeyConstraint(["matched_run_id"], ["runs.id"],
                                name="fk_crimes_matched_run_id_runs"),
        sa.UniqueConstraint("police_force", "crime_reference", "version",
                            name="uq_crimes_police_force_crime_reference_version"),
    )
    op.create_index("ix_crimes_police_force_crime_reference", "crimes",
                    ["police_force", "crime_reference"])
    op.create_index("ix_crimes_time_from", "crimes", ["time_from"])
    op.create_table(
        "hits",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("crime_id", sa.Integer, nullable=False),
        sa.Column("subject", sa.String(64), nullable=False),
        sa.Column("police_force", sa.String(64), nullable=False),
        sa.Column("crime_reference", sa.String(64), nullable=False),
        sa.Column("crime_type", sa.String(16), nullable=False),
        sa.Column("min_distance_m", sa.Float, nullable=False),
        sa.Column("closest_time", UTC, nullable=False),
        sa.Column("first_in", UTC, nullable=False),
        sa.Column("last_in", UTC, nullable=False),
        sa.Column("duration_s", sa.Float, nullable=False),
        sa.Column("fixes_in", sa.Integer, nullable=False),
        sa.Column("max_precision_m", sa.Float),
        sa.Column("sources", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("run_id", sa.Integer, nullable=False),
        sa.Column("updated_run_id", sa.Integer, nullable=False),
        sa.Column("withdrawn_run_id", sa.Integer),
        sa.Column("withdrawn_at", UTC),
        sa.PrimaryKeyConstraint("id", name="pk_hits"),
        sa.ForeignKeyConstraint(["crime_id"], ["crimes.id"], name="fk_hits_crime_id_crimes"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_hits_run_id_runs"),
        sa.ForeignKeyConstraint(["updated_run_id"], ["runs.id"],
                                name="fk_hits_updated_run_id_runs"),
        sa.ForeignKeyConstraint(["withdrawn_run_id"], ["runs.id"],
                                name="fk_hits_withdrawn_run_id_runs"),
        sa.UniqueConstraint("crime_id", "subject", name="uq_hits_crime_id_subject"),
        sa.CheckConstraint("status IN ('current', 'superseded', 'withdrawn')",
                           name="ck_hits_status"),
    )
    op.create_index("ix_hits_police_force_crime_reference", "hits",
                    ["police_force", "crime_reference"])
    op.create_index("ix_hits_police_force_closest_time", "hits",
                    ["police_force", "closest_time"])
    op.create_index("ix_hits_subject", "hits", ["subject"])
    op.create_table(
        "decisions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("hit_id", sa.Integer, nullable=False),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("rationale", sa.Text, nullable=False),
        sa.Column("user_id", sa.Integer),
        sa.Column("user_name", sa.String(128), nullable=False),
        sa.Column("at", UTC, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_decisions"),
        sa.ForeignKeyConstraint(["hit_id"], ["hits.id"], name="fk_decisions_hit_id_hits"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_decisions_user_id_users"),
        sa.CheckConstraint("outcome IN ('ruled_in', 'ruled_out', 'further_enquiries')",
                           name="ck_decisions_outcome"),
    )
    op.create_index("ix_decisions_hit_id", "decisions", ["hit_id"])
    op.create_table(
        "audit",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
        sa.Column("at", UTC, nullable=False),
        sa.Column("user_id", sa.Integer),
        sa.Column("user_name", sa.String(128), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("police_force", sa.String(64)),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target", sa.Text, nullable=False),
        sa.Column("client_address", sa.String(64)),
        sa.PrimaryKeyConstraint("id", name="pk_audit"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_audit_user_id_users"),
    )
    op.create_index("ix_audit_at", "audit", ["at"])
    _append_only_triggers()


def _append_only_triggers() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for table in APPEND_ONLY:
            for event in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{event.lower()} BEFORE {event} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
                )
    elif dialect == "postgresql":
        op.execute(
            "CREATE FUNCTION trailmatch_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; END $$"
        )
        for table in APPEND_ONLY:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE OR TRUNCATE "
                f"ON {table} FOR EACH STATEMENT EXECUTE FUNCTION trailmatch_append_only()"
            )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for table in APPEND_ONLY:
            for event in ("update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{event}")
    for table in ("audit", "decisions", "hits", "crimes", "users", "batches", "runs"):
        op.drop_table(table)
    if dialect == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS trailmatch_append_only()")
