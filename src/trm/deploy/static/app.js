"use strict";
// The trm web page: load the model description, solve with trace=true, replay the steps. Served by `trm serve`
// (body data-backend="server": POST v1/solve, or in this browser when the server serves a web export under web/)
// or as a static web export (data-backend="browser": static/trm-web.js and onnxruntime-web only).

const $ = (id) => document.getElementById(id);
const DIGITS = ".123456789ABCDEFG";
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
  const g = MODEL.grid || {};
  const size = g.side ? `${g.side}×${g.side} ` : "";
  $("model-line").textContent =
    `${MODEL.preset}: ${size}${MODEL.task}, ${MODEL.parameters.dense.toLocaleString()} parameters, ` +
    `T=${MODEL.architecture.T}, n=${MODEL.architecture.n}, N_sup=${MODEL.architecture.N_sup} (${MODEL.backend})`;
  $("max-steps").placeholder = MODEL.architecture.N_sup;
  $("max-steps").max = MODEL.limits.max_steps;
  const hints = {
    sudoku: `(${g.side}×${g.side}, '.' or 0 for blanks)`,
    maze: "(rows of # walls, spaces, S start, G goal)",
    arc: '(JSON: {"test": [{"input": [[...]]}]})',
  };
  $("format-hint").textContent = hints[MODEL.task] || "(tokens)";
  $("generate").disabled = !(MODEL.task === "sudoku" || MODEL.task === "maze");
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
  $("puzzle").value = sudokuPretty(puzzle);
  clearOutput();
  setStatus("generated puzzle #" + seed, "ready");
}

function sudokuPretty(text) {
  if (!MODEL || MODEL.task !== "sudoku") return text;
  const n = MODEL.grid.side;
  const cells = text.replace(/\s+/g, "");
  const rows = [];
  for (let r = 0; r < n; r++) rows.push(cells.slice(r * n, (r + 1) * n));
  return rows.join("\n");
}

function clearOutput() {
  if (timer) { clearInterval(timer); timer = null; }
  for (const id of ["grid", "step-line", "conf-chart", "verdict", "errors"]) $(id).innerHTML = "";
  $("verdict").className = "";
}

// ---------------------------------------------------------------- Sudoku
function sudokuCells(text) {
  return Array.from(text.replace(/\s+/g, "")).map((c) => (c === "0" ? 0 : Math.max(DIGITS.indexOf(c.toUpperCase()), 0)));
}

// cells that break a rule or change a given: the verifier's checks, cell by cell
function sudokuWrong(givens, cells, n, br, bc) {
  const wrong = new Set();
  for (let i = 0; i < n * n; i++) {
    if (cells[i] === 0 || (givens[i] !== 0 && givens[i] !== cells[i])) wrong.add(i);
  }
  const unit = (idx) => {
    const seen = {};
    for (const i of idx) { const v = cells[i]; if (v) (seen[v] = seen[v] || []).push(i); }
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

function drawSudoku(puzzleText, answerText, prevText) {
  const g = MODEL.grid, n = g.side, [br, bc] = g.box || [1, n];
  const givens = sudokuCells(puzzleText), cells = sudokuCells(answerText);
  const prev = prevText ? sudokuCells(prevText) : null;
  const wrong = sudokuWrong(givens, cells, n, br, bc);
  const grid = $("grid");
  grid.className = "sudoku";
  grid.style.gridTemplateColumns = `repeat(${n}, auto)`;
  grid.innerHTML = "";
  for (let i = 0; i < n * n; i++) {
    const r = Math.floor(i / n), c = i % n, d = document.createElement("div");
    d.className = "cell" + (givens[i] ? " given" : " pred") + (wrong.has(i) ? " wrong" : "") +
      (prev && prev[i] !== cells[i] ? " changed" : "") +
      ((c + 1) % bc === 0 && c < n - 1 ? " box-right" : "") + ((r + 1) % br === 0 && r < n - 1 ? " box-bottom" : "");
    d.textContent = cells[i] ? DIGITS[cells[i]] : "";
    d.dataset.index = i;
    grid.appendChild(d);
  }
  return wrong.size;
}

// ---------------------------------------------------------------- Maze
function drawMaze(answerText, flagPath) {
  const rows = answerText.split("\n");
  const w = Math.max(...rows.map((r) => r.length));
  const grid = $("grid");
  grid.className = "maze";
  grid.style.gridTemplateColumns = `repeat(${w}, auto)`;
  grid.innerHTML = "";
  const cls = { "#": "wall", S: "start", G: "goal", o: "path" };
  for (const row of rows) for (const ch of row.padEnd(w)) {
    const d = document.createElement("div");
    d.className = "cell " + (cls[ch] || "open") + (flagPath && ch === "o" ? " wrong" : "");
    grid.appendChild(d);
  }
  return 0;
}

function drawOther(answer) {
  const grid = $("grid");
  grid.className = "";
  grid.style.gridTemplateColumns = "";
  grid.textContent = typeof answer === "string" ? answer : JSON.stringify(answer);
  return 0;
}

function draw(puzzleText, answer, prev, final) {
  if (MODEL.task === "sudoku") return drawSudoku(puzzleText, answer, prev);
  if (MODEL.task === "maze") return drawMaze(answer, final && final.valid === false);
  return drawOther(answer);
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
  if (MODEL.task === "arc") {
    try { puzzle = JSON.parse(text); } catch (e) { setStatus("the ARC task must be JSON", "error"); return; }
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
      (MODEL.task === "sudoku" ? `, ${nWrong} cell(s) flagged` : "");
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
