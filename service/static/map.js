// The hit map, and what links it to the timeline (timeline.js) and the visit account.
//
// Interface (all on window.trailmatchMap; load leaflet.js, tiles.js, map.js, timeline.js in
// that order, and map.css):
//
//   trailmatchMap.drawAll({ map, timeline, account }, hit, { config, token }) -> view
//       The usual call: draws the map into `map`, the timeline into `timeline` and the visit
//       account into `account` (each an element; `timeline` and `account` may be null), and
//       links them: a time under the pointer (or the keyboard) on the timeline shows the
//       subject's position at that instant on the map; a fix under the pointer on the map
//       shows its time on the timeline. Call it again for the next hit (it replaces all three).
//       view = { map: <map handle>, timeline: <timeline handle> | null }.
//   trailmatchMap.draw(el, hit, { config, token, onFixHover }) -> handle
//       The map alone. `el`: an empty element with a CSS height; `hit`: GET /hits/{id}'s answer;
//       `config`: GET /config's answer (tile source, see tiles.js); `token`: a function giving
//       the bearer token (the service's own MBTiles tiles need it). onFixHover(ms | null): the
//       time of the fix under the pointer. handle.showTime(ms | null) puts the "position at"
//       marker where the subject was at that instant (interpolated between joined fixes; none
//       in a gap); handle.zoomToCrime(), handle.zoomToPath(), handle.map (Leaflet), handle.remove().
//   trailmatchMap.account(el, hit): why it is a hit (the precision reason spelt out when the
//       hit holds only because precision is counted), the visits (entry, exit, dwell) and the
//       gaps, in plain words.
//   trailmatchMap.positionAt(track, ms) and trailmatchMap.track(hit): the path as the map and
//       the timeline both read it (timeline.js uses them).
//
// The map opens zoomed to the crime, its vicinity circle filling a good part of the view. The
// path is drawn through the window, clipped at its edges, with the fix either side (fainter,
// dashed); arrows give the direction of travel and labels the times; each fix has its
// precision circle; gaps (not monitored) are dotted grey; a legend and a scale bar. Vectors
// are drawn in panes so the crime's marker is always above the path. Plain DOM (textContent
// only, never innerHTML with data). Nothing is loaded from outside the page's own origin.
"use strict";

(function () {
  const COLOURS = {
    path: "#1f4e9c", outside: "#1f4e9c", gap: "#5f5f5f", fix: "#1f4e9c", fixIn: "#c04a00",
    crime: "#b00020", vicinity: "#b00020", closest: "#000000", here: "#000000",
  };
  const SVG_NS = "http://www.w3.org/2000/svg";

  // --- the path as both views read it ---------------------------------------------------------

  function ms(iso) { return iso ? Date.parse(iso) : null; }

  // Fixes with times as ms, the window, and the joined segments (a fix joined to the previous).
  function track(hit) {
    const fixes = hit.fixes.map((f) => Object.assign({}, f, { t: ms(f.time) }));
    return {
      fixes,
      w0: ms(hit.window_from),
      w1: ms(hit.window_to),
      radius: hit.radius_m,
      countPrecision: hit.count_precision,
      crime: hit.crime,
    };
  }

  function lerp(a, b, f) { return a + (b - a) * f; }

  function fixOffset(f) {  // metres east/north of the crime (older services: none)
    if (f.east_m !== null && f.east_m !== undefined) { return [f.east_m, f.north_m]; }
    return null;
  }

  // Where the subject was at `t` (ms): between two joined fixes, interpolated (position,
  // offset from the crime, distance, precision counted); at a fix's own time, that fix; else
  // null (not monitored: a gap, or outside the path).
  function positionAt(tr, t) {
    const fixes = tr.fixes;
    if (!fixes.length || t === null || t === undefined) { return null; }
    let lo = 0;
    let hi = fixes.length - 1;
    if (t < fixes[0].t || t > fixes[hi].t) { return null; }
    while (hi - lo > 1) {  // fixes[lo].t <= t <= fixes[hi].t
      const mid = (lo + hi) >> 1;
      if (fixes[mid].t <= t) { lo = mid; } else { hi = mid; }
    }
    const a = fixes[lo];
    const b = fixes[hi];
    if (t === a.t || lo === hi) { return at(a, a, 0); }
    if (t === b.t) { return at(b, b, 0); }
    if (!b.joined_to_previous) { return null; }
    return at(a, b, (t - a.t) / (b.t - a.t));

    function at(p, q, f) {
      const op = fixOffset(p);
      const oq = fixOffset(q);
      let distance;
      if (op && oq) {
        distance = Math.hypot(lerp(op[0], oq[0], f), lerp(op[1], oq[1], f));
      } else {
        distance = lerp(p.distance_m, q.distance_m, f);  // an approximation: older answers
      }
      return {
        t, lat: lerp(p.lat, q.lat, f), lon: lerp(p.lon, q.lon, f), distance,
        reach: lerp(p.reach_m || 0, q.reach_m || 0, f), atFix: f === 0 ? p : null,
      };
    }
  }

  // --- words ----------------------------------------------------------------------------------

  function clock(t) {
    if (t === null || t === undefined) { return ""; }
    return new Date(t).toISOString().slice(11, 19);
  }

  function metres(v) { return Number(v).toFixed(1) + " m"; }

  function durationText(seconds) {
    const s0 = Number(seconds);
    if (s0 < 10) { return s0 > 0 ? s0.toFixed(1) + " s" : "0 s"; }
    const s = Math.round(s0);
    if (s < 60) { return s + " s"; }
    if (s < 3600) { return s % 60 ? Math.floor(s / 60) + " min " + (s % 60) + " s" : s / 60 + " min"; }
    return Math.floor(s / 3600) + " h " + String(Math.floor((s % 3600) / 60)).padStart(2, "0") + " min";
  }

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) { node.setAttribute(k, v); }
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    return node;
  }

  function svgEl(tag, attrs) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) { node.setAttribute(k, String(v)); }
    return node;
  }

  // Why the hit is a hit, in one sentence: the service's precision note when precision made
  // it one, else the closest approach against the radius.
  function reasonText(hit) {
    if (hit.precision_note) {
      return hit.precision_note.charAt(0).toUpperCase() + hit.precision_note.slice(1) + ".";
    }
    const c = hit.closest;
    if (!c) { return "No fix of this subject is held for this window now, so the path cannot be drawn."; }
    return "Closest approach " + metres(c.distance_m) + " at " + clock(ms(c.time)) +
      " UTC: within the " + hit.radius_m + " m vicinity.";
  }

  const KIND_IN = { crossed: "crossed into the vicinity", window: "already there when the window opened",
                    gap: "first fix after a gap", isolated: "a single isolated fix" };
  const KIND_OUT = { crossed: "crossed out of the vicinity", window: "still there when the window closed",
                     gap: "last fix before a gap", isolated: "a single isolated fix" };

  function account(container, hit) {
    container.replaceChildren();
    container.classList.add("tm-account");
    container.appendChild(el("h3", {}, "What the path shows"));
    const reason = el("p", { class: "tm-reason", id: "tm-reason" });
    reason.appendChild(el("strong", {}, hit.precision_note ? "A hit by precision: "
      : hit.closest ? "Why a hit: " : "No path: "));
    reason.appendChild(document.createTextNode(reasonText(hit)));
    container.appendChild(reason);
    if (hit.visits.length) {
      // a long list of visits folds away behind its summary (the account below reads them all)
      const n = hit.visits.length;
      const total = hit.visits.reduce((sum, v) => sum + v.dwell_s, 0);
      const fold = el("details", { class: "tm-visits-fold" });
      if (n <= 6) { fold.open = true; }
      fold.appendChild(el("summary", {}, (n === 1 ? "1 visit into the vicinity" : n + " visits into the vicinity") +
        ", " + clock(ms(hit.visits[0].entry)) + " to " + clock(ms(hit.visits[n - 1].exit)) + " UTC, " +
        durationText(total) + " in all"));
      const table = el("table", { class: "tm-visits", id: "tm-visits" });
      table.appendChild(el("caption", { class: "tm-sr-only" }, "Visits into the vicinity (times UTC)"));
      const head = el("tr");
      for (const h of ["Visit", "Entered", "Left", "Stayed", "Closest", "How it began", "How it ended"]) {
        head.appendChild(el("th", { scope: "col" }, h));
      }
      table.appendChild(el("thead")).appendChild(head);
      const body = table.appendChild(el("tbody"));
      for (const v of hit.visits) {
        const row = el("tr");
        row.appendChild(el("th", { scope: "row" }, v.number));
        row.appendChild(el("td", {}, clock(ms(v.entry))));
        row.appendChild(el("td", {}, clock(ms(v.exit))));
        row.appendChild(el("td", {}, durationText(v.dwell_s)));
        row.appendChild(el("td", {}, metres(v.closest_m) + " at " + clock(ms(v.closest_time)) +
          (v.within_radius ? "" : " (with " + Math.round(v.closest_precision_m) + " m precision)")));
        row.appendChild(el("td", {}, KIND_IN[v.entry_kind] || v.entry_kind));
        row.appendChild(el("td", {}, KIND_OUT[v.exit_kind] || v.exit_kind));
        body.appendChild(row);
      }
      fold.appendChild(table);
      container.appendChild(fold);
    }
    const words = el("p", { class: "tm-account-text", id: "tm-account-text" });
    words.appendChild(el("strong", {}, "Account: "));
    words.appendChild(document.createTextNode(hit.account));
    container.appendChild(words);
  }

  // --- the map --------------------------------------------------------------------------------

  function arrowIcon(angleDeg, title) {
    const box = el("div", { class: "tm-arrow" });
    const svg = svgEl("svg", { width: 20, height: 20, viewBox: "-10 -10 20 20", "aria-hidden": "true",
                               focusable: "false" });
    const g = svgEl("g", { transform: "rotate(" + angleDeg.toFixed(1) + ")" });
    g.appendChild(svgEl("path", { d: "M0,-8 L6.5,6.5 L0,3 L-6.5,6.5 Z", fill: COLOURS.path,
                                  stroke: "#ffffff", "stroke-width": 1.8,
                                  "stroke-linejoin": "round" }));
    svg.appendChild(g);
    box.appendChild(svg);
    box.title = title;
    return L.divIcon({ html: box, className: "tm-arrow-icon", iconSize: [20, 20], iconAnchor: [10, 10] });
  }

  function crimeIcon(label) {
    const box = el("div", { class: "tm-crime", role: "img", "aria-label": label });
    const svg = svgEl("svg", { width: 22, height: 22, viewBox: "-11 -11 22 22", "aria-hidden": "true",
                               focusable: "false" });
    svg.appendChild(svgEl("circle", { r: 8, fill: COLOURS.crime, stroke: "#ffffff", "stroke-width": 2.5 }));
    svg.appendChild(svgEl("path", { d: "M-4,-4 L4,4 M4,-4 L-4,4", stroke: "#ffffff", "stroke-width": 2.2,
                                    "stroke-linecap": "round" }));
    box.appendChild(svg);
    return L.divIcon({ html: box, className: "tm-crime-icon", iconSize: [22, 22], iconAnchor: [11, 11] });
  }

  function hereIcon() {
    const box = el("div", { class: "tm-here", id: "tm-here" });
    const svg = svgEl("svg", { width: 26, height: 26, viewBox: "-13 -13 26 26", "aria-hidden": "true",
                               focusable: "false" });
    svg.appendChild(svgEl("circle", { r: 9, fill: "#ffd400", "fill-opacity": 0.55, stroke: "#000000",
                                      "stroke-width": 2.5 }));
    svg.appendChild(svgEl("circle", { r: 2.5, fill: "#000000" }));
    box.appendChild(svg);
    box.appendChild(el("span", { class: "tm-here-label" }));
    return L.divIcon({ html: box, className: "tm-here-icon", iconSize: [26, 26], iconAnchor: [13, 13] });
  }

  function labelIcon(text, kind) {
    const box = el("div", { class: "tm-time-label" + (kind ? " " + kind : "") }, text);
    return L.divIcon({ html: box, className: "tm-label-icon", iconSize: null, iconAnchor: [-7, 9] });
  }

  function swatch(draw) {
    const svg = svgEl("svg", { width: 30, height: 16, viewBox: "0 0 30 16", "aria-hidden": "true",
                               focusable: "false" });
    draw(svg);
    return svg;
  }

  function legend(hit) {
    const Legend = L.Control.extend({
      onAdd() {
        const box = L.DomUtil.create("div", "tm-legend");
        box.id = "tm-legend";
        const details = el("details", { open: "" });
        details.appendChild(el("summary", {}, "Legend"));
        const list = el("ul");
        const R = hit.radius_m;
        const items = [
          ["Crime", (s) => {
            s.appendChild(svgEl("circle", { cx: 15, cy: 8, r: 6, fill: COLOURS.crime, stroke: "#fff",
                                            "stroke-width": 1.5 }));
          }],
          ["Vicinity, " + R + " m", (s) => {
            s.appendChild(svgEl("circle", { cx: 15, cy: 8, r: 7, fill: COLOURS.vicinity, "fill-opacity": 0.1,
                                            stroke: COLOURS.vicinity, "stroke-width": 2 }));
          }],
          ["Path in the window, direction", (s) => {
            s.appendChild(svgEl("line", { x1: 2, y1: 8, x2: 28, y2: 8, stroke: COLOURS.path, "stroke-width": 4 }));
            s.appendChild(svgEl("path", { d: "M20,8 L13,3.5 L14.5,8 L13,12.5 Z", fill: COLOURS.path,
                                          stroke: "#fff", "stroke-width": 1 }));
          }],
          ["Path beyond the window", (s) => {
            s.appendChild(svgEl("line", { x1: 2, y1: 8, x2: 28, y2: 8, stroke: COLOURS.outside,
                                          "stroke-width": 2.5, "stroke-dasharray": "6 4" }));
          }],
          ["Gap: not monitored", (s) => {
            s.appendChild(svgEl("line", { x1: 2, y1: 8, x2: 28, y2: 8, stroke: COLOURS.gap,
                                          "stroke-width": 2.5, "stroke-dasharray": "1 5",
                                          "stroke-linecap": "round" }));
          }],
          ["Fix; in the vicinity", (s) => {
            s.appendChild(svgEl("circle", { cx: 9, cy: 8, r: 4.5, fill: COLOURS.fix, stroke: "#fff", "stroke-width": 1.5 }));
            s.appendChild(svgEl("circle", { cx: 21, cy: 8, r: 4.5, fill: COLOURS.fixIn, stroke: "#fff", "stroke-width": 1.5 }));
          }],
          ["Fix outside the window", (s) => {
            s.appendChild(svgEl("circle", { cx: 15, cy: 8, r: 4.5, fill: "#fff", stroke: COLOURS.fix, "stroke-width": 2 }));
          }],
          ["Fix precision", (s) => {
            s.appendChild(svgEl("circle", { cx: 15, cy: 8, r: 7, fill: COLOURS.fix, "fill-opacity": 0.06,
                                            stroke: COLOURS.fix, "stroke-width": 1, "stroke-dasharray": "2 2" }));
          }],
          ["Closest approach", (s) => {
            s.appendChild(svgEl("circle", { cx: 15, cy: 8, r: 6, fill: "none", stroke: COLOURS.closest,
                                            "stroke-width": 2.5 }));
          }],
          ["Time picked on the timeline", (s) => {
            s.appendChild(svgEl("circle", { cx: 15, cy: 8, r: 6, fill: "#ffd400", "fill-opacity": 0.55,
                                            stroke: "#000", "stroke-width": 2 }));
          }],
        ];
        for (const [text, draw] of items) {
          const item = el("li");
          item.appendChild(swatch(draw));
          item.appendChild(el("span", {}, text));
          list.appendChild(item);
        }
        details.appendChild(list);
        details.appendChild(el("p", { class: "tm-legend-note" }, "Times UTC"));
        box.appendChild(details);
        L.DomEvent.disableClickPropagation(box);
        L.DomEvent.disableScrollPropagation(box);
        return box;
      },
    });
    return new Legend({ position: "bottomleft" });
  }

  function buttons(handle) {
    const Buttons = L.Control.extend({
      onAdd() {
        const box = L.DomUtil.create("div", "leaflet-bar tm-buttons");
        const crime = el("button", { type: "button", id: "tm-zoom-crime", title: "Zoom to the crime" }, "Crime");
        const path = el("button", { type: "button", id: "tm-zoom-path", title: "Show the whole path" }, "Whole path");
        crime.addEventListener("click", () => handle.zoomToCrime());
        path.addEventListener("click", () => handle.zoomToPath());
        box.append(crime, path);
        L.DomEvent.disableClickPropagation(box);
        return box;
      },
    });
    return new Buttons({ position: "topleft" });
  }

  // The piece of segment a->b (ms times ta, tb) inside [w0, w1] as fractions [f0, f1], or null.
  function clipFractions(ta, tb, w0, w1) {
    if (tb < w0 || ta > w1) { return null; }
    if (tb === ta) { return [0, 1]; }
    return [Math.max(0, (w0 - ta) / (tb - ta)), Math.min(1, (w1 - ta) / (tb - ta))];
  }

  function lerpLatLng(a, b, f) { return L.latLng(lerp(a.lat, b.lat, f), lerp(a.lon, b.lon, f)); }

  function draw(container, hit, options = {}) {
    const old = container._trailmatchMap;
    if (old) { old.remove(); }
    container.classList.add("tm-map");
    container.setAttribute("role", "region");
    container.setAttribute("aria-label", "Map of subject " + hit.subject + "'s path through the window of crime " +
      hit.crime_reference + ": the crime, its " + hit.radius_m + " m vicinity, the fixes and the gaps");
    const config = options.config || {};
    const tr = track(hit);
    const map = L.map(container, { attributionControl: Boolean(config.tile_url), zoomSnap: 0.25,
                                   maxZoom: 20 });
    map.createPane("tm-vicinity").style.zIndex = 350;  // above tiles, below the path
    map.createPane("tm-arrows").style.zIndex = 450;    // above the path and the fixes
    map.createPane("tm-labels").style.zIndex = 620;    // above markers (600)
    map.createPane("tm-crime").style.zIndex = 630;     // the crime: always on top of the path
    map.createPane("tm-here").style.zIndex = 640;
    map.getPane("tm-labels").style.pointerEvents = "none";
    map.getPane("tm-arrows").style.pointerEvents = "none";
    const crime = L.latLng(hit.crime.lat, hit.crime.lon);
    const handle = { map, track: tr };
    handle.remove = () => { map.remove(); container.replaceChildren(); delete container._trailmatchMap; };
    container._trailmatchMap = handle;

    // open zoomed to the crime: its vicinity, and the closest approach, well inside the view
    // (the view is set before any layer is added: Leaflet projects each as it is added)
    handle.zoomToCrime = () => {
      const near = hit.closest ? hit.closest.distance_m : 0;
      const half = Math.max(2.2 * hit.radius_m, 1.25 * near, 60);
      map.fitBounds(crime.toBounds(2 * half), { animate: false });
    };
    map.invalidateSize();
    handle.zoomToCrime();
    addBasemap(map, config, options.token || (() => ""));  // tiles.js
    L.control.scale({ imperial: false, maxWidth: 160, position: "bottomright" }).addTo(map);
    legend(hit).addTo(map);

    // the vicinity, under everything else
    L.circle(crime, { pane: "tm-vicinity", radius: hit.radius_m, color: COLOURS.vicinity, weight: 2.5,
                      fillColor: COLOURS.vicinity, fillOpacity: 0.1, interactive: false,
                      className: "tm-vicinity" }).addTo(map);

    // fix precision (confidence) circles
    const fixes = tr.fixes;
    const precision = L.layerGroup().addTo(map);
    for (const f of fixes) {
      if (f.precision_m) {
        L.circle([f.lat, f.lon], { radius: f.precision_m, color: COLOURS.fix, weight: 1, opacity: 0.7,
                                   dashArray: "2 3", fill: false,
                                   interactive: false, className: "tm-precision" }).addTo(precision);
      }
    }

    // the path: joined segments clipped at the window's edges; the parts beyond them (to the
    // fix either side) dashed; consecutive fixes not joined: a gap, dotted grey
    const inside = [];
    const beyond = [];
    const gaps = [];
    for (let i = 1; i < fixes.length; i++) {
      const a = fixes[i - 1];
      const b = fixes[i];
      const A = L.latLng(a.lat, a.lon);
      const B = L.latLng(b.lat, b.lon);
      if (!b.joined_to_previous) {  // a gap; or two fixes at one instant: nothing between them
        if (b.t - a.t > hit.max_gap_s * 1000) { gaps.push({ a, b, line: [A, B] }); }
        continue;
      }
      const cut = clipFractions(a.t, b.t, tr.w0, tr.w1);
      if (!cut || cut[0] >= cut[1]) {
        beyond.push([A, B]);
        continue;
      }
      const P = cut[0] > 0 ? lerpLatLng(a, b, cut[0]) : A;
      const Q = cut[1] < 1 ? lerpLatLng(a, b, cut[1]) : B;
      if (cut[0] > 0) { beyond.push([A, P]); }
      if (cut[1] < 1) { beyond.push([Q, B]); }
      inside.push({ a, b, line: [P, Q] });
    }
    for (const g of gaps) {
      const from = g.a.t;
      const to = g.b.t;
      L.polyline(g.line, { color: COLOURS.gap, weight: 3, dashArray: "1 7", lineCap: "round",
                           className: "tm-gap" })
        .bindTooltip("Gap, not monitored: no fix from " + clock(from) + " to " + clock(to) +
                     " (" + durationText((to - from) / 1000) + ")", { sticky: true })
        .addTo(map);
    }
    for (const line of beyond) {
      L.polyline(line, { color: COLOURS.outside, weight: 2.5, opacity: 0.85, dashArray: "6 5",
                         className: "tm-outside", interactive: false }).addTo(map);
    }
    // a white casing under the path keeps it readable on any basemap
    for (const s of inside) {
      L.polyline(s.line, { color: "#ffffff", weight: 7, opacity: 0.85, interactive: false,
                           className: "tm-path-casing" }).addTo(map);
    }
    for (const s of inside) {
      L.polyline(s.line, { color: COLOURS.path, weight: 4, className: "tm-path" })
        .bindTooltip("Path " + clock(Math.max(s.a.t, tr.w0)) + " to " + clock(Math.min(s.b.t, tr.w1)),
                     { sticky: true })
        .addTo(map);
    }

    // the fixes
    for (const f of fixes) {
      const inWindow = f.in_window;
      const marker = L.circleMarker([f.lat, f.lon], {
        radius: f.in_vicinity ? 5.5 : 4.5, weight: inWindow ? 1.5 : 2,
        color: inWindow ? "#ffffff" : COLOURS.fix,
        fillColor: !inWindow ? "#ffffff" : f.in_vicinity ? COLOURS.fixIn : COLOURS.fix, fillOpacity: 1,
        className: "tm-fix" + (f.in_vicinity ? " tm-fix-in" : "") + (inWindow ? "" : " tm-fix-outside"),
      });
      const where = inWindow ? "" : f.t < tr.w0 ? " (before the window)" : " (after the window)";
      marker.bindTooltip("Fix " + f.seq + " at " + clock(f.t) + where + ": " + metres(f.distance_m) +
        " from the crime" + (f.precision_m ? ", precision " + Math.round(f.precision_m) + " m" : "") +
        (f.in_vicinity ? ", in the vicinity" : "") + " (" + f.source + ")");
      marker.on("mouseover", () => { if (options.onFixHover) { options.onFixHover(f.t); } });
      marker.on("mouseout", () => { if (options.onFixHover) { options.onFixHover(null); } });
      marker.addTo(map);
    }

    // the closest approach, and the crime on top of everything
    if (hit.closest) {
      L.circleMarker([hit.closest.lat, hit.closest.lon], {
        pane: "markerPane", radius: 8, color: COLOURS.closest, weight: 2.5, fill: false,
        className: "tm-closest",
      }).bindTooltip("Closest approach " + metres(hit.closest.distance_m) + " at " +
                     clock(ms(hit.closest.time))).addTo(map);
    }
    const crimeLabel = "Crime " + hit.crime_reference + " (" + hit.crime.crime_type + "), vicinity " +
      hit.radius_m + " m";
    L.marker(crime, { pane: "tm-crime", icon: crimeIcon(crimeLabel), title: crimeLabel, keyboard: true,
                      alt: crimeLabel }).addTo(map);

    // arrows and time labels depend on the zoom: placed again after each zoom
    const arrows = L.layerGroup().addTo(map);
    const labels = L.layerGroup().addTo(map);

    // an arrow every ARROW_EVERY pixels along the path in the window, turned to its segment
    const ARROW_EVERY = 110;
    function placeArrows() {
      arrows.clearLayers();
      let next = ARROW_EVERY / 2;
      let walked = 0;
      for (const s of inside) {
        const p = map.latLngToLayerPoint(s.line[0]);
        const q = map.latLngToLayerPoint(s.line[1]);
        const length = p.distanceTo(q);
        if (length < 1) { continue; }
        const angle = Math.atan2(q.x - p.x, -(q.y - p.y)) * 180 / Math.PI;
        while (next <= walked + length) {
          const f = (next - walked) / length;
          const at = map.layerPointToLatLng(L.point(lerp(p.x, q.x, f), lerp(p.y, q.y, f)));
          L.marker(at, { icon: arrowIcon(angle, "direction of travel"), interactive: false, keyboard: false,
                         pane: "tm-arrows" }).addTo(arrows);
          next += ARROW_EVERY;
        }
        walked += length;
      }
    }

    // label the fixes that say most, then the others, none closer than a label's width
    function placeLabels() {
      labels.clearLayers();
      const wanted = [];
      const inWindow = fixes.filter((f) => f.in_window);
      const push = (f, kind) => { if (f && !wanted.some((w) => w.f === f)) { wanted.push({ f, kind }); } };
      push(inWindow[0], "tm-label-first");
      push(inWindow[inWindow.length - 1], "tm-label-last");
      for (const f of fixes) { if (!f.in_window) { push(f, "tm-label-outside"); } }
      for (const f of fixes) { if (f.in_vicinity) { push(f, "tm-label-in"); } }
      for (const f of inWindow) { push(f, ""); }
      // boxes taken: the crime's marker, then each label (about 7 px a character, 16 px high,
      // drawn right of its fix), kept 8 px apart
      const c = map.latLngToLayerPoint(crime);
      const taken = [[c.x - 13, c.y - 13, c.x + 13, c.y + 13]];
      const bounds = map.getBounds();
      let count = 0;
      for (const w of wanted) {
        if (count >= 20) { break; }
        const ll = L.latLng(w.f.lat, w.f.lon);
        if (!bounds.contains(ll)) { continue; }
        const p = map.latLngToLayerPoint(ll);
        let text = clock(w.f.t);
        if (!w.f.in_window) { text += w.f.t < tr.w0 ? " (before)" : " (after)"; }
        const box = [p.x + 7 - 8, p.y - 9 - 8, p.x + 7 + 7 * text.length + 8, p.y + 7 + 8];
        if (taken.some((b) => box[0] < b[2] && b[0] < box[2] && box[1] < b[3] && b[1] < box[3])) { continue; }
        taken.push([box[0] + 8, box[1] + 8, box[2] - 8, box[3] - 8]);
        count += 1;
        L.marker(ll, { icon: labelIcon(text, w.kind), interactive: false, keyboard: false, pane: "tm-labels" })
          .addTo(labels);
      }
    }

    map.on("zoomend", () => { placeArrows(); placeLabels(); });
    map.on("moveend", placeLabels);

    // the position at a time picked on the timeline
    const here = L.marker(crime, { icon: hereIcon(), interactive: false, keyboard: false, pane: "tm-here" });
    handle.showTime = (t) => {
      const pos = t === null || t === undefined ? null : positionAt(tr, t);
      if (!pos) {
        if (map.hasLayer(here)) { here.remove(); }
        container.dataset.hereTime = "";
        return null;
      }
      here.setLatLng([pos.lat, pos.lon]);
      if (!map.hasLayer(here)) { here.addTo(map); }
      const label = here.getElement() && here.getElement().querySelector(".tm-here-label");
      if (label) { label.textContent = clock(t) + ", " + metres(pos.distance); }
      container.dataset.hereTime = String(t);
      return pos;
    };

    handle.zoomToPath = () => {
      const bounds = crime.toBounds(2 * Math.max(hit.radius_m, 30));
      for (const f of fixes) { bounds.extend([f.lat, f.lon]); }
      map.fitBounds(bounds, { padding: [24, 24], animate: false });
    };
    buttons(handle).addTo(map);
    placeArrows();
    placeLabels();
    return handle;
  }

  function drawAll(elements, hit, options = {}) {
    const view = { map: null, timeline: null };
    view.map = draw(elements.map, hit, Object.assign({}, options, {
      onFixHover: (t) => { if (view.timeline) { view.timeline.showTime(t); } },
    }));
    if (elements.timeline && window.trailmatchTimeline) {
      view.timeline = window.trailmatchTimeline.draw(elements.timeline, hit, {
        onHover: (t) => view.map.showTime(t),
      });
    }
    if (elements.account) { account(elements.account, hit); }
    return view;
  }

  // printed, every folded part of the map's legend and the visit list shows
  window.addEventListener("beforeprint", () => {
    for (const d of document.querySelectorAll(".tm-legend details, .tm-account details")) { d.open = true; }
  });

  window.trailmatchMap = { draw, drawAll, account, track, positionAt, clock, durationText, reasonText };
})();
