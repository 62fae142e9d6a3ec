// finsent dashboard: plain JS, inline SVG charts, every value inserted as text (never as HTML).
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const state = { token: null, from: null, to: null, selected: null };

function readFragment() {
  const params = new URLSearchParams(location.hash.slice(1));
  if (params.get("token")) sessionStorage.setItem("finsent-token", params.get("token"));
  state.token = sessionStorage.getItem("finsent-token");
  state.from = params.get("from");
  state.to = params.get("to");
  if (params.get("scope")) state.initialScope = params.get("scope");
  // The token must not linger in the address bar or the history.
  params.delete("token");
  history.replaceState(null, "", location.pathname + (params.toString() ? "#" + params : ""));
}

async function api(path, query) {
  const url = new URL("/api/" + path, location.origin);
  for (const [k, v] of Object.entries(query || {})) if (v !== null && v !== undefined) url.searchParams.set(k, v);
  const response = await fetch(url, { headers: { Authorization: "Bearer " + state.token } });
  if (response.status === 401) { askForToken(); throw new Error("the API token was refused"); }
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
  return { from: new Date(to - hours * 3600e3).toISOString(), to: to.toISOString() };
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

function drawTrend(data) {
  const box = document.getElementById("trend-chart");
  box.replaceChildren();
  const W = 900, H = 260, L = 44, R = 44, T = 12, B = 28;
  const svg = el("svg:svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": "sentiment trend" });
  const t0 = Date.parse(data.start), t1 = Date.parse(data.end);
  const x = (iso) => L + ((Date.parse(iso) - t0) / (t1 - t0)) * (W - L - R);
  const yShare = (v) => T + (1 - v) * (H - T - B);
  const yScore = (v) => T + ((1 - v) / 2) * (H - T - B);
  svg.appendChild(el("svg:line", { x1: L, x2: W - R, y1: yScore(0), y2: yScore(0), stroke: "#ccd" }));
  for (const tick of [0, 0.5, 1]) {
    svg.appendChild(el("svg:text", { x: L - 6, y: yShare(tick) + 4, "text-anchor": "end", "font-size": 11 }, tick));
    svg.appendChild(el("svg:text", { x: W - R + 6, y: yScore(tick * 2 - 1) + 4, "font-size": 11 }, tick * 2 - 1));
  }
  const width = Math.max(2, ((data.period === "daily" ? 86400e3 : 3600e3) / (t1 - t0)) * (W - L - R) - 1);
  for (const p of data.points) {
    const bar = el("svg:rect", { x: x(p.bucket), y: yShare(p.negative_share), width,
      height: yShare(0) - yShare(p.negative_share), fill: "#e57373", class: "neg-bar" });
    bar.appendChild(el("svg:title", {}, `${fmtTime(p.bucket)}: ${p.items} items, ${fmtNum(p.negative_share * 100, 0)}% negative`));
    svg.appendChild(bar);
  }
  const path = data.points.map((p, i) => `${i ? "L" : "M"}${x(p.bucket) + width / 2},${yScore(p.mean_score)}`).join(" ");
  if (path) svg.appendChild(el("svg:path", { d: path, fill: "none", stroke: "#1e88e5", "stroke-width": 2 }));
  for (const a of data.alerts) drawAlertMarker(svg, a, x, [L, W - R, T, H - B]);
  svg.appendChild(el("svg:text", { x: L, y: H - 8, "font-size": 11 }, fmtTime(data.start)));
  svg.appendChild(el("svg:text", { x: W - R, y: H - 8, "font-size": 11, "text-anchor": "end" }, fmtTime(data.end)));
  box.appendChild(svg);
  document.getElementById("trend-scope").textContent = `${data.scope} · ${data.points.length} ${data.period} points`;
}

function drawAlertMarker(svg, alert, x, [left, right, top, bottom]) {
  if (!alert.fired_at) return; // pending or cancelled: never notified, not marked
  const px = x(alert.fired_at);
  if (!Number.isFinite(px) || px < left || px > right) return; // outside the shown range
  const group = el("svg:g", { class: "alert-marker", "data-alert": alert.alert_id, cursor: "pointer" });
  group.appendChild(el("svg:line", { x1: px, x2: px, y1: top, y2: bottom, stroke: "#b71c1c", "stroke-dasharray": "4 3" }));
  group.appendChild(el("svg:path", { d: `M${px - 6},${top} L${px + 6},${top} L${px},${top + 10} Z`, fill: "#b71c1c" }));
  group.appendChild(el("svg:title", {}, `alert #${alert.alert_id} ${alert.severity} ${alert.state}`));
  group.addEventListener("click", () => showAlert(alert.alert_id));
  svg.appendChild(group);
}

function drawTopics(topics) {
  const box = document.getElementById("topic-chart");
  box.replaceChildren();
  const rows = topics.slice(0, 10), W = 420, rowH = 22, L = 170;
  const svg = el("svg:svg", { viewBox: `0 0 ${W} ${rows.length * rowH + 8}`, role: "img", "aria-label": "topic mix" });
  rows.forEach((t, i) => {
    const y = 4 + i * rowH, width = t.share * (W - L - 50);
    svg.appendChild(el("svg:text", { x: L - 6, y: y + 14, "text-anchor": "end", "font-size": 11 }, t.topic));
    svg.appendChild(el("svg:rect", { x: L, y, width, height: rowH - 6, fill: "#90a4ae", class: "topic-bar" }));
    svg.appendChild(el("svg:rect", { x: L, y, width: width * t.negative_share, height: rowH - 6, fill: "#e57373" }));
    svg.appendChild(el("svg:text", { x: L + width + 4, y: y + 14, "font-size": 11 }, `${t.items}`));
  });
  box.appendChild(svg);
}

function fillAlerts(alerts) {
  const body = document.querySelector("#alerts tbody");
  body.replaceChildren();
  for (const a of alerts) {
    const row = el("tr", { "data-alert": a.alert_id });
    if (a.alert_id === state.selected) row.classList.add("selected");
    cell(row, a.alert_id);
    cell(row, a.scope);
    cell(row, a.state, "state-" + a.state);
    cell(row, a.severity);
    cell(row, fmtTime(a.opened_at));
    cell(row, fmtNum(a.value));
    cell(row, fmtNum(a.baseline));
    cell(row, fmtNum(a.z, 1));
    row.addEventListener("click", () => showAlert(a.alert_id));
    body.appendChild(row);
  }
  if (!alerts.length) cell(body.appendChild(el("tr")), "no alerts in this range").colSpan = 8;
}

async function showAlert(id) {
  state.selected = id;
  const a = await api("alerts/" + id);
  const box = document.getElementById("drilldown");
  box.hidden = false;
  document.getElementById("dd-title").textContent = `#${a.alert_id} · ${a.scope} · ${a.severity} · ${a.state}`;
  const facts = document.getElementById("dd-facts");
  facts.replaceChildren();
  const ex = a.explanation || {};
  for (const [k, v] of [["negative share", fmtNum(a.value)], ["baseline (median)", fmtNum(a.baseline)],
    ["z", fmtNum(a.z, 2)], ["threshold", ex.threshold ?? ex.z_threshold ?? ""],
    ["window", `${fmtTime(a.window_start)} → ${fmtTime(a.window_end)}`], ["rule", a.rule]]) {
    facts.append(el("dt", {}, k), el("dd", {}, String(v)));
  }
  const items = document.querySelector("#dd-items tbody");
  items.replaceChildren();
  for (const it of a.items) {
    const row = el("tr", { class: "dd-item" });
    cell(row, fmtTime(it.event_time));
    cell(row, it.source);
    const td = cell(row, "");
    if (it.url && /^https?:/i.test(it.url)) td.appendChild(el("a", { href: it.url, rel: "noopener noreferrer", target: "_blank" }, it.headline));
    else td.textContent = it.headline;
    cell(row, it.topic);
    cell(row, fmtNum(it.score));
    items.appendChild(row);
  }
  const deliveries = document.querySelector("#dd-deliveries tbody");
  deliveries.replaceChildren();
  for (const d of a.deliveries) {
    const row = el("tr");
    [d.webhook_id, d.event_type, d.endpoint, d.status, d.attempts].forEach((v) => cell(row, v));
    deliveries.appendChild(row);
  }
  for (const row of document.querySelectorAll("#alerts tbody tr")) row.classList.toggle("selected", Number(row.dataset.alert) === id);
  box.scrollIntoView({ block: "nearest" });
}

async function loadScopes() {
  const select = document.getElementById("scope");
  const current = state.initialScope || select.value;
  const scopes = await api("scopes", range());
  select.replaceChildren(...scopes.map((s) => el("option", { value: s.scope }, `${s.scope} (${s.items})`)));
  if (state.initialScope && !scopes.some((s) => s.scope === state.initialScope)) {
    select.appendChild(el("option", { value: state.initialScope }, state.initialScope));
  }
  select.value = current && [...select.options].some((o) => o.value === current) ? current : "market";
  state.initialScope = null;
}

async function loadTrend() {
  const data = await api("trends", { scope: document.getElementById("scope").value,
    period: document.getElementById("period").value, ...range() });
  drawTrend(data);
  drawTopics(data.topics);
}

async function loadAlerts() {
  const r = range();
  fillAlerts(await api("alerts", { from: r.from, to: r.to, limit: 200 }));
}

async function refresh() {
  const status = document.getElementById("status");
  try {
    await loadScopes();
    await Promise.all([loadTrend(), loadAlerts()]);
    status.textContent = "";
    document.body.dataset.loaded = "true";
  } catch (err) {
    status.textContent = String(err.message || err);
  }
}

function start() {
  readFragment();
  document.getElementById("controls").addEventListener("submit", (e) => { e.preventDefault(); refresh(); });
  // A range picked here replaces the one the address gave.
  document.getElementById("range").addEventListener("change", () => { state.from = state.to = null; });
  document.getElementById("token-form").addEventListener("submit", (e) => {
    e.preventDefault();
    sessionStorage.setItem("finsent-token", document.getElementById("token").value);
    state.token = sessionStorage.getItem("finsent-token");
    document.getElementById("login").hidden = true;
    refresh();
  });
  if (!state.token) { askForToken(); return; }
  refresh().then(() => {
    const wanted = Number(new URLSearchParams(location.hash.slice(1)).get("alert"));
    if (wanted) showAlert(wanted);
  });
  setInterval(() => loadAlerts().catch(() => {}), 10000);
}

start();
