"""ONNX export and its torch-free runner: equality with PyTorch and with the official golden numbers, the
same answers as `trm solve`, and the variants (unrolled, int8, fp16 weights)."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("onnx", reason="the onnx extra is not installed (pip install -e '.[onnx]')")
pytest.importorskip("onnxruntime", reason="the onnx extra is not installed (pip install -e '.[onnx]')")

from trm.checkpoint import save_model  # noqa: E402
from trm.config import Config  # noqa: E402
from trm.deploy.backends import load_onnx_solver  # noqa: E402
from trm.deploy.onnx_export import check_step_graph, export_model, export_onnx  # noqa: E402
from trm.deploy.onnx_runner import OnnxBackend, OnnxSolver  # noqa: E402
from trm.model import TRM  # noqa: E402
from trm.model.official import config_from_official, load_official_state_dict  # noqa: E402

from .conftest import GOLDEN_CASES, load_golden  # noqa: E402
from .test_deploy_pretrained import make_sudoku_model  # noqa: E402
from .test_infer_cli import SOLVE_JSON_KEYS  # noqa: E402


def _rel(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30))


@pytest.mark.parametrize("case", GOLDEN_CASES)
def test_golden_models_onnx_equals_pytorch_and_official(case, tmp_path):
    official_cfg, state_dict, batch, expected = load_golden(case)
    mcfg, _ = config_from_official(official_cfg)
    model = TRM(mcfg).eval()
    load_official_state_dict(model, state_dict)
    man = export_model(model, Config(model=mcfg), tmp_path / "x")
    assert man["checks"]["step_max_rel_err_vs_torch"] <= 1e-4
    assert check_step_graph(model, tmp_path / "x" / "step.onnx", batch_sizes=(1, 5), seed=3) <= 1e-4

    # the exported step, driven by the runner's backend from the reset state, reproduces the official tensors
    be = OnnxBackend(tmp_path / "x")
    inputs = batch["inputs"].numpy().astype(np.int64)
    B = inputs.shape[0]
    y0, z0 = be.init_state()
    y = np.broadcast_to(y0, (B, be.total_len, be.hidden_size)).astype(np.float32)
    z = np.broadcast_to(z0, (B, be.total_len, be.hidden_size)).astype(np.float32)
    rows = be.puzzle_rows(batch["puzzle_identifiers"].numpy())
    with torch.inference_mode():
        shape = (B, be.total_len, be.hidden_size)
        ty, tz = model.y_init.expand(shape).float(), model.z_init.expand(shape).float()
        tb = {"inputs": batch["inputs"], "puzzle_identifiers": batch["puzzle_identifiers"]}
        for s in range(expected["logits"].shape[0]):
            y, z, logits, q_halt, _ = be.step(y, z, inputs, rows)
            ty, tz, tlogits, tq, _ = model.step(ty, tz, tb)
            assert _rel(logits, tlogits) <= 1e-4
            assert _rel(logits, expected["logits"][s]) <= 1e-4
            assert _rel(q_halt, expected["q_halt_logits"][s]) <= 1e-4
            assert _rel(y, expected["y"][s]) <= 1e-4 and _rel(z, expected["z"][s]) <= 1e-4


@pytest.fixture(scope="module")
def sudoku_export(tmp_path_factory):
    root = tmp_path_factory.mktemp("onnx")
    model, cfg = make_sudoku_model()
    save_model(root / "model", model, cfg)
    man = export_onnx(root / "model", root / "export", int8=True, fp16=True, unrolled=[3])
    return root, man


def _puzzles(n=6, seed=1):
    from trm.data.sudoku_generate import generate
    from trm.tasks import sudoku as sd

    grids, _ = generate(n, (2, 3), blanks=(16, 22), seed=seed)
    return [sd.format_sudoku(g) for g in grids]


def _same(a, b):
    """Identical answers, steps, verdicts and traces; confidences equal to float32 rounding."""
    assert set(a) == set(b)
    for k in a:
        if k == "confidence":
            assert abs(a[k] - b[k]) <= 1e-4
        elif k == "trace":
            assert [t["answer"] for t in a[k]] == [t["answer"] for t in b[k]]
            assert np.allclose([t["confidence"] for t in a[k]], [t["confidence"] for t in b[k]], atol=1e-4)
        else:
            assert a[k] == b[k], k


@pytest.mark.parametrize(
    "settings",
    [
        {"budget": 64},  # the protocol, then the ladder's first rungs (all of it: tests/test_infer_paths.py)
        {"mode": "adaptive", "threshold": 0.5, "budget": 0},  # the protocol alone
        {"max_steps": 3, "trace": True, "budget": 0},
        # slow here (30-40 s each on 2 cores); tests/test_infer_paths.py compares sampled + augmented runs of the
        # runner with trm solve, trm eval and the service in the default suite
        pytest.param({"max_steps": 12}, marks=pytest.mark.slow),
        pytest.param({"samples": 3, "noise": 0.3, "trace": True}, marks=pytest.mark.slow),
        pytest.param({"samples": 3, "vote": "confidence"}, marks=pytest.mark.slow),
    ],
    ids=["official", "adaptive", "fixed-3", "deeper-12", "sampled", "confidence-vote"],
)
def test_runner_solves_like_trm_solve(sudoku_export, settings):
    from trm.infer import load_solver

    root, _ = sudoku_export
    puzzles = _puzzles()
    ref = [
        r.to_json(trace=settings.get("trace", False))
        for r in load_solver(root / "model").solve_many(puzzles, **settings)
    ]
    got = [
        r.to_json(trace=settings.get("trace", False))
        for r in load_onnx_solver(root / "export").solve_many(puzzles, **settings)
    ]
    for a, b in zip(ref, got, strict=True):
        _same(a, b)
    if settings.get("mode") == "adaptive":
        assert len({r["steps"] for r in got}) > 1, "expected rows halting at different steps"


def test_standalone_runner_needs_no_torch(sudoku_export, tmp_path):
    root, _ = sudoku_export
    export = root / "export"
    puzzle = _puzzles(1)[0]
    # torch and trm made unimportable: the copied runner must work with numpy + onnxruntime alone
    code = (
        "import sys, json; sys.modules['torch'] = None; sys.modules['trm'] = None\n"
        f"sys.path.insert(0, {str(export)!r})\n"
        "import trm_onnx_runner as r\n"
        f"s = r.OnnxSolver({str(export)!r})\n"
        f"print(json.dumps(s.solve({puzzle!r}, mode='adaptive', budget=8).to_json()))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout)
    ref = load_onnx_solver(export).solve(puzzle, mode="adaptive", budget=8).to_json()
    _same(res, ref)
    cli = subprocess.run(
        [sys.executable, str(export / "trm_onnx_runner.py"), str(export), puzzle, "--json", "--budget", "0"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert cli.returncode == 0, cli.stderr
    assert set(json.loads(cli.stdout)) == SOLVE_JSON_KEYS
    bad = subprocess.run(
        [sys.executable, str(export / "trm_onnx_runner.py"), str(export), "12"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert bad.returncode == 2 and "36 cells" in bad.stderr and "Traceback" not in bad.stderr


def test_unrolled_and_quantised_variants(sudoku_export):
    root, man = sudoku_export
    export = root / "export"
    assert {"step", "step_int8", "step_fp16w", "unrolled", "puzzle_emb"} & set(man["files"]) == {
        "step",
        "step_int8",
        "step_fp16w",
        "unrolled",
    }  # no puzzle embedding in this model
    solver = OnnxSolver(export)
    x = np.stack([solver.codec.parse(p).tokens for p in _puzzles(4)])
    loop = solver.run(x, max_steps=3)
    flat = solver.run_unrolled(x, steps=3)
    assert np.array_equal(loop["predictions"], flat["predictions"])
    assert flat["q_halt"].shape == (4, 3)
    sizes = man["sizes_bytes"]
    assert sizes["step_fp16w"] < sizes["step"] and sizes["step_int8"] < sizes["step"]

    import onnx
    from onnx import TensorProto, numpy_helper

    def graph(name):
        return onnx.load(str(export / man["files"][name])).graph

    # float32 weights of the plain step graph (all its MatMuls multiply by a weight: this is an MLP model)
    g32 = graph("step")
    n_matmul = sum(n.op_type == "MatMul" for n in g32.node)
    f32 = {i.name: numpy_helper.to_array(i) for i in g32.initializer if i.data_type == TensorProto.FLOAT}
    f32_bytes = sum(a.nbytes for a in f32.values())
    # int8: every MatMul became an integer MatMul on int8 weights; the float weights are gone
    g8 = graph("step_int8")
    ops = [n.op_type for n in g8.node]
    assert n_matmul > 0 and ops.count("MatMul") == 0 and ops.count("MatMulInteger") >= n_matmul
    int8_bytes = sum(
        numpy_helper.to_array(i).nbytes for i in g8.initializer if i.data_type == TensorProto.INT8
    )
    left_f32 = sum(
        numpy_helper.to_array(i).nbytes for i in g8.initializer if i.data_type == TensorProto.FLOAT
    )
    assert int8_bytes >= 0.95 * f32_bytes / 4 and left_f32 <= 0.05 * f32_bytes
    assert man["weights_bytes"]["step_int8"]["int8"] == int8_bytes
    # fp16 weights: each large float32 weight is stored as exactly its float16 rounding, cast back at load
    g16 = graph("step_fp16w")
    half = {
        i.name.removesuffix("__fp16"): numpy_helper.to_array(i)
        for i in g16.initializer
        if i.data_type == TensorProto.FLOAT16
    }
    assert half and all(f32[k].size >= 16 for k in half)
    assert all(a.size < 16 for k, a in f32.items() if k not in half)
    for k, a in half.items():
        assert np.array_equal(a, f32[k].astype(np.float16)), k
    assert sum(a.nbytes for a in half.values()) * 2 >= 0.99 * f32_bytes

    # answers: one step from the reset state stays within a bound of float32 (and int8 really differs);
    # full runs agree with float32 on most tokens (chance is about 1 in 6 here)
    ref_be = OnnxBackend(export)
    B = x.shape[0]
    y0, z0 = ref_be.init_state()
    y = np.broadcast_to(y0, (B, ref_be.total_len, ref_be.hidden_size)).astype(np.float32)
    z = np.broadcast_to(z0, (B, ref_be.total_len, ref_be.hidden_size)).astype(np.float32)
    rows = ref_be.puzzle_rows(np.zeros(B, np.int64))
    ref_step = ref_be.step(y, z, x, rows)
    ref_run = solver.run(x)
    for variant, lo, hi, agree in (("fp16w", 0.0, 5e-3, 0.99), ("int8", 1e-3, 0.35, 0.6)):
        got = OnnxBackend(export, variant=variant).step(y, z, x, rows)
        errs = [_rel(g, r) for g, r in zip(got, ref_step, strict=True)]
        assert lo < max(errs) <= hi, (variant, errs)
        res = OnnxSolver(export, variant=variant).run(x)
        assert (res["predictions"] == ref_run["predictions"]).mean() >= agree, variant
        assert man["checks"][f"{variant}_vs_float32"]["token_agreement"] >= agree, variant


def test_puzzle_embedding_stays_out_of_the_graph(tmp_path):
    from trm.presets import get_preset

    cfg = get_preset("tiny_att")
    model = TRM(cfg.model).eval()
    with torch.no_grad():
        model.puzzle_emb.weight.normal_()
    man = export_model(model, cfg, tmp_path / "x")
    table = np.load(tmp_path / "x" / "puzzle_emb.npy")
    assert table.shape == (4, 32) and np.array_equal(table, model.puzzle_emb.weight.numpy())
    assert "puzzle_emb" in man["io"]["step_inputs"]
    import onnx

    inits = onnx.load(str(tmp_path / "x" / "step.onnx")).graph.initializer
    assert all(tuple(i.dims) != (4, 32) for i in inits)
    # different identifiers give different answers through the numpy lookup, as in PyTorch
    be = OnnxBackend(tmp_path / "x")
    pids = np.array([0, 3])
    x = np.ones((2, 36), np.int64)
    y = np.broadcast_to(be.init_state()[0], (2, be.total_len, 32)).astype(np.float32)
    logits = be.step(y, y.copy(), x, be.puzzle_rows(pids))[2]
    with torch.inference_mode():
        t = model.step(
            torch.from_numpy(y),
            torch.from_numpy(y.copy()),
            {"inputs": torch.from_numpy(x), "puzzle_identifiers": torch.from_numpy(pids).int()},
        )[2]
    assert _rel(logits, t) <= 1e-4


def test_cli_export_and_errors(tmp_path):
    from trm.cli import main

    model, cfg = make_sudoku_model()
    save_model(tmp_path / "m", model, cfg)
    assert main(["export", str(tmp_path / "m"), "--format", "onnx", "--out", str(tmp_path / "e")]) == 0
    assert (tmp_path / "e" / "trm_export.json").is_file()
    assert main(["export", str(tmp_path / "nothing"), "--out", str(tmp_path / "e2")]) == 2
    with pytest.raises(Exception, match="not an ONNX export folder"):
        load_onnx_solver(tmp_path / "m")
    assert Path(tmp_path / "e" / "trm_onnx_runner.py").read_text().count("import torch") == 0


def test_trm_solve_onnx_export_matches_torch(sudoku_export, capsys):
    import json

    from trm.cli import main

    root, _ = sudoku_export
    puzzle = _puzzles(1, seed=5)[0]
    for extra in (
        ["--budget", "64"],
        ["--mode", "adaptive", "--threshold", "0.6", "--trace", "--budget", "0"],
    ):
        main(["solve", str(root / "model"), puzzle, "--json", *extra])
        ref = capsys.readouterr()
        assert "chosen by auto" in ref.err  # --device/--dtype auto: what ran the model is said on stderr
        ref = json.loads(ref.out.strip().splitlines()[-1])
        main(["solve", str(root / "export"), puzzle, "--json", "--backend", "onnx", *extra])
        got = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        _same(ref, got)
        # the export folder is detected without --backend (docs/CLI.md), torch is not used for it
        main(["solve", str(root / "export"), puzzle, "--json", *extra])
        out = capsys.readouterr()
        assert "chosen by auto" not in out.err
        _same(ref, json.loads(out.out.strip().splitlines()[-1]))
    assert main(["solve", str(root / "model"), puzzle, "--backend", "onnx"]) == 2
    assert "not an ONNX export folder" in capsys.readouterr().err
    assert main(["solve", str(root / "export"), "12345", "--backend", "onnx"]) == 2
    assert "error:" in capsys.readouterr().err
