// srllm web page: vanilla JS, no dependencies, everything served by the same app.
"use strict";

const KEY_STORAGE = "srllm-api-key";  // sessionStorage: gone when the tab closes
// One friendly label per score key the service returns, with its direction and the guard's default
// threshold (GuardConfig; a server started with --guard-config may use others). `input_` keys score
// the original text and use the screen's thresholds: at or below all of them the input is left unchanged.
const SCORES = {
  toxic: { label: "Insult or attack", what: "the judge's probability of an insult, threat, obscenity or identity attack", better: "lower", limit: 0.5 },
  stereotype: { label: "Stereotype", what: "the judge's probability of a generalisation about a group", better: "lower", limit: 0.5 },
  toxicity: { label: "Toxicity (Jigsaw)", what: "the highest Jigsaw toxicity label", better: "lower", limit: 0.5 },
  profanity: { label: "Profanity", what: "probability of swear words", better: "lower", limit: 0.5 },
  bias: { label: "Bias (screen)", what: "the MiniLM bias head, used only to screen inputs", better: "lower", limit: 0.3 },
  similarity: { label: "Meaning kept", what: "embedding similarity of the rewrite to the original", better: "higher", limit: 0.6 },
  retention: { label: "Facts kept", what: "share of the original's facts found in the rewrite", better: "higher", limit: 0.5 },
  facts_missing: { label: "Facts dropped", what: "names, numbers and places of the original missing from the rewrite", better: "lower", limit: 0, count: true },
};
const SCREEN_LIMITS = { toxic: 0.5, stereotype: 0.5, toxicity: 0.3, profanity: 0.35, bias: 0.3 };

function scoreInfo(key) {
  const input = key.startsWith("input_");
  const base = SCORES[input ? key.slice(6) : key];
  if (!base) return { label: key.replace(/_/g, " "), what: "", better: null, limit: null };
  if (!input) return base;
  const limit = SCREEN_LIMITS[key.slice(6)];
  return Object.assign({}, base, { label: "Original: " + base.label.toLowerCase(), limit: limit == null ? base.limit : limit,
                                   what: base.what + " (of the original text)" });
}

function direction(info) {
  if (!info.better) return "";
  const word = info.better === "lower" ? "lower is better" : "higher is better";
  const bound = info.better === "lower" ? "≤ " : "≥ ";
  return info.limit == null ? word : word + "; passes at " + bound + info.limit;
}

let lastResults = [];

const $ = (id) => document.getElementById(id);

function apiKey() { return sessionStorage.getItem(KEY_STORAGE) || ""; }

function headers(extra) {
  const h = Object.assign({}, extra || {});
  if (apiKey()) h.Authorization = "Bearer " + apiKey();
  return h;
}

function showError(message) {
  const box = $("error");
  box.textContent = message;
  box.hidden = !message;
}

async function api(path, options) {
  const response = await fetch(path, options);
  if (response.ok) return response;
  let message = "HTTP " + response.status;
  try {
    const body = await response.json();
    if (body.error) message = body.error.message + " (request " + body.error.request_id + ")";
  } catch (e) { /* not JSON */ }
  if (response.status === 401) {
    message = "The server needs a valid API key: enter it above. " + message;
    $("api-key").focus();
  }
  const retry = response.headers.get("Retry-After");
  if (retry) message += " — retry in " + retry + " s";
  throw new Error(message);
}

// ---- word-level diff (LCS over words; whitespace kept as separate tokens) ----
function tokens(text) { return text.match(/\s+|[^\s]+/g) || []; }

function diffWords(a, b) {
  const x = tokens(a), y = tokens(b);
  if (x.length * y.length > 4e6) return [["del", a], ["ins", b]];  // too long to align; show both whole
  const n = x.length, m = y.length;
  const lcs = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lcs[i][j] = x[i] === y[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
    }
  }
  const ops = [];
  let i = 0, j = 0;
  const push = (op, t) => {
    const last = ops[ops.length - 1];
    if (last && last[0] === op) last[1] += t; else ops.push([op, t]);
  };
  while (i < n && j < m) {
    if (x[i] === y[j]) { push("eq", x[i]); i++; j++; }
    else if (lcs[i + 1][j] >= lcs[i][j + 1]) { push("del", x[i]); i++; }
    else { push("ins", y[j]); j++; }
  }
  while (i < n) push("del", x[i++]);
  while (j < m) push("ins", y[j++]);
  return ops;
}

function renderSide(ops, keep, mark, markClass) {
  // This side's segments; a space between two changed words joins them into one highlighted run.
  const parts = [];
  for (const [op, text] of ops) {
    if (op !== "eq" && op !== keep) continue;
    const changed = op === keep;
    const last = parts[parts.length - 1];
    if (last && last.changed === changed) last.text += text; else parts.push({ changed, text });
  }
  for (let i = parts.length - 2; i > 0; i--) {
    if (!parts[i].changed && !parts[i].text.trim() && parts[i - 1].changed && parts[i + 1].changed) {
      parts[i - 1].text += parts[i].text + parts[i + 1].text;
      parts.splice(i, 2);
    }
  }
  const p = document.createElement("p");
  for (const part of parts) {
    if (!part.changed || !part.text.trim()) { p.append(part.text); continue; }
    const el = document.createElement(mark);
    el.className = markClass;
    el.textContent = part.text;
    p.append(el);
  }
  return p;
}

// ---- the judge's harmful spans, marked in the original (offsets are characters of the text) ----
function renderSpans(text, spans) {
  const p = document.createElement("p");
  p.className = "spans";
  p.setAttribute("aria-label", "Harmful words found by the judge");
  const chars = Array.from(text); // offsets from Python count code points, as Array.from does
  let at = 0;
  const sorted = spans.filter((s) => Number.isInteger(s.start) && Number.isInteger(s.end) && s.end > s.start)
    .sort((a, b) => a.start - b.start);
  for (const span of sorted) {
    if (span.start < at) continue;
    p.append(chars.slice(at, span.start).join(""));
    const mark = document.createElement("mark");
    mark.className = "harm " + (span.label === "toxic" ? "toxic" : "stereotype");
    mark.title = (span.label === "toxic" ? "toxic" : "stereotype") + " (" + Number(span.score || 0).toFixed(2) + ")";
    mark.textContent = chars.slice(span.start, span.end).join("");
    p.append(mark);
    at = span.end;
  }
  p.append(chars.slice(at).join(""));
  return p;
}

// ---- results ----
function scoreList(scores) {
  const dl = document.createElement("dl");
  const names = Object.keys(scores || {}).filter((k) => typeof scores[k] === "number");
  if (!names.length) {
    const none = document.createElement("dd");
    none.className = "hint";
    none.textContent = "no scores";
    dl.append(none);
  }
  for (const name of names) {
    const value = scores[name];
    const info = scoreInfo(name);
    const dt = document.createElement("dt");
    dt.textContent = info.label;
    dt.title = [info.what, direction(info)].filter(Boolean).join("; ");
    dt.dataset.key = name;
    const meterCell = document.createElement("dd");
    if (!info.count) {
      const meter = document.createElement("meter");
      meter.min = 0; meter.max = 1; meter.value = Math.max(0, Math.min(1, value));
      if (info.better === "higher") { meter.low = info.limit; meter.high = 0.8; meter.optimum = 1; }
      else { meter.low = Math.min(0.2, info.limit ?? 0.2); meter.high = info.limit ?? 0.5; meter.optimum = 0; }
      meter.setAttribute("aria-label", info.label + ", " + direction(info));
      meterCell.append(meter);
    }
    const num = document.createElement("dd");
    num.textContent = info.count ? String(Math.round(value)) : value.toFixed(2);
    const arrow = document.createElement("span");
    arrow.className = "dir";
    arrow.textContent = info.better === "lower" ? " ↓" : info.better === "higher" ? " ↑" : "";
    arrow.setAttribute("aria-hidden", "true");
    num.append(arrow);
    dl.append(dt, meterCell, num);
  }
  return dl;
}

function renderLegend() {
  const body = $("score-legend-rows");
  for (const key of Object.keys(SCORES)) {
    const info = SCORES[key];
    const tr = document.createElement("tr");
    for (const text of [info.label, info.what, info.better === "lower" ? "↓ lower is better" : "↑ higher is better",
                        (info.better === "lower" ? "≤ " : "≥ ") + info.limit]) {
      const td = document.createElement("td");
      td.textContent = text;
      tr.append(td);
    }
    body.append(tr);
  }
}

function busy(on, message) {
  $("busy").hidden = !on;
  $("results").setAttribute("aria-busy", on ? "true" : "false");
  if (message) $("summary").textContent = message;
}

function renderResults(results) {
  lastResults = results;
  const box = $("results");
  box.replaceChildren();
  results.forEach((r, index) => {
    const row = document.createElement("article");
    row.className = "pair";
    row.setAttribute("aria-label", "Result " + (index + 1));
    const rewrite = r.rewrite == null ? "" : String(r.rewrite);
    const ops = diffWords(String(r.text), rewrite);
    const left = document.createElement("div");
    const lh = document.createElement("h3"); lh.textContent = "Original";
    left.append(lh, renderSide(ops, "del", "del", "removed"));
    if (Array.isArray(r.spans) && r.spans.length) left.append(renderSpans(String(r.text), r.spans));
    const right = document.createElement("div");
    const rh = document.createElement("h3"); rh.textContent = "Rewrite";
    right.append(rh, renderSide(ops, "ins", "ins", "added"));
    const side = document.createElement("div");
    side.className = "scores";
    const sh = document.createElement("h3"); sh.textContent = "Scores";
    const badge = document.createElement("span");
    const status = r.status || "ok";
    badge.className = "badge " + status;
    badge.textContent = status;
    side.append(sh, badge, scoreList(r.scores));
    if (r.reasons && r.reasons.length) {
      const ul = document.createElement("ul");
      ul.className = "reasons";
      ul.setAttribute("aria-label", status === "flagged" ? "Why it was flagged" : "Notes on the rewrite");
      for (const reason of r.reasons) { const li = document.createElement("li"); li.textContent = reason; ul.append(li); }
      side.append(ul);
    }
    row.append(left, right, side);
    box.append(row);
  });
  const flagged = results.filter((r) => r.status === "flagged").length;
  $("summary").textContent = results.length + " text" + (results.length === 1 ? "" : "s") + " rewritten" +
    (flagged ? ", " + flagged + " flagged" : "") + ".";
  $("download-csv").disabled = $("download-jsonl").disabled = !results.length;
  $("results-heading").focus();
}

// ---- downloads ----
function flatRow(r) {
  return { text: r.text, rewrite: r.rewrite, status: r.status || "ok",
           scores: JSON.stringify(r.scores || {}), reasons: (r.reasons || []).join("; "),
           model: r.model || "", adapter: r.adapter || "", prompt_version: r.prompt_version || "" };
}

function csvCell(value) {
  let s = value == null ? "" : String(value);
  // A spreadsheet runs a cell starting with = + - @ tab or CR as a formula: quote it (OWASP).
  if (/^[=+\-@\t\r]/.test(s)) s = "'" + s;
  return /[",\n\r]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
}

function download(name, type, text) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = document.createElement("a");
  a.href = url; a.download = name;
  document.body.append(a); a.click(); a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

function downloadCsv() {
  const rows = lastResults.map(flatRow);
  const cols = Object.keys(rows[0] || flatRow({}));
  const lines = [cols.join(",")].concat(rows.map((row) => cols.map((c) => csvCell(row[c])).join(",")));
  download("srllm-results.csv", "text/csv", lines.join("\r\n") + "\r\n");
}

function downloadJsonl() {
  download("srllm-results.jsonl", "application/x-ndjson", lastResults.map((r) => JSON.stringify(r)).join("\n") + "\n");
}

// ---- actions ----
async function rewriteText(event) {
  event.preventDefault();
  showError("");
  const raw = $("text-input").value;
  const texts = $("per-line").checked ? raw.split(/\r?\n/).filter((t) => t.trim()) : [raw];
  if (!texts.length || !raw.trim()) { showError("Paste some text first."); $("text-input").focus(); return; }
  const button = $("rewrite-button");
  button.disabled = true;
  busy(true, "Rewriting " + texts.length + " text" + (texts.length === 1 ? "" : "s") + "…");
  try {
    const response = await api("/v1/rewrite", {
      method: "POST", headers: headers({ "Content-Type": "application/json" }),
      body: JSON.stringify({ texts, score: true }),
    });
    renderResults((await response.json()).results);
  } catch (error) {
    showError(error.message);
    $("summary").textContent = "Rewriting failed.";
  } finally {
    button.disabled = false;
    busy(false);
  }
}

async function uploadFile(event) {
  event.preventDefault();
  showError("");
  const file = $("file-input").files[0];
  if (!file) { showError("Choose a file first."); return; }
  const textField = $("text-field").value.trim() || "text";
  const form = new FormData();
  form.append("file", file);
  form.append("text_field", textField);
  const progress = $("job-progress");
  $("upload-button").disabled = true;
  try {
    let job = await (await api("/v1/jobs", { method: "POST", headers: headers(), body: form })).json();
    progress.hidden = false;
    while (job.status === "queued" || job.status === "running") {
      progress.value = job.progress;
      $("summary").textContent = "Job " + job.id + ": " + job.rows_done + " of " + job.rows_total + " rows…";
      await new Promise((resolve) => setTimeout(resolve, 700));
      job = await (await api("/v1/jobs/" + job.id, { headers: headers() })).json();
    }
    if (job.status !== "done") throw new Error("The job failed: " + (job.error || "unknown error"));
    progress.value = 1;
    const text = await (await api(job.results_url, { headers: headers() })).text();
    const rows = text.split("\n").filter(Boolean).map((line) => JSON.parse(line));
    renderResults(rows.map((row) => Object.assign({}, row, { text: row[textField] })));
  } catch (error) {
    showError(error.message);
    $("summary").textContent = "The upload did not finish.";
  } finally {
    $("upload-button").disabled = false;
  }
}

function saveKey(event) {
  event.preventDefault();
  const value = $("api-key").value.trim();
  if (value) sessionStorage.setItem(KEY_STORAGE, value); else sessionStorage.removeItem(KEY_STORAGE);
  $("api-key").value = "";
  $("key-status").textContent = value ? "Key saved for this tab." : "No key in use.";
}

document.addEventListener("DOMContentLoaded", () => {
  $("key-status").textContent = apiKey() ? "Key saved for this tab." : "No key in use.";
  renderLegend();
  $("key-form").addEventListener("submit", saveKey);
  $("text-form").addEventListener("submit", rewriteText);
  $("file-form").addEventListener("submit", uploadFile);
  $("download-csv").addEventListener("click", downloadCsv);
  $("download-jsonl").addEventListener("click", downloadJsonl);
  $("text-input").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) $("text-form").requestSubmit();
  });
});
