"""TrainConfig in groups (optim, recipe, loop, system, log), with the flat spellings of earlier versions kept:
attributes, the constructor, dotted overrides, and configs, runs and checkpoints saved before the groups."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from trm.checkpoint import read_config
from trm.cli import main
from trm.config import (
    TRAIN_GROUPS,
    TRAIN_KEYS,
    Config,
    ConfigError,
    LoopConfig,
    OptimConfig,
    SystemConfig,
    TrainConfig,
    field_help,
)
from trm.presets import PRESETS, get_preset

SHIPPED = Path(__file__).resolve().parents[1] / "src" / "trm" / "models" / "sudoku6"


def flat(d: dict) -> dict:
    """A config dict as versions before the groups wrote it: ``train`` one flat mapping."""
    return {**d, "train": {k: v for group in d["train"].values() for k, v in group.items()}}


def test_every_train_key_lives_in_one_group():
    assert set(TRAIN_GROUPS) == {"optim", "recipe", "loop", "system", "log"}
    assert [f.name for f in dataclasses.fields(TrainConfig)] == list(TRAIN_GROUPS)
    assert len(TRAIN_KEYS) == 39 and TRAIN_KEYS["optimizer"] == "optim" and TRAIN_KEYS["max_steps"] == "loop"
    assert (TRAIN_KEYS["halt_loss_weight"], TRAIN_KEYS["device"], TRAIN_KEYS["log_interval"]) == (
        "recipe",
        "system",
        "log",
    )


def test_flat_attributes_read_and_write_the_groups():
    t = get_preset("sudoku6_mlp").train
    for name, group in TRAIN_KEYS.items():
        assert getattr(t, name) is getattr(getattr(t, group), name)
    t.lr = 5e-3
    assert t.optim.lr == 5e-3
    t.loop.max_steps = 77
    assert t.max_steps == 77
    assert TrainConfig(lr=2e-3, max_steps=9, device="cpu") == TrainConfig(
        optim=OptimConfig(lr=2e-3), loop=LoopConfig(max_steps=9), system=SystemConfig(device="cpu")
    )
    with pytest.raises(TypeError, match="unexpected keyword argument 'learning_rate'"):
        TrainConfig(learning_rate=1.0)
    assert dataclasses.replace(t, optim=OptimConfig(lr=1.0)).lr == 1.0


def test_flat_and_grouped_overrides_are_the_same():
    base = get_preset("tiny_att")
    pairs = {
        "lr": "3e-3", "optimizer": "muon", "ema": "false", "halt_loss_weight": "0.05",
        "depth_curriculum": "0:1,1;0.5:2,2", "max_steps": "500", "seed": "7", "device": "cpu",
        "compile": "true", "kernels": "eager", "log_interval": "3", "project": "p",
    }  # fmt: skip
    grouped = base.override([f"train.{TRAIN_KEYS[k]}.{k}={v}" for k, v in pairs.items()])
    flat_cfg = base.override([f"train.{k}={v}" for k, v in pairs.items()])
    assert grouped == flat_cfg and grouped != base
    assert (grouped.train.optim.lr, grouped.train.system.compile, grouped.train.loop.seed) == (
        3e-3,
        "loss",
        7,
    )
    mixed = base.override({"train.lr": 3e-3, "train.loop.max_steps": 500})
    assert (mixed.train.lr, mixed.train.max_steps) == (3e-3, 500)


def test_saved_configs_are_grouped_and_flat_ones_still_load(tmp_path):
    cfg = get_preset("sudoku6_mlp").override(["train.lr=2e-3", "train.max_steps=123"])
    d = cfg.to_dict()
    assert set(d["train"]) == set(TRAIN_GROUPS) and d["train"]["optim"]["lr"] == 2e-3
    assert Config.from_dict(json.loads(json.dumps(d))) == cfg
    assert Config.from_dict(flat(d)) == cfg  # written by a version before the groups
    mixed = {**d, "train": {**d["train"], "lr": 4e-3}}
    del mixed["train"]["optim"]["lr"]
    assert Config.from_dict(mixed).train.lr == 4e-3
    old = {**flat(d), "train": {**flat(d)["train"], "compile": True}}  # the boolean compile of older runs
    assert Config.from_dict(old).train.system.compile == "loss"
    for name in PRESETS:
        p = get_preset(name)
        assert Config.from_dict(flat(p.to_dict())) == p, name


def test_a_checkpoint_written_before_the_groups_loads():
    raw = json.loads((SHIPPED / "config.json").read_text())
    assert "lr" in raw["config"]["train"] and "optim" not in raw["config"]["train"]  # saved flat
    cfg, _ = read_config(SHIPPED)
    assert cfg.train.optim.lr == raw["config"]["train"]["lr"]
    assert cfg.train.loop.global_batch_size == raw["config"]["train"]["global_batch_size"]


def test_grouped_fields_keep_their_bounds_and_messages():
    base = get_preset("tiny_att")
    for key in ("train.loop.max_minutes=-1", "train.max_minutes=-1"):
        with pytest.raises(ConfigError, match=r"^train.max_minutes: -1.0 is out of range \(allowed: >= 0\)$"):
            base.override([key])
    with pytest.raises(ConfigError, match="train.optim.beta2: expected a finite number"):
        base.override(["train.optim.beta2=x"])
    with pytest.raises(ConfigError, match="train.optimizer: must be one of"):
        Config.from_dict({"train": {"optim": {"optimizer": "sgd"}}})
    with pytest.raises(ConfigError, match=r"^train.lr: given twice \(also as train.optim.lr\)$"):
        Config.from_dict({"train": {"lr": 1e-3, "optim": {"lr": 2e-3}}})
    with pytest.raises(ConfigError, match="unknown override key 'train.lrr'.*'lr'"):
        base.override(["train.lrr=1"])
    with pytest.raises(ConfigError, match="train: unknown key.*'lrr'.*valid keys: .*'optim'.*'lr'"):
        Config.from_dict({"train": {"lrr": 1}})
    with pytest.raises(ConfigError, match="train.optim: expected a mapping"):
        Config.from_dict({"train": {"optim": 3, "lr": 1e-3}})
    with pytest.raises(ConfigError, match="names a section"):
        base.override(["train.optim=1"])
    # the rule between fields reads the grouped values
    with pytest.raises(
        ConfigError, match="train.lr_warmup_steps: 100 warm-up steps exceed train.max_steps=10"
    ):
        base.override(["train.loop.max_steps=10", "train.optim.lr_warmup_steps=100"])


def test_help_shows_the_groups(capsys):
    helps = field_help(Config, aliases=False)
    assert helps["train.optim.lr"].endswith("[allowed: in (0, 10]]") and "train.lr" not in helps
    assert field_help(Config)["train.lr"] == helps["train.optim.lr"]
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = capsys.readouterr().out
    for group in TRAIN_GROUPS:
        assert f"\n train.{group}: " in text
    assert "train.loop.max_steps" in text and "train.system.autotune" in text


def test_every_grouped_bound_is_checked_in_both_spellings():
    base = get_preset("tiny_att").override(["train.max_steps=0"])
    checked = 0
    for group, cls in TRAIN_GROUPS.items():
        for f in dataclasses.fields(cls):
            m = f.metadata
            outside = [m["ge"] - 1 if "ge" in m else None, m.get("gt"), m["le"] + 1 if "le" in m else None]
            outside += [m.get("lt")]
            for value in (v for v in outside if v is not None):
                for key in (f"train.{group}.{f.name}", f"train.{f.name}"):
                    with pytest.raises(ConfigError, match=rf"^train\.{f.name}: .* is out of range"):
                        base.override({key: value})
                    checked += 1
    assert checked >= 40
