"""The web page (static/app.js) draws what the service describes: the family's view comes from the task layer
(trm.deploy.page, served in GET /v1/model and web.json), and the page names no family. The page's functions
run here in Node with a minimal stand-in DOM (the Playwright test drives a real browser where one is installed)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from trm.deploy.page import page_view
from trm.tasks import TASKS, Task, TaskInfo, get_task

APP = Path(__file__).resolve().parents[1] / "src" / "trm" / "deploy" / "static" / "app.js"

HARNESS = r"""
const fs = require("fs"), vm = require("vm");
const [app, modelJson, casesJson] = process.argv.slice(2);
class El {
  constructor(id) { Object.assign(this, { id, children: [], style: {}, dataset: {}, className: "", text: "",
    value: "", disabled: false, hidden: false, options: [{}, {}], placeholder: "", max: "", html: "" }); }
  set textContent(v) { this.children = []; this.text = String(v); }  // as the DOM: the text replaces the children
  get textContent() { return this.text; }
  set innerHTML(v) { this.children = []; this.html = v; }
  get innerHTML() { return this.html; }
  appendChild(c) { this.children.push(c); }
  addEventListener() {}
}
const els = {};
const model = JSON.parse(modelJson);
const ctx = {
  document: { getElementById: (id) => (els[id] = els[id] || new El(id)), createElement: () => new El(),
              body: { dataset: { backend: "server" } }, querySelector: () => new El() },
  fetch: async (url, opts) => ({ ok: !(opts && opts.method === "HEAD"),
    json: async () => (url.startsWith("v1/example") ? { puzzle: model.example } : model) }),
  location: { protocol: "http:", search: "" }, URLSearchParams, setInterval: () => 1, clearInterval: () => {},
  window: {}, console, JSON, Math, Object, Array, String, Set,
};
vm.createContext(ctx);
vm.runInContext(fs.readFileSync(app, "utf8"), ctx);
setTimeout(async () => {
  if (model.example) await vm.runInContext("generate()", ctx);
  const out = { puzzle: els.puzzle.value, status: els.status.textContent, hint: els["format-hint"].textContent,
                line: els["model-line"].textContent, task: els["task-line"].textContent,
                generate: els.generate.disabled, draws: [] };
  for (const [puzzle, answer, prev, valid] of JSON.parse(casesJson)) {
    ctx.CASE = [puzzle, answer, prev, valid === null ? null : { valid }];
    const flagged = vm.runInContext("draw(CASE[0], CASE[1], CASE[2], CASE[3])", ctx);
    const g = els.grid;
    out.draws.push({ flagged, className: g.className, text: g.children.length ? null : g.textContent,
                     cells: g.children.map((c) => [c.className, c.textContent, c.style.background || ""]) });
  }
  console.log(JSON.stringify(out));
}, 50);
"""


def run_page(tmp_path, task: Task, cases: list, example: str | None = None) -> dict:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    model = {
        "preset": "p",
        "task": task.kind,
        "grid": task.info.to_dict(),
        "view": page_view(task),
        "backend": "torch",
        "parameters": {"dense": 1000},
        "architecture": {"T": 2, "n": 2, "N_sup": 4},
        "limits": {"max_steps": 64},
        "threshold": 0.5,
        "example": example,  # what GET /v1/example answers
    }
    harness = tmp_path / "harness.js"
    harness.write_text(HARNESS)
    out = subprocess.run(
        [node, str(harness), str(APP), json.dumps(model), json.dumps(cases)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_the_page_names_no_family():
    text = APP.read_text()
    for kind in TASKS:  # no comparison with a kind (a DOM id that happens to be a kind's name is no branch)
        q = rf"[\"'`]{kind}[\"'`]"
        assert not re.search(rf"(===?|!==?|case|\bin)\s*{q}|{q}\s*(===?|!==?|:\s*\(|in\b)", text, re.I), kind
    assert "MODEL.task ===" not in text


def test_the_view_is_read_off_the_task_layer():
    sudoku = get_task({"task": "sudoku"}, 36, 8)
    view = page_view(sudoku)
    assert view["input_help"] == sudoku.puzzle_help and view["description"] == sudoku.description
    assert view["examples"] and view["givens"] and view["palette"] == {}
    maze = page_view(get_task({"task": "maze"}, 64, 6))
    assert maze["palette"]["#"] == "#282828" and maze["marks"]["o"] == "path" and not maze["givens"]
    arc = page_view(get_task({"task": "arc"}, 900, 12))
    assert arc["json_puzzles"] and not arc["examples"] and len(arc["palette"]) == 10
    for kind in TASKS:  # every family's view is plain JSON
        task = get_task({"task": kind}, 36, 8) if kind in ("sudoku", "custom") else None
        if task is not None:
            json.dumps(page_view(task))


def test_sudoku_page(tmp_path):
    task = get_task({"task": "sudoku"}, 36, 8)
    puzzle = "1.3...\n" + "." * 30
    good = "123456456123231564564231312645645312"
    bad = "113456456123231564564231312645645312"  # a repeat in the first row and column
    out = run_page(tmp_path, task, [[puzzle, good, None, True], [puzzle, bad, good, False]], example="1" * 36)
    assert out["puzzle"] == "\n".join(["111111"] * 6)  # a generated puzzle, one row a line
    assert out["status"].startswith("generated puzzle #") and out["hint"] == f"({task.puzzle_help})"
    assert not out["generate"]
    assert "6x6 sudoku" in out["line"] and out["task"] == task.description
    ok, wrong = out["draws"]
    assert ok["flagged"] == 0 and ok["className"] == "symbols" and len(ok["cells"]) == 36
    assert ok["cells"][0][0].startswith("cell given") and "pred" in ok["cells"][1][0]
    assert "box-right" in ok["cells"][2][0] and "box-bottom" in ok["cells"][6][0]
    assert [c[1] for c in ok["cells"][:6]] == list("123456")
    assert wrong["flagged"] > 0 and "wrong" in wrong["cells"][1][0] and "changed" in wrong["cells"][1][0]


def test_maze_and_arc_pages_draw_from_the_palette(tmp_path):
    task = get_task({"task": "maze"}, 16, 6)
    answer = "#S##\n#o #\n#oo#\n##G#"
    out = run_page(tmp_path, task, [["", answer, None, False]])
    (d,) = out["draws"]
    assert d["className"] == "palette" and d["flagged"] is None and len(d["cells"]) == 16
    assert d["cells"][0][2] == "#282828" and d["cells"][1][2] == "#2ecc40"
    assert "path" in d["cells"][5][0] and "wrong" in d["cells"][5][0] and "wrong" not in d["cells"][0][0]
    arc = get_task({"task": "arc"}, 900, 12)
    out = run_page(tmp_path, arc, [["", "[[0, 1], [2, 3]]", None, None], ["", "no grid", None, None]])
    grid, text = out["draws"]
    assert [c[2] for c in grid["cells"]] == [arc_colour(arc, k) for k in "0123"]
    assert text["className"] == "" and text["text"] == "no grid"


def arc_colour(task: Task, symbol: str) -> str:
    return "#{:02x}{:02x}{:02x}".format(*task.palette[symbol])


def test_a_new_family_needs_no_page_edit(tmp_path):
    class Tiles(Task):  # not registered anywhere: the page only sees its view
        kind, title = "tiles", "tile grid"
        description, puzzle_help = "Tiles (colour the grid)", "rows of r, g and b"
        palette = {"r": (255, 0, 0), "g": (0, 255, 0), "b": (0, 0, 255)}

        def __init__(self):
            self.info, self.seq_len, self.vocab = TaskInfo("tiles", 2), 4, 4

    out = run_page(tmp_path, Tiles(), [["", "rg\nbx", None, None]])
    assert (
        out["hint"] == "(rows of r, g and b)" and out["generate"] and out["task"] == "Tiles (colour the grid)"
    )
    (d,) = out["draws"]
    assert [c[2] for c in d["cells"]] == ["#ff0000", "#00ff00", "#0000ff", "#ff00ff"]
