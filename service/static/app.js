// The officer page: sign in with a token -> the day's hits (filtered, sorted and paged by the
// service) -> a crime: its hits, who is ruled out and why -> one hit: the map beside the review
// (decision form, history of decisions and outcomes) and its fixes -> sign out.
// Plain DOM (textContent only, never innerHTML with data) and Leaflet from /static/vendor.
// The token lives in sessionStorage: gone when the tab closes, or on signing out.
"use strict";

const state = {
  me: null, config: { tile_url: null, tile_attribution: "", crime_types: {} }, hit: null,
  view: null, crime: null,
  day: { sort: "crime", descending: false, offset: 0, limit: 200, total: 0, asked: 0 },
};

const REVIEW = { ruled_in: "Ruled in", ruled_out: "Ruled out",
                 further_enquiries: "Further enquiries" };
const CASE = { arrested: "Arrested", charged: "Charged", no_further_action: "No further action",
               eliminated: "Eliminated", other: "Other" };
const COVERAGE = { hit: "hit", excluded: "ruled out (excluded)",
                   cannot_exclude: "cannot be excluded", not_monitored: "not monitored" };

const PRINT_PAGE_PX = 1030;  // a printed page's height in CSS px, a little under 277 mm
const PRINT_MIN_ZOOM = 0.8;

function $(id) { return document.getElementById(id); }

function token() { return sessionStorage.getItem("trailmatch-token") || ""; }

async function api(path, options = {}) {
  const headers = Object.assign({ "Authorization": "Bearer " + token() }, options.headers || {});
  const response = await fetch(path, Object.assign({}, options, { headers }));
  if (!response.ok) {
    let message = response.status + " " + response.statusText;
    try {
      const body = await response.json();
      if (Array.isArray(body.detail)) {
        message = body.detail.map((d) => (d.loc || []).slice(1).join(".") + ": " + d.msg).join("; ");
      } else if (body.detail) {
        message = body.detail;
      }
    } catch (e) { /* not JSON: keep the status line */ }
    const error = new Error(message);
    error.status = response.status;
    throw error;
  }
  return response;
}

function cell(row, text) {
  const td = document.createElement("td");
  td.textContent = text === null || text === undefined ? "" : String(text);
  row.appendChild(td);
  return td;
}

function button(text, className, onClick, label) {
  const b = document.createElement("button");
  b.type = "button";
  b.className = className;
  b.textContent = text;
  if (label) { b.setAttribute("aria-label", label); }
  b.addEventListener("click", onClick);
  return b;
}

function say(id, text, isError) {
  $(id).className = isError ? "error" : "";
  $(id).textContent = text;
}

function when(iso) { return iso ? iso.replace("T", " ").replace(/(\.\d+)?(Z|\+00:00)$/, "") : ""; }
function metres(v) { return v === null || v === undefined ? "" : Number(v).toFixed(1); }
function kmh(mps) { return mps === null || mps === undefined ? "" : (mps * 3.6).toFixed(1) + " km/h"; }
function plural(n, one, many) { return n + " " + (n === 1 ? one : many); }
function crimeType(code) {
  const name = (state.config.crime_types || {})[code];
  return name ? name + " (" + code + ")" : code;
}

// --- signing in and out -----------------------------------------------------------------------

async function signIn(event) {
  event.preventDefault();
  await state.configured;
  const value = $("token").value.trim();
  sessionStorage.setItem("trailmatch-token", value);
  $("token").value = "";
  try {
    state.me = await (await api("/me")).json();
  } catch (e) {
    sessionStorage.removeItem("trailmatch-token");
    say("whoami", "Token not accepted: " + e.message, true);
    $("search").hidden = true;
    $("day").hidden = true;
    return;
  }
  const who = state.me.name + " (" + state.me.role + (state.me.force ? ", " + state.me.force : "") + ")";
  say("whoami", "Signed in as " + who);
  $("session-user").textContent = "Signed in as " + who;
  $("session").hidden = false;
  $("signin").hidden = true;
  $("force").value = state.me.force || "";
  $("force").readOnly = state.me.role === "officer";
  $("search").hidden = false;
  $("day").hidden = !state.me.force;  // the processing team has no force of its own: search
  if (!$("day-date").value) { $("day-date").value = new Date().toISOString().slice(0, 10); }
  $(state.me.force ? "day-heading" : "crime-heading").focus();
  if (state.me.force) { await loadDay(); }
}

async function signOut() {
  try { await api("/signout", { method: "POST" }); } catch (e) { /* forgotten all the same */ }
  sessionStorage.removeItem("trailmatch-token");
  sessionStorage.setItem("trailmatch-signed-out", "1");
  // A fresh page: nothing of the session (hits, map, tiles, forms) is left in this document.
  location.replace(location.pathname);
}

// --- the day's hits ---------------------------------------------------------------------------

function dayParams() {
  const params = new URLSearchParams({
    police_force: state.me.force, date: $("day-date").value, sort: state.day.sort,
    descending: String(state.day.descending), limit: String(state.day.limit),
    offset: String(state.day.offset) });
  if ($("day-type").value) { params.set("crime_type", $("day-type").value); }
  const batch = $("day-batch").value.trim();
  if (batch) { params.set("batch_id", batch); }
  return params;
}

async function loadDay() {
  const body = $("day-hits").querySelector("tbody");
  if (!$("day-date").value) { say("day-status", "Choose a day.", true); return; }
  const asked = ++state.day.asked;  // only the latest request's answer is shown
  const date = $("day-date").value;
  try {
    const response = await api("/hits?" + dayParams());
    const hits = await response.json();
    if (asked !== state.day.asked) { return; }
    state.day.total = Number(response.headers.get("X-Total-Count") || hits.length);
    body.replaceChildren();
    for (const hit of hits) {
      const row = document.createElement("tr");
      row.dataset.hitId = hit.id;
      cell(row, "").appendChild(button(hit.crime_reference, "link open-crime",
        () => openCrime(hit.police_force, hit.crime_reference),
        hit.crime_reference + ": the crime's hits and who is ruled out"));
      cell(row, crimeType(hit.crime_type));
      cell(row, hit.subject);
      cell(row, when(hit.closest_time)).className = "time";
      cell(row, metres(hit.min_distance_m)).className = "number";
      const review = cell(row, hit.review ? REVIEW[hit.review] : "Not reviewed");
      review.className = "review " + (hit.review || "none");
      if (hit.reviewed_by) { review.title = "by " + hit.reviewed_by + ", " + when(hit.reviewed_at); }
      cell(row, hit.batch_id);
      cell(row, "").appendChild(button("Open", "open-hit", () => openHit(hit.id),
        "Open the hit of subject " + hit.subject + " at crime " + hit.crime_reference));
      body.appendChild(row);
    }
    const list = $("day-batches");
    const known = new Set([...list.options].map((o) => o.value));
    for (const b of new Set(hits.map((h) => h.batch_id))) {
      if (!known.has(b)) { const o = document.createElement("option"); o.value = b; list.appendChild(o); }
    }
    const first = state.day.total ? state.day.offset + 1 : 0;
    const last = state.day.offset + hits.length;
    say("day-status", state.day.total === 0 ? "No hits on " + date + "." :
      plural(state.day.total, "hit", "hits") + " on " + date +
      (state.day.total > hits.length ? " (showing " + first + "–" + last + ")" : "") + ".");
    $("day-hits").hidden = hits.length === 0;
    $("day-pager").hidden = state.day.total <= state.day.limit;
    $("day-prev").disabled = state.day.offset === 0;
    $("day-next").disabled = last >= state.day.total;
    for (const th of $("day-hits").querySelectorAll("th[data-sort]")) {
      th.setAttribute("aria-sort", th.dataset.sort !== state.day.sort ? "none" :
        state.day.descending ? "descending" : "ascending");
    }
  } catch (e) {
    if (asked === state.day.asked) { say("day-status", e.message, true); }
  }
}

function sortBy(key) {
  state.day.descending = state.day.sort === key ? !state.day.descending : false;
  state.day.sort = key;
  state.day.offset = 0;
  return loadDay();
}

// --- one crime: its hits and who is ruled out -------------------------------------------------

async function search(event) {
  event.preventDefault();
  await openCrime($("force").value.trim(), $("crime-ref").value.trim());
}

async function openCrime(force, reference) {
  $("force").value = force;
  $("crime-ref").value = reference;
  state.crime = { force, reference };
  const body = $("hits").querySelector("tbody");
  body.replaceChildren();
  $("hits").hidden = true;
  $("crime-panel").hidden = true;
  $("detail").hidden = true;
  document.body.classList.remove("hit-open");
  const params = new URLSearchParams({ police_force: force, crime_reference: reference });
  try {
    const hits = await (await api("/hits?" + params)).json();
    if (state.crime.reference !== reference || state.crime.force !== force) { return; }
    say("search-status", "Crime " + reference + ": " + plural(hits.length, "hit", "hits") + ".");
    $("hits-caption").textContent = "Hits of crime " + reference;
    for (const hit of hits) {
      const row = document.createElement("tr");
      row.dataset.hitId = hit.id;
      cell(row, hit.subject);
      cell(row, metres(hit.min_distance_m)).className = "number";
      cell(row, when(hit.closest_time));
      cell(row, when(hit.first_in));
      cell(row, when(hit.last_in));
      cell(row, Number(hit.duration_s).toFixed(0)).className = "number";
      cell(row, hit.fixes_in).className = "number";
      cell(row, hit.sources);
      cell(row, "").appendChild(button("Show on map", "open-hit", () => openHit(hit.id),
        "Show on map the hit of subject " + hit.subject));
      body.appendChild(row);
    }
    $("hits").hidden = hits.length === 0;
    $("crime-panel").hidden = false;
    $("search").scrollIntoView({ block: "start" });
    $("crime-heading").focus({ preventScroll: true });
  } catch (e) {
    say("search-status", e.message, true);
    return;
  }
  await showCoverage(force, reference);
}

function why(row) {
  if (row.status === "not_monitored") {
    return "monitored for " + Math.round(100 * row.covered_fraction) + "% of the window only";
  }
  return "no position from " + when(row.worst_gap_from) + " to " + when(row.worst_gap_to) +
    ": it could have been in the vicinity moving at " + kmh(row.min_speed_needed_mps) +
    " or faster";
}

async function showCoverage(force, reference) {
  const counts = $("coverage-counts");
  const body = $("not-excluded").querySelector("tbody");
  counts.replaceChildren();
  body.replaceChildren();
  $("explanation").replaceChildren();
  $("not-excluded").hidden = true;
  $("explain-form").hidden = true;
  say("coverage-status", "Working out who is ruled out…");
  let rows;
  try {
    const params = new URLSearchParams({ police_force: force, crime_reference: reference });
    rows = await (await api("/coverage?" + params)).json();
  } catch (e) {
    say("coverage-status", "Coverage: " + e.message, true);
    return;
  }
  if (state.crime.reference !== reference) { return; }  // another crime was opened meanwhile
  const by = { hit: [], excluded: [], cannot_exclude: [], not_monitored: [] };
  for (const r of rows) { by[r.status].push(r); }
  say("coverage-status", plural(rows.length, "subject", "subjects") + " monitored around the " +
      "crime's window:");
  for (const status of ["hit", "excluded", "cannot_exclude", "not_monitored"]) {
    const item = document.createElement("li");
    item.dataset.status = status;
    item.textContent = by[status].length + " " +
      (status === "hit" && by.hit.length !== 1 ? "hits" : COVERAGE[status]);
    counts.appendChild(item);
  }
  for (const r of [...by.cannot_exclude, ...by.not_monitored]) {
    const row = document.createElement("tr");
    row.dataset.subject = r.subject;
    cell(row, r.subject);
    cell(row, COVERAGE[r.status]);
    cell(row, why(r));
    cell(row, "").appendChild(button("Explain", "explain", () => explain(r.subject),
      "Explain subject " + r.subject));
    body.appendChild(row);
  }
  $("not-excluded").hidden = body.children.length === 0;
  const select = $("explain-subject");
  select.replaceChildren();
  for (const r of by.excluded) {
    const option = document.createElement("option");
    option.value = r.subject;
    option.textContent = r.subject;
    select.appendChild(option);
  }
  $("explain-form").hidden = by.excluded.length === 0;
}

async function explain(subject) {
  const box = $("explanation");
  box.replaceChildren();
  const params = new URLSearchParams({ police_force: state.crime.force,
                                       crime_reference: state.crime.reference, subject });
  try {
    const e = await (await api("/coverage/explain?" + params)).json();
    const heading = document.createElement("h4");
    heading.textContent = "Subject " + subject;
    const sentence = document.createElement("p");
    sentence.className = "sentence";
    sentence.textContent = e.sentence;
    box.append(heading, sentence);
    if (e.gaps_meeting_window.length) {
      const list = document.createElement("ul");
      for (const g of e.gaps_meeting_window) {
        const item = document.createElement("li");
        item.textContent = g.sentence;
        list.appendChild(item);
      }
      box.appendChild(list);
    }
  } catch (err) {
    const p = document.createElement("p");
    p.className = "error";
    p.textContent = err.message;
    box.appendChild(p);
  }
}

// --- one hit ----------------------------------------------------------------------------------

// the map, the timeline under it and the visit account: map.js / timeline.js
function drawMap(hit) {
  state.view = trailmatchMap.drawAll({ map: $("map"), timeline: $("timeline"), account: $("account") },
                                     hit, { config: state.config, token });
}

function showFixes(hit) {
  const body = $("fixes").querySelector("tbody");
  body.replaceChildren();
  for (const fix of hit.fixes) {
    const row = document.createElement("tr");
    // the fix either side of the window is listed too, and said to be outside it
    const outside = fix.in_window ? "" : (Date.parse(fix.time) < Date.parse(hit.window_from)
      ? "before the window" : "after the window");
    if (fix.in_vicinity) { row.className = "in-vicinity"; }
    if (outside) { row.classList.add("outside-window"); }
    cell(row, fix.seq);
    cell(row, when(fix.time));
    cell(row, Number(fix.lat).toFixed(6));
    cell(row, Number(fix.lon).toFixed(6));
    cell(row, metres(fix.precision_m));
    cell(row, fix.source);
    cell(row, metres(fix.distance_m));
    cell(row, fix.in_vicinity ? "yes" : "");
    cell(row, outside || "in");
    body.appendChild(row);
  }
}

// Decisions and case outcomes in one history, oldest first: who, when, what, why.
async function showHistory(hitId) {
  const [decisions, outcomes] = await Promise.all([
    api("/hits/" + hitId + "/decisions").then((r) => r.json()),
    api("/hits/" + hitId + "/outcomes").then((r) => r.json()),
  ]);
  if (!state.hit || state.hit.id !== hitId) { return; }  // another hit was opened meanwhile
  const entries = [
    ...decisions.map((d) => ({ at: d.decided_at, kind: "decision", who: d.user,
                               what: REVIEW[d.outcome] || d.outcome, text: d.rationale })),
    ...outcomes.map((o) => ({ at: o.recorded_at, kind: "outcome", who: o.user,
                              what: (CASE[o.outcome] || o.outcome) + " on " + o.outcome_date,
                              text: o.note })),
  ].sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0));
  const list = $("decisions");
  list.replaceChildren();
  for (const e of entries) {
    const item = document.createElement("li");
    item.className = e.kind;
    const head = document.createElement("span");
    head.className = "who";
    head.textContent = when(e.at) + " UTC · " + e.who;
    const what = document.createElement("strong");
    what.textContent = (e.kind === "decision" ? "Decision: " : "Case outcome: ") + e.what;
    item.append(head, document.createElement("br"), what);
    if (e.text) { item.append(" — ", e.text); }
    list.appendChild(item);
  }
  if (entries.length === 0) {
    const item = document.createElement("li");
    item.className = "none";
    item.textContent = "No decision recorded yet.";
    list.appendChild(item);
  }
  $("outcome-box").hidden = decisions.length === 0;  // an outcome follows a decision
}

async function openHit(hitId) {
  const asked = state.hitAsked = (state.hitAsked || 0) + 1;  // the latest click wins
  try {
    const hit = await (await api("/hits/" + hitId)).json();
    if (asked !== state.hitAsked) { return; }
    state.hit = hit;
    $("detail").hidden = false;
    document.body.classList.add("hit-open");  // print: this hit alone (app.css)
    $("detail-title").textContent = "Subject " + hit.subject + " at crime " + hit.crime_reference;
    $("detail-summary").textContent = crimeType(hit.crime.crime_type) + ", window " +
      when(hit.crime.time_from) + " to " + when(hit.crime.time_to) + " UTC. Closest approach " +
      metres(hit.min_distance_m) + " m at " + when(hit.closest_time) + "; in the vicinity " +
      Number(hit.duration_s).toFixed(0) + " s (" + when(hit.first_in) + " to " +
      when(hit.last_in) + ").";
    say("decision-status", "");
    say("outcome-status", "");
    $("case-date").value = new Date().toISOString().slice(0, 10);
    $("detail").scrollIntoView({ block: "start" });
    $("detail-title").focus({ preventScroll: true });
    drawMap(hit);
    showFixes(hit);
    await showHistory(hitId);
  } catch (e) {
    say("search-status", e.message, true);
  }
}

async function recordDecision(event) {
  event.preventDefault();
  if (!state.hit) { return; }
  try {
    await api("/hits/" + state.hit.id + "/decisions", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ outcome: $("outcome").value, rationale: $("rationale").value }),
    });
    $("rationale").value = "";
    say("decision-status", "Decision recorded.");
    await showHistory(state.hit.id);
    if (!$("day").hidden) { await loadDay(); }  // its review status in the day's list
  } catch (e) {
    say("decision-status", e.message, true);
  }
}

async function recordOutcome(event) {
  event.preventDefault();
  if (!state.hit) { return; }
  try {
    await api("/hits/" + state.hit.id + "/outcomes", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ outcome: $("case-outcome").value, outcome_date: $("case-date").value,
                             note: $("case-note").value }),
    });
    $("case-note").value = "";
    say("outcome-status", "Outcome recorded.");
    await showHistory(state.hit.id);
  } catch (e) {
    say("outcome-status", e.message, true);
  }
}

async function openReport() {
  if (!state.hit) { return; }
  const blob = await (await api("/hits/" + state.hit.id + "/report")).blob();
  window.open(URL.createObjectURL(blob), "_blank");
}

async function loadConfig() {
  try { state.config = await (await fetch("/config")).json(); } catch (e) { /* defaults */ }
  const types = $("day-type");
  for (const [code, name] of Object.entries(state.config.crime_types || {})) {
    const option = document.createElement("option");
    option.value = code;
    option.textContent = name + " (" + code + ")";
    types.appendChild(option);
  }
}

function start() {
  // The handlers first, before anything is awaited: a form submitted before them would be
  // sent by the browser itself (a GET carrying the token in the address).
  state.configured = loadConfig();
  if (sessionStorage.getItem("trailmatch-signed-out")) {
    sessionStorage.removeItem("trailmatch-signed-out");
    say("whoami", "Signed out. The token is forgotten by this page.");
  }
  $("token-form").addEventListener("submit", signIn);
  $("signout").addEventListener("click", signOut);
  $("day-form").addEventListener("submit", (event) => {
    event.preventDefault();
    state.day.offset = 0;
    loadDay();
  });
  for (const th of $("day-hits").querySelectorAll("th[data-sort]")) {
    th.querySelector("button").addEventListener("click", () => sortBy(th.dataset.sort));
  }
  $("day-prev").addEventListener("click", () => {
    state.day.offset = Math.max(0, state.day.offset - state.day.limit);
    loadDay();
  });
  $("day-next").addEventListener("click", () => { state.day.offset += state.day.limit; loadDay(); });
  $("search-form").addEventListener("submit", search);
  $("explain-form").addEventListener("submit", (event) => {
    event.preventDefault();
    explain($("explain-subject").value);
  });
  $("decision-form").addEventListener("submit", recordDecision);
  $("outcome-form").addEventListener("submit", recordOutcome);
  $("report-button").addEventListener("click", openReport);
  // The printed map has another size than the screen's: once the print layout applies (a
  // "print" media change; beforeprint comes before the layout) Leaflet takes the new size and
  // centres the crime at the same zoom. Not drawn anew and not zoomed: the printer does not
  // wait for tiles, so only the ones already loaded can be on paper.
  // A hit a little longer than a page is scaled down to stay on it, to 80% at most (smaller
  // text would be hard to read): a hit with many visits runs on to a second page.
  window.matchMedia("print").addEventListener("change", (event) => {
    document.body.style.zoom = "";
    if (!event.matches) { return; }
    document.body.dataset.printed = String(Number(document.body.dataset.printed || 0) + 1);
    if (state.view && state.view.map && state.hit) {
      const map = state.view.map.map;
      map.invalidateSize({ pan: false });
      map.setView([state.hit.crime.lat, state.hit.crime.lon], map.getZoom(), { animate: false });
    }
    // (the print layout's own height: the page's scroll height is a page's in print)
    const height = $("detail").getBoundingClientRect().bottom -
      document.body.getBoundingClientRect().top;
    if (document.body.classList.contains("hit-open") && height > PRINT_PAGE_PX) {
      const zoom = Math.max(PRINT_MIN_ZOOM, Math.floor(1000 * PRINT_PAGE_PX / height) / 1000);
      document.body.style.zoom = String(zoom);
      document.body.dataset.printZoom = String(zoom);
    }
  });
}

start();
