// The timeline under the map: the subject's distance to the crime across the window.
//
// Interface (window.trailmatchTimeline; needs map.js loaded first, for the path's reading):
//
//   trailmatchTimeline.draw(el, hit, { onHover }) -> handle
//       Draws into `el` (emptied): an SVG plot, time (UTC) across the widened window, distance
//       to the crime up (a square-root scale when the subject goes far beyond the vicinity, so
//       the vicinity stays readable), with a key above it. Shaded: the vicinity band (0 to the radius) and, when
//       precision is counted, the precision added to it along the path; hatched: the gaps (not
//       monitored); orange bars: the visits; a ring: the closest approach. The distance
//       between two joined fixes is measured on the straight segment between them in the
//       working grid (the fixes' east_m / north_m), as the engine measures it.
//       onHover(ms | null): the instant under the pointer (a fix's when one is within 4 px), or
//       picked with the keyboard (the
//       plot is a slider: Left/Right step fix by fix, Shift+Left/Right by a minute, Home/End
//       the window's edges, Escape clears); null when it leaves.
//       handle.showTime(ms | null): draw the cursor at that instant without calling onHover
//       (the map calls it for the fix under its pointer). handle.clientX(ms): where that
//       instant is on the page. handle.remove().
"use strict";

(function () {
  const SVG_NS = "http://www.w3.org/2000/svg";
  const HEIGHT = 200;
  const M = { left: 64, right: 18, top: 26, bottom: 40 };
  const C = { path: "#1f4e9c", band: "#b00020", reach: "#b00020", gap: "#5f5f5f", visit: "#c04a00",
              axis: "#3b3b3b", grid: "#d9d9d9", text: "#1b1b1b" };

  function svgEl(tag, attrs, text) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) { node.setAttribute(k, String(v)); }
    if (text !== undefined) { node.textContent = String(text); }
    return node;
  }

  function niceStep(raw) {
    const k = Math.pow(10, Math.floor(Math.log10(raw)));
    for (const m of [1, 2, 2.5, 5, 10]) { if (m * k >= raw) { return m * k; } }
    return 10 * k;
  }

  const TIME_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600,
                      43200, 86400].map((s) => s * 1000);

  // The distance curve: per joined segment (clipped to the window) sampled points, and the
  // isolated fixes inside it. Also the largest distance and precision met.
  function curve(tr, pxPerMs, closestT) {
    const P = window.trailmatchMap.positionAt;
    const runs = [];
    let dmax = 0;
    let rmax = 0;
    let current = null;
    const fixes = tr.fixes;
    for (let i = 0; i < fixes.length; i++) {
      const f = fixes[i];
      const joined = i > 0 && f.joined_to_previous;
      if (!joined) { current = null; }
      if (joined) {
        const a = fixes[i - 1];
        const t0 = Math.max(a.t, tr.w0);
        const t1 = Math.min(f.t, tr.w1);
        if (t0 <= t1) {
          if (!current || current.end !== t0) {
            current = { points: [], end: t0 };
            runs.push(current);
          }
          // enough samples to follow the curve (a segment's distance is a hyperbola in time),
          // and the closest approach's own instant, so the curve's lowest point is the hit's
          const n = Math.max(2, Math.min(400, Math.ceil((t1 - t0) * pxPerMs / 2)));
          const times = [];
          for (let k = current.points.length ? 1 : 0; k <= n; k++) { times.push(t0 + (t1 - t0) * k / n); }
          if (closestT !== null && closestT > t0 && closestT < t1) {
            times.push(closestT);
            times.sort((u, v) => u - v);
          }
          for (const t of times) {
            const p = P(tr, t);
            if (p) {
              current.points.push(p);
              dmax = Math.max(dmax, p.distance);
              rmax = Math.max(rmax, p.reach);
            }
          }
          current.end = t1;
        }
      }
    }
    const isolated = fixes.filter((f, i) => f.in_window && !f.joined_to_previous &&
      !(fixes[i + 1] && fixes[i + 1].joined_to_previous));
    for (const f of isolated) {
      dmax = Math.max(dmax, f.distance_m);
      rmax = Math.max(rmax, f.reach_m || 0);
    }
    return { runs, isolated, dmax, rmax };
  }

  function draw(container, hit, options = {}) {
    if (container._trailmatchTimeline) { container._trailmatchTimeline.remove(); }
    container.replaceChildren();
    container.classList.add("tm-timeline");
    const tr = window.trailmatchMap.track(hit);
    const clock = window.trailmatchMap.clock;
    const width = Math.max(360, container.clientWidth || 900);
    const W = width - M.left - M.right;
    const H = HEIGHT - M.top - M.bottom;
    const span = Math.max(1, tr.w1 - tr.w0);
    const x = (t) => M.left + (t - tr.w0) / span * W;
    const data = curve(tr, W / span, hit.closest ? Date.parse(hit.closest.time) : null);
    const R = hit.radius_m;
    const top = Math.max(data.dmax, 1.6 * (R + data.rmax), 20);
    const sqrt = top > 8 * Math.max(R, 10);
    const yMax = sqrt ? top : niceStep(top / 4) * Math.ceil(top / niceStep(top / 4));
    const f = sqrt ? Math.sqrt : (v) => v;
    const y = (d) => M.top + H - f(Math.max(0, Math.min(d, yMax))) / f(yMax) * H;

    const heading = document.createElement("h3");
    heading.id = "tm-timeline-title";
    heading.textContent = "Distance to the crime across the window";
    const plot = document.createElement("div");
    plot.className = "tm-timeline-plot";
    plot.tabIndex = 0;
    plot.setAttribute("role", "slider");
    plot.setAttribute("aria-labelledby", "tm-timeline-title");
    plot.setAttribute("aria-describedby", "tm-timeline-help");
    plot.setAttribute("aria-valuemin", "0");
    plot.setAttribute("aria-valuemax", String(Math.round(span / 1000)));
    plot.setAttribute("aria-valuenow", "0");
    plot.setAttribute("aria-valuetext", "no time picked");
    const help = document.createElement("p");
    help.id = "tm-timeline-help";
    help.className = "tm-timeline-help";
    help.textContent = "Point at a time, or use the arrow keys here (Shift for a minute), to see where the " +
      "subject was on the map. Window " + clock(tr.w0) + " to " + clock(tr.w1) + " UTC" +
      (sqrt ? "; distances on a square-root scale." : ".");
    const key = document.createElement("ul");
    key.className = "tm-timeline-key";
    const keyItems = [
      ["vicinity, " + R + " m", (k) => k.appendChild(svgEl("rect", { x: 1, y: 3, width: 22, height: 10, fill: C.band,
                                                                    "fill-opacity": 0.13, stroke: C.band }))],
      ["distance to the crime; fixes", (k) => {
        k.appendChild(svgEl("line", { x1: 1, y1: 8, x2: 23, y2: 8, stroke: C.path, "stroke-width": 2.5 }));
        k.appendChild(svgEl("circle", { cx: 12, cy: 8, r: 3, fill: C.path, stroke: "#fff" }));
      }],
      ["gap: not monitored", (k) => k.appendChild(svgEl("rect", { x: 1, y: 2, width: 22, height: 12,
                                                                 fill: "url(#tm-hatch-key)" }))],
      ["visit", (k) => k.appendChild(svgEl("rect", { x: 1, y: 5, width: 22, height: 6, fill: C.visit }))],
      ["closest approach", (k) => k.appendChild(svgEl("circle", { cx: 12, cy: 8, r: 5, fill: "none", stroke: "#000",
                                                                 "stroke-width": 2 }))],
    ];
    if (tr.countPrecision) {
      keyItems.splice(1, 0, ["precision counted", (k) => k.appendChild(svgEl("rect", {
        x: 1, y: 3, width: 22, height: 10, fill: C.reach, "fill-opacity": 0.12, stroke: C.reach,
        "stroke-dasharray": "3 3" }))]);
    }
    for (const [text, paint] of keyItems) {
      const item = document.createElement("li");
      const k = svgEl("svg", { width: 24, height: 16, viewBox: "0 0 24 16", "aria-hidden": "true", focusable: "false" });
      if (text.startsWith("gap")) {
        const d = svgEl("defs");
        const p = svgEl("pattern", { id: "tm-hatch-key", width: 5, height: 5, patternUnits: "userSpaceOnUse",
                                     patternTransform: "rotate(45)" });
        p.appendChild(svgEl("rect", { width: 5, height: 5, fill: "#efefef" }));
        p.appendChild(svgEl("line", { x1: 0, y1: 0, x2: 0, y2: 5, stroke: "#8c8c8c", "stroke-width": 2 }));
        d.appendChild(p);
        k.appendChild(d);
      }
      paint(k);
      const label = document.createElement("span");
      label.textContent = text;
      item.append(k, label);
      key.appendChild(item);
    }
    const readout = document.createElement("p");
    readout.className = "tm-readout";
    readout.id = "tm-readout";
    readout.setAttribute("aria-live", "polite");
    readout.textContent = "\u00a0";

    const svg = svgEl("svg", { width, height: HEIGHT, viewBox: "0 0 " + width + " " + HEIGHT,
                               "aria-hidden": "true", focusable: "false", class: "tm-timeline-svg" });
    const defs = svgEl("defs");
    const pattern = svgEl("pattern", { id: "tm-hatch", width: 6, height: 6, patternUnits: "userSpaceOnUse",
                                       patternTransform: "rotate(45)" });
    pattern.appendChild(svgEl("rect", { width: 6, height: 6, fill: "#efefef" }));
    pattern.appendChild(svgEl("line", { x1: 0, y1: 0, x2: 0, y2: 6, stroke: "#8c8c8c", "stroke-width": 2 }));
    defs.appendChild(pattern);
    const clip = svgEl("clipPath", { id: "tm-plot-clip" });
    clip.appendChild(svgEl("rect", { x: M.left, y: M.top - 1, width: W, height: H + 2 }));
    defs.appendChild(clip);
    svg.appendChild(defs);

    // y grid and axis
    const yTicks = [];
    if (sqrt) {
      for (const v of [0, R, 2 * R, 5 * R, 10 * R, 20 * R, 50 * R, 100 * R, 200 * R, 500 * R]) {
        if (v <= yMax && (v === 0 || v >= 1)) { yTicks.push(v); }
      }
    } else {
      const step = niceStep(yMax / 4);
      for (let v = 0; v <= yMax + 1e-9; v += step) { yTicks.push(v); }
    }
    let lastY = Infinity;
    for (const v of yTicks) {
      const yy = y(v);
      if (lastY - yy < 14) { continue; }
      lastY = yy;
      svg.appendChild(svgEl("line", { x1: M.left, x2: M.left + W, y1: yy, y2: yy, stroke: C.grid }));
      svg.appendChild(svgEl("text", { x: M.left - 6, y: yy + 4, "text-anchor": "end", class: "tm-tick" },
                            v >= 1000 ? (v / 1000) + " km" : Math.round(v) + " m"));
    }

    // the vicinity band, and the precision counted on top of it along the path
    svg.appendChild(svgEl("rect", { x: M.left, width: W, y: y(R), height: y(0) - y(R), fill: C.band,
                                    "fill-opacity": 0.13, class: "tm-band" }));
    svg.appendChild(svgEl("line", { x1: M.left, x2: M.left + W, y1: y(R), y2: y(R), stroke: C.band,
                                    "stroke-width": 1.5 }));
    if (tr.countPrecision) {
      for (const run of data.runs) {
        if (run.points.length < 2 || !run.points.some((p) => p.reach > 0)) { continue; }
        const upper = run.points.map((p) => x(p.t).toFixed(1) + "," + y(R + p.reach).toFixed(1));
        const lower = run.points.slice().reverse().map((p) => x(p.t).toFixed(1) + "," + y(R).toFixed(1));
        svg.appendChild(svgEl("polygon", { points: upper.concat(lower).join(" "), fill: C.reach,
                                           "fill-opacity": 0.12, stroke: C.reach, "stroke-opacity": 0.8,
                                           "stroke-dasharray": "3 3", class: "tm-reach" }));
      }
    }

    // gaps: hatched across the plot
    for (const g of hit.gaps) {
      const g0 = Date.parse(g.window_from);
      const g1 = Date.parse(g.window_to);
      const rect = svgEl("rect", { x: x(g0), y: M.top, width: Math.max(2, x(g1) - x(g0)), height: H,
                                   fill: "url(#tm-hatch)", class: "tm-gap" });
      rect.appendChild(svgEl("title", {}, "gap: not monitored " + clock(g0) + " to " + clock(g1)));
      svg.appendChild(rect);
      if (x(g1) - x(g0) > 60) {
        svg.appendChild(svgEl("text", { x: (x(g0) + x(g1)) / 2, y: M.top + 14, "text-anchor": "middle",
                                        class: "tm-gap-label" }, "gap: not monitored"));
      }
    }

    // the crime's own window, when the rules widened it
    const c0 = Date.parse(hit.crime.time_from);
    const c1 = Date.parse(hit.crime.time_to);
    for (const [t, text] of [[c0, "crime from"], [c1, "crime to"]]) {
      if (t > tr.w0 && t < tr.w1) {
        svg.appendChild(svgEl("line", { x1: x(t), x2: x(t), y1: M.top, y2: M.top + H, stroke: C.axis,
                                        "stroke-dasharray": "2 3" }));
        svg.appendChild(svgEl("text", { x: x(t) + 3, y: M.top + H - 4, class: "tm-tick" }, text));
      }
    }

    // visits: orange bars under the curve along the time axis
    for (const v of hit.visits) {
      const v0 = Date.parse(v.entry);
      const v1 = Date.parse(v.exit);
      const bar = svgEl("rect", { x: x(v0) - 1, y: M.top + H + 2, width: Math.max(3, x(v1) - x(v0) + 2),
                                  height: 6, fill: C.visit, class: "tm-visit" });
      bar.appendChild(svgEl("title", {}, "visit " + v.number + ": " + clock(v0) + " to " + clock(v1)));
      svg.appendChild(bar);
    }

    // the curve
    const plotGroup = svgEl("g", { "clip-path": "url(#tm-plot-clip)" });
    for (const run of data.runs) {
      const d = run.points.map((p, i) => (i ? "L" : "M") + x(p.t).toFixed(1) + "," + y(p.distance).toFixed(1));
      plotGroup.appendChild(svgEl("path", { d: d.join(""), fill: "none", stroke: C.path, "stroke-width": 2.5,
                                            "stroke-linejoin": "round", class: "tm-curve" }));
    }
    // fixes as dots; small when they crowd (more than one per 6 px) so the curve shows
    const shown = tr.fixes.filter((fx) => fx.in_window);
    const crowded = shown.length > W / 6;
    for (const fx of shown) {
      plotGroup.appendChild(svgEl("circle", { cx: x(fx.t), cy: y(fx.distance_m),
                                              r: crowded ? 1.6 : fx.in_vicinity ? 3.5 : 2.5,
                                              fill: fx.in_vicinity ? C.visit : C.path, stroke: "#fff",
                                              "stroke-width": crowded ? 0 : 1, class: "tm-fix" }));
    }
    svg.appendChild(plotGroup);
    if (hit.closest) {
      const ct = Date.parse(hit.closest.time);
      svg.appendChild(svgEl("circle", { cx: x(ct), cy: y(hit.closest.distance_m), r: 6, fill: "none",
                                        stroke: "#000", "stroke-width": 2, class: "tm-closest" }));
      const right = x(ct) > M.left + W - 150;
      svg.appendChild(svgEl("text", { x: x(ct) + (right ? -9 : 9), y: Math.max(M.top + 10, y(hit.closest.distance_m) - 8),
                                      "text-anchor": right ? "end" : "start", class: "tm-closest-label" },
                            "closest " + hit.closest.distance_m.toFixed(1) + " m"));
    }

    // axes
    svg.appendChild(svgEl("line", { x1: M.left, x2: M.left + W, y1: M.top + H, y2: M.top + H, stroke: C.axis }));
    svg.appendChild(svgEl("line", { x1: M.left, x2: M.left, y1: M.top, y2: M.top + H, stroke: C.axis }));
    const step = TIME_STEPS.find((s) => s / span * W >= 70) || TIME_STEPS[TIME_STEPS.length - 1];
    for (let t = Math.ceil(tr.w0 / step) * step; t <= tr.w1; t += step) {
      svg.appendChild(svgEl("line", { x1: x(t), x2: x(t), y1: M.top + H, y2: M.top + H + 10, stroke: C.axis }));
      const text = step < 60000 ? clock(t) : clock(t).slice(0, 5);
      svg.appendChild(svgEl("text", { x: x(t), y: M.top + H + 22, "text-anchor": "middle", class: "tm-tick" }, text));
    }
    svg.appendChild(svgEl("text", { x: M.left + W, y: HEIGHT - 3, "text-anchor": "end", class: "tm-axis-label" },
                          "time (UTC)"));
    svg.appendChild(svgEl("text", { x: 4, y: 14, class: "tm-axis-label" },
                          "distance to crime" + (sqrt ? " (square-root scale)" : "")));

    // the cursor
    const cursor = svgEl("g", { class: "tm-cursor", visibility: "hidden" });
    cursor.appendChild(svgEl("line", { y1: M.top, y2: M.top + H, stroke: "#000", "stroke-width": 1.5 }));
    cursor.appendChild(svgEl("circle", { r: 5, fill: "#ffd400", stroke: "#000", "stroke-width": 2 }));
    svg.appendChild(cursor);

    plot.appendChild(svg);
    container.append(heading, help, key, plot, readout);
    container.dataset.minDistance = data.runs.length || data.isolated.length
      ? String(Math.min(...data.runs.flatMap((r) => r.points.map((p) => p.distance)),
                        ...data.isolated.map((fx) => fx.distance_m))) : "";

    const handle = { svg, cursorTime: null };

    function show(t, notify) {
      handle.cursorTime = t;
      if (t === null || t === undefined) {
        cursor.setAttribute("visibility", "hidden");
        readout.textContent = "\u00a0";
        plot.setAttribute("aria-valuetext", "no time picked");
        if (notify && options.onHover) { options.onHover(null); }
        return;
      }
      if (t < tr.w0 || t > tr.w1) {  // the fix either side, pointed at on the map
        cursor.setAttribute("visibility", "hidden");
        readout.textContent = clock(t) + " UTC: " + (t < tr.w0 ? "before" : "after") + " the window";
        return;
      }
      const p = window.trailmatchMap.positionAt(tr, t);
      cursor.setAttribute("visibility", "visible");
      cursor.querySelector("line").setAttribute("x1", x(t));
      cursor.querySelector("line").setAttribute("x2", x(t));
      const dot = cursor.querySelector("circle");
      let text;
      if (p) {
        dot.setAttribute("cx", x(t));
        dot.setAttribute("cy", y(p.distance));
        dot.setAttribute("visibility", "visible");
        const inside = p.distance <= R + (tr.countPrecision ? p.reach : 0);
        text = clock(t) + " UTC: " + p.distance.toFixed(1) + " m from the crime" +
          (inside ? ", in the vicinity" : "") + (p.atFix ? " (fix " + p.atFix.seq + ")" : "");
      } else {
        dot.setAttribute("visibility", "hidden");
        text = clock(t) + " UTC: not monitored (no fix joins this time)";
      }
      readout.textContent = text;
      plot.setAttribute("aria-valuenow", String(Math.round((t - tr.w0) / 1000)));
      plot.setAttribute("aria-valuetext", text);
      if (notify && options.onHover) { options.onHover(t); }
    }

    // the instant under the pointer; a fix's own instant when one is within 4 px (so a fix can
    // be picked with the mouse even when a pixel is many seconds)
    const inWindow = tr.fixes.filter((fx) => fx.in_window);
    function timeAt(event) {
      const box = svg.getBoundingClientRect();
      const px = (event.clientX - box.left) * (width / box.width);
      if (px < M.left || px > M.left + W) { return null; }
      const t = Math.round(tr.w0 + (px - M.left) / W * span);
      let best = null;
      for (const fx of inWindow) {
        const dx = Math.abs(x(fx.t) - px);
        if (dx <= 4 && (best === null || dx < Math.abs(x(best.t) - px))) { best = fx; }
      }
      return best ? best.t : t;
    }

    plot.addEventListener("pointermove", (event) => show(timeAt(event), true));
    plot.addEventListener("pointerleave", () => show(null, true));
    const fixTimes = inWindow.map((fx) => fx.t);
    plot.addEventListener("keydown", (event) => {
      const now = handle.cursorTime === null ? null : handle.cursorTime;
      let t = null;
      if (event.key === "ArrowRight" || event.key === "ArrowUp") {
        t = event.shiftKey ? (now === null ? tr.w0 : now + 60000)
          : fixTimes.find((ft) => now === null || ft > now);
        if (t === undefined) { t = tr.w1; }
      } else if (event.key === "ArrowLeft" || event.key === "ArrowDown") {
        t = event.shiftKey ? (now === null ? tr.w1 : now - 60000)
          : [...fixTimes].reverse().find((ft) => now === null || ft < now);
        if (t === undefined) { t = tr.w0; }
      } else if (event.key === "Home") {
        t = tr.w0;
      } else if (event.key === "End") {
        t = tr.w1;
      } else if (event.key === "Escape") {
        show(null, true);
        event.preventDefault();
        return;
      } else {
        return;
      }
      event.preventDefault();
      show(Math.min(tr.w1, Math.max(tr.w0, t)), true);
    });

    handle.showTime = (t) => show(t, false);
    handle.clientX = (t) => {  // where instant t is on the page (for tests and tooltips)
      const box = svg.getBoundingClientRect();
      return box.left + x(t) * (box.width / width);
    };
    let observer = null;
    if (window.ResizeObserver) {  // redrawn at the new width (e.g. a narrower window, print)
      let last = width;
      observer = new ResizeObserver(() => {
        const now = container.clientWidth;
        if (now && Math.abs(now - last) > 40) {
          last = now;
          const again = draw(container, hit, options);
          Object.assign(handle, again);
        }
      });
      observer.observe(container);
    }
    handle.remove = () => { if (observer) { observer.disconnect(); } container.replaceChildren(); };
    container._trailmatchTimeline = handle;
    return handle;
  }

  window.trailmatchTimeline = { draw };
})();
