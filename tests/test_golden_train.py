"""Training-step parity with the official code (issue: training proven faithful): K consecutive optimizer steps
of our trainer's step against the official ``pretrain.train_batch``, from the committed fixtures in
tests/golden_train (see its README for what they hold and how they were made)."""

import subprocess
import sys

import pytest
import torch

from trm.parity import compare, flatten, run_train_parity

from .conftest import GOLDEN_TRAIN, GOLDEN_TRAIN_CASES, load_golden_train
from .golden_train.generate import THREADS

TOL = 1e-4


def _ours(case: str, explore: bool):
    """Our K steps, at the thread count the fixtures were made with (generate.THREADS; conftest restores it)."""
    torch.set_num_threads(THREADS)
    cfg, train, sd, stream, expected, explored = load_golden_train(case)
    out = run_train_parity(cfg, sd, train, stream, train["train_steps"], explore=explore, seed=train["seed"])
    return flatten(out), (explored if explore else expected)


def test_all_training_cases_are_committed():
    assert sorted(
        p.name for p in GOLDEN_TRAIN.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))
    ) == (sorted(GOLDEN_TRAIN_CASES))


@pytest.mark.parametrize("explore", [False, True], ids=["no-exploration", "exploration"])
@pytest.mark.parametrize("case", GOLDEN_TRAIN_CASES)
def test_training_steps_match_the_official_code(case, explore):
    ours, expected = _ours(case, explore)
    # every tensor the official run recorded: per-step loss, learning rates and logged metrics; gradients of
    # step 1; weights, EMA and optimizer moments after step K
    groups = {k.split("/")[0] for k in expected}
    want = {"loss", "lr", "puzzle_emb_lr", "metrics", "sums", "params", "ema"}
    assert want | ({"grads", "exp_avg", "exp_avg_sq"} if not explore else set()) <= groups
    rel = compare(ours, expected)
    bad = {k: v for k, v in rel.items() if not v <= TOL}
    assert not bad, sorted(bad.items(), key=lambda kv: -kv[1])[:10]


def test_the_cases_exercise_halting_refill_and_exploration():
    """The fixtures are only as strong as the paths they take: rows halt early on the Q head and at N_sup and
    are refilled, a row without labels is met, and exploration changes the trajectory."""
    for case in GOLDEN_TRAIN_CASES:
        cfg, train, _, stream, expected, explored = load_golden_train(case)
        counts = expected["sums/count"]
        assert counts.sum() > 0 and (counts < train["global_batch_size"]).any()
        assert ((stream["labels"] != -100).sum(-1) == 0).any()
        assert not torch.allclose(expected["loss"], explored["loss"])
        steps = expected["sums/steps"] / expected["sums/count"].clamp_min(1)
        assert (steps[counts > 0] < cfg["halt_max_steps"]).any(), case  # some row halted before N_sup


def test_an_off_by_one_schedule_is_caught(monkeypatch):
    """The fixtures see small differences: the learning rate of the previous step (an easy off-by-one, as
    0-based against the official 1-based step count) fails the comparison."""
    import trm.train.step as step_module

    real = step_module.lr_at
    monkeypatch.setattr(step_module, "lr_at", lambda k, *a, **kw: real(k - 1, *a, **kw))
    ours, expected = _ours("trm-mlp", explore=False)
    rel = compare(ours, expected)
    assert rel["loss"] > TOL and max(v for k, v in rel.items() if k.startswith("params/")) > TOL


def test_a_run_shorter_than_its_warm_up_trains_as_the_official_code_does():
    """The official schedule takes total_steps below lr_warmup_steps (every step a warm-up step): so does ours,
    with the official rates, and still no step past total_steps."""
    from trm.typed import ConfigError

    cfg, train, sd, stream, _, _ = load_golden_train("trm-mlp")
    k = train["train_steps"]
    short = {**train, "lr_warmup_steps": 10 * k, "total_steps": k}
    out = run_train_parity(cfg, sd, short, stream, k)
    want = torch.tensor([train["lr"] * step / (10 * k) for step in range(1, k + 1)])
    torch.testing.assert_close(out["lr"].to(want.dtype), want, rtol=1e-6, atol=0)
    with pytest.raises(ConfigError, match="total_steps"):
        run_train_parity(cfg, sd, {**short, "total_steps": k - 1}, stream, k)


def test_parity_cli_trains_and_writes_the_official_layout(tmp_path):
    case = "hrm"
    cfg, train, sd, stream, expected, _ = load_golden_train(case)
    paths = {n: tmp_path / f"{n}.pt" for n in ("sd", "stream", "expected")}
    torch.save(sd, paths["sd"])
    torch.save(stream, paths["stream"])
    torch.save(expected, paths["expected"])
    out = tmp_path / "out.pt"
    cmd = [
        sys.executable, "-m", "trm.parity",
        "--official-config", str(GOLDEN_TRAIN / case / "config.json"),
        "--official-state-dict", str(paths["sd"]),
        "--train-config", str(GOLDEN_TRAIN / case / "train.json"),
        "--batches", str(paths["stream"]),
        "--train-steps", str(train["train_steps"]),
        "--seed", str(train["seed"]),
        "--out", str(out),
        "--expected", str(paths["expected"]),
    ]  # fmt: skip
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "PASS" in r.stdout
    got = torch.load(out, weights_only=True)
    K = train["train_steps"]
    assert got["loss"].shape == (K,) and got["lr"].shape == (K,)
    assert set(got["metrics"]) >= {
        "count",
        "accuracy",
        "exact_accuracy",
        "q_halt_accuracy",
        "steps",
        "lm_loss",
    }
    assert all(v.shape == (K,) for v in got["metrics"].values())
    for group in ("params", "ema", "exp_avg", "exp_avg_sq"):
        assert got[group] and all(k.startswith("inner.") for k in got[group]), group
    assert "inner.H_level.layers.0.mlp.down_proj.weight" in got["exp_avg"]


def test_parity_cli_refuses_bad_training_arguments(tmp_path):
    case = "trm-att"
    cfg, train, sd, stream, _, _ = load_golden_train(case)
    torch.save(sd, tmp_path / "sd.pt")
    torch.save(stream, tmp_path / "stream.pt")
    base = [
        sys.executable, "-m", "trm.parity",
        "--official-config", str(GOLDEN_TRAIN / case / "config.json"),
        "--official-state-dict", str(tmp_path / "sd.pt"),
        "--train-config", str(GOLDEN_TRAIN / case / "train.json"),
        "--batches", str(tmp_path / "stream.pt"),
        "--out", str(tmp_path / "o.pt"),
    ]  # fmt: skip
    r = subprocess.run(base + ["--train-steps", "99"], capture_output=True, text=True)
    assert r.returncode == 2 and "--train-steps 99" in r.stderr and "Traceback" not in r.stderr
    bad = tmp_path / "train.json"
    bad.write_text('{"lr": 1e-3}')
    cmd = [bad if a == str(GOLDEN_TRAIN / case / "train.json") else a for a in base]
    r = subprocess.run([str(a) for a in cmd] + ["--train-steps", "2"], capture_output=True, text=True)
    assert r.returncode == 2 and "missing key" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "o.pt").exists()


@pytest.mark.parametrize(
    "preset", ["sudoku_mlp", "sudoku_att", "maze_att", "arc1_att", "hrm_sudoku", "sudoku6_mlp"]
)
def test_official_arch_config_is_the_inverse_of_the_import(preset):
    import dataclasses

    from trm.model.official import config_from_official, official_arch_config
    from trm.presets import get_preset

    cfg = get_preset(preset).model
    back, dtype = config_from_official(official_arch_config(cfg, batch_size=8), warn=False)
    skip = {"h_layers"} if cfg.arch == "trm" else set()  # TRM has no H net; its official H_layers is ignored
    assert {f.name: getattr(back, f.name) for f in dataclasses.fields(cfg) if f.name not in skip} == {
        f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg) if f.name not in skip
    }
    assert dtype == torch.float32


def test_curve_benchmark_refuses_unofficial_switches_and_reports_steps():
    from .conftest import load_benchmark

    bench = load_benchmark("train_parity")
    cfg = bench.recipe("sudoku6_mlp", [])
    assert cfg.train.optimizer == "adam_atan2" and not cfg.data.augment_on_the_fly
    with pytest.raises(SystemExit, match="train.grad_clip"):
        bench.recipe("sudoku6_mlp", ["train.grad_clip=1.0"])
    with pytest.raises(SystemExit, match="depth_curriculum"):
        bench.recipe("sudoku6_mlp_fast", [])

    def curve(*acc):
        return [{"step": 100 * (i + 1), "exact_accuracy": a} for i, a in enumerate(acc)]

    record = {
        "runs": [
            {"code": "official", "seed": 0, "curve": curve(0.2, 0.6, 0.92, 0.96)},
            {"code": "official", "seed": 1, "curve": curve(0.1, 0.5, 0.91, 0.97)},
            {"code": "ours", "seed": 0, "curve": curve(0.3, 0.7, 0.8, 0.9)},
        ]
    }
    text = bench.report(record)
    assert "| official | 0 | 200 | 300 | 400 | 96.0% |" in text
    assert "| ours | 0 | 200 | 400 | – | 90.0% |" in text
    assert "200 ± 0 | 300 ± 0 | 400 ± 0" in text  # official: both seeds reach 50/90/95% at the same steps
    assert "0/1 reached" in text
    assert "ours / official — 50%: 1.00; 90%: 1.33; 95%: not reached by every run" in text
    # one process per code, read as one; the same run in two files is refused
    merged = bench.merged([{"runs": record["runs"][:2]}, {"runs": record["runs"][2:]}])
    assert bench.report(merged) == text
    with pytest.raises(SystemExit, match="official seed 0"):
        bench.merged([record, {"runs": record["runs"][:1]}])
