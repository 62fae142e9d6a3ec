// finsent dashboard: plain JS, inline SVG charts, every value inserted as text (never as HTML).
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const HOUR = 3600e3;
const PAGE = 20;
const ALERT_LIMIT = 200;
// Tick spacings the time axis may use; it takes the first giving at most MAX_TICKS ticks.
const TICK_STEPS = [1, 2, 3, 6, 12, 24, 48, 72, 168, 336, 720].map((h) => h * HOUR);
const MAX_TICKS = 8;
const state = { token: null, from: null, to: null, selected: null, ddOffset: 0, span: null };

function readFragment() {
  const params = new URLSearchParams(location.hash.slice(1));
  if (params.get("token")) sessionStorage.setItem("finsent-token", params.get("token"));
  state.token = sessionStorage.getItem("finsent-token");
  state.from = params.get("from");
  state.to = params.get("to");
  if (params.get("scope")) state.initialScope = params.get("scope");
  state.initialAlert = Number(params.get("alert")) || null;
  // The token must not linger in the address bar or the history.
  writeFragment();
}

// The address always says what is shown, so a copied link opens the same view.
function writeFragment() {
  const params = new URLSearchParams();
  if (state.from && state.to) { params.set("from", state.from); params.set("to", state.to); }
  const scope = state.initialScope || document.getElementById("scope").value;
  if (scope && scope !== "market") params.set("scope", scope);
  if (state.selected) params.set("alert", state.selected);
  history.replaceState(null, "", location.pathname + (params.toString() ? "#" + params : ""));
}

async function api(path, query) {
  const url = new URL("/api/" + path, location.origin);
  for (const [k, v] of Object.entries(query || {})) if (v !== null && v !== undefined) url.searchParams.set(k, v);
  const response = await fetch(url, { headers: { Authorization: "Bearer " + state.token } });
  if (response.status === 401) { askForToken(); throw new Error("the API token was refused"); }
  if (response.status === 422) {
    const body = await response.json();
    throw new Error((body.detail || []).map((d) => d.msg).join("; ") || path + ": HTTP 422");
  }
  if (!response.ok) throw new Error(path + ": HTTP " + response.status);
  return response.json();
}

function askForToken() {
  document.getElementById("login").hidden = false;
}

function range() {
  if (state.from && state.to) return { from: state.from, to: state.to };
  const hours = Number(document.getElementById("range").value);
  const to = new Date();
  return { from: new Date(to - hours * HOUR).toISOString(), to: to.toISOString() };
}

// The Range box shows the range from the link as its own entry, selected.
function showRangeInBox() {
  const box = document.getElementById("range");
  let custom = box.querySelector("option[value=custom]");
  if (!(state.from && state.to)) { if (custom) custom.remove(); return; }
  if (!custom) { custom = el("option", { value: "custom" }); box.prepend(custom); }
  custom.textContent = `${fmtTime(state.from)} → ${fmtTime(state.to)} UTC`;
  box.value = "custom";
}

function el(tag, attrs, text) {
  const node = tag.startsWith("svg:") ? document.createElementNS(SVG, tag.slice(4)) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

function cell(row, text, className) {
  const td = el("td", className ? { class: className } : {}, text);
  row.appendChild(td);
  return td;
}

const fmtTime = (iso) => (iso ? new Date(iso).toISOString().slice(0, 16).replace("T", " ") : "");
const fmtNum = (x, digits = 2) => (x === null || x === undefined ? "" : Number(x).toFixed(digits));

// UTC ticks on whole multiples of a step: midnight for days, whole hours below that.
function timeTicks(t0, t1) {
  const step = TICK_STEPS.find((s) => (t1 - t0) / s <= MAX_TICKS) || TICK_STEPS[TICK_STEPS.length - 1];
  const ticks = [];
  for (let t = Math.ceil(t0 / step) * step; t <= t1; t += step) {
    const iso = new Date(t).toISOString();
    ticks.push({ t, label: step >= 24 * HOUR ? iso.slice(5, 10) : iso.slice(5, 16).replace("T", " ") });
  }
  return ticks;
}

function drawTrend(data) {
  const box = document.getElementById("trend-chart");
  box.replaceChildren();
  const W = 900, H = 280, L = 44, R = 44, T = 12, B = 46;
  const svg = el("svg:svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": "sentiment trend" });
  const t0 = Date.parse(data.start), t1 = Date.parse(data.end);
  const xt = (t) => L + ((t - t0) / (t1 - t0)) * (W - L - R);
  const x = (iso) => xt(Date.parse(iso));
  const yShare = (v) => T + (1 - v) * (H - T - B);
  const yScore = (v) => T + ((1 - v) / 2) * (H - T - B);
  for (const tick of timeTicks(t0, t1)) {
    const px = xt(tick.t);
    svg.appendChild(el("svg:line", { x1: px, x2: px, y1: T, y2: yShare(0) + 4, stroke: "#e3e7ef", class: "x-grid" }));
    svg.appendChild(el("svg:text", { x: px, y: yShare(0) + 18, "text-anchor": "middle", "font-size": 11, class: "x-tick" }, tick.label));
  }
  svg.appendChild(el("svg:text", { x: (L + W - R) / 2, y: H - 6, "text-anchor": "middle", "font-size": 11, class: "x-label" }, "time (UTC)"));
  svg.appendChild(el("svg:line", { x1: L, x2: W - R, y1: yScore(0), y2: yScore(0), stroke: "#ccd" }));
  for (const tick of [0, 0.5, 1]) {
    svg.appendChild(el("svg:text", { x: L - 6, y: yShare(tick) + 4, "text-anchor": "end", "font-size": 11 }, tick));
    svg.appendChild(el("svg:text", { x: W - R + 6, y: yScore(tick * 2 - 1) + 4, "font-size": 11 }, tick * 2 - 1));
  }
  const width = Math.max(2, ((data.period === "daily" ? 24 * HOUR : HOUR) / (t1 - t0)) * (W - L - R) - 1);
  for (const p of data.points) {
    // A partial first period starts before the range: draw only its part inside.
    const left = Math.max(L, x(p.bucket));
    const bar = el("svg:rect", { x: left, y: yShare(p.negative_share), width: Math.max(2, Math.min(width, W - R - left)),
      height: yShare(0) - yShare(p.negative_share), fill: "#e57373", class: "neg-bar" });
    bar.appendChild(el("svg:title", {}, `${fmtTime(p.bucket)} UTC: ${p.items} items, ${fmtNum(p.negative_share * 100, 0)}% negative`));
    svg.appendChild(bar);
  }
  const path = data.points.map((p, i) => `${i ? "L" : "M"}${Math.max(L, x(p.bucket) + width / 2)},${yScore(p.mean_score)}`).join(" ");
  if (path) svg.appendChild(el("svg:path", { d: path, fill: "none", stroke: "#1e88e5", "stroke-width": 2 }));
  for (const a of data.alerts) drawAlertMarker(svg, a, x, [L, W - R, T, yShare(0)]);
  box.appendChild(svg);
  document.getElementById("trend-scope").textContent =
    `${data.scope} · ${data.points.length} ${data.period} points · ${fmtTime(data.start)} → ${fmtTime(data.end)} UTC`;
  const empty = document.getElementById("trend-empty");
  empty.hidden = data.points.length > 0;
  document.getElementById("trend-empty-text").textContent = (data.notes || []).join(" ") || "no data in range";
  state.span = data.data_span;
  document.getElementById("show-data-range").hidden = !data.data_span;
}

function drawAlertMarker(svg, alert, x, [left, right, top, bottom]) {
  if (!alert.fired_at) return; // pending or cancelled: never notified, not marked
  const px = x(alert.fired_at);
  if (!Number.isFinite(px) || px < left || px > right) return; // outside the shown range
  const group = el("svg:g", { class: "alert-marker", "data-alert": alert.alert_id, cursor: "pointer" });
  group.appendChild(el("svg:line", { x1: px, x2: px, y1: top, y2: bottom, stroke: "#b71c1c", "stroke-dasharray": "4 3" }));
  group.appendChild(el("svg:path", { d: `M${px - 6},${top} L${px + 6},${top} L${px},${top + 10} Z`, fill: "#b71c1c" }));
  group.appendChild(el("svg:title", {}, `alert #${alert.alert_id} ${alert.severity} ${alert.state}, fired ${fmtTime(alert.fired_at)} UTC`));
  group.addEventListener("click", () => showAlert(alert.alert_id));
  svg.appendChild(group);
}

// Every topic, one row each, in the page's own text size (HTML, not a scaled SVG).
function drawTopics(topics) {
  const box = document.getElementById("topic-chart");
  box.replaceChildren();
  const biggest = Math.max(1e-9, ...topics.map((t) => t.share));
  for (const t of topics) {
    const name = el("button", { type: "button", class: "scope-link topic-name", title: t.topic }, t.topic);
    name.addEventListener("click", () => switchScope("topic:" + t.topic));
    const track = el("div", { class: "topic-track" });
    const bar = el("div", { class: "topic-bar", style: `width: ${(100 * t.share) / biggest}%` });
    bar.appendChild(el("div", { class: "topic-neg", style: `width: ${100 * t.negative_share}%` }));
    bar.title = `${t.items} items, ${fmtNum(t.negative_share * 100, 0)}% negative`;
    track.appendChild(bar);
    box.append(name, track, el("span", { class: "topic-count" }, `${t.items}`));
  }
  const total = topics.reduce((n, t) => n + t.items, 0);
  document.getElementById("topic-total").textContent = topics.length ? `(${topics.length} topics, ${total} items)` : "";
  document.getElementById("topic-empty").hidden = topics.length > 0;
}

function alertScope() {
  return document.getElementById("alerts-all").checked ? null : document.getElementById("scope").value;
}

function fillAlerts(alerts) {
  const body = document.querySelector("#alerts tbody");
  body.replaceChildren();
  const scope = alertScope();
  document.getElementById("alerts-scope").textContent = scope ? `for ${scope}` : "for all scopes";
  for (const a of alerts) {
    const row = el("tr", { "data-alert": a.alert_id });
    if (a.alert_id === state.selected) row.classList.add("selected");
    cell(row, a.alert_id);
    const link = el("button", { type: "button", class: "scope-link alert-scope" }, a.scope);
    link.addEventListener("click", (e) => { e.stopPropagation(); switchScope(a.scope); });
    cell(row, "").appendChild(link);
    cell(row, a.state, "state-" + a.state);
    cell(row, a.severity);
    cell(row, fmtTime(a.opened_at));
    cell(row, fmtNum(a.value));
    cell(row, fmtNum(a.baseline));
    cell(row, fmtNum(a.z, 1));
    row.addEventListener("click", () => showAlert(a.alert_id));
    body.appendChild(row);
  }
  if (alerts.length >= ALERT_LIMIT) {
    const td = cell(body.appendChild(el("tr", { class: "more-row" })), `the newest ${ALERT_LIMIT} are shown: narrow the range for older ones`, "empty");
    td.colSpan = 8;
  }
  if (!alerts.length) {
    const hint = scope ? `no alerts for ${scope} in this range (tick "all scopes" to see the others)` : "no alerts in this range";
    const td = cell(body.appendChild(el("tr", { class: "empty-row" })), hint, "empty");
    td.colSpan = 8;
  }
}

function itemRow(it, withSentiment) {
  const row = el("tr", { class: "dd-item" });
  cell(row, fmtTime(it.event_time));
  cell(row, it.source);
  const td = cell(row, "");
  if (it.url && /^https?:/i.test(it.url)) td.appendChild(el("a", { href: it.url, rel: "noopener noreferrer", target: "_blank" }, it.headline));
  else td.textContent = it.headline;
  cell(row, it.topic);
  if (withSentiment) cell(row, it.sentiment);
  cell(row, fmtNum(it.score));
  return row;
}

async function showAlert(id) {
  state.selected = id;
  state.ddOffset = 0;
  writeFragment();
  const a = await api("alerts/" + id);
  const box = document.getElementById("drilldown");
  box.hidden = false;
  document.getElementById("dd-title").textContent = `#${a.alert_id} · ${a.scope} · ${a.severity} · ${a.state}`;
  const facts = document.getElementById("dd-facts");
  facts.replaceChildren();
  const ex = a.explanation || {};
  const utc = (iso, otherwise) => (iso ? fmtTime(iso) + " UTC" : otherwise);
  for (const [k, v, cls] of [["opened", utc(a.opened_at, ""), "dd-opened"],
    ["fired", utc(a.fired_at, "never fired"), "dd-fired"],
    ["resolved", utc(a.resolved_at, a.state === "firing" ? "still firing" : "not resolved"), "dd-resolved"],
    ["negative share", fmtNum(a.value)], ["baseline (median)", fmtNum(a.baseline)],
    ["z", fmtNum(a.z, 2)], ["threshold", ex.threshold ?? ex.z_threshold ?? ""],
    ["window", `${fmtTime(a.window_start)} → ${fmtTime(a.window_end)} UTC`], ["rule", a.rule]]) {
    facts.append(el("dt", {}, k), el("dd", cls ? { class: cls } : {}, String(v)));
  }
  const items = document.querySelector("#dd-items tbody");
  items.replaceChildren(...a.items.map((it) => itemRow(it, false)));
  const deliveries = document.querySelector("#dd-deliveries tbody");
  deliveries.replaceChildren();
  for (const d of a.deliveries) {
    const row = el("tr");
    [d.webhook_id, d.event_type, d.endpoint, d.status, d.attempts].forEach((v) => cell(row, v));
    deliveries.appendChild(row);
  }
  for (const row of document.querySelectorAll("#alerts tbody tr")) row.classList.toggle("selected", Number(row.dataset.alert) === id);
  await loadWindow();
  box.scrollIntoView({ block: "nearest" });
}

async function loadWindow() {
  const page = await api(`alerts/${state.selected}/items`, { offset: state.ddOffset, limit: PAGE });
  const body = document.querySelector("#dd-window tbody");
  body.replaceChildren(...page.items.map((it) => itemRow(it, true)));
  const last = page.offset + page.items.length;
  document.getElementById("dd-window-count").textContent = `(${page.total})`;
  document.getElementById("dd-page").textContent = page.total ? `${page.offset + 1}–${last} of ${page.total}` : "no items";
  document.getElementById("dd-prev").disabled = page.offset === 0;
  document.getElementById("dd-next").disabled = last >= page.total;
}

async function loadScopes() {
  const select = document.getElementById("scope");
  const current = state.initialScope || select.value;
  const scopes = await api("scopes", range());
  select.replaceChildren(...scopes.map((s) => el("option", { value: s.scope }, `${s.scope} (${s.items})`)));
  ensureScopeOption(current);
  select.value = current || "market";
  state.initialScope = null;
}

function ensureScopeOption(scope) {
  const select = document.getElementById("scope");
  if (scope && ![...select.options].some((o) => o.value === scope)) select.appendChild(el("option", { value: scope }, scope));
}

async function switchScope(scope) {
  ensureScopeOption(scope);
  document.getElementById("scope").value = scope;
  writeFragment();
  await show(() => Promise.all([loadTrend(), loadAlerts()]));
}

async function loadTrend() {
  const data = await api("trends", { scope: document.getElementById("scope").value,
    period: document.getElementById("period").value, ...range() });
  drawTrend(data);
  drawTopics(data.topics);
}

async function loadAlerts() {
  const r = range();
  fillAlerts(await api("alerts", { from: r.from, to: r.to, scope: alertScope(), limit: ALERT_LIMIT }));
}

async function show(load) {
  const status = document.getElementById("status");
  try {
    await load();
    status.textContent = "";
    document.body.dataset.loaded = "true";
  } catch (err) {
    status.textContent = String(err.message || err);
  }
}

async function refresh() {
  showRangeInBox();
  writeFragment();
  await show(async () => { await loadScopes(); await Promise.all([loadTrend(), loadAlerts()]); });
}

function useDataRange() {
  if (!state.span) return;
  const first = Math.floor(Date.parse(state.span.first) / HOUR) * HOUR;
  const last = Math.ceil((Date.parse(state.span.last) + 1) / HOUR) * HOUR;
  state.from = new Date(first).toISOString().replace(".000Z", "Z");
  state.to = new Date(last).toISOString().replace(".000Z", "Z");
  refresh();
}

function start() {
  readFragment();
  showRangeInBox();
  document.getElementById("controls").addEventListener("submit", (e) => { e.preventDefault(); refresh(); });
  // A range picked here replaces the one the address gave.
  document.getElementById("range").addEventListener("change", (e) => {
    if (e.target.value !== "custom") { state.from = state.to = null; refresh(); }
  });
  document.getElementById("scope").addEventListener("change", (e) => switchScope(e.target.value));
  document.getElementById("period").addEventListener("change", () => show(loadTrend));
  document.getElementById("alerts-all").addEventListener("change", () => show(loadAlerts));
  document.getElementById("show-data-range").addEventListener("click", useDataRange);
  document.getElementById("dd-prev").addEventListener("click", () => { state.ddOffset = Math.max(0, state.ddOffset - PAGE); show(loadWindow); });
  document.getElementById("dd-next").addEventListener("click", () => { state.ddOffset += PAGE; show(loadWindow); });
  document.getElementById("token-form").addEventListener("submit", (e) => {
    e.preventDefault();
    sessionStorage.setItem("finsent-token", document.getElementById("token").value);
    state.token = sessionStorage.getItem("finsent-token");
    document.getElementById("login").hidden = true;
    refresh();
  });
  if (!state.token) { askForToken(); return; }
  refresh().then(() => { if (state.initialAlert) showAlert(state.initialAlert); });
  setInterval(() => loadAlerts().catch(() => {}), 10000);
}

start();
