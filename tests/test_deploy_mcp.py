"""``trm mcp``: the Model Context Protocol server, driven by the official SDK's own client.

End to end over stdio: ``python -m trm mcp sudoku6`` (the shipped model) lists its tools, answers a held-out
puzzle with a verified answer, answers malformed input with a one-line tool error and keeps serving. In process:
a maze and an ARC model offer their own tool only.
"""

import asyncio
import sys

import pytest
import torch

from trm.config import Config, ModelConfig
from trm.data import maze_generate, sudoku_generate
from trm.deploy.pretrained import save_pretrained
from trm.model import TRM
from trm.presets import get_preset
from trm.tasks import maze, sudoku
from trm.utils import TRMError

mcp = pytest.importorskip(
    "mcp", reason="the MCP SDK is not installed (pip install -e '.[mcp]'; CI installs [all])"
)


def held_out_sudoku(seed: int = 4242) -> str:
    """A 6x6 puzzle the shipped model never saw (its training set was generated with seed 0)."""
    puzzles, _ = sudoku_generate.generate(1, (2, 3), blanks=(23, 28), seed=seed, minimal=True)
    return sudoku.format_sudoku(puzzles[0])


async def _stdio_session():
    params = mcp.StdioServerParameters(command=sys.executable, args=["-m", "trm", "mcp", "sudoku6"])
    out = {}
    async with mcp.Client(params, read_timeout_seconds=120) as client:
        out["tools"] = {t.name: t for t in (await client.list_tools()).tools}
        puzzle = held_out_sudoku()
        out["good"] = await client.call_tool("solve_sudoku", {"puzzle": puzzle, "mode": "adaptive"})
        out["bad_puzzle"] = await client.call_tool("solve_sudoku", {"puzzle": "12x4"})
        out["bad_option"] = await client.call_tool("solve_sudoku", {"puzzle": puzzle, "mode": "fast"})
        out["too_many_steps"] = await client.call_tool(
            "solve_sudoku", {"puzzle": puzzle, "max_steps": 10_000}
        )
        grid = [[int(c) if c != "." else 0 for c in puzzle[r * 6 : r * 6 + 6]] for r in range(6)]
        out["after"] = await client.call_tool(
            "solve_sudoku", {"puzzle": grid}
        )  # still serving; a grid works too
        out["describe"] = await client.call_tool("describe_model", {})
    return puzzle, out


def test_stdio_end_to_end_with_the_shipped_model():
    puzzle, out = asyncio.run(_stdio_session())
    tools = out["tools"]
    assert set(tools) == {"solve_sudoku", "describe_model"}
    schema = tools["solve_sudoku"].input_schema
    assert schema["required"] == ["puzzle"]
    assert {"mode", "max_steps", "threshold", "samples", "seed"} <= set(schema["properties"])
    assert "batch_size" not in schema["properties"]
    mode = schema["properties"]["mode"]["anyOf"][0]
    assert mode["enum"] == ["official", "adaptive"]
    assert schema["properties"]["max_steps"]["anyOf"][0]["maximum"] == 64  # the server's limit
    assert set(tools["solve_sudoku"].output_schema["required"]) >= {"answer", "steps", "confidence", "valid"}

    good = out["good"]
    assert not good.is_error
    res = good.structured_content
    assert res["valid"] is True and res["errors"] == []
    assert 1 <= res["steps"] <= 8 and 0.0 <= res["confidence"] <= 1.0
    answer = res["answer"]
    assert len(answer) == 36 and all(p in (".", a) for p, a in zip(puzzle, answer, strict=True))

    for key, needle in (("bad_puzzle", "36 cells"), ("bad_option", "mode"), ("too_many_steps", "max_steps")):
        r = out[key]
        assert r.is_error, key
        text = r.content[0].text
        assert needle in text and "\n" not in text, (key, text)

    after = out["after"]
    assert not after.is_error and after.structured_content["valid"] is True
    assert after.structured_content["answer"] == answer
    info = out["describe"].structured_content
    assert info["task"] == "sudoku" and info["grid"]["side"] == 6 and info["parameters"]["dense"] > 0


def _in_process(server, calls):
    async def go():
        async with mcp.Client(server) as client:
            names = {t.name for t in (await client.list_tools()).tools}
            return names, [await client.call_tool(name, args) for name, args in calls]

    return asyncio.run(go())


def test_a_maze_model_offers_solve_maze_only(tmp_path):
    from trm.deploy.mcp_server import create_server

    torch.manual_seed(0)
    cfg = get_preset("maze_cpu_fast")
    save_pretrained(TRM(cfg.model).eval(), cfg, tmp_path / "maze")
    mazes, _ = maze_generate.generate(1, n=11, min_path=5, seed=1, perfect=True)
    names, (ok, wrong) = _in_process(
        create_server(tmp_path / "maze"),
        [
            ("solve_maze", {"puzzle": maze.format_maze(mazes[0]), "max_steps": 1, "budget": 0}),
            ("solve_maze", {"puzzle": "S#x"}),
        ],
    )
    assert names == {"solve_maze", "describe_model"}
    res = ok.structured_content  # an untrained model: the verifier's verdict and its reasons come back
    assert not ok.is_error and res["steps"] == 1 and res["valid"] is False and res["errors"]
    assert (
        res["verified"] is False
        and res["answer"] is None
        and res["candidate"]
        and res["rungs"] == ["protocol"]
    )
    assert wrong.is_error and "\n" not in wrong.content[0].text


def test_an_arc_model_offers_solve_arc_task(tmp_path):
    from trm.deploy.mcp_server import create_server

    torch.manual_seed(0)
    model = ModelConfig(vocab_size=12, seq_len=900, hidden_size=8, num_heads=2, T=1, n=1, N_sup=2,
                        puzzle_emb_ndim=0, puzzle_emb_len=0)  # fmt: skip
    cfg = Config(name="t", task="arc", model=model)
    save_pretrained(TRM(cfg.model).eval(), cfg, tmp_path / "arc")
    task = {"train": [], "test": [{"input": [[1, 2], [3, 4]], "output": [[1, 2], [3, 4]]}]}
    names, (ok, bad) = _in_process(
        create_server(tmp_path / "arc"),
        [("solve_arc_task", {"puzzle": task}), ("solve_arc_task", {"puzzle": {"test": []}})],
    )
    assert names == {"solve_arc_task", "describe_model"}
    assert not ok.is_error and isinstance(ok.structured_content["answer"], list)
    assert isinstance(ok.structured_content["valid"], bool)  # the expected output is known: a verdict
    assert bad.is_error and "test" in bad.content[0].text


def test_missing_sdk_is_a_clear_error(monkeypatch):
    from trm.deploy import mcp_server

    monkeypatch.setitem(sys.modules, "mcp.server.mcpserver", None)
    with pytest.raises(TRMError, match=r"pip install 'mcp.*pip install -e '\.\[mcp\]'"):
        mcp_server.create_server("sudoku6")


def test_cli_rejects_a_missing_model(capsys):
    from trm.cli import main

    assert main(["mcp", "no/such/run"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("trm: error:") and "no such file or directory" in err
