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
import re
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
AFFINE_MAX_R = 250.0  # metres: vicinity rings up to this radius are projected as an affine map


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
    return vicinity_rings(np.array([x]), np.array([y]), radius_m, crs)[0].tolist()


def vicinity_rings(x: np.ndarray, y: np.ndarray, radius_m: float, crs: str) -> np.ndarray:
    """The vicinity rings of many crimes at once, ``(n, CIRCLE_VERTICES + 1, 2)`` lon/lat to 7
    decimals, each closed and counter-clockwise (RFC 7946).

    The circle is drawn in the working CRS. Up to ``AFFINE_MAX_R`` its vertices go to WGS84 by
    the affine map that agrees with the projection at the centre and at R east and R north of
    it: three projected points a crime instead of 72 (the projection, OSTN15, is most of the
    map layers' cost), within 1 cm of projecting each vertex at R = 100 m and 3 cm at 250 m
    (tests/test_map_layers.py), well inside the 72-gon's own departure from the circle
    (R (1 - cos 2.5 deg): 10 cm at R = 100 m). Larger vicinities meet OSTN15's 1 km cells'
    bends, so each vertex is projected."""
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    n = x.size
    a = np.linspace(0.0, 2 * np.pi, CIRCLE_VERTICES, endpoint=False)
    if radius_m > AFFINE_MAX_R:
        lon, lat = working_to_lonlat((x[:, None] + radius_m * np.cos(a)).ravel(),
                                     (y[:, None] + radius_m * np.sin(a)).ravel(), crs)
        ring = np.stack([lon.reshape(n, -1), lat.reshape(n, -1)], axis=-1)
        return np.round(np.concatenate([ring, ring[:, :1]], axis=1), 7)
    lon, lat = working_to_lonlat(np.concatenate([x, x + radius_m, x]),
                                 np.concatenate([y, y, y + radius_m]), crs)
    c = np.column_stack([lon[:n], lat[:n]])
    east = np.column_stack([lon[n:2 * n], lat[n:2 * n]]) - c
    north = np.column_stack([lon[2 * n:], lat[2 * n:]]) - c
    ring = (c[:, None, :] + np.cos(a)[None, :, None] * east[:, None, :]
            + np.sin(a)[None, :, None] * north[:, None, :])
    ring = np.concatenate([ring, ring[:, :1]], axis=1)
    return np.round(ring, 7)


def path_lines(evidence: Evidence) -> list[list[list[float]]]:
    """The path split at coverage gaps: one coordinate list per run of joined fixes (the
    evidence model's, ``HitEvidence.path_lines``), to 7 decimals (1 cm)."""
    return json.loads(_path_lines_json(evidence))


def _points_json(flat: list[float]) -> str:
    """``[[lon,lat],...]`` from interleaved values, to 7 decimals. ``%.7f`` is exactly
    Python's ``round(v, 7)`` (both correctly rounded), written in one formatting call: a sixth
    of the cost of rounding each value and encoding the lists."""
    if not all(map(math.isfinite, flat)):
        raise ValueError("a map coordinate is not finite")
    text = ",".join(["[%.7f,%.7f]"] * (len(flat) // 2)) % tuple(flat)
    # "-2.5000000" -> "-2.5", "51.0000000" -> "51.0": the text json.dumps gives round(v, 7)
    # (for values of a few digits before the point, the shortest text that reads back the
    # same float); every value has a point, so the zeros before "," or "]" are decimals
    text = _TRAILING_ZEROS.sub("", text).replace(".,", ".0,").replace(".]", ".0]")
    return "[" + text + "]"


_TRAILING_ZEROS = re.compile(r"0+(?=[,\]])")


def _path_lines_json(evidence: Evidence) -> str:
    """``path_lines`` as JSON text: the lines ``HitEvidence.path_lines`` cuts, written
    directly."""
    a = evidence.arrays
    flat = np.column_stack([a["lon"], a["lat"]]).ravel().tolist()
    breaks = np.flatnonzero(~np.asarray(a["joined_to_previous"], bool)).tolist()
    bounds = [*breaks, evidence.n]
    return "[" + ",".join(_points_json(flat[2 * p:2 * q])
                          for p, q in zip(bounds[:-1], bounds[1:], strict=True)
                          if q - p >= 2) + "]"


def _feature(geometry: dict, properties: dict) -> dict:
    return {"type": "Feature", "geometry": geometry, "properties": properties}


def _feature_text(kind: str, coordinates: str, properties: dict) -> str:
    return (f'{{"type":"Feature","geometry":{{"type":"{kind}","coordinates":{coordinates}}},'
            f'"properties":{_dumps(properties)}}}')


def hit_feature_texts(crime: dict, hit: dict, evidence: Evidence, rules: Rules,
                      ring: np.ndarray | None = None) -> dict[str, list[str]]:
    """The features of one hit, by layer, as GeoJSON text. ``ring``: the crime's vicinity
    ring (``vicinity_rings``; computed here when not given)."""
    if hit.get("id") is None:
        raise ValueError("map layers need stored hits: every feature carries hit_id")
    if ring is None:
        ring = vicinity_rings(np.array([float(crime["x"])]), np.array([float(crime["y"])]),
                              rules.radius_m, rules.crs)[0]
    base = {"hit_id": int(hit["id"]), "crime_reference": str(crime["crime_reference"]),
            "police_force": str(crime["police_force"]), "subject": str(evidence.subject)}
    vicinity = _feature_text(
        "Polygon", "[" + _points_json(ring.ravel().tolist()) + "]",
        {**base, "crime_type": str(crime["crime_type"]), "radius_m": float(rules.radius_m),
         "time_from": iso_z(crime["time_from"]), "time_to": iso_z(crime["time_to"]),
         "crime_lat": _num(crime["lat"], 7), "crime_lon": _num(crime["lon"], 7)})
    path = _feature_text(
        "MultiLineString", _path_lines_json(evidence),
        {**base, "fixes": int(evidence.n), "gaps": len(evidence.gaps),
         "visits": len(evidence.visits), "account": str(evidence.account),
         "min_distance_m": _num(hit["min_distance_m"]), "first_in": iso_z(hit["first_in"]),
         "last_in": iso_z(hit["last_in"]), "duration_s": _num(hit["duration_s"]),
         "fixes_in": int(hit["fixes_in"])})
    f = evidence.fixes_in_arrays
    lon, lat = np.round(f["lon"], 7).tolist(), np.round(f["lat"], 7).tolist()
    fixes = [
        _dumps(_feature({"type": "Point", "coordinates": [lon[i], lat[i]]},
                        {**base, "seq": int(f["seq"][i]), "time": iso_z(int(f["time"][i])),
                         "precision_m": _num(f["precision_m"][i], 1),
                         "source": str(f["source"][i]),
                         "distance_m": _num(f["distance_m"][i], 2)}))
        for i in range(len(lon))]
    c = evidence.closest
    closest = [] if c is None else [
        _dumps(_feature({"type": "Point", "coordinates": _pos(c.lon, c.lat)},
                        {**base, "time": iso_z(int(c.time)),
                         "distance_m": _num(c.distance_m)}))]
    return {"vicinities": [vicinity], "paths": [path], "fixes": fixes,
            "closest_approaches": closest}


def hit_features(crime: dict, hit: dict, evidence: Evidence,
                 rules: Rules) -> dict[str, list[dict]]:
    """The features of one hit, by layer (``hit_feature_texts``, parsed)."""
    return {name: [json.loads(t) for t in texts]
            for name, texts in hit_feature_texts(crime, hit, evidence, rules).items()}


def _dumps(obj: dict) -> str:
    return json.dumps(obj, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def write_map_layers(directory: Path, hits: Iterable[tuple[dict, dict, Evidence]],
                     rules: Rules) -> dict[str, Path]:
    """Write ``directory/<layer>.geojson`` for every layer, feature by feature (one a line),
    each file atomically. ``hits``: (crime, hit, evidence) in report order."""
    hits = list(hits)
    rings = vicinity_rings(np.array([float(c["x"]) for c, _, _ in hits]),
                           np.array([float(c["y"]) for c, _, _ in hits]),
                           rules.radius_m, rules.crs)
    paths = {name: directory / f"{name}.geojson" for name in LAYERS}
    with ExitStack() as stack:
        files = {name: stack.enter_context(atomic_open(path)) for name, path in paths.items()}
        first = dict.fromkeys(LAYERS, True)
        for name, f in files.items():
            f.write(f'{{"type":"FeatureCollection","name":"{name}","features":[')
        for (crime, hit, evidence), ring in zip(hits, rings, strict=True):
            for name, feats in hit_feature_texts(crime, hit, evidence, rules, ring).items():
                for feat in feats:
                    files[name].write(("\n" if first[name] else ",\n") + feat)
                    first[name] = False
        for f in files.values():
            f.write("\n]}\n")
    return paths
