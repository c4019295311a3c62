"use strict";
// trm-web.js: solve puzzles in the browser with a web export (`trm export RUN --format web`) and onnxruntime-web.
// The loop of trm/infer/engine.py (official: max_steps steps; adaptive: stop once sigmoid(q_halt) > threshold)
// and the parsers, formats and verifiers of trm/tasks/ (sudoku.py, maze.py) for one puzzle, one trajectory.
// Every table, default, bound and name they need is generated into web.json from the Python declarations.
//   const solver = await TRMWeb.load("./");   // the folder holding web.json
//   const res = await solver.solve(text, { mode: "adaptive", trace: true });  // the object of `trm solve --json`
//   res.verified ? res.answer : res.candidate   // verified solving: an answer only where the verifier accepts it

(function () {
  class PuzzleError extends Error {}
  const fail = (msg) => { throw new PuzzleError(msg); };
  const sigmoid = (q) => 1 / (1 + Math.exp(-q));
  const round6 = (x) => Math.round(x * 1e6) / 1e6;
  const range = (n) => [...Array(n).keys()];
  const where = (n, i) => `row ${Math.floor(i / n) + 1}, column ${(i % n) + 1}`;

  // --------------------------------------------------------------------- Sudoku (trm/tasks/sudoku.py)
  // Sudoku text as people write it (read_sudoku and its helpers, the same rules and messages)
  const SUDOKU_BLANKS = "._*0", SUDOKU_DIGITS = ".123456789ABCDEFG";
  const pyRepr = (s) => {  // Python's repr() of a string, as the Python parser's messages quote it
    const q = s.includes("'") && !s.includes('"') ? '"' : "'";
    const body = s.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/\r/g, "\\r").replace(/\t/g, "\\t");
    return q + (q === "'" ? body.replace(/'/g, "\\'") : body) + q;
  };
  const isRule = (line) => {  // a line drawn between bands: ------+------, |---+---|, *-----*, box drawing
    const drawn = [...line].filter((c) => !/\s/.test(c));
    const box = (c) => c >= "\u2500" && c < "\u2580";
    return drawn.some((c) => "-=─━═╌╍┄┅┈┉".includes(c)) && drawn.every((c) => "-=+|*".includes(c) || box(c));
  };
  const sudokuRows = (text) => {  // the lines that hold cells; column rules become spaces
    const rows = [];
    for (const raw of text.split(/\r\n|\r|\n/)) {
      const line = raw.trim();
      if (line.startsWith("[") && line.endsWith("]")) {
        if (rows.length) break;
        continue;
      }
      if (!line || line.startsWith("#") || isRule(line)) continue;
      const cells = line.replace(/[|+\u2500-\u257f]/g, " ").trim();
      if (cells) rows.push(cells);
    }
    return rows;
  };
  const sudokuCells = (rows, count) => {  // comma/semicolon fields; else words if `count`; else characters
    if (rows.some((r) => r.includes(",") || r.includes(";")))
      return rows.flatMap((r) => {
        const fields = r.trim().split(/\s*[,;]\s*|\s+/);
        if (fields.length > 1 && fields[fields.length - 1] === "" && /[,;]$/.test(r.trimEnd())) fields.pop();
        return fields;
      });
    const words = rows.flatMap((r) => r.split(/\s+/).filter(Boolean));
    return words.length === count ? words : Array.from(words.join(""));
  };
  const cellValue = (c, m) => {  // cell_symbols(m) and _values: the value 0..m of a cell, null if not one of m x m
    let v;
    if (c.length === 1 && SUDOKU_BLANKS.includes(c)) v = 0;
    else {
      const d = c.length === 1 ? SUDOKU_DIGITS.indexOf(c.toUpperCase()) : -1;  // lower case: digits from 10 (A..G)
      if (d >= 1 && d <= m) v = d;
      else v = c === "" ? 0 : /^[0-9]{1,3}$/.test(c) ? Number(c) : -1;
    }
    return v >= 0 && v <= m ? v : null;
  };
  const boxFor = (m) => {  // box_for_size: the most square factorisation, rows <= cols
    for (let br = Math.floor(Math.sqrt(m)); br > 0; br--) if (m % br === 0) return [br, m / br];
  };
  const anyRepeat = (vals, m) => {
    const [br, bc] = boxFor(m), seen = new Set();
    return vals.some((v, i) => {
      if (!v) return false;
      const r = Math.floor(i / m), c = i % m, b = Math.floor(r / br) * (m / bc) + Math.floor(c / bc);
      const keys = [`r${r}:${v}`, `c${c}:${v}`, `b${b}:${v}`];
      if (keys.some((k) => seen.has(k))) return true;
      keys.forEach((k) => seen.add(k));
      return false;
    });
  };
  const otherSize = (rows, n) => {  // [cells, M]: the rows are a valid M x M Sudoku of another size (4..16)
    for (let m = 4; m <= 16; m++) {
      if (m === n) continue;
      const cells = sudokuCells(rows, m * m);
      if (cells.length !== m * m) continue;
      const vals = cells.map((c) => cellValue(c, m));
      if (vals.every((v) => v !== null) && !anyRepeat(vals, m)) return [cells.length, m];
    }
    return null;
  };

  function sudoku(T) {
    const n = T.side, S = n * n, DIG = T.digits, value = T.decode.map((c) => Math.max(DIG.indexOf(c), 0));
    const repeats = (a) => T.units.flatMap(([name, idx], u) => {  // [unit, digit, count, name] per broken unit
      const count = Array(n + 1).fill(0);
      idx.forEach((i) => count[a[i]]++);
      const d = count.findIndex((k, v) => v > 0 && k > 1);
      return d > 0 ? [[u, d, count[d], name]] : [];
    });
    const unitsOf = range(S).map((i) => T.units.flatMap(([, idx], u) => (idx.includes(i) ? [u] : [])));
    const bits = (m) => { let k = 0; for (; m; k++) m &= m - 1; return k; };
    const solvable = (givens) => {  // search on unit bit masks: branch on the fewest choices (a cell's candidates
      // or a digit's places in a unit, so hidden singles are forced)
      const U = T.units.length, used = Array(U).fill(0), full = ((1 << (n + 1)) - 1) & ~1, open = [], val = givens;
      for (let i = 0; i < S; i++) {
        if (!val[i]) { open.push(i); continue; }
        const b = 1 << val[i];
        if (unitsOf[i].some((u) => used[u] & b)) return false;
        unitsOf[i].forEach((u) => (used[u] |= b));
      }
      const free = (i) => unitsOf[i].reduce((m, u) => m & ~used[u], full);
      const place = (i, d, on) => {
        val[i] = on ? d : 0;
        unitsOf[i].forEach((u) => (on ? (used[u] |= 1 << d) : (used[u] &= ~(1 << d))));
      };
      const search = (left) => {
        if (!left) return true;
        let at = 0, fewest = n + 1;
        for (let k = 0; k < left && fewest > 1; k++) {
          const c = bits(free(open[k]));
          if (c < fewest) [at, fewest] = [k, c];
        }
        if (!fewest) return false;
        let choices = [];  // [cell, digit] pairs to try
        if (fewest > 1) {
          let places = fewest;
          for (let u = 0; u < U && places > 1; u++) {
            for (let d = 1; d <= n && places > 1; d++) {
              const b = 1 << d;
              if (used[u] & b) continue;
              const where = T.units[u][1].filter((i) => !val[i] && free(i) & b);
              if (!where.length) return false;
              if (where.length < places) [places, choices] = [where.length, where.map((i) => [i, d])];
            }
          }
        }
        if (!choices.length) {
          const i = open[at], m = free(i);
          choices = range(n + 1).filter((d) => m & (1 << d)).map((d) => [i, d]);
        }
        for (const [i, d] of choices) {
          const k = open.indexOf(i);
          [open[k], open[left - 1]] = [open[left - 1], open[k]];
          place(i, d, true);
          const ok = search(left - 1);
          place(i, d, false);
          if (ok) return true;
        }
        return false;
      };
      return search(open.length);
    };
    return {
      parse(text) {  // read_sudoku: one line, rows, spaced or comma-separated cells, drawn grids, .sdk files
        if (typeof text !== "string") fail(`a ${n}x${n} Sudoku is text`);
        text = text.replace(/^\ufeff/, "");
        const table = T.encode, chars = text.replace(/\s+/g, "");
        let cells, rows;
        if (chars.length === S && [...chars].every((c) => c in table)) {  // the common form
          [cells, rows] = [Array.from(chars), text.split(/\r\n|\r|\n/).filter((l) => l.trim())];
        } else {
          rows = sudokuRows(text);
          cells = sudokuCells(rows, S);
          if (cells.length !== S) {
            const other = otherSize(rows, n);
            if (other)
              fail(`a ${n}x${n} Sudoku needs ${S} cells, got ${other[0]}: this is a ${other[1]}x${other[1]} Sudoku, which a ${other[1]}x${other[1]} Sudoku model solves`);
            fail(`a ${n}x${n} Sudoku needs ${S} cells, got ${cells.length} in ${pyRepr(text.trim().slice(0, 100))}`);
          }
          const bad = cells.findIndex((c) => cellValue(c, n) === null);
          if (bad >= 0) {
            const what = cells.every((c) => c.length <= 1) ? "character" : "cell";
            const numbers = n > 9 && what === "cell" ? `1..${n} or ` : "";
            fail(`bad ${what} ${pyRepr(cells[bad])} at cell ${bad} (${where(n, bad)}); use '.' or '0' for blanks and ${numbers}1..${DIG[n]} for digits`);
          }
        }
        const givens = cells.map((c) => cellValue(c, n)), tokens = givens.map((v) => table[DIG[v]]);
        const shown = cells.every((c) => c.length === 1) ? cells.join("") : givens.map((v) => DIG[v]).join("");
        for (const [, d, , name] of repeats(givens).slice(0, 1))
          fail(`invalid Sudoku ${pyRepr(shown)}: digit ${DIG[d]} appears twice in ${name.startsWith("box") ? "the " : ""}${name}`);
        if (!solvable(givens.slice())) fail(`this ${n}x${n} Sudoku has no solution (its givens contradict each other)`);
        const blanks = [...new Set(cells.filter((c, i) => givens[i] === 0))];
        const blank = blanks.length === 1 && SUDOKU_BLANKS.includes(blanks[0]) ? blanks[0] : ".";
        return { tokens, givens, lines: rows.length === n, blank };
      },
      format(tokens, p) {
        let text = tokens.map((t) => T.decode[t]).join("");
        if (p.blank !== ".") text = text.replaceAll(".", p.blank);
        return p.lines ? range(n).map((r) => text.slice(r * n, (r + 1) * n)).join("\n") : text;
      },
      verify(p, tokens) {  // check_sudoku: blanks, changed givens, repeats (at most 5 of each)
        const a = tokens.map((t) => value[t]), g = p.givens, errors = [], limit = 5;
        const blanks = range(S).filter((i) => a[i] < 1);
        if (blanks.length)
          errors.push(`${blanks.length} cell(s) not filled with a digit 1..${DIG[n]} (first at ${where(n, blanks[0])})`);
        for (const i of range(S).filter((i) => g[i] && g[i] !== a[i]).slice(0, limit))
          errors.push(`given ${DIG[g[i]]} at ${where(n, i)} was changed to ${DIG[a[i]]}`);
        for (const [u, d, k, name] of repeats(a)) {
          if (errors.length > limit && u > 0) break;
          errors.push(`digit ${DIG[d]} appears ${k} times in ${name}`);
        }
        return [errors.length === 0, errors];
      },
    };
  }

  // --------------------------------------------------------------------- maze (trm/tasks/maze.py)
  function maze(T) {
    const n = T.side, S = n * n, charset = [T.wall, T.open, T.start, T.goal, T.path];
    const step = (i) => T.moves.map(([dr, dc]) => [Math.floor(i / n) + dr, (i % n) + dc])
      .filter(([r, c]) => r >= 0 && r < n && c >= 0 && c < n).map(([r, c]) => r * n + c);
    const distances = (m, from) => {  // BFS over non-wall cells
      const dist = Array(S).fill(-1), queue = [from];
      dist[from] = 0;
      for (let k = 0; k < queue.length; k++)
        for (const j of step(queue[k]))
          if (m[j] !== T.wall && dist[j] < 0) (dist[j] = dist[queue[k]] + 1), queue.push(j);
      return dist;
    };
    return {
      parse(text) {
        if (typeof text !== "string") fail("a maze must be given as text (rows of '#', ' ', 'S', 'G')");
        let lines = text.replace(/^\ufeff/, "").split("\n").map((l) => l.replace(/\r+$/, ""));  // maze_lines: ragged rows as typed
        while (lines.length && !lines[0].trim()) lines.shift();
        while (lines.length && !lines[lines.length - 1].trim()) lines.pop();
        if (new Set(lines.map((l) => l.length)).size > 1 || lines.some((l) => l.length > n))
          lines = lines.map((l) => l.replace(/ +$/, ""));
        const h = lines.length, w = Math.max(0, ...lines.map((l) => l.length)), m = Math.max(h, w);
        if (!h || !w) fail("the maze is empty");
        if (h > n || w > n)
          fail(`the maze is ${h}x${w} but this model solves mazes up to ${n}x${n}; a maze model of ${m}x${m} or larger solves it`);
        const tokens = Array(S).fill(T.encode[T.wall]);
        lines.forEach((ln, r) => {
          const bad = [...new Set(ln)].filter((c) => !(c in T.encode)).sort();
          if (bad.length)
            fail(`maze row ${r + 1}: illegal character(s) [${bad.map((c) => `'${c}'`).join(", ")}]; use '#', ' ', 'S', 'G' (and 'o')`);
          for (let c = 0; c < w; c++) tokens[r * n + c] = T.encode[ln[c] ?? T.open];
        });
        const grid = tokens.map((t) => T.decode[t]);
        for (const ch of [T.start, T.goal]) {
          const k = grid.filter((c) => c === ch).length;
          if (k !== 1) fail(`a maze needs exactly one ${ch}, found ${k}`);
        }
        if (distances(grid, grid.indexOf(T.start))[grid.indexOf(T.goal)] < 0) fail("the maze has no path from S to G");
        return { tokens, grid, h, w };
      },
      format(tokens, p) {
        return range(p.h).map((r) => tokens.slice(r * n, r * n + p.w).map((t) => T.decode[t]).join("")).join("\n");
      },
      verify(p, tokens) {  // check_maze: the maze unchanged but for one simple, shortest path of 'o' from S to G
        const m = p.grid, a = tokens.map((t) => T.decode[t]), errors = [];
        const bad = range(S).filter((i) => !charset.includes(a[i]));
        if (bad.length) errors.push(`${bad.length} cell(s) hold no maze symbol (first at ${where(n, bad[0])})`);
        const moved = range(S).filter((i) => (a[i] === T.path ? T.open : a[i]) !== m[i]);
        if (moved.length) {
          const i = moved[0];
          errors.push(`${moved.length} cell(s) differ from the maze other than by the path (first at ${where(n, i)}: '${m[i]}' -> '${a[i]}')`);
        }
        if (errors.length) return [false, errors];
        const start = a.indexOf(T.start), goal = a.indexOf(T.goal), seen = new Set([start]);
        let cur = start, moves = 0;
        while (cur !== goal) {
          let next = step(cur).filter((j) => [T.path, T.start, T.goal].includes(a[j]) && !seen.has(j));
          if (next.includes(goal)) next = [goal];
          if (next.length !== 1) return [false, [`the path ${next.length ? "branches" : "breaks off"} at ${where(n, cur)}`]];
          cur = next[0];
          seen.add(cur);
          moves += 1;
        }
        const stray = a.filter((c) => c === T.path).length - (moves - 1);
        if (stray > 0) return [false, [`${stray} path cell(s) are not on the way from S to G`]];
        const best = distances(m, start)[goal];
        if (moves > best) return [false, [`the path is valid but takes ${moves} moves; the shortest takes ${best}`]];
        return [true, []];
      },
    };
  }

  // --------------------------------------------------------------------- the loop (trm/infer/engine.py)
  class Solver {
    constructor(W, session, ep) {
      Object.assign(this, { W, session, ep, task: { sudoku, maze }[W.task.kind](W.task) });
    }

    settings(options) {  // Settings.validate for the options the browser runs
      const st = {};
      for (const [name, f] of Object.entries(this.W.settings)) {
        const v = (st[name] = options[name] ?? f.default);
        if (f.choices) {
          if (!f.choices.includes(v)) fail(`${name} must be one of [${f.choices.map((c) => `'${c}'`).join(", ")}], got '${v}'`);
        } else if (name === "threshold") {
          if (st.mode === "adaptive" && !(v > f.min && v < f.max)) fail(`the halting threshold must be in (0, 1), got ${v}`);
        } else if (v !== null) {
          if (!Number.isInteger(v)) fail(`${name} must be an integer, got ${v}`);
          if (v < f.min || v > f.max) fail(`${name} must be in [${f.min}, ${f.max}], got ${v}`);
        }
      }
      for (const k of ["samples", "augment"])
        if ((options[k] ?? 1) !== 1) fail(`${k} > 1 is not available in the browser; use trm solve`);
      return st;
    }

    // Verified solving (trm/infer/solver.py VerifiedRequest): the rungs of web.json's ladder at one copy and one
    // trajectory (plan() with augment and samples capped at 1: rungs that only add copies or trajectories fall
    // onto the deeper one and are left out), climbed while the verifier rejects the answer and the next rung's
    // calls fit in the budget; an answer only where the verifier accepts it, else the candidate.
    async solve(puzzle, options = {}) {
      const W = this.W, st = this.settings(options), p = this.task.parse(puzzle);
      const base = st.max_steps || W.n_sup, ladder = [];
      for (const [k, r] of (W.ladder || [{ name: "protocol" }]).entries()) {  // exports before the ladder: one rung
        const limit = k ? Math.min(r.depth * base, W.settings.max_steps.max) : base;
        const mode = k ? "official" : st.mode;  // rungs after the first run every step, as plan() says
        if (!ladder.some((x) => x.limit === limit && x.mode === mode)) ladder.push({ name: r.name, limit, mode });
      }
      const rungs = [];
      let calls = 0, res;
      for (const [k, rung] of ladder.entries()) {
        if (k && calls + rung.limit > st.budget) break;
        res = await this.run(p, { ...st, mode: rung.mode }, rung.limit);
        calls += res.steps;
        rungs.push(rung.name);
        if (res.valid) break;
      }
      const { answer, tokens, trace, ...rest } = res, verified = res.valid === true;
      const out = { answer: verified ? answer : null, verified, candidate: verified ? null : answer, ...rest };
      Object.assign(out, { calls, rung: rungs[rungs.length - 1], rungs });
      if (options.trace) out.trace = trace;
      return Object.assign(out, { tokens });
    }

    async run(p, st, limit) {  // one trajectory of at most `limit` supervision steps
      const W = this.W, S = W.seq_len, V = W.vocab_size, threshold = st.mode === "adaptive" ? st.threshold : 2;
      const floats = (v, n) => {  // [1, n, D] copies of a vector (the reset state), or [1, D] for n = 0
        const a = new Float32Array(Math.max(n, 1) * v.length);
        for (let i = 0; i < a.length; i += v.length) a.set(v, i);
        return new ort.Tensor("float32", a, n ? [1, n, v.length] : [1, v.length]);
      };
      const feeds = {
        inputs: new ort.Tensor("int64", BigInt64Array.from(p.tokens, BigInt), [1, S]),
        y: floats(W.y_init, W.total_len),
        z: floats(W.z_init, W.total_len),
      };
      if (this.session.inputNames.includes("puzzle_emb")) feeds.puzzle_emb = floats(W.puzzle_emb, 0);
      const trace = [];
      let tokens, confidence;
      do {  // one supervision step; the carry stays in onnxruntime's tensors
        const out = await this.session.run(feeds);
        [feeds.y, feeds.z] = [out.y_next, out.z_next];
        const logits = out.logits.data;
        tokens = range(S).map((i) => {  // argmax, the first of equal maxima (numpy's rule)
          let best = 0;
          for (let v = 1; v < V; v++) if (logits[i * V + v] > logits[i * V + best]) best = v;
          return best;
        });
        confidence = sigmoid(out.q_halt.data[0]);
        trace.push({ step: trace.length + 1, answer: this.task.format(tokens, p), confidence: round6(confidence) });
      } while (trace.length < limit && !(confidence > threshold));
      const [valid, errors] = this.task.verify(p, tokens), steps = trace.length;
      return { answer: this.task.format(tokens, p), steps, confidence: round6(confidence), valid, errors, trace, tokens };
    }
  }

  function loadScript(src) {
    return new Promise((ok, no) => {
      const onerror = () => no(new Error(`cannot load ${src}`));
      document.head.appendChild(Object.assign(document.createElement("script"), { src, onload: ok, onerror }));
    });
  }

  // WebGPU where the browser has an adapter (and the export its runtime; ep: "wasm" forces WASM), else WASM.
  async function load(base = "./", { ep } = {}) {
    const r = await fetch(base + "web.json");
    if (!r.ok) throw new Error(`${base}web.json: ${r.status} (not a web export: trm export RUN --format web)`);
    const W = await r.json(), bundles = W.runtime.bundles;
    const gpu = bundles.webgpu && navigator.gpu && (await navigator.gpu.requestAdapter().catch(() => null));
    ep = ep || (gpu ? "webgpu" : "wasm");
    if (!self.ort) await loadScript(base + bundles[ep]);
    ort.env.wasm.wasmPaths = new URL(base + W.runtime.dir, location.href).href;
    ort.env.wasm.numThreads = self.crossOriginIsolated ? Math.min(4, navigator.hardwareConcurrency || 1) : 1;
    const executionProviders = ep === "wasm" ? ["wasm"] : [ep, "wasm"];
    const session = await ort.InferenceSession.create(base + W.graph, { executionProviders });
    return new Solver(W, session, ep);
  }

  self.TRMWeb = { load, PuzzleError, tasks: { sudoku, maze } };  // tasks: the parsers, formats and verifiers
})();
