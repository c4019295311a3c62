"""Parity with tensors computed by the official implementation (SPEC §10)."""

import subprocess
import sys

import pytest
import torch

from trm.parity import compare, run_parity

from .conftest import GOLDEN

CASES = ["trm-mlp-sudoku", "trm-att-rope", "trm-att-learned-short-prefix", "hrm-rope"]


def _load(case):
    import json

    d = GOLDEN / case
    if not d.is_dir():
        pytest.skip(f"golden case {case} not found under {GOLDEN}")
    cfg = json.loads((d / "config.json").read_text())
    load = lambda n: torch.load(d / n, weights_only=True)  # noqa: E731
    return cfg, load("state_dict.pt"), load("batch.pt"), load("expected.pt")


@pytest.mark.parametrize("case", CASES)
def test_golden_case(case):
    cfg, sd, batch, expected = _load(case)
    ours = run_parity(cfg, sd, batch)
    assert set(ours) == set(expected)
    rel = compare(ours, expected)
    assert max(rel.values()) <= 1e-4, rel


@pytest.mark.parametrize("prefix", ["", "model.", "_orig_mod.model."])
def test_golden_with_checkpoint_prefixes(prefix):
    cfg, sd, batch, expected = _load("trm-att-rope")
    sd = {prefix + k: v for k, v in sd.items()}
    ours = run_parity(cfg, sd, batch, steps=1)
    rel = compare({k: v[:1] for k, v in ours.items()}, {k: v[:1] for k, v in expected.items()})
    assert max(rel.values()) <= 1e-4


def test_parity_cli_writes_official_layout(tmp_path):
    d = GOLDEN / "trm-att-learned-short-prefix"
    if not d.is_dir():
        pytest.skip("golden data not found")
    out = tmp_path / "out.pt"
    r = subprocess.run([sys.executable, "-m", "trm.parity", "--official-config", str(d / "config.json"),
                        "--official-state-dict", str(d / "state_dict.pt"), "--batch", str(d / "batch.pt"),
                        "--out", str(out), "--expected", str(d / "expected.pt")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "PASS" in r.stdout
    got = torch.load(out, weights_only=True)
    exp = torch.load(d / "expected.pt", weights_only=True)
    assert {k: v.shape for k, v in got.items()} == {k: v.shape for k, v in exp.items()}


def test_parity_cli_errors_name_the_key(tmp_path):
    d = GOLDEN / "trm-att-rope"
    if not d.is_dir():
        pytest.skip("golden data not found")
    sd = torch.load(d / "state_dict.pt", weights_only=True)
    sd["inner.L_level.layers.0.mlp.down_proj.weight"] = torch.zeros(3, 3)
    bad = tmp_path / "bad.pt"
    torch.save(sd, bad)
    r = subprocess.run([sys.executable, "-m", "trm.parity", "--official-config", str(d / "config.json"),
                        "--official-state-dict", str(bad), "--batch", str(d / "batch.pt"), "--out", str(tmp_path / "o.pt")],
                       capture_output=True, text=True)
    assert r.returncode == 2
    assert "inner.L_level.layers.0.mlp.down_proj.weight" in r.stderr
    assert "Traceback" not in r.stderr
    del sd["inner.L_level.layers.0.mlp.down_proj.weight"]
    sd["inner.extra.weight"] = torch.zeros(1)
    torch.save(sd, bad)
    r = subprocess.run([sys.executable, "-m", "trm.parity", "--official-config", str(d / "config.json"),
                        "--official-state-dict", str(bad), "--batch", str(d / "batch.pt"), "--out", str(tmp_path / "o.pt")],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "inner.extra.weight" in r.stderr
    assert not (tmp_path / "o.pt").exists()


@pytest.mark.parametrize("case", ["trm-mlp-sudoku", "trm-att-learned-short-prefix"])
def test_arch_only_config_is_completed_from_weights(case):
    cfg, sd, batch, expected = _load(case)
    for k in ("vocab_size", "seq_len", "num_puzzle_identifiers", "batch_size"):
        cfg.pop(k)
    rel = compare(run_parity(cfg, sd, batch), expected)
    assert max(rel.values()) <= 1e-4


def test_rope_config_without_seq_len_asks_for_it():
    from trm.config import ConfigError
    from trm.model.official import complete_official_config

    cfg, sd, _, _ = _load("trm-att-rope")
    cfg.pop("seq_len")
    with pytest.raises(ConfigError, match="seq_len"):
        complete_official_config(cfg, sd)


def test_import_official_writes_a_model_folder(tmp_path):
    from trm.checkpoint import load_model
    from trm.cli import main

    _, _, batch, expected = _load("hrm-rope")
    d = GOLDEN / "hrm-rope"
    assert main(["import-official", str(d / "config.json"), str(d / "state_dict.pt"), "--out", str(tmp_path / "m")]) == 0
    model, cfg, meta = load_model(tmp_path / "m")
    assert cfg.model.arch == "hrm" and meta["source"] == "official checkpoint"
    with torch.no_grad():
        carry, out = model(model.initial_carry(batch), batch)
    assert torch.allclose(out["logits"], expected["logits"][0], atol=1e-5)
