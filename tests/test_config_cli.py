"""Configs, presets, official-config mapping and the top-level CLI."""

import json
import subprocess
import sys

import pytest

from trm.cli import main
from trm.config import Config, ConfigError, ModelConfig
from trm.model import count_dense_parameters
from trm.model.official import config_from_official
from trm.presets import PRESETS, get_preset

OFFICIAL_COUNTS = {
    "sudoku_mlp": 5_028_866,
    "sudoku_att": 6_828_034,
    "maze_att": 6_822_914,
    "arc1_att": 6_829_058,
    "arc2_att": 6_829_058,
}


@pytest.mark.parametrize("name,count", OFFICIAL_COUNTS.items())
def test_preset_parameter_counts_match_official(name, count):
    assert count_dense_parameters(get_preset(name).model) == count


def test_hrm_parameter_count():
    assert abs(count_dense_parameters(get_preset("hrm_arc1").model) - 27.3e6) < 0.05e6


def test_demo_preset_size():
    assert count_dense_parameters(get_preset("sudoku6_mlp").model) == 154_754


FEWER_STEPS = [("sudoku6_mlp_fast", 500), ("sudoku9_mlp_fast", 600), ("maze_cpu_fast", 800)]


@pytest.mark.parametrize("base,steps", FEWER_STEPS)
def test_fewer_steps_presets_are_the_measured_switches(base, steps):
    """``sudoku{6,9}_mlp_fast_b256`` and ``maze_cpu_fast_b256`` are what docs/BENCHMARKS.md measured against the
    faithful run: the CPU fast preset with these four switches, nothing else."""
    switches = ["train.global_batch_size=256", "train.depth_curriculum=", "train.halt_loss_weight=0.05"]
    steps_and_evals = [f"train.max_steps={steps}", "train.eval_interval_steps=50"]
    expected = get_preset(base).override([*switches, *steps_and_evals])
    expected.name = f"{base}_b256"
    assert get_preset(expected.name) == expected != get_preset(base)


def test_every_preset_validates_and_round_trips():
    for name in PRESETS:
        cfg = get_preset(name)
        assert Config.from_dict(json.loads(cfg.to_json())) == cfg


def test_paper_variant_differs_where_documented():
    assert get_preset("maze_att").model.n == 4 and get_preset("maze_att", paper=True).model.n == 6
    assert get_preset("sudoku_mlp", paper=True).train.epochs == 60_000


def test_unknown_keys_and_bad_values_are_rejected():
    with pytest.raises(ConfigError, match="unknown key"):
        Config.from_dict({"model": {"hidden": 3}})
    with pytest.raises(ConfigError, match="num_heads"):
        ModelConfig(hidden_size=30, num_heads=4, puzzle_emb_ndim=30).validate()
    with pytest.raises(ConfigError, match="model.mixer"):
        get_preset("tiny_att").override(["model.mixer=conv"])
    with pytest.raises(ConfigError, match="expected an integer"):
        get_preset("tiny_att").override(["model.n=two"])
    with pytest.raises(ConfigError, match="unknown preset"):
        get_preset("nope")
    cfg = get_preset("tiny_att").override(["model.n=4", "train.lr=3e-4", "train.ema=false"])
    assert (cfg.model.n, cfg.train.lr, cfg.train.ema) == (4, 3e-4, False)


def test_official_config_mapping():
    off = {
        "H_cycles": 3,
        "L_cycles": 6,
        "L_layers": 2,
        "H_layers": 0,
        "hidden_size": 512,
        "num_heads": 8,
        "expansion": 4,
        "mlp_t": True,
        "pos_encodings": "none",
        "puzzle_emb_ndim": 512,
        "puzzle_emb_len": 16,
        "halt_max_steps": 16,
        "no_ACT_continue": False,
        "seq_len": 81,
        "vocab_size": 11,
        "num_puzzle_identifiers": 1,
        "forward_dtype": "bfloat16",
        "loss": {"name": "losses@ACTLossHead", "loss_type": "softmax_cross_entropy"},
        "name": "recursive_reasoning.trm@TinyRecursiveReasoningModel_ACTV1",
    }
    cfg, dtype = config_from_official(off)
    assert (cfg.T, cfg.n, cfg.mixer, cfg.N_sup, cfg.act_continue, cfg.loss) == (
        3,
        6,
        "mlp_t",
        16,
        True,
        "softmax",
    )
    assert str(dtype) == "torch.bfloat16"
    assert count_dense_parameters(cfg) == 5_028_866
    hrm, _ = config_from_official(
        {**off, "name": "hrm.hrm_act_v1@HierarchicalReasoningModel_ACTV1", "H_layers": 4}
    )
    assert hrm.arch == "hrm" and hrm.prefix_len == 1


def test_cli_help_lists_subcommands(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    for cmd in ("info", "presets"):
        assert cmd in out


def test_cli_presets_prints_official_counts(capsys):
    assert main(["presets"]) == 0
    out = capsys.readouterr().out
    for count in ("5,028,866", "6,828,034", "6,822,914", "6,829,058"):
        assert count in out
    assert main(["presets", "sudoku_mlp"]) == 0
    assert json.loads(capsys.readouterr().out)["model"]["mixer"] == "mlp_t"


def test_cli_info_json(capsys):
    assert main(["info", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert "torch" in info and "cuda" in info


def test_cli_errors_are_messages_not_tracebacks():
    r = subprocess.run(
        [sys.executable, "-m", "trm", "presets", "no_such_preset"], capture_output=True, text=True
    )
    assert r.returncode == 2
    assert "unknown preset" in r.stderr and "Traceback" not in r.stderr
