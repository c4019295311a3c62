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
