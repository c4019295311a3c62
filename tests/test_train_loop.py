"""The training loop: exact resume, failure behaviour, dataset checks, the CLI, Ctrl-C (SPEC §3–5)."""

import importlib.util
import json
import logging
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from trm.checkpoint import load_model
from trm.cli import main as cli_main
from trm.presets import get_preset
from trm.train import step as step_module
from trm.train.trainer import train
from trm.utils import TRMError


def make_dataset(path, n_train=160, n_test=40, seed=3, identifiers=1):
    """A small 6x6 Sudoku dataset in the official layout (several identifiers when asked)."""
    from trm.data.sudoku_generate import generate
    from trm.data.write import write_dataset
    from trm.tasks.sudoku import encode

    puzzles, solutions = generate(n_train + n_test, box=(2, 3), blanks=(14, 20), seed=seed)

    def arrays(p, s, offset):
        m = len(p)
        return {
            "inputs": encode(p).reshape(m, -1),
            "labels": encode(s).reshape(m, -1),
            "puzzle_identifiers": ((np.arange(m) + offset) % identifiers).astype(np.int32),
            "puzzle_indices": np.arange(m + 1),
            "group_indices": np.arange(m + 1),
        }

    names = ["<blank>"] + [f"p{i}" for i in range(1, identifiers)]
    write_dataset(
        path,
        {
            "train": arrays(puzzles[n_test:], solutions[n_test:], 0),
            "test": arrays(puzzles[:n_test], solutions[:n_test], 1),
        },
        names,
        vocab_size=8,
        seq_len=36,
        task_info={"task": "sudoku", "box": [2, 3]},
    )
    return path


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return make_dataset(tmp_path_factory.mktemp("data") / "s6", identifiers=3)


def tiny_cfg(*extra):
    # tiny_att has a puzzle embedding, so sign-SGD is exercised too; heavy exploration makes rows halt at
    # different steps, so the carry, the refill and the exploration RNG all matter for exact resumption
    return get_preset("tiny_att").override(
        [
            "model.hidden_size=32",
            "model.puzzle_emb_ndim=32",
            "model.halt_exploration_prob=0.5",
            "model.N_sup=3",
            "train.global_batch_size=16",
            "train.lr_warmup_steps=2",
            "train.eval_interval_steps=0",
            "train.log_interval=1",
            "data.augment_on_the_fly=true",
            "eval.batch_size=32",
            *extra,
        ]
    )


def _state(run):
    return (
        load_file(str(run / "checkpoints/last/train_state.safetensors")),
        load_file(str(run / "checkpoints/last/model.safetensors")),
    )


def test_resume_equals_uninterrupted(data_dir, tmp_path):
    cfg = tiny_cfg("train.max_steps=6", "train.lr_min_ratio=0.1")
    full = train(cfg, data_dir, tmp_path / "full", console=False)
    first = train(cfg, data_dir, tmp_path / "split", console=False, stop_at_step=3)
    assert first.status == "stopped" and first.step == 3
    second = train(None, None, tmp_path / "split", resume=True, console=False)
    assert full.step == second.step == 6
    (ta, ma), (tb, mb) = _state(tmp_path / "full"), _state(tmp_path / "split")
    assert set(ta) == set(tb) and set(ma) == set(mb)
    for k in ta:
        assert torch.equal(ta[k], tb[k]), k
    for k in ma:
        assert torch.equal(ma[k], mb[k]), k
    losses = [
        [r["loss"] for r in map(json.loads, open(run / "metrics.jsonl")) if r["kind"] == "train"]
        for run in (tmp_path / "full", tmp_path / "split")
    ]
    assert losses[0] == losses[1] and len(losses[0]) == 6
    halted = ta["carry.steps"]
    assert halted.min() != halted.max() or ta["carry.halted"].any()  # rows were really at different stages


def test_run_directory_layout_and_checkpoints_load(data_dir, tmp_path, caplog, capsys):
    run = tmp_path / "run"
    with caplog.at_level(logging.INFO, logger="trm"):
        result = train(
            tiny_cfg("train.max_steps=4", "train.eval_interval_steps=2"), data_dir, run, console=False
        )
    # the trainer's messages go through logging (logger trm.train.trainer); console=False prints nothing itself
    said = [r.getMessage() for r in caplog.records if r.name == "trm.train.trainer"]
    assert f"run directory: {run}" in said and any(m.startswith("eval @ step 4") for m in said)
    assert capsys.readouterr().out == ""
    assert result.status == "finished" and len(result.evals) == 2
    for name in (
        "config.json",
        "run_info.json",
        "metrics.jsonl",
        "checkpoints/last/model.safetensors",
        "checkpoints/last/train_state.json",
        "checkpoints/best/model.safetensors",
    ):
        assert (run / name).exists(), name
    info = json.loads((run / "run_info.json").read_text())
    assert info["dataset"] == str(data_dir.resolve()) and info["seed"] == 0 and "torch" in info
    saved = json.loads((run / "config.json").read_text())["config"]
    assert saved["model"]["num_puzzle_identifiers"] == 3  # taken from the dataset
    model, cfg, meta = load_model(run)
    assert meta["weights"] == "ema" and not any(
        k.startswith(("module.", "_orig_mod.")) for k in model.state_dict()
    )
    records = [json.loads(line) for line in open(run / "metrics.jsonl")]
    evals = [r for r in records if r["kind"] == "eval"]
    assert [r["step"] for r in evals] == [2, 4]
    assert {"exact_accuracy", "accuracy", "q_halt_accuracy", "exact_accuracy_step_3"} <= set(evals[0])
    # no val split in this dataset: a tenth of the 160 training groups is carved out for validation
    assert evals[0]["count"] == 16 and evals[0]["split"] == "carved"
    tests = [r for r in records if r["kind"] == "test"]
    assert len(tests) == 1 and tests[0]["count"] == 40 and result.test_eval["count"] == 40
    train_rec = [r for r in records if r["kind"] == "train"][0]
    assert {"loss", "accuracy", "halt_steps", "examples_per_s", "lr"} <= set(train_rec)


def test_nan_loss_stops_and_keeps_last_good_checkpoint(data_dir, tmp_path, monkeypatch):
    real = step_module.act_loss
    calls = {"n": 0}

    def poisoned(carry, outputs, **kw):
        total, metrics = real(carry, outputs, **kw)
        calls["n"] += 1
        if calls["n"] >= 5:
            total = total * float("nan")
            metrics["lm_loss"] = metrics["lm_loss"] * float("nan")
        return total, metrics

    monkeypatch.setattr(step_module, "act_loss", poisoned)
    run = tmp_path / "run"
    with pytest.raises(TRMError, match="NaN or infinite by step 5.*last good checkpoint"):
        train(tiny_cfg("train.max_steps=8", "train.eval_interval_steps=2"), data_dir, run, console=False)
    state = json.loads((run / "checkpoints/last/train_state.json").read_text())
    assert state["step"] == 4
    weights = load_file(str(run / "checkpoints/last/model.safetensors"))
    assert all(torch.isfinite(v).all() for v in weights.values())


def test_incompatible_dataset_fails_before_compute(data_dir, tmp_path, monkeypatch):
    with pytest.raises(TRMError, match="seq_len is 49 .*dataset has seq_len = 36"):
        train(
            tiny_cfg("model.seq_len=49"), data_dir, tmp_path / "a", explicit={"model.seq_len"}, console=False
        )
    assert not (tmp_path / "a").exists()
    with pytest.raises(TRMError, match="does not exist"):
        train(tiny_cfg(), tmp_path / "missing", tmp_path / "b", console=False)
    with (
        monkeypatch.context() as m
    ):  # tensorboard made unimportable (find_spec -> None) whether installed or not
        m.setitem(sys.modules, "tensorboard", None)
        assert importlib.util.find_spec("tensorboard") is None
        with pytest.raises(TRMError, match="tensorboard package"):
            train(tiny_cfg("train.tensorboard=true"), data_dir, tmp_path / "d", console=False)
    assert not (tmp_path / "d").exists()
    broken = tmp_path / "broken"
    (broken / "train").mkdir(parents=True)
    with pytest.raises(TRMError):
        train(tiny_cfg(), broken, tmp_path / "c", console=False)
    assert not (tmp_path / "c").exists()


def test_resume_into_a_different_config_is_a_clear_error(data_dir, tmp_path):
    run = tmp_path / "run"
    train(tiny_cfg("train.max_steps=2"), data_dir, run, console=False)
    with pytest.raises(TRMError, match="different model config.*model.hidden_size"):
        train(
            tiny_cfg("model.hidden_size=64", "model.puzzle_emb_ndim=64"),
            data_dir,
            run,
            resume=True,
            console=False,
        )
    other = make_dataset(tmp_path / "other", n_train=40, n_test=8, identifiers=5)
    with pytest.raises(TRMError, match="incompatible dataset.*num_puzzle_identifiers"):
        train(None, other, run, resume=True, console=False)
    with pytest.raises(TRMError, match="already holds a run"):
        train(tiny_cfg("train.max_steps=2"), data_dir, run, console=False)


def test_cli_train_and_resume(data_dir, tmp_path, capsys):
    run = tmp_path / "run"
    common = [
        "model.hidden_size=32",
        "model.puzzle_emb_ndim=32",
        "train.global_batch_size=16",
        "eval.batch_size=32",
    ]
    rc = cli_main(
        [
            "train",
            "tiny_att",
            "--data",
            str(data_dir),
            "--out",
            str(run),
            "train.max_steps=3",
            "train.lr_warmup_steps=3",  # at most max_steps
            *common,
            "data.test_limit=8",
            "data.val_limit=5",
        ]
    )
    assert rc == 0
    assert "done: 3 steps" in capsys.readouterr().out
    records = [json.loads(line) for line in open(run / "metrics.jsonl")]
    assert [r["count"] for r in records if r["kind"] == "eval"][-1] == 5  # validation, subset
    assert [r["count"] for r in records if r["kind"] == "test"] == [8]  # the test subset, once
    rc = cli_main(["train", "--resume", str(run), "train.max_steps=5"])
    assert rc == 0
    assert json.loads((run / "checkpoints/last/train_state.json").read_text())["step"] == 5
    assert (
        cli_main(["train", "tiny_att", "--data", str(tmp_path / "nope"), "--out", str(tmp_path / "x")]) == 2
    )
    assert "does not exist" in capsys.readouterr().err


def test_ctrl_c_writes_a_checkpoint(data_dir, tmp_path):
    run = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "trm",
            "train",
            "tiny_att",
            "--data",
            str(data_dir),
            "--out",
            str(run),
            "train.max_steps=100000",
            "model.hidden_size=32",
            "model.puzzle_emb_ndim=32",
            "train.global_batch_size=16",
            "train.log_interval=1",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.time() + 60
        while time.time() < deadline and not (run / "metrics.jsonl").exists():
            time.sleep(0.2)
        assert (run / "metrics.jsonl").exists(), "training did not start"
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, out
    state = json.loads((run / "checkpoints/last/train_state.json").read_text())
    assert state["step"] >= 1
    assert "--resume" in out


def test_demo_end_to_end(data_dir, tmp_path, capsys):
    out = tmp_path / "demo"
    rc = cli_main(
        [
            "demo",
            "--out",
            str(out),
            "--data",
            str(data_dir),
            "--minutes",
            "2",
            "train.kernels=eager",
            "train.dtype=float32",
            "train.global_batch_size=32",
            "train.max_steps=4",
            "train.lr_warmup_steps=4",  # at most max_steps
            "train.eval_interval_steps=2",
        ]
    )
    assert rc == 0
    text = capsys.readouterr().out
    assert "direct prediction after" in text and "same wall time" in text and "time to accuracy" in text
    assert "step 1" in text and "answer:" in text and "recorded" not in text
    assert (out / "checkpoints/best/model.safetensors").is_file()
    assert (out / "baseline_direct/checkpoints/last/model.safetensors").is_file()
    summary = json.loads((out / "demo_summary.json").read_text())
    assert summary["trm"]["steps"] == 4 and summary["direct"]["steps"] >= 1
    assert summary["trm"]["count"] == 40 and summary["machine"]["cpu"]
    # the curve is on the validation set (this dataset has no val split: carved from training), the final
    # numbers on the test split, with the checkpoint validation chose
    trm = summary["trm"]
    assert trm["split"] == "test" and trm["checkpoint"] == "best" and trm["selected_on"] == "val"
    assert trm["curve_split"] == "carved" and trm["curve_count"] == 16
    assert summary["direct"]["split"] == "test" and summary["direct"]["selected_on"] == "val"
    report = json.loads((out / "eval" / "report.json").read_text())
    assert report["split"] == "test" and report["checkpoint"] == "best" and report["selected_on"] == "val"
    # the baseline trained for (about) the TRM's training time, not for a fixed budget
    assert summary["direct"]["train_seconds"] <= summary["trm"]["train_seconds"] * 1.5 + 1.0
    model, cfg, _ = load_model(out)
    assert cfg.name == "sudoku6_mlp_fast" and cfg.model.seq_len == 36
