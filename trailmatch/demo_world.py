"""A small, realistic synthetic world for ``trailmatch demo``: same seed, same world.

Three forces' towns (Southampton - Hampshire, Brighton - Sussex, Croydon - Metropolitan), each a
street grid (blocks of ``BLOCK_M`` metres in the British National Grid). Subjects live at one
intersection and work at another; on each day they leave home in the morning, travel along the
streets to work (walking, or driving when it is far), go home in the evening and sometimes out
again. What their tags record is what real tags record:

- outdoors, a GPS fix a minute with a few metres of noise and its precision (5-25 m), now and
  then a multipath error of 60-150 m, rarely a precision of 0 (which ingest flags);
- indoors (home, work) mostly silence - gaps longer than the max gap - with occasional RF fixes
  from the home unit and WiFi fixes at work with a large confidence circle (40-120 m), and now
  and then an LBS fix from the mobile network (300-1,500 m);
- one tag goes uncharged for a day;
- uploads arrive minutes to hours after the fix; the export is not in time order.

Crimes: each force sends one batch CSV (docs/formats.md §1) for the three days: burglaries,
robberies and thefts at random places and times in its town, a handful placed where a subject
really passed (a few metres to ~60 m from the path, inside the window), some near misses
(150-300 m), and two records with mistakes that ingest rejects. Files written: the tag position
export, the subjects file, and one crime batch per force.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from trailmatch.crs import working_to_lonlat

SEED = 20250306
START = pd.Timestamp("2025-03-03", tz="UTC")  # Monday
DAYS = 3
BLOCK_M = 110.0
FIX_S = 60

TOWNS = [
    # force, code, reference prefix, grid centre (E, N), subjects
    ("Hampshire", "HAM", "44", (442300.0, 112300.0), 14),
    ("Sussex", "SXP", "47", (531200.0, 104600.0), 10),
    ("Metropolitan", "MPS", "01", (532500.0, 165400.0), 12),
]
CRIME_TYPES = [
    ("BIAD", "Burglary in a dwelling"), ("RB", "Robbery"), ("TFP", "Theft from the person"),
    ("TFMV", "Theft from a motor vehicle"), ("TOMV", "Theft of a motor vehicle"),
    ("BOTD", "Burglary in a building other than a dwelling"), ("AB", "Aggravated burglary"),
]
TEXTS = ["", "", "rear door forced", "window smashed", "phone snatched from hand",
         "vehicle taken from driveway", "bag stolen at bus stop", "shed broken into",
         "catalytic converter removed", "suspect fled on foot", "side gate left open"]

EXPORT_COLUMNS = [
    "position_id", "person_id", "device_id", "position_gps_date", "position_recorded_date",
    "position_uploaded_date", "position_latitude", "position_longitude", "position_precision",
    "position_hdop", "position_satellite", "position_speed", "position_direction",
    "position_lbs",
]


@dataclass
class World:
    fixes: pd.DataFrame  # the true + recorded fixes, working CRS (for tests and planting)
    subjects: pd.DataFrame  # subject, device, activation_start, activation_end, ..., force
    crimes: dict[str, list[list[str]]]  # force -> batch CSV records
    batch_ids: dict[str, str]  # force -> batch id
    planted: pd.DataFrame  # crime_reference, police_force, subject, offset_m (real passes)


def _route(a: np.ndarray, b: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Corners of a street route from a to b on the grid (east-west first or north-south)."""
    if rng.random() < 0.5:
        return np.array([a, [b[0], a[1]], b])
    return np.array([a, [a[0], b[1]], b])


def _along(corners: np.ndarray, metres: np.ndarray) -> np.ndarray:
    legs = np.hypot(*np.diff(corners, axis=0).T)
    cum = np.concatenate([[0.0], np.cumsum(legs)])
    metres = np.clip(metres, 0.0, cum[-1])
    k = np.clip(np.searchsorted(cum, metres, side="right") - 1, 0, len(legs) - 1)
    f = np.where(legs[k] > 0, (metres - cum[k]) / np.where(legs[k] > 0, legs[k], 1.0), 0.0)
    return corners[k] + f[:, None] * (corners[k + 1] - corners[k])


def _day_plan(rng, home, work, shops, day0_s: int) -> list[tuple]:
    """(kind, t0, t1, place or route) pieces covering one day, seconds since the epoch."""
    leave = day0_s + int(rng.normal(7.6, 0.5) * 3600)
    back = day0_s + int(rng.normal(17.2, 0.7) * 3600)
    plan = [("indoor_home", day0_s, leave, home)]
    t = leave
    for a, b, until, kind in ((home, work, back, "indoor_work"),):
        route = _route(a, b, rng)
        length = float(np.hypot(*np.diff(route, axis=0).T).sum())
        speed = 1.4 if length < 2500 else rng.uniform(7.0, 11.0)
        t_arrive = t + int(length / speed) + 1
        plan.append(("travel", t, t_arrive, route))
        plan.append((kind, t_arrive, until, b))
        t = until
    route = _route(work, home, rng)
    length = float(np.hypot(*np.diff(route, axis=0).T).sum())
    speed = 1.4 if length < 2500 else rng.uniform(7.0, 11.0)
    t_home = t + int(length / speed) + 1
    plan.append(("travel", t, t_home, route))
    end = day0_s + 86400
    if rng.random() < 0.45:  # an evening out
        shop = shops[rng.integers(len(shops))]
        out_at = t_home + int(rng.uniform(1.0, 2.5) * 3600)
        r1 = _route(home, shop, rng)
        d1 = float(np.hypot(*np.diff(r1, axis=0).T).sum()) / 1.4
        stay = int(rng.uniform(0.5, 2.0) * 3600)
        r2 = _route(shop, home, rng)
        d2 = float(np.hypot(*np.diff(r2, axis=0).T).sum()) / 1.4
        plan.append(("indoor_home", t_home, out_at, home))
        plan.append(("travel", out_at, out_at + int(d1) + 1, r1))
        plan.append(("outdoor", out_at + int(d1) + 1, out_at + int(d1) + 1 + stay, shop))
        back_at = out_at + int(d1) + 1 + stay
        plan.append(("travel", back_at, back_at + int(d2) + 1, r2))
        plan.append(("indoor_home", back_at + int(d2) + 1, end, home))
    else:
        plan.append(("indoor_home", t_home, end, home))
    return plan


def _subject_fixes(rng, subject: str, home, work, shops, silent: tuple | None) -> pd.DataFrame:
    rows = []
    for d in range(DAYS):
        day0 = int((START + pd.Timedelta(days=d)).timestamp())
        for kind, t0, t1, where in _day_plan(rng, home, work, shops, day0):
            if t1 <= t0:
                continue
            t = np.arange(t0 - t0 % FIX_S + FIX_S, t1, FIX_S) + rng.integers(0, 4)
            if t.size == 0:
                continue
            if kind == "travel":
                frac = (t - t0) / (t1 - t0)
                length = float(np.hypot(*np.diff(where, axis=0).T).sum())
                xy = _along(where, frac * length)
                src = np.ones(t.size, np.int64)
                keep = rng.random(t.size) > 0.04
            elif kind == "outdoor":
                xy = np.tile(where, (t.size, 1)) + rng.normal(0, 8, (t.size, 2))
                src = np.ones(t.size, np.int64)
                keep = rng.random(t.size) > 0.3
            else:  # indoors: mostly silence, home unit RF or WiFi now and then
                xy = np.tile(where, (t.size, 1))
                src = np.full(t.size, 4 if kind == "indoor_home" else 6, np.int64)
                keep = rng.random(t.size) < (0.08 if kind == "indoor_home" else 0.05)
            rows.append(pd.DataFrame({"t": t[keep], "x": xy[keep, 0], "y": xy[keep, 1],
                                      "source": src[keep], "kind": kind}))
    f = pd.concat(rows, ignore_index=True)
    n = len(f)
    gps = f["source"].to_numpy() == 1
    prec = np.where(gps, rng.choice([5, 8, 10, 15, 25], n),
                    np.where(f["source"].to_numpy() == 4, 30, rng.uniform(40, 120, n)))
    noise = rng.normal(0, 1, (n, 2)) * np.where(gps, 4.0, prec / 2)[:, None]
    # Multipath: a few GPS fixes land 60-150 m off, still claiming good precision.
    spike = gps & (rng.random(n) < 0.01)
    ang = rng.uniform(0, 2 * np.pi, n)
    dist = rng.uniform(60, 150, n)
    noise[spike] += np.column_stack([np.cos(ang), np.sin(ang)])[spike] * dist[spike, None]
    # LBS: the mobile network's cell fix, anywhere, with a huge circle.
    lbs = rng.random(n) < 0.003
    prec = np.where(lbs, rng.uniform(300, 1200, n), prec)
    noise[lbs] = rng.normal(0, 1, (int(lbs.sum()), 2)) * prec[lbs, None] / 2
    src = np.where(lbs, 5, f["source"].to_numpy())
    prec = np.where(gps & (rng.random(n) < 0.002), 0.0, prec)  # "0 happens and is suspicious"
    out = pd.DataFrame({
        "subject": subject, "t": f["t"].to_numpy(), "x": f["x"].to_numpy() + noise[:, 0],
        "y": f["y"].to_numpy() + noise[:, 1], "true_x": f["x"].to_numpy(),
        "true_y": f["y"].to_numpy(), "precision_m": prec.round(0), "source": src,
        "kind": f["kind"].to_numpy(),
    })
    if silent is not None:  # the uncharged tag
        out = out[(out["t"] < silent[0]) | (out["t"] >= silent[1])]
    return out.reset_index(drop=True)


def _crime_record(force, code, prefix, batch_id, ref_no, ctype, t0, t1, x, y, rng,
                  grid: bool) -> list[str]:
    lon, lat = working_to_lonlat(np.array([x]), np.array([y]))
    fmt = "%Y%m%d%H%M%S"
    loc = ([f"{x:.1f}", f"{y:.1f}", "", "", "OSGB36"] if grid
           else ["", "", f"{lat[0]:.6f}", f"{lon[0]:.6f}", "WGS84"])
    return [force, ctype[0], ctype[1], batch_id, f"{prefix}/{ref_no}/25",
            pd.Timestamp(t0, unit="s", tz="UTC").strftime(fmt),
            pd.Timestamp(t1, unit="s", tz="UTC").strftime(fmt), *loc[:4], loc[4],
            str(rng.choice(TEXTS))]


def build_world(seed: int = SEED) -> World:
    rng = np.random.default_rng(seed)
    all_fixes, subjects, crimes, batch_ids, planted = [], [], {}, {}, []
    end_s = int((START + pd.Timedelta(days=DAYS)).timestamp())
    batch_day = (START + pd.Timedelta(days=DAYS)).strftime("%Y%m%d")
    person = 7100
    for t_no, (force, code, prefix, (ce, cn), n_subj) in enumerate(TOWNS):
        def spot(spread: float, ce=ce, cn=cn) -> np.ndarray:
            i, j = rng.integers(-spread // BLOCK_M, spread // BLOCK_M + 1, 2)
            return np.array([ce + i * BLOCK_M, cn + j * BLOCK_M])

        shops = [spot(1200) for _ in range(6)]
        town = []
        for s in range(n_subj):
            person += 1
            subject = f"{person:05d}"
            silent = None
            if t_no == 0 and s == 0:  # the uncharged tag: silent from day 2 09:00 for 26 h
                s0 = int((START + pd.Timedelta(days=1, hours=9)).timestamp())
                silent = (s0, s0 + 26 * 3600)
            f = _subject_fixes(rng, subject, spot(2500), spot(3500), shops, silent)
            town.append(f)
            subjects.append({
                "subject": subject, "device": f"T{person}A",
                "activation_start": (START - pd.Timedelta(days=30)).strftime("%Y-%m-%d"),
                "activation_end": "",
                "licence_end": (START + pd.Timedelta(days=int(rng.integers(60, 400))))
                .strftime("%Y-%m-%d"),
                "force": force, "cohort": str(rng.choice(["fixed", "flex", "free"])),
            })
        fixes = pd.concat(town, ignore_index=True)
        all_fixes.append(fixes)

        batch_id = f"{code}{batch_day}"
        batch_ids[force] = batch_id
        records = []
        ref_no = 3000 + 1000 * t_no
        for _ in range(int(rng.integers(45, 70))):  # crimes anywhere in town, any time
            ref_no += 1
            t0 = int(rng.integers(int(START.timestamp()), end_s - 3600))
            t1 = t0 + int(rng.choice([0, 600, 1800, 3600, 3 * 3600, 6 * 3600]))
            xy = np.array([ce, cn]) + rng.uniform(-3500, 3500, 2)
            records.append(_crime_record(force, code, prefix, batch_id, ref_no,
                                         CRIME_TYPES[rng.integers(len(CRIME_TYPES))], t0,
                                         t1, xy[0], xy[1], rng, rng.random() < 0.3))
        # Real passes and near misses: on the true path of a subject while travelling.
        travel = fixes[fixes["kind"] == "travel"]
        for k in range(7):
            fix = travel.iloc[int(rng.integers(len(travel)))]
            ref_no += 1
            near = k < 5
            offset = rng.uniform(3, 60) if near else rng.uniform(150, 300)
            ang = rng.uniform(0, 2 * np.pi)
            x = fix["true_x"] + offset * np.cos(ang)
            y = fix["true_y"] + offset * np.sin(ang)
            t0 = int(fix["t"]) - int(rng.integers(300, 1800))
            t1 = int(fix["t"]) + int(rng.integers(0, 900))
            records.append(_crime_record(force, code, prefix, batch_id, ref_no,
                                         CRIME_TYPES[rng.integers(len(CRIME_TYPES))], t0, t1,
                                         x, y, rng, k % 2 == 0))
            planted.append({"crime_reference": f"{prefix}/{ref_no}/25",
                            "police_force": force, "subject": fix["subject"],
                            "offset_m": round(float(offset), 1), "real_pass": near})
        # Two records with mistakes, as forces send them: half a location, to before from.
        bad = list(records[0])
        bad[4] = f"{prefix}/{ref_no + 1}/25"
        if bad[7]:
            bad[8] = ""  # easting without northing
        else:
            bad[10] = ""  # latitude without longitude
        bad2 = list(records[1])
        bad2[4] = f"{prefix}/{ref_no + 2}/25"
        bad2[6] = (pd.Timestamp(bad2[5], tz="UTC") - pd.Timedelta(hours=2)).strftime(
            "%Y%m%d%H%M%S")
        records += [bad, bad2]
        order = rng.permutation(len(records))
        crimes[force] = [records[i] for i in order]

    fixes = pd.concat(all_fixes, ignore_index=True)
    return World(fixes=fixes, subjects=pd.DataFrame(subjects), crimes=crimes,
                 batch_ids=batch_ids, planted=pd.DataFrame(planted))


def export_frame(world: World, seed: int = SEED) -> pd.DataFrame:
    """The fixes as the tag data store exports them (docs/formats.md §2), unsorted."""
    rng = np.random.default_rng(seed + 1)
    f = world.fixes
    lon, lat = working_to_lonlat(f["x"].to_numpy(), f["y"].to_numpy())
    t = pd.to_datetime(f["t"].to_numpy(), unit="s", utc=True)
    delay = rng.exponential(900, len(f))
    delay[rng.random(len(f)) < 0.03] += rng.uniform(3600, 8 * 3600)  # late uploads
    up = t + pd.to_timedelta(delay.round(), unit="s")
    fmt = "%Y-%m-%d %H:%M:%S"
    gps = f["source"].to_numpy() == 1
    frame = pd.DataFrame({
        "position_id": np.arange(500000, 500000 + len(f)),
        "person_id": f["subject"].to_numpy(),
        "device_id": ["T" + s[-4:] + "A" for s in f["subject"]],
        "position_gps_date": t.strftime(fmt), "position_recorded_date": t.strftime(fmt),
        "position_uploaded_date": up.strftime(fmt),
        "position_latitude": np.round(lat, 6), "position_longitude": np.round(lon, 6),
        "position_precision": f["precision_m"].to_numpy(),
        "position_hdop": np.where(gps, rng.uniform(0.7, 2.5, len(f)).round(1), ""),
        "position_satellite": np.where(gps, rng.integers(4, 13, len(f)), ""),
        "position_speed": 0, "position_direction": 0,
        "position_lbs": f["source"].to_numpy(),
    }, columns=EXPORT_COLUMNS)
    return frame.iloc[rng.permutation(len(frame))].reset_index(drop=True)


def write_world(world: World, directory: str | Path) -> dict:
    """Write the input files; returns their paths: positions, subjects, crimes (list)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    positions = directory / "positions.csv"
    export_frame(world).to_csv(positions, index=False, lineterminator="\n")
    subjects = directory / "subjects.csv"
    world.subjects.to_csv(subjects, index=False, lineterminator="\n")
    crime_files = []
    for force, records in world.crimes.items():
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\r\n").writerows(records)  # as e-mailed from Windows
        path = directory / f"{world.batch_ids[force]}.csv"
        path.write_text(buf.getvalue(), encoding="utf-8")
        crime_files.append(path)
    return {"positions": positions, "subjects": subjects, "crimes": crime_files}
