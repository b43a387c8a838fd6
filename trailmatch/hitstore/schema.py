"""The hit store's tables (SQLAlchemy Core), the single description of the schema.

The Alembic migrations in ``trailmatch/migrations/versions`` create exactly these tables;
``tests/test_hitstore.py`` checks that the migrated database and this metadata agree.

Tables and what a row is:

- ``batches``   one crime batch file as received (same file twice = one row, by SHA-256).
- ``batch_crimes`` which crime version each record of a batch resolved to (new, changed,
  unchanged or stale): what ``--batch ID`` reads, since an unchanged resend adds no version.
- ``crimes``    one **version** of a crime: the same force + crime reference sent again with
  different content is a new version; the older one gets ``superseded = true`` and
  ``superseded_by`` = the new row's id. Only unsuperseded versions are matched.
- ``runs``      one nightly or rematch run: when, algorithm version, rules, counts, status.
- ``hits``      one row per (crime version, subject) with the hit fields of the vicinity
  contract. ``status`` is ``current``, ``superseded`` (its crime has a newer version) or
  ``withdrawn`` (a later match of the same crime version no longer finds it, e.g. after late
  positions). Rows are never deleted.
- ``decisions`` append-only officer decisions on a hit (ruled_in / ruled_out /
  further_enquiries, with rationale, who and when).
- ``outcomes``  append-only case outcomes recorded after a decision on a hit (arrested, charged,
  no_further_action, eliminated, other), with the date it happened, a note, who and when.
- ``audit``     append-only access log (who, role, force, action, target, when, client address).
- ``users``     service users; only a hash of each bearer token is stored.

``decisions``, ``outcomes`` and ``audit`` are append-only in the database itself: the migrations
install triggers that refuse UPDATE and DELETE on them (SQLite and PostgreSQL).

All instants are UTC: ``UTCDateTime`` refuses naive datetimes on the way in and hands back
timezone-aware UTC datetimes on the way out, on SQLite as on PostgreSQL.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.types import TypeDecorator

# Stable constraint names so migrations can refer to them on every backend.
metadata = MetaData(naming_convention={
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
})

HIT_STATUSES = ("current", "superseded", "withdrawn")
OUTCOMES = ("ruled_in", "ruled_out", "further_enquiries")  # an officer's decision on a hit
# What became of the case after a decision (recorded for the scheme figures).
CASE_OUTCOMES = ("arrested", "charged", "no_further_action", "eliminated", "other")
ROLES = ("officer", "processing")
RUN_STATUSES = ("running", "ok", "failed", "interrupted")  # interrupted: killed mid-way


class UTCDateTime(TypeDecorator):
    """A timezone-aware UTC instant on every backend (SQLite stores it as naive UTC text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: the hit store holds UTC instants only")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


runs = Table(
    "runs", metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", String(16), nullable=False),  # nightly | rematch | ingest
    Column("started", UTCDateTime, nullable=False),
    Column("ended", UTCDateTime),
    Column("algorithm_version", String(32), nullable=False),
    Column("rules", JSON, nullable=False),
    Column("counts", JSON),
    Column("status", String(16), nullable=False),
    Column("summary", Text),
    CheckConstraint("status IN ('running', 'ok', 'failed', 'interrupted')", name="status"),
)

batches = Table(
    "batches", metadata,
    Column("id", Integer, primary_key=True),
    Column("police_force", String(64), nullable=False),
    Column("batch_id", String(64), nullable=False),  # as sent, e.g. HAM20250127-1-R
    Column("file_name", Text, nullable=False),
    Column("file_sha256", String(64), nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    Column("run_id", ForeignKey("runs.id"), nullable=False),
    Column("rows_read", Integer, nullable=False),
    Column("accepted", Integer, nullable=False),
    Column("rejected", Integer, nullable=False),
    UniqueConstraint("police_force", "batch_id", "file_sha256"),
)

crimes = Table(
    "crimes", metadata,
    Column("id", Integer, primary_key=True),
    Column("police_force", String(64), nullable=False),
    Column("crime_reference", String(64), nullable=False),
    Column("version", Integer, nullable=False),
    Column("batch_key", ForeignKey("batches.id"), nullable=False),  # the batch row it came in
    Column("batch_id", String(64), nullable=False),  # that batch's id as sent (denormalised)
    Column("crime_type", String(16), nullable=False),
    Column("description", Text, nullable=False),
    Column("time_from", UTCDateTime, nullable=False),
    Column("time_to", UTCDateTime, nullable=False),
    Column("x", Float, nullable=False),  # metres in ``crs``, the working CRS when received
    Column("y", Float, nullable=False),
    Column("crs", String(32), nullable=False),
    Column("lat", Float, nullable=False),  # WGS84
    Column("lon", Float, nullable=False),
    Column("text", Text, nullable=False),
    Column("content_sha256", String(64), nullable=False),  # what makes a resend a new version
    Column("received_at", UTCDateTime, nullable=False),
    Column("superseded", Boolean, nullable=False, default=False),
    Column("superseded_by", ForeignKey("crimes.id")),
    # The last run that matched this version, and a digest of the rules it used: a version is
    # matched again only when it never was, or under other rules (or by rematch).
    Column("matched_run_id", ForeignKey("runs.id")),
    Column("matched_rules", String(64)),
    # What placed x/y (or a grid reference's lat/lon) across WGS84 <-> OSGB36: "OSTN15"; NULL
    # for versions stored before OSTN15 (pyproj's Helmert), which matching refuses until
    # ``trailmatch upgrade`` re-projects them (migration 0005).
    Column("transformation", String(16)),
    Column("located_by", String(8)),  # which location the batch gave: grid | lonlat
    UniqueConstraint("police_force", "crime_reference", "version"),
    Index(None, "police_force", "crime_reference"),
    Index(None, "time_from"),
)

batch_crimes = Table(
    "batch_crimes", metadata,
    Column("batch_key", ForeignKey("batches.id"), primary_key=True),
    Column("crime_id", ForeignKey("crimes.id"), primary_key=True),
)

hits = Table(
    "hits", metadata,
    Column("id", Integer, primary_key=True),
    Column("crime_id", ForeignKey("crimes.id"), nullable=False),
    Column("subject", String(64), nullable=False),
    Column("police_force", String(64), nullable=False),  # denormalised from the crime
    Column("crime_reference", String(64), nullable=False),
    Column("crime_type", String(16), nullable=False),
    Column("min_distance_m", Float, nullable=False),
    Column("closest_time", UTCDateTime, nullable=False),
    Column("first_in", UTCDateTime, nullable=False),
    Column("last_in", UTCDateTime, nullable=False),
    Column("duration_s", Float, nullable=False),
    Column("fixes_in", Integer, nullable=False),
    Column("max_precision_m", Float),  # NULL: no fix in the vicinity had a precision
    Column("sources", String(64), nullable=False),
    Column("status", String(16), nullable=False, default="current"),
    Column("run_id", ForeignKey("runs.id"), nullable=False),  # the run that found it
    Column("updated_run_id", ForeignKey("runs.id"), nullable=False),  # last run that confirmed
    Column("withdrawn_run_id", ForeignKey("runs.id")),
    Column("withdrawn_at", UTCDateTime),
    UniqueConstraint("crime_id", "subject"),
    Index(None, "police_force", "crime_reference"),
    Index(None, "police_force", "closest_time"),
    Index(None, "subject"),
    CheckConstraint("status IN ('current', 'superseded', 'withdrawn')", name="status"),
)

decisions = Table(
    "decisions", metadata,
    Column("id", Integer, primary_key=True),
    Column("hit_id", ForeignKey("hits.id"), nullable=False),
    Column("outcome", String(32), nullable=False),
    Column("rationale", Text, nullable=False),
    Column("user_id", ForeignKey("users.id")),
    Column("user_name", String(128), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    CheckConstraint("outcome IN ('ruled_in', 'ruled_out', 'further_enquiries')", name="outcome"),
    Index(None, "hit_id"),
)

outcomes = Table(
    "outcomes", metadata,
    Column("id", Integer, primary_key=True),
    Column("hit_id", ForeignKey("hits.id"), nullable=False),
    Column("outcome", String(32), nullable=False),
    Column("outcome_date", Date, nullable=False),  # when it happened (a calendar date)
    Column("note", Text, nullable=False),
    Column("user_id", ForeignKey("users.id")),
    Column("user_name", String(128), nullable=False),
    Column("at", UTCDateTime, nullable=False),  # when it was recorded
    CheckConstraint("outcome IN ('arrested', 'charged', 'no_further_action', 'eliminated', "
                    "'other')", name="outcome"),
    Index(None, "hit_id"),
)

audit = Table(
    "audit", metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("at", UTCDateTime, nullable=False),
    Column("user_id", ForeignKey("users.id")),
    Column("user_name", String(128), nullable=False),
    Column("role", String(16), nullable=False),
    Column("police_force", String(64)),
    Column("action", String(64), nullable=False),
    Column("target", Text, nullable=False),
    Column("client_address", String(64)),
    Index(None, "at"),
)

users = Table(
    "users", metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(128), nullable=False),
    Column("role", String(16), nullable=False),
    Column("police_force", String(64)),  # officers: their force; processing: NULL
    Column("token_hash", String(128), nullable=False, unique=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime),
    CheckConstraint("role IN ('officer', 'processing')", name="role"),
)
