"""The browser runtime (trm-web.js) reads Sudoku text as people write it exactly as the Python task does: every
rendering of tests/test_tasks_puzzle_text.py, for every box shape, gives the same tokens, layout and formatted
answer, and every refused text the same one-line message. Runs trm-web.js's task code in Node (no browser, no
onnxruntime); skipped where Node is not installed."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from trm.deploy.web_export import task_tables
from trm.tasks import PuzzleError, get_task
from trm.tasks import sudoku as S

from .test_tasks_puzzle_text import BOXES, FORMS, SDK, SDK_LINE, _puzzle

RUNTIME = Path(__file__).resolve().parents[1] / "src" / "trm" / "deploy" / "static" / "trm-web.js"

HARNESS = r"""
globalThis.self = globalThis;
require(process.argv[1]);
const cases = JSON.parse(require("fs").readFileSync(0, "utf8"));
const out = cases.map(({ tables, text, answer }) => {
  const task = self.TRMWeb.tasks[tables.kind](tables);
  try {
    const p = task.parse(text);
    return { tokens: p.tokens, lines: p.lines, blank: p.blank, formatted: task.format(answer, p) };
  } catch (e) {
    if (!(e instanceof self.TRMWeb.PuzzleError)) throw e;
    return { error: e.message };
  }
});
process.stdout.write(JSON.stringify(out));
"""

# refused texts: counts, other sizes, bad characters and cells, repeated givens, no solution
BAD = [
    ("11" + "." * 79, (2, 3)),
    ("1,2,3", (2, 3)),
    ("12.|4..\n---+---\n" * 3, (2, 3)),
    ("1-2" + "." * 33, (2, 3)),
    ("1,2,x" + ",." * 33, (2, 3)),
    ("1 2 33" + " ." * 33, (2, 3)),
    ("[Puzzle]\n# nothing\n", (2, 3)),
    ("1 . . | . . 1\n" + ". . . | . . .\n" * 5, (2, 3)),
    (SDK_LINE, (2, 3)),
    (SDK, (2, 3)),
    ("1,2,3,4\n3,4,1,2\n0,0,0,0\n0,0,0,0", (2, 3)),
    ("12" + "." * 34, (3, 3)),
    ("it's" + "." * 32, (2, 3)),
    ("1" * 36, (2, 3)),
    ("12345......6" + "." * 24, (2, 3)),  # no solution
]


def _node(cases: list[dict]) -> list[dict]:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    out = subprocess.run(
        [node, "-e", HARNESS, str(RUNTIME)],
        input=json.dumps(cases),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def _tables(box) -> tuple[object, dict]:
    n = box[0] * box[1]
    task = get_task({"kind": "sudoku", "box": list(box)}, n * n, n + 2)
    return task, task_tables(task)


def test_every_rendering_is_read_as_python_reads_it():
    cases, want = [], []
    for b, box in enumerate(BOXES):
        task, tables = _tables(box)
        for f, (name, render) in enumerate(sorted(FORMS.items())):
            for blank in (".", "0", "_", "*"):
                g = _puzzle(box, 100 * b + 10 * f + len(cases) % 7, [0.0, 0.4, 0.7][len(cases) % 3])
                text = render(g, box, blank)
                text = text.lower() if len(cases) % 4 == 0 and name != "sdk" else text
                text = text.replace("\n", "\r\n") if len(cases) % 5 == 0 else text
                parsed = task.parse(text)
                answer = S.encode(S.solve(g, box)[1]).tolist()
                cases.append({"tables": tables, "text": text, "answer": answer})
                want.append(
                    {
                        "tokens": parsed.tokens.tolist(),
                        "lines": parsed.layout["lines"],
                        "blank": parsed.layout["blank"],
                        "formatted": task.format(np.asarray(answer), parsed),
                    }
                )
    got = _node(cases)
    for case, g, w in zip(cases, got, want, strict=True):
        assert g == w, case["text"]
    assert len(cases) == len(BOXES) * len(FORMS) * 4


def test_refused_text_gets_the_same_message():
    cases, want = [], []
    for text, box in BAD:
        task, tables = _tables(box)
        with pytest.raises(PuzzleError) as e:
            task.parse(text)
        cases.append({"tables": tables, "text": text, "answer": [0] * task.seq_len})
        want.append({"error": str(e.value)})
    assert _node(cases) == want
