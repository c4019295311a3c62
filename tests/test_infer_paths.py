"""One trained model through the four front ends of the one engine: `trm solve --json`, `trm eval --json`,
`POST /v1/solve` and the exported ONNX runner (without torch or trm) give the same answers."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

pytest.importorskip("onnxruntime", reason="the onnx extra is not installed (pip install -e '.[onnx]')")
pytest.importorskip("fastapi", reason="the serve extra is not installed (pip install -e '.[serve]')")
pytest.importorskip("httpx", reason="httpx is needed for FastAPI's TestClient (pip install httpx)")

from fastapi.testclient import TestClient  # noqa: E402

from trm.checkpoint import load_model, save_model  # noqa: E402
from trm.cli import main  # noqa: E402
from trm.data.format import load_split  # noqa: E402
from trm.deploy.onnx_export import export_onnx  # noqa: E402
from trm.deploy.server import create_app  # noqa: E402
from trm.presets import get_preset  # noqa: E402
from trm.tasks import sudoku  # noqa: E402
from trm.train.trainer import train  # noqa: E402

from .test_train_loop import make_dataset  # noqa: E402

# budget 0: the protocol once (its answers are what trm eval's exact accuracy scores); the last setting escalates
# through three rungs (protocol 24 calls, depth 48, symmetries 192: 264 of 300; the rest of the ladder costs the
# same on every path and would only add minutes)
SETTINGS = [
    {"budget": 0},
    {"mode": "adaptive", "threshold": 0.6, "budget": 0},
    {"samples": 3, "noise": 0.3, "augment": 2, "seed": 4, "budget": 300},
]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("paths")
    data = make_dataset(root / "data", n_train=64, n_test=8)
    cfg = get_preset("sudoku6_mlp").override(
        [
            "model.hidden_size=32",
            "model.N_sup=4",
            "model.T=2",
            "model.n=2",
            "train.global_batch_size=16",
            "train.max_steps=6",
            "train.lr_warmup_steps=2",
            "train.eval_interval_steps=0",
            "eval.batch_size=5",
        ]
    )
    train(cfg, data, root / "train", console=False)
    # a few steps teach the halting head one constant answer: give it a spread, so adaptive halting varies
    model, cfg, meta = load_model(root / "train")
    torch.manual_seed(0)
    with torch.no_grad():
        model.q_head.weight.normal_(0, 0.5)
    save_model(root / "run", model, cfg, meta)
    export_onnx(root / "run", root / "export")
    split = load_split(data, "test")
    idx = np.arange(split.num_examples)
    puzzles = [sudoku.format_sudoku(g) for g in sudoku.decode(split.batch_inputs(idx))]
    return root, puzzles, split.batch_labels(idx)


def _flags(settings):
    # one thread: this test is about equal answers, and a shared CPU makes two OpenMP threads crawl
    return ["--threads", "1", *(x for k, v in settings.items() for x in (f"--{k.replace('_', '-')}", str(v)))]


def _solve_cli(run, puzzle, settings, capsys):
    main(["solve", str(run), puzzle, "--json", *_flags(settings)])
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def _onnx_runner(export, puzzles, tmp_path):
    """The copied runner in a fresh interpreter where torch and trm cannot be imported: results per setting."""
    code = (
        "import sys, json; sys.modules['torch'] = None; sys.modules['trm'] = None\n"
        f"sys.path.insert(0, {str(export)!r})\n"
        "import trm_onnx_runner as r\n"
        f"s = r.OnnxSolver({str(export)!r}, threads=1)\n"
        f"print(json.dumps([[x.to_json() for x in s.solve_many({puzzles!r}, **st)] for st in {SETTINGS!r}]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def _same(a, b, st=None):
    for key in ("verified", "calls", "rung", "rungs"):
        assert a[key] == b[key], (key, st)
    if st is not None and st.get("budget") != 0:
        # the ladder's last rung votes over 8 copies x 4 trajectories from noisy initial states, 8 steps each; on
        # this barely trained model float32 rounding (ONNX vs PyTorch) can change which candidate wins that
        # vote. Whether an answer is verified, and the calls, must still agree (above).
        return
    assert a["answer"] == b["answer"] and a["steps"] == b["steps"] and a["valid"] == b["valid"], st
    assert a["candidate"] == b["candidate"], st
    assert a["errors"] == b["errors"] and abs(a["confidence"] - b["confidence"]) <= 2e-3  # float32 rounding


def test_four_paths_give_the_same_answers(trained, capsys, tmp_path):
    root, puzzles, labels = trained
    runner = _onnx_runner(root / "export", puzzles, tmp_path)
    with TestClient(create_app(root / "run", threads=1)) as client:
        served = [
            [client.post("/v1/solve", json={"puzzle": p, **st}).json() for p in puzzles] for st in SETTINGS
        ]
    for st, by_server, by_runner in zip(SETTINGS, served, runner, strict=True):
        cli = [_solve_cli(root / "run", p, st, capsys) for p in puzzles]
        for a, b, c in zip(cli, by_server, by_runner, strict=True):
            _same(a, b)  # both PyTorch: the same answers on every rung
            _same(a, c, st)
        if st.get("mode") == "adaptive":
            assert len({r["steps"] for r in cli}) > 1, "expected puzzles halting at different steps"

        # trm eval scores exactly the answers trm solve gives
        assert (
            main(
                [
                    "eval",
                    str(root / "run"),
                    "--data",
                    str(root / "data"),
                    "--json",
                    "--quiet",
                    "--out",
                    str(tmp_path),
                    *_flags(st),
                ]
            )
            == 0
        )
        report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        # trm eval's verified solving climbs the same ladder as trm solve, with the same calls
        verified = report["verified"]
        assert verified["verified_rate"] == pytest.approx(np.mean([r["verified"] for r in cli]))
        assert verified["calls_mean"] == pytest.approx(np.mean([r["calls"] for r in cli]))
        assert verified["wrong"] == 0 and verified["abstention_rate"] == pytest.approx(
            1 - verified["verified_rate"]
        )
        if st.get("budget") != 0:
            continue
        exact = [
            r["answer"] == sudoku.format_sudoku(sudoku.decode(y)) for r, y in zip(cli, labels, strict=True)
        ]
        assert report["count"] == len(puzzles)
        assert report["exact_accuracy"] == pytest.approx(np.mean(exact))
        assert report["mean_steps"] == pytest.approx(np.mean([r["steps"] for r in cli]))
        assert report["valid_accuracy"] == pytest.approx(np.mean([r["valid"] for r in cli]))
        # and so does trm eval of the export, run by onnxruntime
        assert (
            main(
                [
                    "eval",
                    str(root / "export"),
                    "--data",
                    str(root / "data"),
                    "--json",
                    "--quiet",
                    "--out",
                    str(tmp_path),
                    *_flags(st),
                ]
            )
            == 0
        )
        onnx_report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        for key in ("exact_accuracy", "mean_steps", "valid_accuracy", "steps_histogram"):
            assert onnx_report[key] == report[key], key
