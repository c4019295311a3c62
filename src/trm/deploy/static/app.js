"use strict";
// The trm web page: load the model description, solve with trace=true, replay the steps. Served by `trm serve`
// (body data-backend="server": POST v1/solve, or in this browser when the server serves a web export under web/)
// or as a static web export (data-backend="browser": static/trm-web.js and onnxruntime-web only).

const $ = (id) => document.getElementById(id);
const SERVED = document.body.dataset.backend === "server";
const WEB_BASE = SERVED ? "web/" : "./";
let MODEL = null;
let WEB = null;
let timer = null;

function setStatus(text, state) {
  $("status").textContent = text;
  document.body.dataset.state = state || "";
}

// the in-browser solver, loaded on first use (?ep=wasm forces WASM over WebGPU)
async function webSolver() {
  return WEB || (WEB = await TRMWeb.load(WEB_BASE, { ep: new URLSearchParams(location.search).get("ep") || undefined }));
}
window.trmWebSolver = webSolver;

async function loadModel() {
  if (SERVED) {
    MODEL = await (await fetch("v1/model")).json();
    $("threshold").value = MODEL.threshold;
    const web = await fetch(WEB_BASE + "web.json", { method: "HEAD" });
    $("run-on").options[1].disabled = !web.ok;
  } else {
    const solver = await webSolver();
    MODEL = { ...solver.W.model, backend: `onnxruntime-web, ${solver.ep}` };
    $("threshold").value = solver.W.settings.threshold.default;
    $("run-on").value = "browser";
    $("run-on-label").hidden = true;
    document.querySelector("footer").hidden = true;
  }
  const view = MODEL.view;
  $("model-line").textContent =
    `${MODEL.preset}: ${view.label}, ${MODEL.parameters.dense.toLocaleString()} parameters, ` +
    `T=${MODEL.architecture.T}, n=${MODEL.architecture.n}, N_sup=${MODEL.architecture.N_sup} (${MODEL.backend})`;
  $("task-line").textContent = view.description;
  $("max-steps").placeholder = MODEL.architecture.N_sup;
  $("max-steps").max = MODEL.limits.max_steps;
  $("format-hint").textContent = `(${view.input_help})`;
  $("puzzle").placeholder = `type or paste ${view.title.match(/^[aeiou]/i) ? "an" : "a"} ${view.title}`;
  $("generate").disabled = !view.examples;
}

async function generate() {
  const seed = Math.floor(Math.random() * 1e6);
  let puzzle = WEB && WEB.W.examples[seed % WEB.W.examples.length];
  if (SERVED) {
    const r = await fetch(`v1/example?seed=${seed}`);
    const body = await r.json();
    if (!r.ok) { setStatus(body.detail || "no generator", "error"); return; }
    puzzle = body.puzzle;
  }
  $("puzzle").value = typeof puzzle === "string" ? (rows(puzzle) || [puzzle]).join("\n") : JSON.stringify(puzzle);
  clearOutput();
  setStatus("generated puzzle #" + seed, "ready");
}

function clearOutput() {
  if (timer) { clearInterval(timer); timer = null; }
  for (const id of ["grid", "step-line", "conf-chart", "verdict", "errors"]) $(id).innerHTML = "";
  $("verdict").className = "";
}

// ---------------------------------------------------------------- answers as grids
// An answer (or puzzle) as rows of one-character cells: a JSON list of rows (grids of colours), the N² symbols of
// the model's N×N grid (whitespace ignored where it is no symbol of the family), or lines of text; null when it
// is none of these (then it is shown as text).
function rows(answer) {
  let value = answer;
  if (typeof value === "string" && /^\s*\[/.test(value)) {
    try { value = JSON.parse(value); } catch (e) { return null; }
  }
  if (Array.isArray(value)) {
    const flat = (r) => Array.isArray(r) && r.every((v) => v === null || typeof v !== "object");
    return value.length && value.every(flat) ? value.map((r) => r.map(String).join("")) : null;
  }
  if (typeof value !== "string") return null;
  const n = (MODEL.grid || {}).side;
  if (!(" " in MODEL.view.palette)) {
    const flat = value.replace(/\s+/g, "");
    if (n && flat.length === n * n) return [...Array(n).keys()].map((r) => flat.slice(r * n, (r + 1) * n));
  }
  const lines = value.replace(/\n+$/, "").split("\n");
  return lines.length > 1 ? lines : null;
}

const BLANK = ".0 ";  // a puzzle cell holding none of these was given

// cells breaking a rule of a grid with boxes (every row, column and box holds each symbol once), blank, or
// changing a given: the verifier's checks, cell by cell
function ruleBreakers(givens, cells, n, br, bc) {
  const wrong = new Set();
  for (let i = 0; i < n * n; i++) {
    if (BLANK.includes(cells[i]) || (givens && !BLANK.includes(givens[i]) && givens[i] !== cells[i])) wrong.add(i);
  }
  const unit = (idx) => {
    const seen = {};
    for (const i of idx) { const v = cells[i]; if (!BLANK.includes(v)) (seen[v] = seen[v] || []).push(i); }
    for (const v in seen) if (seen[v].length > 1) seen[v].forEach((i) => wrong.add(i));
  };
  for (let r = 0; r < n; r++) unit([...Array(n).keys()].map((c) => r * n + c));
  for (let c = 0; c < n; c++) unit([...Array(n).keys()].map((r) => r * n + c));
  for (let r0 = 0; r0 < n; r0 += br) for (let c0 = 0; c0 < n; c0 += bc) {
    const idx = [];
    for (let r = r0; r < r0 + br; r++) for (let c = c0; c < c0 + bc; c++) idx.push(r * n + c);
    unit(idx);
  }
  return wrong;
}

// draw an answer; returns how many cells are flagged, or null where nothing is checked cell by cell
function draw(puzzleText, answer, prev, final) {
  const view = MODEL.view, grid = $("grid"), lines = rows(answer);
  grid.style.gridTemplateColumns = "";
  if (!lines) {
    grid.className = "";
    grid.textContent = typeof answer === "string" ? answer : JSON.stringify(answer);
    return null;
  }
  const colours = Object.keys(view.palette).length > 0;
  const w = Math.max(...lines.map((r) => r.length)), h = lines.length;
  // the cells of a text as one string (symbols written, not coloured, compare regardless of case: 'a' is 'A')
  const flat = (t) => { const r = t && rows(t), s = r ? r.map((x) => x.padEnd(w)).join("") : null; return s && !colours ? s.toUpperCase() : s; };
  const cells = flat(answer), before = prev ? flat(prev) : null, given = view.givens ? flat(puzzleText) : null;
  const box = (MODEL.grid || {}).box;
  const checked = Boolean(box) && w === h && w === MODEL.grid.side;
  const wrong = checked ? ruleBreakers(given, cells, w, box[0], box[1]) : new Set();
  const [br, bc] = checked ? box : [h, w];
  const rejected = final && final.valid === false;
  grid.className = colours ? "palette" : "symbols";
  grid.style.gridTemplateColumns = `repeat(${w}, auto)`;
  grid.innerHTML = "";
  for (let i = 0; i < w * h; i++) {
    const r = Math.floor(i / w), c = i % w, ch = cells[i], d = document.createElement("div");
    const mark = view.marks[ch] || "";
    let cls = "cell" + (mark ? ` ${mark}` : "");
    if (colours) {
      d.style.background = view.palette[ch] || "#ff00ff";  // a symbol outside the palette (as the images draw it)
      if (rejected && mark === "path") wrong.add(i);
    } else {
      d.textContent = BLANK.includes(ch) ? "" : ch;
      cls += given && !BLANK.includes(given[i]) ? " given" : " pred";
      cls += (c + 1) % bc === 0 && c < w - 1 ? " box-right" : "";
      cls += (r + 1) % br === 0 && r < h - 1 ? " box-bottom" : "";
    }
    if (before && before[i] !== ch) cls += " changed";
    if (wrong.has(i)) cls += " wrong";
    d.className = cls;
    d.dataset.index = i;
    grid.appendChild(d);
  }
  return checked ? wrong.size : null;
}

function drawChart(trace, upto) {
  const chart = $("conf-chart");
  chart.innerHTML = "";
  trace.forEach((t, i) => {
    if (i > upto) return;
    const b = document.createElement("div");
    b.className = "bar" + (i === upto ? " current" : "");
    b.style.height = Math.max(2, Math.round(t.confidence * 68)) + "px";
    b.title = `step ${t.step}: confidence ${t.confidence.toFixed(3)}`;
    chart.appendChild(b);
  });
}

async function solve() {
  clearOutput();
  const text = $("puzzle").value;
  let puzzle = text;
  if (MODEL.view.json_puzzles) {
    try { puzzle = JSON.parse(text); } catch (e) { setStatus(`${MODEL.view.title}: the puzzle must be JSON (${e.message})`, "error"); return; }
  }
  const body = { task: MODEL.task, puzzle, mode: $("mode").value, trace: true };
  if ($("mode").value === "adaptive") body.threshold = parseFloat($("threshold").value);
  if ($("max-steps").value) body.max_steps = parseInt($("max-steps").value, 10);
  if ($("budget") && $("budget").value !== "") body.budget = parseInt($("budget").value, 10);
  $("solve").disabled = true;
  setStatus("solving…", "solving");
  let res;
  try {
    if ($("run-on").value === "browser") {
      res = await (await webSolver()).solve(puzzle, body);
    } else {
      const r = await fetch("v1/solve", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
      res = await r.json();
      if (!r.ok) throw new Error(typeof res.detail === "string" ? res.detail : JSON.stringify(res.detail));
    }
  } catch (e) {
    $("solve").disabled = false;
    setStatus(e.message, "error");
    return;
  }
  replay(text, res);
}

function replay(text, res) {
  const trace = res.trace && res.trace.length ? res.trace : [{ step: res.steps, answer: res.answer, confidence: res.confidence }];
  let i = 0;
  const show = () => {
    const t = trace[i], last = i === trace.length - 1;
    const nWrong = draw(text, t.answer, i ? trace[i - 1].answer : null, last ? res : null);
    drawChart(trace, i);
    $("step-line").textContent = `step ${t.step} / ${trace.length}: confidence ${t.confidence.toFixed(3)}` +
      (nWrong === null ? "" : `, ${nWrong} cell(s) flagged`);
    if (last) {
      clearInterval(timer); timer = null;
      const v = $("verdict");
      v.className = res.valid === true ? "valid" : res.valid === false ? "invalid" : "";
      v.textContent = res.verified === false  // verified solving: the grid shows a candidate, not an answer
        ? `✗ no verified answer within the budget (${(res.rungs || []).join(", ")}): the grid shows the best unverified candidate, not an answer`
        : res.valid === true ? `✓ verified: the verifier accepts this answer (${res.calls} calls)`
        : res.valid === false ? "✗ the verifier rejects this answer" : "no verifier for this task";
      $("errors").innerHTML = "";
      for (const e of res.errors || []) { const li = document.createElement("li"); li.textContent = e; $("errors").appendChild(li); }
      $("solve").disabled = false;
      setStatus(`done: ${res.steps} step(s), confidence ${res.confidence.toFixed(3)}`, "done");
    }
    i += 1;
  };
  show();
  if (trace.length > 1) timer = setInterval(show, 300);
}

$("generate").addEventListener("click", generate);
$("solve").addEventListener("click", solve);
const hint = location.protocol === "file:" ? " (browsers do not load it from file://: python -m http.server -d FOLDER)" : "";
loadModel().then(() => setStatus("ready", "ready")).catch((e) => setStatus(`could not load the model: ${e}${hint}`, "error"));
