"""``hits.geojson``: a batch's crimes and hits as one WGS84 FeatureCollection (RFC 7946).

Features, told apart by ``properties.kind``:

- ``crime``            the crime location (Point) with reference, type, window;
- ``vicinity``         the vicinity circle of radius R around it (Polygon, 72 vertices computed
                       in the metric working CRS, then projected, so it is a true circle there);
- ``path``             a hit subject's path through the window (MultiLineString: one line per
                       run of joined fixes; coverage gaps are not drawn);
- ``fix``              each fix in the vicinity with its precision (confidence radius, metres),
                       time, source and distance to the crime;
- ``closest_approach`` the point of the path at the hit's closest time.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd

from trailmatch.crs import working_to_lonlat
from trailmatch.evidence import HitEvidence
from trailmatch.rules import Rules

CIRCLE_VERTICES = 72


def _iso(value) -> str:
    return pd.Timestamp(value).tz_convert("UTC").isoformat()


def _num(value, digits: int = 3):
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else round(value, digits)


def _pos(lon: float, lat: float) -> list[float]:
    return [round(float(lon), 7), round(float(lat), 7)]


def vicinity_ring(x: float, y: float, radius_m: float, crs: str) -> list[list[float]]:
    """A closed, counter-clockwise ring (RFC 7946) approximating the circle in the working CRS."""
    a = np.linspace(0.0, 2 * np.pi, CIRCLE_VERTICES, endpoint=False)
    lon, lat = working_to_lonlat(x + radius_m * np.cos(a), y + radius_m * np.sin(a), crs)
    ring = [_pos(o, t) for o, t in zip(lon, lat, strict=True)]
    return ring + [ring[0]]


def path_lines(evidence: HitEvidence) -> list[list[list[float]]]:
    """The path split at coverage gaps: one coordinate list per run of joined fixes (the
    model's, ``HitEvidence.path_lines``, to 7 decimals)."""
    return [[[round(lon, 7), round(lat, 7)] for lon, lat in line]
            for line in evidence.path_lines()]


def crime_features(crime: dict, rules: Rules) -> list[dict]:
    props = {
        "crime_reference": crime["crime_reference"], "police_force": crime["police_force"],
        "crime_type": crime["crime_type"], "description": crime.get("description"),
        "time_from": _iso(crime["time_from"]), "time_to": _iso(crime["time_to"]),
        "version": crime.get("version"), "batch_id": crime.get("batch_id"),
    }
    return [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": _pos(crime["lon"],
                                                                              crime["lat"])},
         "properties": {"kind": "crime", **props}},
        {"type": "Feature",
         "geometry": {"type": "Polygon",
                      "coordinates": [vicinity_ring(crime["x"], crime["y"], rules.radius_m,
                                                    rules.crs)]},
         "properties": {"kind": "vicinity", "crime_reference": crime["crime_reference"],
                        "radius_m": rules.radius_m}},
    ]


def hit_features(crime: dict, hit: dict, evidence: HitEvidence) -> list[dict]:
    ref = crime["crime_reference"]
    subject = evidence.subject
    base = {"crime_reference": ref, "subject": subject}
    feats = [{
        "type": "Feature",
        "geometry": {"type": "MultiLineString", "coordinates": path_lines(evidence)},
        "properties": {"kind": "path", **base, "hit_id": hit.get("id"),
                       "min_distance_m": _num(hit["min_distance_m"]),
                       "first_in": _iso(hit["first_in"]), "last_in": _iso(hit["last_in"]),
                       "duration_s": _num(hit["duration_s"]), "fixes_in": int(hit["fixes_in"]),
                       "fixes": evidence.n, "visits": len(evidence.visits),
                       "gaps": len(evidence.gaps), "account": evidence.account,
                       "precision_note": evidence.precision_note},
    }]
    f = evidence.fixes_in_arrays
    times = np.datetime_as_string(f["time"].view("datetime64[ns]"), unit="us")
    lon, lat = np.round(f["lon"], 7).tolist(), np.round(f["lat"], 7).tolist()
    for i, when in enumerate(times.tolist()):
        feats.append({
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [lon[i], lat[i]]},
            "properties": {"kind": "fix", **base, "seq": int(f["seq"][i]),
                           "time": when + "+00:00",
                           "precision_m": _num(f["precision_m"][i], 1),
                           "source": str(f["source"][i]),
                           "distance_m": _num(f["distance_m"][i], 2)},
        })
    if evidence.closest is not None:
        feats.append({
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": _pos(*evidence.closest_lonlat)},
            "properties": {"kind": "closest_approach", **base,
                           "time": _iso(pd.Timestamp(evidence.closest.time, tz="UTC")),
                           "distance_m": _num(evidence.closest.distance_m)},
        })
    return feats


def batch_geojson(crimes: list[dict], hits_by_crime: dict, evidence: dict,
                  rules: Rules) -> dict:
    """The FeatureCollection of a batch. ``hits_by_crime``: crime id -> list of hit dicts;
    ``evidence``: (crime id, subject) -> Evidence."""
    features: list[dict] = []
    for crime in crimes:
        features += crime_features(crime, rules)
        for hit in hits_by_crime.get(crime["id"], []):
            features += hit_features(crime, hit, evidence[(crime["id"], hit["subject"])])
    return {"type": "FeatureCollection", "features": features}


def dumps(collection: dict) -> str:
    return json.dumps(collection, ensure_ascii=False, allow_nan=False, indent=None,
                      separators=(",", ":"))
