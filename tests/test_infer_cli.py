"""``trm solve`` and ``trm eval`` end to end on tiny fixed-weight models."""

from __future__ import annotations

import json

import numpy as np
import pytest

from trm.checkpoint import save_model
from trm.cli import main
from trm.data.build.sudoku import write_sudoku
from trm.data.sudoku_generate import generate
from trm.infer import Settings
from trm.tasks import sudoku as sd

from .conftest import load_benchmark
from .test_infer_engine import tiny_model


@pytest.fixture(scope="module")
def sudoku_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("infer_cli")
    model, cfg = tiny_model()
    save_model(root / "run" / "checkpoints" / "best", model, cfg, {"step": 0})
    puzzles, solutions = generate(12, (2, 2), blanks=(6, 10), seed=2)
    write_sudoku(root / "data", (puzzles[:4], solutions[:4]), (puzzles[4:], solutions[4:]), (2, 2))
    return root, [sd.format_sudoku(p) for p in puzzles[4:]]


def _json_line(out: str) -> dict:
    return json.loads(out.strip().splitlines()[-1])


# the fields of `trm solve --json` (and of the exported runner's), without --trace
SOLVE_JSON_KEYS = {
    "answer",
    "verified",
    "candidate",
    "steps",
    "confidence",
    "valid",
    "errors",
    "calls",
    "rung",
    "rungs",
}


def test_solve_json(sudoku_run, capsys):
    root, puzzles = sudoku_run
    code = main(
        ["solve", str(root / "run"), puzzles[0], "--json", "--trace", "--mode", "adaptive", "--budget", "0"]
    )
    res = _json_line(capsys.readouterr().out)
    assert set(res) == SOLVE_JSON_KEYS | {"trace"}
    shown = res["answer"] if res["verified"] else res["candidate"]  # never an unverified answer as the answer
    assert (res["answer"] is None) == (not res["verified"]) and res["rungs"] == ["protocol"]
    assert len(shown) == 16 and 1 <= res["steps"] <= 6 and 0 <= res["confidence"] <= 1
    assert len(res["trace"]) == res["steps"] and res["trace"][-1]["answer"] == shown
    assert code == (0 if res["verified"] else 1) and res["valid"] == res["verified"]
    assert res["valid"] == sd.is_valid_solution(puzzles[0], shown, (2, 2))


def test_solve_text_says_when_the_answer_is_wrong(sudoku_run, capsys, tmp_path):
    root, puzzles = sudoku_run
    f = tmp_path / "p.txt"
    f.write_text("\n".join(puzzles[1][r * 4 : (r + 1) * 4] for r in range(4)) + "\n")
    code = main(
        [
            "solve",
            str(root / "run"),
            str(f),
            "--trace",
            "--png",
            str(tmp_path / "t.png"),
            "--gif",
            str(tmp_path / "t.gif"),
            "--budget",
            "0",
        ]
    )
    out = capsys.readouterr().out
    assert "step 1" in out and "confidence" in out
    lines = out.strip().splitlines()
    answer_at = next(i for i, ln in enumerate(lines) if ln.startswith("steps "))
    drawn = lines[answer_at - 5 : answer_at]  # the answer drawn for a person: 4 rows, a rule between bands
    assert drawn[2] == "-----+-----" and all(ln.count("|") == 1 for ln in drawn[:2] + drawn[3:])
    assert len("".join(drawn).replace("|", "").replace("-", "").replace("+", "").replace(" ", "")) == 16
    assert ("WRONG" in out) == (code == 1) == ("NO VERIFIED ANSWER" in out) and ("valid: " in out) == (
        code == 0
    )
    from PIL import Image

    assert Image.open(tmp_path / "t.png").size[0] > 0
    assert Image.open(tmp_path / "t.gif").n_frames == 6


def test_solve_reads_a_drawn_grid_and_draws_the_answer(sudoku_run, capsys, tmp_path):
    root, puzzles = sudoku_run
    run = str(root / "run")
    g = sd.parse_sudoku(puzzles[0], (2, 2))
    framed = "+-----+-----+\n" + "".join(
        ("+-----+-----+\n" if r == 2 else "") + "| {} {} | {} {} |\n".format(*(sd.DIGITS[v] for v in g[r]))
        for r in range(4)
    )
    (tmp_path / "drawn.txt").write_text(framed + "+-----+-----+\n")
    code = main(["solve", run, puzzles[0], "--json"])
    one_line = _json_line(capsys.readouterr().out)
    assert main(["solve", run, str(tmp_path / "drawn.txt"), "--json"]) == code
    rows = _json_line(capsys.readouterr().out)  # the same answer, one line per row as the drawing has them
    key = "answer" if one_line["verified"] else "candidate"  # a tiny model's answer may not verify
    assert rows[key] == "\n".join(one_line[key][i : i + 4] for i in range(0, 16, 4))
    assert {k: v for k, v in rows.items() if k != key} == {k: v for k, v in one_line.items() if k != key}

    def printed(out: str) -> list[str]:  # without the "NO VERIFIED ANSWER" line above a candidate
        lines = out.splitlines()
        return lines[1:] if lines[0].startswith("NO VERIFIED ANSWER") else lines

    assert main(["solve", run, puzzles[0], "--raw"]) == code
    assert printed(capsys.readouterr().out)[0] == one_line[key]  # --raw: the input's own form
    assert main(["solve", run, str(tmp_path / "drawn.txt")]) == code
    drawn = printed(capsys.readouterr().out)[:5]
    cells = "".join(c for c in "".join(drawn) if c not in "|-+ ")  # the answer may break the rules: no parse
    assert drawn[2] == "-----+-----" and cells == one_line[key]


def test_solve_a_puzzle_of_another_size_names_the_shipped_model(sudoku_run, capsys):
    root, _ = sudoku_run
    assert main(["solve", str(root / "run"), "......6.5...5.1....6...445..1..3..6."]) == 2
    err = capsys.readouterr().err
    assert "needs 16 cells, got 36: this is a 6x6 Sudoku" in err and "trm solve sudoku6 PUZZLE" in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "puzzle,needle",
    [
        ("1234", "needs 16 cells"),
        ("12x4" + "." * 12, "bad character"),
        ("11.." + "." * 12, "appears twice"),
        (".12.3.......4...", "no solution"),  # the first cell sees 1, 2 in its row and 3, 4 in its column
        ("missing/file.txt", "no such file"),
    ],
)
def test_solve_bad_input(sudoku_run, capsys, puzzle, needle):
    root, _ = sudoku_run
    assert main(["solve", str(root / "run"), puzzle]) == 2
    err = capsys.readouterr().err
    assert err.startswith("trm: error:") and needle in err and "Traceback" not in err


@pytest.mark.parametrize(
    "extra, needle",
    [
        (["--device", "meta"], "unsupported device"),
        (["--gif", "{tmp}"], "is a directory"),
        (["--gif", "{tmp}/missing/steps.gif"], "does not exist"),
        (["--png", "{tmp}"], "is a directory"),
    ],
)
def test_solve_bad_options_are_one_line(sudoku_run, capsys, tmp_path, extra, needle):
    root, puzzles = sudoku_run
    args = [a.replace("{tmp}", str(tmp_path)) for a in extra]
    assert main(["solve", str(root / "run"), puzzles[0], *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("trm: error:") and needle in err and "Traceback" not in err
    assert not (tmp_path / "missing").exists()


def test_solve_corrupt_checkpoint(sudoku_run, tmp_path, capsys):
    root, puzzles = sudoku_run
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "config.json").write_text((root / "run" / "checkpoints" / "best" / "config.json").read_text())
    (bad / "model.safetensors").write_bytes(b"not a safetensors file")
    assert main(["solve", str(bad), puzzles[0]]) == 2
    assert "corrupt" in capsys.readouterr().err


def test_eval_json_and_report(sudoku_run, capsys, tmp_path):
    root, _ = sudoku_run
    code = main(
        [
            "eval",
            str(root / "run"),
            "--data",
            str(root / "data"),
            "--json",
            "--out",
            str(tmp_path),
            "--quiet",
            "--batch-size",
            "3",
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    res = _json_line(out)
    for key in (
        "exact_accuracy",
        "token_accuracy",
        "mean_steps",
        "count",
        "per_step",
        "exact_accuracy_ci95",
        "threshold_sweep",
        "valid_accuracy",
    ):
        assert key in res, key
    assert res["count"] == 8 and res["mean_steps"] == 6
    lo, hi = res["exact_accuracy_ci95"]
    assert lo <= res["exact_accuracy"] <= hi
    assert len(res["per_step"]) == 6 and res["per_step"][-1]["exact_accuracy"] == res["exact_accuracy"]
    assert (
        "step  exact" in out
        and (tmp_path / "report.json").is_file()
        and (tmp_path / "per_step.png").is_file()
    )
    # the adaptive run reproduces what the official run predicted for that threshold
    main(
        [
            "eval",
            str(root / "run"),
            "--data",
            str(root / "data"),
            "--json",
            "--out",
            str(tmp_path),
            "--quiet",
            "--mode",
            "adaptive",
            "--threshold",
            "0.7",
        ]
    )
    ada = _json_line(capsys.readouterr().out)
    sweep = next(r for r in res["threshold_sweep"] if r["threshold"] == 0.7)
    assert ada["mean_steps"] == pytest.approx(sweep["mean_steps"])
    assert ada["exact_accuracy"] == pytest.approx(sweep["exact_accuracy"])


def test_solve_maze(tmp_path, capsys):
    from trm.data import maze_generate
    from trm.tasks import maze

    model, cfg = tiny_model(seq_len=36, vocab_size=6)
    cfg.task = "maze"
    save_model(tmp_path / "m", model, cfg)
    mazes, _ = maze_generate.generate(1, 6, seed=0)
    text = maze.format_maze(mazes[0])
    (tmp_path / "maze.txt").write_text(text + "\n")
    code = main(["solve", str(tmp_path / "m"), str(tmp_path / "maze.txt"), "--json", "--augment", "8"])
    res = _json_line(capsys.readouterr().out)
    shown = res["answer"] if res["verified"] else res["candidate"]
    assert (
        len(shown.splitlines()) == 6
        and code == (0 if res["valid"] else 1)
        and res["valid"] == res["verified"]
    )
    answer = np.array([list(r) for r in shown.splitlines()])
    if "?" not in answer:  # '?' marks a PAD prediction, which the data checker would read as a wall
        assert res["valid"] == maze.check_path(mazes[0], np.vectorize(maze.CHARSET.index)(answer))[1]
    else:
        assert res["valid"] is False


def test_the_runs_eval_section_is_the_default_protocol(sudoku_run, capsys, tmp_path):
    """A run's saved eval settings drive `trm eval` and `trm solve` unless a flag overrides them."""
    from trm.checkpoint import load_model
    from trm.deploy.pretrained import model_card

    root, puzzles = sudoku_run
    model, cfg, _ = load_model(root / "run")
    cfg.eval.mode, cfg.eval.threshold, cfg.eval.max_steps = "adaptive", 0.7, 5
    save_model(tmp_path / "m", model, cfg)
    args = [
        "eval",
        str(tmp_path / "m"),
        "--data",
        str(root / "data"),
        "--json",
        "--out",
        str(tmp_path),
        "--quiet",
    ]
    main(args)
    report = _json_line(capsys.readouterr().out)
    assert (report["mode"], report["threshold"], report["max_steps"]) == ("adaptive", 0.7, 5)
    main([*args, "--mode", "official"])
    report = _json_line(capsys.readouterr().out)
    assert (report["mode"], report["max_steps"], report["mean_steps"]) == ("official", 5, 5)
    main(["solve", str(tmp_path / "m"), puzzles[0], "--json", "--budget", "0"])
    assert _json_line(capsys.readouterr().out)["steps"] <= 5
    card = model_card(cfg, {}, 1)
    assert "5 at evaluation" in card and "sigmoid(q_halt) > 0.7" in card


def test_infer_throughput_benchmark_reports_the_floor(sudoku_run, capsys):
    """benchmarks/infer_throughput.py: both backends in one run, the same answers, a GFLOP/s figure and its
    fraction of the matmul rate measured around each timed solve."""
    bench = load_benchmark("infer_throughput")
    root, _ = sudoku_run
    args = [str(root / "run"), "--data", str(root / "data"), "--backends", "torch,onnx", "--threads", "1"]
    assert bench.main(args + ["--latency-runs", "2", "--json"]) == 0
    result = _json_line(capsys.readouterr().out)
    defaults = Settings()  # one source of truth: the benchmark runs the library's defaults
    assert result["puzzles"] == 8 and result["settings"]["mode"] == defaults.mode
    assert result["settings"]["batch_size"] == defaults.batch_size
    assert result["same_answers"] == {"torch": 1.0, "onnx": 1.0}
    for r in result["backends"].values():
        assert r["gflops"] > 0 and len(r["matmul_gflops_around"]) == 2
        assert r["fraction_of_matmul"] == pytest.approx(r["gflops"] / np.mean(r["matmul_gflops_around"]))
