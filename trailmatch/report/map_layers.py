"""Map data of a batch's hits: one GeoJSON file per layer, each layer one geometry type.

A GIS (QGIS, ArcGIS, GDAL) opens a GeoJSON file as one layer with one geometry type and one
type per field; mixed geometries or a field that is sometimes a number and sometimes text make
it guess or refuse. So each layer is its own file (RFC 7946: WGS84 lon/lat), written in
``map/`` beside the report:

- ``vicinities.geojson``         Polygon: the vicinity circle of radius R around the crime (72
                                 vertices computed in the metric working CRS, then projected);
- ``paths.geojson``              MultiLineString: the subject's path through the window, one
                                 line per run of joined fixes (coverage gaps are not drawn);
- ``fixes.geojson``              Point: each fix in the vicinity, numbered as in the report;
- ``closest_approaches.geojson`` Point: the point of the path at the hit's closest time.

Every feature is of one hit and carries ``hit_id`` (the hit store / API id), the crime
reference, force and subject. Integers are JSON integers, every time is
``YYYY-MM-DDTHH:MM:SS.ffffffZ``. GeoJSON rather than one GeoPackage: plain text that any GIS
and a text editor open, written feature by feature without GDAL in the runtime dependencies,
and the same bytes for the same hits.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from contextlib import ExitStack
from pathlib import Path

import numpy as np
import pandas as pd

from trailmatch.atomic import atomic_open
from trailmatch.crs import working_to_lonlat
from trailmatch.evidence import HitEvidence as Evidence
from trailmatch.rules import Rules

CIRCLE_VERTICES = 72
LAYERS = ("vicinities", "paths", "fixes", "closest_approaches")


def iso_z(value) -> str:
    """An instant as ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (UTC, microseconds): the one time form of
    the map layers."""
    ns = value if isinstance(value, int | np.integer) else pd.Timestamp(value).value
    return str(np.datetime64(int(ns), "ns").astype("datetime64[us]")) + "Z"


def _num(value, digits: int = 3) -> float | None:
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


def path_lines(evidence: Evidence) -> list[list[list[float]]]:
    """The path split at coverage gaps: one coordinate list per run of joined fixes (the
    evidence model's, ``HitEvidence.path_lines``), to 7 decimals (1 cm)."""
    return [[[round(lon, 7), round(lat, 7)] for lon, lat in line]
            for line in evidence.path_lines()]


def _feature(geometry: dict, properties: dict) -> dict:
    return {"type": "Feature", "geometry": geometry, "properties": properties}


def hit_features(crime: dict, hit: dict, evidence: Evidence,
                 rules: Rules) -> dict[str, list[dict]]:
    """The features of one hit, by layer."""
    if hit.get("id") is None:
        raise ValueError("map layers need stored hits: every feature carries hit_id")
    base = {"hit_id": int(hit["id"]), "crime_reference": str(crime["crime_reference"]),
            "police_force": str(crime["police_force"]), "subject": str(evidence.subject)}
    vicinity = _feature(
        {"type": "Polygon",
         "coordinates": [vicinity_ring(crime["x"], crime["y"], rules.radius_m, rules.crs)]},
        {**base, "crime_type": str(crime["crime_type"]), "radius_m": float(rules.radius_m),
         "time_from": iso_z(crime["time_from"]), "time_to": iso_z(crime["time_to"]),
         "crime_lat": _num(crime["lat"], 7), "crime_lon": _num(crime["lon"], 7)})
    path = _feature(
        {"type": "MultiLineString", "coordinates": path_lines(evidence)},
        {**base, "fixes": int(evidence.n), "gaps": len(evidence.gaps),
         "visits": len(evidence.visits), "account": str(evidence.account),
         "min_distance_m": _num(hit["min_distance_m"]), "first_in": iso_z(hit["first_in"]),
         "last_in": iso_z(hit["last_in"]), "duration_s": _num(hit["duration_s"]),
         "fixes_in": int(hit["fixes_in"])})
    f = evidence.fixes_in_arrays
    lon, lat = np.round(f["lon"], 7).tolist(), np.round(f["lat"], 7).tolist()
    fixes = [
        _feature({"type": "Point", "coordinates": [lon[i], lat[i]]},
                 {**base, "seq": int(f["seq"][i]), "time": iso_z(int(f["time"][i])),
                  "precision_m": _num(f["precision_m"][i], 1), "source": str(f["source"][i]),
                  "distance_m": _num(f["distance_m"][i], 2)})
        for i in range(len(lon))]
    c = evidence.closest
    closest = [] if c is None else [
        _feature({"type": "Point", "coordinates": _pos(c.lon, c.lat)},
                 {**base, "time": iso_z(int(c.time)), "distance_m": _num(c.distance_m)})]
    return {"vicinities": [vicinity], "paths": [path], "fixes": fixes,
            "closest_approaches": closest}


def _dumps(obj: dict) -> str:
    return json.dumps(obj, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def write_map_layers(directory: Path, hits: Iterable[tuple[dict, dict, Evidence]],
                     rules: Rules) -> dict[str, Path]:
    """Write ``directory/<layer>.geojson`` for every layer, feature by feature (one a line),
    each file atomically. ``hits``: (crime, hit, evidence) in report order."""
    paths = {name: directory / f"{name}.geojson" for name in LAYERS}
    with ExitStack() as stack:
        files = {name: stack.enter_context(atomic_open(path)) for name, path in paths.items()}
        first = dict.fromkeys(LAYERS, True)
        for name, f in files.items():
            f.write(f'{{"type":"FeatureCollection","name":"{name}","features":[')
        for crime, hit, evidence in hits:
            for name, feats in hit_features(crime, hit, evidence, rules).items():
                for feat in feats:
                    files[name].write(("\n" if first[name] else ",\n") + _dumps(feat))
                    first[name] = False
        for f in files.values():
            f.write("\n]}\n")
    return paths
