"""Pydantic models for every request and response of the service (they are the OpenAPI)."""

from __future__ import annotations

import datetime as dt
import unicodedata
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

Outcome = Literal["ruled_in", "ruled_out", "further_enquiries"]


class Health(BaseModel):
    status: Literal["ok"]
    database: str = Field(description="the database dialect in use (sqlite, postgresql)")


class ClientConfig(BaseModel):
    tile_url: str | None = Field(None, description="map tile URL template; none: plain background")
    tile_attribution: str = ""
    tiles_need_token: bool = Field(False, description="the tiles are the service's own "
                                   "(/tiles/{z}/{x}/{y}, serve --tiles): fetch them with the token")
    tile_min_zoom: int | None = None
    tile_max_zoom: int | None = Field(None, description="deepest zoom the tiles exist at; "
                                      "closer views enlarge them")
    tile_bounds: list[float] | None = Field(None, description="west, south, east, north (WGS84) "
                                            "of the tiles; none asked for outside")
    crime_types: dict[str, str] = Field(default_factory=dict, description="the scheme's "
                                        "crime type codes and their names (for the page's "
                                        "filter and labels)")


class Me(BaseModel):
    name: str
    role: Literal["officer", "processing"]
    force: str | None


class VicinityFields(BaseModel):
    """A subject in the vicinity of a place during a window: the hit fields of the vicinity
    contract (shared by stored hits and ad-hoc proximity answers)."""

    subject: str
    min_distance_m: float
    closest_time: dt.datetime
    first_in: dt.datetime
    last_in: dt.datetime
    duration_s: float
    fixes_in: int
    max_precision_m: float | None
    sources: str


class HitOut(VicinityFields):
    """One hit: the hit fields of the vicinity contract, with the store's id and status."""

    model_config = ConfigDict(from_attributes=True)
    id: int
    crime_reference: str
    police_force: str
    crime_type: str
    status: Literal["current", "superseded", "withdrawn"]
    run_id: int


class DayHitOut(HitOut):
    """A row of ``GET /hits``: with ``date`` (the day's list) also the crime's batch and
    window and the hit's review status; the crime list (``crime_reference``) leaves them out."""

    batch_id: str | None = Field(None, description="the batch the crime's current version "
                                 "came in")
    time_from: dt.datetime | None = None
    time_to: dt.datetime | None = None
    review: Outcome | None = Field(None, description="the latest decision's outcome; none: "
                                   "not reviewed yet")
    reviewed_by: str | None = None
    reviewed_at: dt.datetime | None = None
    decisions: int | None = Field(None, description="how many decisions are recorded")


class CrimeOut(BaseModel):
    crime_reference: str
    police_force: str
    crime_type: str
    description: str
    version: int
    batch_id: str
    time_from: dt.datetime
    time_to: dt.datetime
    lat: float
    lon: float
    superseded: bool


class FixOut(BaseModel):
    seq: int = Field(description="1-based position of the fix in the path through the window")
    time: dt.datetime
    lat: float
    lon: float
    precision_m: float | None
    source: str
    distance_m: float = Field(description="distance from the crime location, metres")
    in_window: bool = Field(description="the fix lies inside the (buffered) crime window")
    in_vicinity: bool = Field(description="inside the window and within the radius "
                                          "(plus precision when counted)")
    speed_kmh: float | None = Field(None, description="straight-line speed from the previous "
                                                      "fix of the path (none for the first)")
    joined_to_previous: bool = Field(False, description="joined to the previous fix by a "
                                                        "segment (not more than max gap apart)")
    east_m: float | None = Field(None, description="metres east of the crime in the working "
                                                   "CRS (where distances are measured)")
    north_m: float | None = Field(None, description="metres north of the crime in the working "
                                                    "CRS")
    reach_m: float | None = Field(None, description="the precision counted for this fix: its "
                                                    "precision, or 0 when unknown or when the "
                                                    "rules do not count precision")


class ClosestApproach(BaseModel):
    time: dt.datetime
    lat: float
    lon: float
    distance_m: float


class MultiLineString(BaseModel):
    type: Literal["MultiLineString"] = "MultiLineString"
    coordinates: list[list[list[float]]] = Field(
        description="one [lon, lat] line per run of joined fixes (a gap breaks the line)")


class MotionOut(BaseModel):
    speed_kmh: float
    bearing_deg: float | None = Field(description="grid bearing, degrees clockwise from grid "
                                                  "north; none when stationary")
    compass: str | None = Field(description="the bearing as one of eight compass points")


class VisitOut(BaseModel):
    """One stretch of time in the vicinity, exactly from the closed forms."""

    number: int
    entry: dt.datetime
    exit: dt.datetime
    dwell_s: float
    entry_kind: Literal["crossed", "window", "gap", "isolated"] = Field(
        description="crossed the edge of the vicinity; already there when the window opened; "
                    "first fix after a gap; an isolated fix")
    exit_kind: Literal["crossed", "window", "gap", "isolated"]
    entry_seq: int = Field(description="the path fix (seq) starting the piece it entered on")
    exit_seq: int
    approach: MotionOut | None
    departure: MotionOut | None
    closest_m: float
    closest_time: dt.datetime
    closest_precision_m: float = Field(description="precision counted at the closest instant "
                                                   "(interpolated between fixes; 0 if not "
                                                   "counted)")
    closest_at_fix: bool
    within_radius: bool = Field(description="closest within R itself, without precision")
    sentence: str


class GapOut(BaseModel):
    """Fixes more than max gap apart whose interval meets the window: not monitored between
    them. ``before``/``after`` are none when no fix lies within max gap of the window there."""

    before_seq: int | None
    after_seq: int | None
    before: dt.datetime | None
    after: dt.datetime | None
    window_from: dt.datetime
    window_to: dt.datetime
    seconds_in_window: float


class HitDetail(HitOut):
    crime: CrimeOut
    radius_m: float
    max_gap_s: float
    count_precision: bool
    window_from: dt.datetime = Field(description="crime window widened by the run's buffers")
    window_to: dt.datetime
    closest: ClosestApproach | None
    fixes: list[FixOut] = Field(description="the fixes of the path through the window: those "
                                            "inside it, and the one either side within max gap")
    path: MultiLineString
    visits: list[VisitOut] = Field(description="the visits into the vicinity, in time order")
    gaps: list[GapOut] = Field(description="the gaps that meet the window, in time order")
    account: str = Field(description="the visits and gaps as sentences an officer can read out")
    precision_note: str | None = Field(description="when the hit holds only because precision "
                                                   "is counted: how")
    decisions: list[DecisionOut] = Field(description="decisions recorded so far, oldest first")


def _readable(text: str) -> str:
    """A rationale someone wrote: no NUL or other control character but line breaks and tabs,
    and at least one visible character (only spaces, zero-width or other invisible characters
    is blank)."""
    if any(unicodedata.category(c) == "Cc" and c not in "\n\r\t" for c in text):
        raise ValueError("the rationale holds a control character")
    if not any(unicodedata.category(c)[0] in "LNPS" for c in text):
        raise ValueError("the rationale is blank: write why")
    return text


Rationale = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                             max_length=10_000), AfterValidator(_readable)]


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    outcome: Outcome
    rationale: Rationale = Field(description="why: required, not blank")


class DecisionOut(BaseModel):
    id: int
    hit_id: int
    outcome: Outcome
    rationale: str
    user: str
    decided_at: dt.datetime


class PointGeometry(BaseModel):
    type: Literal["Point"] = "Point"
    coordinates: list[float]


class Feature(BaseModel):
    type: Literal["Feature"] = "Feature"
    geometry: PointGeometry | MultiLineString
    properties: dict[str, Any]


class FeatureCollection(BaseModel):
    type: Literal["FeatureCollection"] = "FeatureCollection"
    features: list[Feature]


class Place(BaseModel):
    lat: float
    lon: float
    easting: float
    northing: float


class ProximityHit(VicinityFields):
    """A subject found by an ad-hoc proximity query."""


class ProximityOut(BaseModel):
    place: Place
    time_from: dt.datetime
    time_to: dt.datetime
    radius_m: float
    max_gap_s: float
    count_precision: bool
    subjects: list[ProximityHit]


class RunOut(BaseModel):
    id: int
    kind: str
    started: dt.datetime
    ended: dt.datetime | None
    algorithm_version: str
    rules: dict[str, Any]
    counts: dict[str, Any] | None
    # interrupted: still running when a later run started (killed mid-way)
    status: Literal["running", "ok", "failed", "interrupted"]


class AuditOut(BaseModel):
    id: int
    at: dt.datetime
    user: str
    role: str
    police_force: str | None
    action: str
    target: str
    client_address: str | None


class Problem(BaseModel):
    detail: str


HitDetail.model_rebuild()  # its decisions are DecisionOut, defined after it
