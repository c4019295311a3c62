"""Every config field's bounds are declared once, in its ``_f(...)`` declaration, and checked wherever a config is
made (presets, files, overrides, the Python API): property-based, any value out of the declared range is a
one-line ConfigError naming the key, the value and the range, and any value in range is accepted (unless a rule
between fields, such as warm-up <= max_steps, refuses it with its own message)."""

import dataclasses
import math
import typing

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trm.cli import main
from trm.config import (
    MAX_BLOCKS_PER_STEP,
    Config,
    ConfigError,
    EvalConfig,
    ModelConfig,
    TrainConfig,
    field_help,
)
from trm.infer.settings import Settings
from trm.presets import PRESETS, get_preset
from trm.typed import _field_types, check_fields

from .fuzz_profile import fuzz

BASE = get_preset("tiny_att").override(["train.max_steps=0"])
# fields that rules between fields involve: an in-range value may still be refused, by the rule's own message
CROSS = {
    "model.hidden_size", "model.num_heads", "model.puzzle_emb_ndim", "model.puzzle_emb_len", "model.T", "model.n",
    "model.num_layers", "model.h_layers", "model.arch", "model.pos_encodings", "model.mixer",
    "train.lr_warmup_steps", "train.max_steps",
}  # fmt: skip


def _fields():
    """(key, type, metadata) of every value field of Config."""
    out = []
    for section in dataclasses.fields(Config):
        tp = _field_types(Config)[section.name]
        if dataclasses.is_dataclass(tp):
            for f in dataclasses.fields(tp):
                out.append((f"{section.name}.{f.name}", _field_types(tp)[f.name], f.metadata))
    return out


FIELDS = _fields()
BOUNDED = [(k, tp, m) for k, tp, m in FIELDS if any(b in m for b in ("ge", "gt", "le", "lt"))]
LITERALS = [(k, tp) for k, tp, _ in FIELDS if "Literal" in str(tp)]


def _base(tp):
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    return args[0] if typing.get_origin(tp) in (typing.Union, type(int | None)) and len(args) == 1 else tp


def _inside(tp, m):
    if _base(tp) is int:
        lo = m.get("ge", m["gt"] + 1 if "gt" in m else -(2**62))
        hi = m.get("le", m["lt"] - 1 if "lt" in m else 2**62)
        return st.integers(lo, hi)
    lo, hi = m.get("ge", m.get("gt", -1e12)), m.get("le", m.get("lt", 1e12))
    return st.floats(lo, hi, exclude_min="gt" in m, exclude_max="lt" in m, allow_nan=False)


def _outside(tp, m):
    if _base(tp) is int:
        parts = []
        if "ge" in m or "gt" in m:
            parts.append(st.integers(-(2**62), m["ge"] - 1 if "ge" in m else m["gt"]))
        if "le" in m or "lt" in m:
            parts.append(st.integers(m["le"] + 1 if "le" in m else m["lt"], 2**62))
        return st.one_of(parts)
    parts = [st.sampled_from([math.nan, math.inf, -math.inf])]
    if "ge" in m or "gt" in m:
        lo = m.get("ge", m.get("gt"))
        parts.append(st.floats(-1e300, lo, exclude_max="ge" in m, allow_nan=False))
    if "le" in m or "lt" in m:
        hi = m.get("le", m.get("lt"))
        parts.append(st.floats(hi, 1e300, exclude_min="le" in m, allow_nan=False))
    return st.one_of(parts)


@fuzz(60)
@given(data=st.data())
def test_out_of_range_is_refused_naming_key_value_and_range(data):
    key, tp, m = data.draw(st.sampled_from(BOUNDED))
    value = data.draw(_outside(tp, m))
    with pytest.raises(ConfigError) as e:
        BASE.override([f"{key}={value!r}" if isinstance(value, float) else f"{key}={value}"])
    msg = str(e.value)
    assert msg.startswith(key + ":") and "\n" not in msg, msg
    assert "allowed" in msg or "finite" in msg, msg


@fuzz(60)
@given(data=st.data())
def test_in_range_is_accepted(data):
    key, tp, m = data.draw(st.sampled_from(BOUNDED))
    value = data.draw(_inside(tp, m))
    try:
        cfg = BASE.override({key: value})
    except ConfigError as e:
        assert key in CROSS and "out of range" not in str(e), (key, value, str(e))
        return
    section, name = key.split(".")
    assert getattr(getattr(cfg, section), name) == value


@fuzz(40)
@given(data=st.data())
def test_literal_fields_take_their_values_only(data):
    key, tp = data.draw(st.sampled_from(LITERALS))
    allowed = typing.get_args(_base(tp))
    value = data.draw(st.sampled_from(allowed) | st.text(max_size=12))
    try:
        BASE.override({key: value})
        assert value in allowed or (key == "train.compile" and value.lower() in ("true", "false", "1", "0"))
    except ConfigError as e:
        assert value not in allowed or key in CROSS, (key, value, str(e))


@pytest.mark.parametrize("paper", [False, True])
def test_every_preset_validates(paper):
    for name in PRESETS:
        check_fields(get_preset(name, paper=paper))


@pytest.mark.parametrize(
    ("override", "words"),
    [
        ("train.max_minutes=-1", "train.max_minutes: -1.0 is out of range (allowed: >= 0)"),
        ("train.eval_interval_steps=-5", "train.eval_interval_steps: -5 is out of range (allowed: >= 0)"),
        ("train.log_interval=0", "train.log_interval: 0 is out of range (allowed: >= 1)"),
        ("train.epochs=-1", "train.epochs: -1 is out of range (allowed: >= 1)"),
        ("train.lr_warmup_steps=-10", "train.lr_warmup_steps: -10 is out of range (allowed: >= 0)"),
        ("data.test_limit=-1", "data.test_limit: -1 is out of range (allowed: >= 0)"),
        ("model.N_sup=1000000000", "model.N_sup: 1000000000 is out of range (allowed: in [1, 1024])"),
        ("eval.threshold=1", "eval.threshold: 1.0 is out of range (allowed: in (0, 1))"),
        ("train.beta2=1", "train.beta2: 1.0 is out of range (allowed: in [0, 1))"),
        # the inference protocol a run records is checked by the inference layer's declarations, before training
        (
            "eval.select=bogus",
            "eval: select must be one of ['confidence', 'converged', 'halt-first', 'majority', "
            "'q-weighted'], got 'bogus'",
        ),
    ],
)
def test_the_issue_cases_exit_2_with_one_line_and_write_nothing(tmp_path, capsys, override, words):
    out = tmp_path / "run"
    assert main(["train", "sudoku6_mlp", "--data", str(tmp_path / "data"), "--out", str(out), override]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"trm: error: {words}", err
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_every_way_of_making_a_config_is_checked():
    with pytest.raises(ConfigError, match="train.epochs"):
        Config(train=TrainConfig(epochs=0)).validate()
    with pytest.raises(ConfigError, match="model.T: 0 is out of range"):
        ModelConfig(T=0).validate()
    with pytest.raises(ConfigError, match="train.optimizer: must be one of"):
        Config(train=TrainConfig(optimizer="sgd")).validate()
    with pytest.raises(ConfigError, match="train.max_minutes"):
        Config.from_dict({"train": {"max_minutes": -0.5}})
    with pytest.raises(ConfigError, match="train.epochs: expected an integer"):
        Config(train=TrainConfig(epochs="many")).validate()
    cfg = Config(train=TrainConfig(epochs="7")).validate()  # coerced as from a file
    assert cfg.train.epochs == 7


def test_rules_between_fields():
    with pytest.raises(
        ConfigError, match="train.lr_warmup_steps: 100 warm-up steps exceed train.max_steps=10"
    ):
        get_preset("sudoku6_mlp").override(["train.max_steps=10", "train.lr_warmup_steps=100"])
    get_preset("sudoku6_mlp").override(["train.max_steps=10", "train.lr_warmup_steps=10"])
    get_preset("sudoku6_mlp").override(
        ["train.max_steps=0", "train.lr_warmup_steps=100000"]
    )  # total not known
    with pytest.raises(
        ConfigError, match=f"block applications per supervision step; at most {MAX_BLOCKS_PER_STEP}"
    ):
        BASE.override(["model.T=64", "model.n=64"])
    with pytest.raises(ConfigError, match="train.depth_curriculum"):
        BASE.override(["model.num_layers=8", "train.depth_curriculum=0:1,1;0.5:64,63"])
    with pytest.raises(ConfigError, match="train.depth_curriculum"):
        BASE.override(["train.depth_curriculum=0:1,1;0.5:65,1"])


def test_help_lists_the_declared_bounds(capsys):
    helps = field_help(Config)
    assert helps["train.max_minutes"].endswith("[allowed: >= 0]")
    assert helps["model.N_sup"].endswith("[allowed: in [1, 1024]]")
    assert "[allowed: one of ['adam_atan2', 'adamw', 'muon']]" in helps["train.optimizer"]
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = capsys.readouterr().out
    assert "train.lr_warmup_steps" in text and "model.N_sup" in text and "[allowed: >= 1]" in text


def test_eval_section_bounds_agree_with_the_inference_settings():
    names = {"samples": "samples", "noise": "noise", "batch_size": "batch_size", "augment_votes": "augment"}
    settings = {f.name: f.metadata for f in dataclasses.fields(Settings)}
    for f in dataclasses.fields(EvalConfig):
        if f.name in names:
            s = settings[names[f.name]]
            assert f.metadata["le"] == s["max"], f.name
        if f.name == "max_steps":
            assert f.metadata["le"] == settings["max_steps"]["max"]
