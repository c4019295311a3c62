"""The speed switches (each off by default), the measured set-up chooser and the early stop of training."""

import json

import pytest
import torch

from trm import hardware
from trm.config import ConfigError, parse_depth_curriculum
from trm.hardware import Setup, choose_cpu_setup
from trm.model import layers
from trm.presets import get_preset
from trm.train import step as step_module
from trm.train import trainer as trainer_module
from trm.train.ema import EMA
from trm.train.step import autotune_cpu_setup, build_training
from trm.train.trainer import train

from .test_train_loop import data_dir, tiny_cfg  # noqa: F401  (module-scoped dataset fixture)


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TRM_CACHE_DIR", str(tmp_path / "cache"))


# ------------------------------------------------------------------ the set-up chooser


def test_chooser_picks_the_fastest_and_skips_failures(monkeypatch):
    monkeypatch.setattr(
        hardware, "matmul_gflops", lambda dtype, **kw: 100.0 if dtype == torch.float32 else 400.0
    )
    times = {("float32", "eager"): 0.5, ("float32", "fused"): 0.3}

    def time_step(s: Setup) -> float:
        if s.dtype == "bfloat16":
            raise RuntimeError("compiler missing")
        return times[(s.dtype, s.kernels)]

    lines = []
    chosen = choose_cpu_setup("k", time_step, log=lines.append)
    assert (chosen.dtype, chosen.kernels) == ("float32", "fused") and chosen.sec_per_step == 0.3
    assert any("unavailable" in line and "bfloat16" in line for line in lines)
    # the second call reads the cache and times nothing
    again = choose_cpu_setup("k", lambda s: pytest.fail("timed again despite the cache"), log=lines.append)
    assert (again.dtype, again.kernels) == ("float32", "fused") and "cached" in lines[-1]


def test_chooser_prefers_bfloat16_when_measured_faster(monkeypatch):
    monkeypatch.setattr(
        hardware, "matmul_gflops", lambda dtype, **kw: 100.0 if dtype == torch.float32 else 500.0
    )
    chosen = choose_cpu_setup("bf", lambda s: 0.1 if s.dtype == "bfloat16" else 0.5, log=lambda _: None)
    assert chosen.dtype == "bfloat16"


def test_chooser_skips_emulated_bfloat16_without_timing_it(monkeypatch):
    monkeypatch.setattr(
        hardware, "matmul_gflops", lambda dtype, **kw: 100.0 if dtype == torch.float32 else 7.0
    )
    timed = []

    def time_step(s):
        timed.append(s.dtype)
        return 0.2

    chosen = choose_cpu_setup("emu", time_step, log=lambda _: None)
    assert chosen.dtype == "float32" and "bfloat16" not in timed


def test_chooser_falls_back_to_eager_float32_when_nothing_runs(monkeypatch):
    monkeypatch.setattr(hardware, "matmul_gflops", lambda dtype, **kw: 1.0)

    def broken(s):
        raise RuntimeError("no")

    chosen = choose_cpu_setup("none", broken, log=lambda _: None)
    assert (chosen.dtype, chosen.kernels) == ("float32", "eager")


def test_autotune_on_a_real_step_records_its_choice(monkeypatch):
    cfg = tiny_cfg("train.autotune=true")
    # the fused candidate fails to compile here: the chooser must fall back cleanly to eager
    monkeypatch.setattr(layers.fused_add_rms_norm, "failed", True)
    monkeypatch.setattr(
        hardware, "matmul_gflops", lambda dtype, **kw: 100.0 if dtype == torch.float32 else 1.0
    )
    lines = []
    out = autotune_cpu_setup(cfg, torch.device("cpu"), note=lines.append)
    assert (out.train.dtype, out.train.kernels) == ("float32", "eager")
    assert any("float32 eager" in line and "s/step" in line for line in lines)
    # a user's explicit dtype is never second-guessed
    fixed = tiny_cfg("train.autotune=true", "train.dtype=float32")
    assert autotune_cpu_setup(fixed, torch.device("cpu"), note=pytest.fail) == fixed


# ------------------------------------------------------------------ early stop


def test_training_stops_at_the_target_accuracy(data_dir, tmp_path, monkeypatch):  # noqa: F811
    real = trainer_module.evaluate
    calls = []

    def scored(*args, **kwargs):
        out = real(*args, **kwargs)
        calls.append(1)
        out["exact_accuracy"] = 0.5 if len(calls) < 2 else 0.995
        return out

    monkeypatch.setattr(trainer_module, "evaluate", scored)
    run = tmp_path / "run"
    result = train(
        tiny_cfg("train.max_steps=20", "train.eval_interval_steps=2", "train.target_accuracy=0.99"),
        data_dir,
        run,
        console=False,
    )
    assert result.status == "target_reached" and result.step == 4 and len(calls) == 2
    assert (run / "checkpoints/last/model.safetensors").is_file()
    # without a target the same run goes on to max_steps
    calls.clear()
    full = train(
        tiny_cfg("train.max_steps=6", "train.eval_interval_steps=2"), data_dir, tmp_path / "b", console=False
    )
    assert full.status == "finished" and full.step == 6


# ------------------------------------------------------------------ the switches


def test_depth_curriculum_parsing_and_schedule():
    assert parse_depth_curriculum("") == []
    assert parse_depth_curriculum("0.5:2,3;0:1,2") == [(0.0, 1, 2), (0.5, 2, 3)]
    for bad in ("1,2", "0:1", "0.2:1,2", "0:1,2;1.5:2,2", "0:0,2"):
        with pytest.raises(ConfigError, match="depth_curriculum"):
            parse_depth_curriculum(bad)
    cfg = tiny_cfg("train.depth_curriculum=0:1,1;0.5:2,2")
    model, _, _, _, step = build_training(cfg, torch.device("cpu"), torch.float32, total_steps=10)
    assert [step.depth_at(k) for k in (1, 5, 6, 10)] == [(1, 1), (1, 1), (2, 2), (2, 2)]


def test_training_depth_applies_in_training_only():
    cfg = tiny_cfg()
    model, _, _, _, _ = build_training(cfg, torch.device("cpu"), torch.float32, total_steps=10)
    calls = []
    model.net.register_forward_hook(lambda *a: calls.append(1))
    batch = {
        "inputs": torch.ones(2, 36, dtype=torch.int32),
        "labels": torch.ones(2, 36, dtype=torch.int32),
        "puzzle_identifiers": torch.zeros(2, dtype=torch.int32),
    }
    model.train_depth = (1, 1)
    model(model.initial_carry(batch), batch)
    assert len(calls) == 2  # T·(n+1) = 1·2 net calls
    calls.clear()
    model.eval()
    with torch.no_grad():
        model(model.initial_carry(batch), batch)
    assert len(calls) == cfg.model.T * (cfg.model.n + 1)


def test_ema_warmup_ramps_the_decay():
    model = torch.nn.Linear(2, 2)
    plain, ramped = EMA(model, 0.999), EMA(model, 0.999, warmup=True)
    assert plain.rate_at(1) == 0.999
    assert ramped.rate_at(1) == pytest.approx(2 / 11) and ramped.rate_at(10_000) == 0.999
    with torch.no_grad():
        model.weight.add_(1.0)
    ramped.update(model, 1)
    assert torch.allclose(ramped.shadow[0], model.weight - 2 / 11)


@pytest.mark.parametrize(
    "extra", [["train.optimizer=muon"], ["train.grad_clip=0.5", "train.halt_loss_weight=0.1"]]
)
def test_fast_switches_train_and_resume_exactly(data_dir, tmp_path, extra):  # noqa: F811
    cfg = tiny_cfg(
        "train.max_steps=4", "train.ema_warmup=true", "train.depth_curriculum=0:1,1;0.5:2,2", *extra
    )
    full = train(cfg, data_dir, tmp_path / "full", console=False)
    train(cfg, data_dir, tmp_path / "split", console=False, stop_at_step=2)
    second = train(None, None, tmp_path / "split", resume=True, console=False)
    assert full.step == second.step == 4
    losses = [
        [r["loss"] for r in map(json.loads, open(run / "metrics.jsonl")) if r["kind"] == "train"]
        for run in (tmp_path / "full", tmp_path / "split")
    ]
    assert losses[0] == losses[1] and all(torch.isfinite(torch.tensor(losses[0])))


def test_muon_takes_the_hidden_matrices_and_adamw_the_rest():
    from trm.train.optim import MuonWithAdamW, muon_parameters

    cfg = tiny_cfg("train.optimizer=muon")
    model, opt, _, _, _ = build_training(cfg, torch.device("cpu"), torch.float32, total_steps=10)
    hidden, other = muon_parameters(model)
    assert isinstance(opt, MuonWithAdamW) and all(p.ndim == 2 for p in hidden)
    assert {id(p) for p in hidden} | {id(p) for p in other} == {id(p) for p in model.dense_parameters()}
    assert any(p is model.lm_head.weight for p in other) and any(
        p is model.embed_tokens.weight for p in other
    )
    assert [g["base_lr"] for g in opt.param_groups] == [cfg.train.muon_lr, cfg.train.lr]


def test_switches_default_to_the_official_behaviour():
    t = get_preset("sudoku_mlp").train
    assert (
        t.optimizer,
        t.grad_clip,
        t.halt_loss_weight,
        t.depth_curriculum,
        t.ema_warmup,
        t.autotune,
        t.target_accuracy,
    ) == ("adam_atan2", 0.0, 0.5, "", False, False, 0.0)
    assert get_preset("sudoku_mlp").model.swiglu_multiple == 256
    assert step_module.METRICS[0] == "count"


def test_a_run_without_checkpoints_at_evaluations_still_saves_at_its_end(data_dir, tmp_path):  # noqa: F811
    run = tmp_path / "run"
    cfg = tiny_cfg("train.max_steps=4", "train.eval_interval_steps=2", "train.checkpoint_every_eval=false")
    result = train(cfg, data_dir, run, console=False)
    assert result.status == "finished" and len(result.evals) == 2
    state = json.loads((run / "checkpoints/last/train_state.json").read_text())
    assert state["step"] == 4 and (run / "checkpoints/best/model.safetensors").is_file()
