"""Your own grid puzzles end to end with no task-specific code outside the family (issue 28): a generated JSONL
file -> `trm data build grid-pairs` -> `trm train` (a few steps of a fixed tiny model) -> `trm eval`, `trm
solve`, `trm serve` (FastAPI TestClient), `trm mcp` (in process) and `trm export` (ONNX). What is checked is that
the pipeline runs and the user's grid format round-trips, not accuracy."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest

from trm.cli import main

ROOT = Path(__file__).resolve().parents[1]
TINY = [
    "train.max_steps=3",
    "train.lr_warmup_steps=3",
    "train.eval_interval_steps=3",
    "train.global_batch_size=16",
    "model.hidden_size=16",
    "model.N_sup=2",
]


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> tuple[Path, Path]:
    """A run directory trained 3 steps on 60 generated 4x4 gravity pairs, and its dataset."""
    root = tmp_path_factory.mktemp("grid")
    src = root / "gravity.jsonl"
    subprocess.run(
        [sys.executable, str(ROOT / "benchmarks/make_grid_pairs_example.py"), "--out", str(src)]
        + ["--pairs", "60", "--size", "4", "--seed", "1"],
        check=True,
    )
    data, out = root / "data", root / "run"
    assert main(["data", "build", "grid-pairs", "--source", str(src), "--out", str(data), "--quiet"]) == 0
    assert main(["train", "grid_mlp_fast", "--data", str(data), "--out", str(out), *TINY]) == 0
    return out, data


PUZZLE = ".#..|#...|....|##.#"


def _grid(answer: str) -> list[str]:
    rows = answer.split("|")
    assert len(rows) == 4 and all(len(r) == 4 for r in rows), answer
    return rows


def test_eval_and_solve(run, capsys):
    out, data = run
    assert main(["eval", str(out), "--data", str(data)]) == 0
    report = json.loads((out / "eval/report.json").read_text())
    assert "exact_accuracy" in json.dumps(report)
    capsys.readouterr()
    assert main(["solve", str(out), PUZZLE, "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    _grid(got["answer"])
    assert got["valid"] is None  # exact match is the only check: no verifier
    assert main(["solve", str(out), json.dumps(PUZZLE.split("|")), "--json"]) == 0
    rows = json.loads(json.loads(capsys.readouterr().out)["answer"])
    assert rows == _grid(got["answer"])  # a list of rows in, a list of rows out: the same answer
    assert main(["solve", str(out), ".#x.|#...|....|##.#"]) == 2
    err = capsys.readouterr().err
    assert 'unknown symbol "x" at row 1, column 3' in err and err.count("\n") == 1


def test_serve(run):
    pytest.importorskip("httpx", reason="httpx is needed for FastAPI's TestClient")
    from fastapi.testclient import TestClient

    from trm.deploy.server import create_app

    out, _ = run
    with TestClient(create_app(out)) as client:
        example = client.get("/v1/example").json()
        assert example["task"] == "grid" and isinstance(example["puzzle"], str)
        r = client.post("/v1/solve", json={"task": "grid", "puzzle": PUZZLE})
        assert r.status_code == 200, r.text
        _grid(r.json()["answer"])
        r = client.post("/v1/solve", json={"task": "grid", "puzzle": [list(x) for x in PUZZLE.split("|")]})
        assert r.status_code == 200 and len(json.loads(r.json()["answer"])) == 4
        bad = client.post("/v1/solve", json={"task": "grid", "puzzle": "...."})
        assert bad.status_code == 400 and "this model takes grids of 4x4" in bad.text


def test_mcp(run):
    mcp = pytest.importorskip("mcp", reason="the MCP SDK is not installed")
    from trm.deploy.mcp_server import create_server

    out, _ = run

    async def go():
        async with mcp.Client(create_server(out)) as client:
            names = {t.name for t in (await client.list_tools()).tools}
            return names, [
                await client.call_tool("solve_grid", {"puzzle": PUZZLE}),
                await client.call_tool("solve_grid", {"puzzle": "##|##"}),
            ]

    names, (ok, bad) = asyncio.run(go())
    assert names == {"solve_grid", "describe_model"}
    assert not ok.is_error and ok.structured_content["valid"] is None
    _grid(ok.structured_content["answer"])
    assert bad.is_error and "4x4" in bad.content[0].text


def test_onnx_export_answers_like_torch(run, tmp_path, capsys):
    pytest.importorskip("onnx", reason="the onnx extra is not installed")
    pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")
    out, _ = run
    assert main(["export", str(out), "--out", str(tmp_path / "x")]) == 0
    manifest = json.loads((tmp_path / "x/trm_export.json").read_text())
    assert manifest["task_info"]["extra"]["alphabet"] == ["#", "."]  # the task travels with the export
    capsys.readouterr()
    answers = []
    for target, extra in ((out, []), (tmp_path / "x", ["--backend", "onnx"])):
        assert main(["solve", str(target), PUZZLE, "--json", *extra]) == 0
        answers.append(json.loads(capsys.readouterr().out)["answer"])
    assert answers[0] == answers[1]
