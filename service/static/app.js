// The officer page: token -> search a crime reference -> hits -> one hit on the map, its fixes,
// its decisions. Plain DOM (textContent only, never innerHTML with data) and Leaflet from
// /static/vendor. The token lives in sessionStorage: gone when the tab closes.
"use strict";

const state = { me: null, config: { tile_url: null, tile_attribution: "" }, hit: null, view: null };

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

function when(iso) { return iso ? iso.replace("T", " ").replace(/(\.\d+)?(Z|\+00:00)$/, "") : ""; }
function metres(v) { return v === null || v === undefined ? "" : Number(v).toFixed(1); }

async function signIn(event) {
  event.preventDefault();
  const value = $("token").value.trim();
  sessionStorage.setItem("trailmatch-token", value);
  $("token").value = "";
  try {
    state.me = await (await api("/me")).json();
    $("whoami").className = "";
    $("whoami").textContent = "Signed in as " + state.me.name + " (" + state.me.role +
      (state.me.force ? ", " + state.me.force : "") + ")";
    $("force").value = state.me.force || "";
    $("force").readOnly = state.me.role === "officer";
    $("search").hidden = false;
  } catch (e) {
    sessionStorage.removeItem("trailmatch-token");
    $("whoami").className = "error";
    $("whoami").textContent = "Token not accepted: " + e.message;
    $("search").hidden = true;
  }
}

async function search(event) {
  event.preventDefault();
  const params = new URLSearchParams({ police_force: $("force").value.trim(),
                                       crime_reference: $("crime-ref").value.trim() });
  const body = $("hits").querySelector("tbody");
  body.replaceChildren();
  $("hits").hidden = true;
  $("detail").hidden = true;
  try {
    const hits = await (await api("/hits?" + params)).json();
    $("search-status").className = "";
    $("search-status").textContent = hits.length === 1 ? "1 hit" : hits.length + " hits";
    for (const hit of hits) {
      const row = document.createElement("tr");
      row.dataset.hitId = hit.id;
      cell(row, hit.subject);
      cell(row, metres(hit.min_distance_m));
      cell(row, when(hit.closest_time));
      cell(row, when(hit.first_in));
      cell(row, when(hit.last_in));
      cell(row, Number(hit.duration_s).toFixed(0));
      cell(row, hit.fixes_in);
      cell(row, hit.sources);
      const button = document.createElement("button");
      button.type = "button";
      button.className = "open-hit";
      button.textContent = "Show on map";
      button.addEventListener("click", () => openHit(hit.id));
      cell(row, "").appendChild(button);
      body.appendChild(row);
    }
    $("hits").hidden = hits.length === 0;
  } catch (e) {
    $("search-status").className = "error";
    $("search-status").textContent = e.message;
  }
}

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
    if (fix.in_vicinity) { row.className = "in-vicinity"; }
    cell(row, fix.seq);
    cell(row, when(fix.time));
    cell(row, Number(fix.lat).toFixed(6));
    cell(row, Number(fix.lon).toFixed(6));
    cell(row, metres(fix.precision_m));
    cell(row, fix.source);
    cell(row, metres(fix.distance_m));
    cell(row, fix.in_vicinity ? "yes" : "");
    body.appendChild(row);
  }
}

async function showDecisions(hitId) {
  const list = $("decisions");
  list.replaceChildren();
  const decisions = await (await api("/hits/" + hitId + "/decisions")).json();
  for (const d of decisions) {
    const item = document.createElement("li");
    item.textContent = when(d.decided_at) + " — " + d.outcome.replace("_", " ") + " by " + d.user +
      ": " + d.rationale;
    list.appendChild(item);
  }
  if (decisions.length === 0) {
    const item = document.createElement("li");
    item.textContent = "No decision recorded yet.";
    list.appendChild(item);
  }
}

async function openHit(hitId) {
  try {
    const hit = await (await api("/hits/" + hitId)).json();
    state.hit = hit;
    $("detail").hidden = false;
    $("detail-title").textContent = "Subject " + hit.subject + " at crime " + hit.crime_reference;
    $("detail-summary").textContent = hit.crime.crime_type + ", window " +
      when(hit.crime.time_from) + " to " + when(hit.crime.time_to) + " UTC. Closest approach " +
      metres(hit.min_distance_m) + " m at " + when(hit.closest_time) + "; in the vicinity " +
      Number(hit.duration_s).toFixed(0) + " s (" + when(hit.first_in) + " to " +
      when(hit.last_in) + ").";
    $("decision-status").textContent = "";
    drawMap(hit);
    showFixes(hit);
    await showDecisions(hitId);
  } catch (e) {
    $("search-status").className = "error";
    $("search-status").textContent = e.message;
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
    $("decision-status").className = "";
    $("decision-status").textContent = "Decision recorded.";
    await showDecisions(state.hit.id);
  } catch (e) {
    $("decision-status").className = "error";
    $("decision-status").textContent = e.message;
  }
}

async function openReport() {
  if (!state.hit) { return; }
  const blob = await (await api("/hits/" + state.hit.id + "/report")).blob();
  window.open(URL.createObjectURL(blob), "_blank");
}

async function start() {
  try { state.config = await (await fetch("/config")).json(); } catch (e) { /* defaults */ }
  $("token-form").addEventListener("submit", signIn);
  $("search-form").addEventListener("submit", search);
  $("decision-form").addEventListener("submit", recordDecision);
  $("report-button").addEventListener("click", openReport);
}

start();
