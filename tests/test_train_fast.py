"""The speed switches (each off by default), the measured set-up chooser and the early stop of training."""

import json
import os
import subprocess
import sys
from dataclasses import replace

import pytest
import torch

from trm import hardware
from trm.config import ConfigError, parse_depth_curriculum
from trm.hardware import Setup, choose_cpu_setup
from trm.model import layers
from trm.presets import PRESETS, get_preset
from trm.train import trainer as trainer_module
from trm.train.ema import EMA
from trm.train.step import autotune_cpu_setup, build_training
from trm.train.trainer import train

from .conftest import load_benchmark
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
    # two evaluations on validation, then the test split scored once (it stops nothing)
    assert result.status == "target_reached" and result.step == 4 and len(calls) == 3
    assert result.final_eval["exact_accuracy"] == 0.995 and result.test_eval["kind"] == "test"
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


@pytest.mark.parametrize("name", ["sudoku_mlp", "sudoku_att", "maze_att", "arc1_att", "sudoku6_mlp"])
def test_switches_default_to_the_official_behaviour(name):
    t = get_preset(name).train
    assert (
        t.optimizer in ("adam_atan2", "adamw"),
        t.grad_clip,
        t.halt_loss_weight,
        t.depth_curriculum,
        t.ema_warmup,
        t.autotune,
        t.target_accuracy,
        t.step_weight_decay,
        t.label_smoothing,
        t.init_noise,
        t.latent_noise,
        t.muon_weight_decay,
        t.compile,
    ) == (True, 0.0, 0.5, "", False, False, 0.0, 1.0, 0.0, 0.0, 0.0, None, "off")
    m = get_preset(name).model
    assert m.swiglu_multiple == 256 and not m.swiglu_norm


def test_a_run_without_checkpoints_at_evaluations_still_saves_at_its_end(data_dir, tmp_path):  # noqa: F811
    run = tmp_path / "run"
    cfg = tiny_cfg("train.max_steps=4", "train.eval_interval_steps=2", "train.checkpoint_every_eval=false")
    result = train(cfg, data_dir, run, console=False)
    assert result.status == "finished" and len(result.evals) == 2
    state = json.loads((run / "checkpoints/last/train_state.json").read_text())
    assert state["step"] == 4 and (run / "checkpoints/best/model.safetensors").is_file()


# ------------------------------------------------------------------ issue 12: loss weights, smoothing, norm, noise


def test_label_smoothing_mixes_in_the_mean_over_the_vocabulary():
    from trm.model.losses import log_stablemax, softmax_cross_entropy, stablemax_cross_entropy

    logits = torch.randn(2, 3, 5, dtype=torch.float64)
    labels = torch.tensor([[1, 2, -100], [0, 4, 3]])
    mask = labels != -100
    plain = stablemax_cross_entropy(logits, labels)
    smooth = stablemax_cross_entropy(logits, labels, smoothing=0.2)
    logp = log_stablemax(logits)
    expected = 0.8 * plain - 0.2 * logp.mean(-1)
    assert torch.allclose(smooth[mask], expected[mask]) and (smooth[~mask] == 0).all()
    soft = softmax_cross_entropy(logits, labels, smoothing=0.2)
    expected = (
        0.8 * softmax_cross_entropy(logits, labels) - 0.2 * torch.log_softmax(logits, -1).mean(-1).float()
    )
    assert torch.allclose(soft[mask], expected[mask], atol=1e-6)


def test_step_weights_decay_and_scale_each_rows_loss():
    from trm.model.losses import act_loss, step_weights
    from trm.model.recursive import Carry

    assert step_weights(4, 1.0) is None
    w = step_weights(4, 0.5)
    assert torch.allclose(w, torch.tensor([8, 4, 2, 1], dtype=torch.float64) * 4 / 15)
    labels = torch.tensor([[1, 2], [2, 1]])
    carry = Carry(
        y=torch.zeros(2, 2, 4),
        z=torch.zeros(2, 2, 4),
        steps=torch.tensor([1, 3], dtype=torch.int32),
        halted=torch.tensor([False, True]),
        data={"labels": labels},
    )
    outputs = {
        "logits": torch.randn(2, 2, 3),
        "q_halt_logits": torch.randn(2),
        "q_continue_logits": torch.randn(2),
    }
    plain, metrics = act_loss(carry, dict(outputs), halt_weight=0.5)
    weighted, weighted_metrics = act_loss(carry, dict(outputs), halt_weight=0.5, weights=w)
    rows = [act_loss(_row(carry, i), {k: v[i : i + 1] for k, v in outputs.items()})[0] for i in range(2)]
    assert torch.allclose(plain, rows[0] + rows[1])
    assert torch.allclose(weighted, w[0] * rows[0] + w[2] * rows[1])
    assert torch.equal(metrics["lm_loss"], weighted_metrics["lm_loss"])  # metrics stay unweighted


def _row(carry, i):
    from trm.model.recursive import Carry

    return Carry(
        y=carry.y[i : i + 1],
        z=carry.z[i : i + 1],
        steps=carry.steps[i : i + 1],
        halted=carry.halted[i : i + 1],
        data={k: v[i : i + 1] for k, v in carry.data.items()},
    )


def test_norm_before_the_down_projection_normalises_the_swiglu_intermediate():
    from trm.model import TRM

    cfg = tiny_cfg().model
    plain, normed = TRM(cfg), TRM(replace(cfg, swiglu_norm=True))
    assert [n for n, _ in plain.named_parameters()] == [n for n, _ in normed.named_parameters()]
    seen = []
    normed.net.layers[0].mlp.down_proj.register_forward_hook(lambda m, a, out: seen.append(a[0]))
    batch = {
        "inputs": torch.randint(1, 8, (2, 36), dtype=torch.int32),
        "labels": torch.randint(2, 8, (2, 36), dtype=torch.int32),
        "puzzle_identifiers": torch.zeros(2, dtype=torch.int32),
    }
    normed(normed.initial_carry(batch), batch)
    assert torch.allclose(seen[0].square().mean(-1), torch.ones(()), atol=1e-3)


def test_training_noise_perturbs_fresh_rows_and_the_latent_only():
    cfg = tiny_cfg("train.init_noise=0.5", "train.latent_noise=0.1")
    model, _, _, _, step = build_training(cfg, torch.device("cpu"), torch.float32, total_steps=10)
    batch = {
        "inputs": torch.randint(1, 8, (64, 36), dtype=torch.int32),
        "labels": torch.randint(2, 8, (64, 36), dtype=torch.int32),
        "puzzle_identifiers": torch.zeros(64, dtype=torch.int32),
    }
    carry = model.initial_carry(batch)
    carry.halted[32:] = False  # rows 32.. continue a puzzle (y = z = 0): only z gets (latent) noise
    out = step._with_noise(carry, batch)
    assert not out.halted.any() and torch.equal(out.data["inputs"][:32], batch["inputs"][:32])
    assert (out.y[32:] == 0).all()
    assert (out.z[32:].std() - 0.1).abs() < 0.01
    assert ((out.y[:32] - model.y_init).std() - 0.5).abs() < 0.02
    assert ((out.z[:32] - model.z_init).std() - (0.5**2 + 0.1**2) ** 0.5).abs() < 0.02
    # a step with noise trains; without noise nothing is drawn (the faithful path is untouched)
    _, loss, _ = step(model.initial_carry(batch), batch, 1)
    assert torch.isfinite(loss)


def test_muon_weight_decay_is_its_own():
    cfg = tiny_cfg("train.optimizer=muon", "train.weight_decay=0.3", "train.muon_weight_decay=0.01")
    _, opt, _, _, _ = build_training(cfg, torch.device("cpu"), torch.float32, total_steps=10)
    assert (
        opt.muon.param_groups[0]["weight_decay"] == 0.01 and opt.adamw.param_groups[0]["weight_decay"] == 0.3
    )
    assert opt.adamw.param_groups[0]["betas"] == (cfg.train.beta1, cfg.train.beta2)


def _tiny(cfg):
    """``cfg`` at a size that trains in a blink, keeping every switch of its recipe."""
    m = cfg.model
    ids = min(m.num_puzzle_identifiers, 4)
    return cfg.override(
        {
            "model.hidden_size": 16,
            "model.num_heads": 2,
            "model.seq_len": 9,
            "model.swiglu_multiple": 8,
            "model.num_puzzle_identifiers": ids,
            "model.puzzle_emb_ndim": 16 if m.puzzle_emb_ndim else 0,
            "model.puzzle_emb_len": min(m.puzzle_emb_len, 2),
            "model.N_sup": min(m.N_sup, 4),
            "model.h_layers": min(m.h_layers, 2),
            "train.global_batch_size": 4,
        }
    )


@pytest.fixture
def one_thread():
    # tiny tensors gain nothing from threads, and on a loaded 2-core machine OpenMP waits make them 100x slower
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_validates_builds_and_trains_one_step(name, one_thread):
    from trm.train.step import random_batch

    full = get_preset(name)
    if full.train.depth_curriculum:  # training ends at the depth that evaluation uses
        assert parse_depth_curriculum(full.train.depth_curriculum)[-1][1:] == (full.model.T, full.model.n)
    cfg = _tiny(full)
    model, _, _, _, step = build_training(cfg, torch.device("cpu"), torch.float32, total_steps=10)
    batch = random_batch(cfg.model, 4, torch.device("cpu"), torch.Generator().manual_seed(0))
    carry, loss, sums = step(model.initial_carry(batch), batch, 10)  # k = 10: the curriculum's final depth
    assert torch.isfinite(loss) and torch.isfinite(sums).all()


def test_speedrun_records_the_accuracy_curve_and_compares_runs(data_dir, tmp_path, one_thread):  # noqa: F811
    speedrun = load_benchmark("speedrun")
    out = tmp_path / "run"
    args = ["tiny_att", "--data", str(data_dir), "--out", str(out), "--minutes", "5", "--eval-every", "2"]
    args += ["--test-limit", "8", "--quiet", "--set", "train.max_steps=4", "train.lr_warmup_steps=4"]
    args += ["model.hidden_size=16"]
    args += ["model.puzzle_emb_ndim=16", "--label", "tiny"]
    assert speedrun.main(args) == 0
    record = json.loads((out / "speedrun.json").read_text())
    assert record["status"] == "finished" and [p["step"] for p in record["curve"]] == [2, 4]
    assert all(0 <= p["exact_accuracy"] <= 1 and p["minutes"] >= 0 for p in record["curve"])
    assert (out / "speedrun.png").stat().st_size > 0
    fake = {**record, "label": "perfect", "curve": [{**p, "exact_accuracy": 1.0} for p in record["curve"]]}
    text = speedrun.table([record, fake])
    assert "| perfect | 2 (" in text and "100.0% @2" in text
    (tmp_path / "b.json").write_text(json.dumps(fake))
    png = tmp_path / "cmp.png"
    assert (
        speedrun.main(["--compare", str(out / "speedrun.json"), str(tmp_path / "b.json"), "--png", str(png)])
        == 0
    )
    assert png.stat().st_size > 0


def test_fused_kernels_compile_past_dynamos_default_limit(caplog):
    """The CPU set-up chooser runs the fused kernels in two dtypes, with and without grad, at several shapes:
    more variants than dynamo's default recompile limit (8), past which it warned and fell back to eager."""
    config = torch._dynamo.config
    before = config.recompile_limit
    config.recompile_limit = 8  # dynamo's default, whatever ran before
    try:
        fused = layers._Fused(lambda a, b: a * torch.sigmoid(b))  # a fresh function: its own compile cache
        for grad in (True, False):
            for rows in range(1, 6):
                x = torch.randn(rows, 4, requires_grad=grad)
                with torch.set_grad_enabled(grad):
                    out = fused(x, x)
                assert torch.allclose(out, x * torch.sigmoid(x))
        assert not fused.failed and config.recompile_limit >= layers.RECOMPILE_LIMIT
        assert "recompile_limit" not in caplog.text
    finally:
        config.recompile_limit = before


_ISA_RUN = """
import torch
from trm.model import layers

h, d = torch.randn(128, 81, 64), torch.randn(128, 81, 64)  # the maze MLP-mixer's residual + norm
with torch.no_grad():
    out = layers.fused_add_rms_norm(h, d, 1e-5)
assert not layers.fused_add_rms_norm.failed
err = (out - layers.add_rms_norm(h, d, 1e-5)).abs().max().item()
assert err < 1e-4, err
"""


def test_fused_kernels_not_reused_across_cpu_isas(tmp_path):
    """Inductor's on-disk caches did not key on the vector ISA: kernels written for AVX2 (``ATEN_CPU_CAPABILITY
    =avx2``) were built with AVX-512 flags by the next process, which stored past its buffers and aborted with
    ``double free or corruption``; the other way round (checked here: with one thread the wrong result is
    deterministic) half of each row was never written. Each process runs in its own interpreter."""
    from torch._inductor.cpu_vec_isa import x86_isa_checker

    if "avx512" not in x86_isa_checker():
        pytest.skip("needs a CPU with both AVX2 and AVX-512")
    env = {**os.environ, "TORCHINDUCTOR_CACHE_DIR": str(tmp_path / "inductor"), "OMP_NUM_THREADS": "1"}
    for isa in ("avx512", "avx2"):  # the second process finds the first one's cache entries
        run = subprocess.run(
            [sys.executable, "-c", _ISA_RUN],
            env={**env, "ATEN_CPU_CAPABILITY": isa},
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert run.returncode == 0, f"{isa}: exit {run.returncode}\n{run.stderr[-2000:]}"


def test_the_logged_loss_is_the_optimized_loss(data_dir, tmp_path):  # noqa: F811
    """With a non-default halting weight (the fast presets use 0.05) the loss in metrics.jsonl is the loss
    that was optimized, LM + 0.05 · halting, not a recomputation with the paper's 0.5."""
    run = tmp_path / "run"
    cfg = tiny_cfg("train.max_steps=2", "train.log_interval=1", "train.halt_loss_weight=0.05")
    train(cfg, data_dir, run, console=False)
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    logged = [r for r in records if r["kind"] == "train"]
    assert len(logged) == 2
    for r in logged:
        assert r["q_halt_loss"] > 0
        assert r["loss"] == pytest.approx(r["lm_loss"] + 0.05 * r["q_halt_loss"], rel=1e-9)
        assert r["loss"] != pytest.approx(r["lm_loss"] + 0.5 * r["q_halt_loss"], rel=1e-6)
