// atpd's dashboard: polls GET /v1/status and /v1/sources, listens to the
// change feed (GET /v1/changes, SSE) and shows GET /v1/explain/{sku}.
// Plain DOM, no framework; text only through textContent (no HTML from data).
// When atpd has tokens (docs/SECURITY.md), every call sends the one typed
// into the token form as "Authorization: Bearer", and the change feed is
// read with fetch (EventSource cannot send a header) and parsed here.
"use strict";

const POLL_MS = 1000;
let prev = null;        // the previous status and when it was read, for rates
let explained = null;   // the SKU whose explanation is shown
let explainBusy = false, explainAgain = false;
let feedEvents = 0;

function $(id) { return document.getElementById(id); }
function text(id, v) { $(id).textContent = v === undefined || v === null ? "" : String(v); }

function cell(row, v, cls) {
  const td = document.createElement("td");
  td.textContent = v === undefined || v === null ? "" : String(v);
  if (typeof v === "number") td.classList.add("n");
  if (cls) td.classList.add(cls);
  row.appendChild(td);
  return td;
}

function fill(tableId, rows, build) {
  const body = $(tableId).tBodies[0];
  const frag = document.createDocumentFragment();
  for (const r of rows) {
    const tr = document.createElement("tr");
    build(tr, r);
    frag.appendChild(tr);
  }
  body.replaceChildren(frag);
}

function showError(msg) {
  const e = $("error");
  e.hidden = !msg;
  e.textContent = msg || "";
}

const TOKEN_KEY = "atpd-token";

function authHeaders() {
  const t = sessionStorage.getItem(TOKEN_KEY);
  return t ? { "Authorization": "Bearer " + t } : {};
}

// askToken shows the token form after a 401 or 403 (the reason in why).
function askToken(why) {
  text("token-why", why);
  $("token-form").hidden = false;
}

async function getJson(path) {
  const r = await fetch(path, { cache: "no-store", headers: authHeaders() });
  const doc = await r.json();
  if (!doc.ok) {
    const err = doc.error || {};
    if (r.status === 401 || r.status === 403)
      askToken(path + ": " + (err.name || r.status) + ": " + (err.message || ""));
    throw new Error(path + ": " + (err.name || r.status) + ": " + (err.message || ""));
  }
  return doc;
}

function rate(cur, old, dtMs) {
  if (old === undefined || dtMs <= 0) return "";
  return ((cur - old) * 1000 / dtMs).toFixed(1);
}

// Latency percentiles, if this atpd reports them (status.latency: an
// object per operation of numbers); nothing is shown otherwise.
function showLatency(lat) {
  const sec = $("latency-section");
  if (!lat || typeof lat !== "object" || Object.keys(lat).length === 0) {
    sec.hidden = true;
    return;
  }
  const ops = Object.keys(lat).filter((k) => lat[k] && typeof lat[k] === "object");
  const cols = [];
  for (const op of ops)
    for (const k of Object.keys(lat[op]))
      if (typeof lat[op][k] !== "object" && !cols.includes(k)) cols.push(k);
  const head = document.createElement("tr");
  cell(head, "op");
  for (const c of cols) cell(head, c);
  $("latency").tHead.replaceChildren(head);
  fill("latency", ops, (tr, op) => {
    cell(tr, op);
    for (const c of cols) cell(tr, lat[op][c]);
  });
  sec.hidden = false;
}

function showStatus(st, now) {
  text("version", "version " + st.version);
  const ready = $("ready");
  ready.textContent = st.ready ? "ready" : "not ready";
  ready.className = "badge " + (st.ready ? "ok" : "bad");
  text("uptime", "up " + Math.round(st.uptime_ms / 1000) + " s");
  text("skus", st.skus);
  text("positions", st.positions);
  text("events-applied", st.engine.events_applied);
  const r = st.reservations;
  text("resv-open", r.open);
  text("resv-held", r.held);
  text("resv-committed", r.committed);
  text("resv-granted", r.granted);
  text("resv-refused", r.refused);
  text("resv-expired", r.expired);
  if (prev) {
    const dt = now - prev.at;
    text("ingest-rate", rate(st.engine.events_applied, prev.st.engine.events_applied, dt));
    text("resv-granted-rate", rate(r.granted, prev.st.reservations.granted, dt));
    text("resv-refused-rate", rate(r.refused, prev.st.reservations.refused, dt));
    text("resv-expired-rate", rate(r.expired, prev.st.reservations.expired, dt));
  }
  prev = { st: st, at: now };
  showLatency(st.latency);
}

function showSources(list) {
  fill("sources", list, (tr, s) => {
    tr.dataset.source = s.id;
    cell(tr, s.id);
    cell(tr, s.state, s.state === "ok" ? "ok" : "bad").dataset.k = "state";
    cell(tr, s.lag_ms).dataset.k = "lag_ms";
    cell(tr, s.age_ms).dataset.k = "age_ms";
    cell(tr, s.last_seq).dataset.k = "last_seq";
    cell(tr, s.events).dataset.k = "events";
    cell(tr, s.gaps).dataset.k = "gaps";
    cell(tr, s.rejected_messages).dataset.k = "rejected_messages";
  });
}

async function poll() {
  try {
    const [st, src] = await Promise.all([getJson("/v1/status"), getJson("/v1/sources")]);
    showStatus(st, Date.now());
    showSources(src.sources);
    showError("");
  } catch (e) {
    showError(String(e.message || e));
  }
  setTimeout(poll, POLL_MS);
}

function when(ms) { return new Date(ms).toISOString(); }

function why(ch) {
  if (ch.buffer_by === "none") return "no buffer";
  const pct = (ch.buffer_percent_bp / 100) + " % of " + ch.supply + " = " + ch.buffer_from_percent;
  return ch.buffer_by + ": max(" + ch.buffer_units + " units, " + pct + ")";
}

function showExplain(x) {
  const answers = [];
  for (const reg of x.regions)
    for (const ch of reg.channels) answers.push([reg, ch]);
  fill("explain-answers", answers, (tr, [reg, ch]) => {
    tr.dataset.region = reg.region;
    tr.dataset.channel = ch.channel;
    cell(tr, reg.region);
    cell(tr, ch.channel);
    for (const k of ["supply", "reserved", "buffer"]) cell(tr, ch[k]).dataset.k = k;
    cell(tr, ch.rule).dataset.k = "rule";
    cell(tr, why(ch)).dataset.k = "why";
    cell(tr, ch.atp).dataset.k = "atp";
    cell(tr, ch.shortfall, ch.shortfall > 0 ? "warn" : "").dataset.k = "shortfall";
    cell(tr, ch.stale ? "stale" : "fresh", ch.stale ? "bad" : "ok").dataset.k = "stale";
  });
  fill("explain-regions", x.regions, (tr, reg) => {
    tr.dataset.region = reg.region;
    cell(tr, reg.region);
    cell(tr, reg.supply).dataset.k = "supply";
    cell(tr, reg.reserved).dataset.k = "reserved";
    cell(tr, reg.inbound_horizon_ms > 0 ? reg.inbound_horizon_ms / 1000 + " s" : "none");
    cell(tr, reg.stale ? "stale" : "fresh", reg.stale ? "bad" : "ok");
    cell(tr, reg.sources.map((s) => s.id + " (" + s.state + ", " + s.lag_ms + ")").join(", "));
  });
  fill("explain-locations", x.locations, (tr, l) => {
    tr.dataset.location = l.location;
    cell(tr, l.location);
    cell(tr, l.region);
    cell(tr, l.type);
    for (const k of ["on_hand", "allocated", "held", "inbound", "net"]) cell(tr, l[k]).dataset.k = k;
  });
  fill("explain-lots", x.lots, (tr, l) => {
    tr.dataset.lot = l.lot;
    cell(tr, l.lot);
    cell(tr, l.location);
    cell(tr, l.region);
    cell(tr, l.qty).dataset.k = "qty";
    cell(tr, when(l.eta_ms));
    cell(tr, l.in_horizon ? "yes" : "no").dataset.k = "in_horizon";
  });
  fill("explain-resvs", x.reservations, (tr, r) => {
    cell(tr, r.id);
    cell(tr, r.state);
    cell(tr, r.region);
    cell(tr, r.channel);
    cell(tr, r.qty).dataset.k = "qty";
    cell(tr, when(r.expires_ms));
  });
  text("explain-resv-note", x.reservations_truncated
    ? "showing " + x.reservations.length + " of " + x.reservation_lines + " open lines" : "");
  text("explain-state", (x.known_sku ? "" : "unknown SKU; ") + "read " + when(x.now_ms));
  $("explain").hidden = false;
  $("explain").dataset.sku = x.sku;
}

// One explain request at a time; a change arriving meanwhile asks again.
async function explain() {
  if (explained === null) return;
  if (explainBusy) { explainAgain = true; return; }
  explainBusy = true;
  try {
    showExplain(await getJson("/v1/explain/" + encodeURIComponent(explained)));
  } catch (e) {
    text("explain-state", String(e.message || e));
  }
  explainBusy = false;
  if (explainAgain) { explainAgain = false; explain(); }
}

// Change events of the shown SKU can come by the thousand per second: they
// re-explain at most once a second (the last one is never lost: a timer
// catches it).
const EXPLAIN_MIN_MS = 1000;
let explainLastMs = 0, explainTimer = null;
function explainSoon() {
  if (explainTimer !== null) return;
  const wait = explainLastMs + EXPLAIN_MIN_MS - Date.now();
  if (wait <= 0) { explainLastMs = Date.now(); explain(); return; }
  explainTimer = setTimeout(() => {
    explainTimer = null;
    explainLastMs = Date.now();
    explain();
  }, wait);
}

function onChange(ev) {
  feedEvents++;
  text("feed-events", feedEvents);
  try {
    const c = JSON.parse(ev.data);
    text("last-change", c.sku + " in " + c.region + " at " + when(c.ts_ms));
    if (c.sku === explained) explainSoon();
  } catch (e) {
    showError("change feed: " + e);
  }
}

function setLive(ok, label) {
  const live = $("live");
  live.textContent = label;
  live.className = ok ? "badge ok" : "badge bad";
}

// feedEvent hands one SSE event block (its lines) to its handler.
function feedEvent(lines, state) {
  let type = "message", data = [];
  for (const line of lines) {
    if (line === "" || line.startsWith(":")) continue;
    const i = line.indexOf(":");
    const field = i < 0 ? line : line.slice(0, i);
    const value = i < 0 ? "" : line.slice(i + 1).replace(/^ /, "");
    if (field === "event") type = value;
    else if (field === "data") data.push(value);
    else if (field === "id") state.lastId = value;
    else if (field === "retry" && /^[0-9]+$/.test(value)) state.retryMs = Number(value);
  }
  if (data.length === 0) return;
  if (type === "change") onChange({ data: data.join("\n") });
  else if (type === "gap") explain(); // atpd does not replay: re-read what is shown
}

// listen reads GET /v1/changes for as long as the page is open, and
// reconnects with Last-Event-ID after the connection ends or fails.
async function listen() {
  const state = { lastId: null, retryMs: 2000 };
  for (;;) {
    try {
      const headers = authHeaders();
      if (state.lastId !== null) headers["Last-Event-ID"] = state.lastId;
      const r = await fetch("/v1/changes", { cache: "no-store", headers });
      if (r.status === 401 || r.status === 403) {
        let msg = "HTTP " + r.status;
        try { const e = (await r.json()).error || {}; msg = e.name + ": " + e.message; } catch (e) {}
        askToken("/v1/changes: " + msg);
        throw new Error(msg);
      }
      if (!r.ok || !r.body) throw new Error("HTTP " + r.status);
      setLive(true, "live");
      explain();
      const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        const blocks = buf.split(/\r\n\r\n|\n\n|\r\r/);
        buf = blocks.pop();
        for (const b of blocks) feedEvent(b.split(/\r\n|\n|\r/), state);
      }
    } catch (e) {
      // shown by the badge; the status poll shows the error text
    }
    setLive(false, "reconnecting");
    await new Promise((done) => setTimeout(done, state.retryMs));
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("token-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $("token").value);
    $("token").value = "";
    $("token-form").hidden = true;
  });
  $("explain-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    explained = $("explain-sku").value;
    explain();
  });
  poll();
  listen();
});
