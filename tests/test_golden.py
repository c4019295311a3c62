"""Parity with tensors computed by the official implementation (SPEC §10), from the committed fixtures in
tests/golden (see its README)."""

import subprocess
import sys

import pytest
import torch

from trm.parity import compare, run_parity

from .conftest import GOLDEN, GOLDEN_CASES, load_golden


def _official_files(case, tmp_path):
    """The case as the official code hands it over: ``.pt`` state dict and batch (written from our fixtures)."""
    _, sd, batch, expected = load_golden(case)
    paths = {n: tmp_path / f"{n}.pt" for n in ("state_dict", "batch", "expected")}
    for n, tensors in (("state_dict", sd), ("batch", batch), ("expected", expected)):
        torch.save(tensors, paths[n])
    return GOLDEN / case / "config.json", paths, sd


def _parity_cli(config, state_dict, batch, out, expected=None):
    cmd = [
        sys.executable,
        "-m",
        "trm.parity",
        "--official-config",
        str(config),
        "--official-state-dict",
        str(state_dict),
        "--batch",
        str(batch),
        "--out",
        str(out),
    ]
    if expected is not None:
        cmd += ["--expected", str(expected)]
    return subprocess.run(cmd, capture_output=True, text=True)


def test_all_cases_are_committed():
    assert sorted(
        p.name for p in GOLDEN.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))
    ) == sorted(GOLDEN_CASES)


@pytest.mark.parametrize("case", GOLDEN_CASES)
def test_golden_case(case):
    cfg, sd, batch, expected = load_golden(case)
    ours = run_parity(cfg, sd, batch)
    assert set(ours) == set(expected)
    rel = compare(ours, expected)
    assert max(rel.values()) <= 1e-4, rel


@pytest.mark.parametrize("prefix", ["", "model.", "_orig_mod.model."])
def test_golden_with_checkpoint_prefixes(prefix):
    cfg, sd, batch, expected = load_golden("trm-att-rope")
    sd = {prefix + k: v for k, v in sd.items()}
    ours = run_parity(cfg, sd, batch, steps=1)
    rel = compare({k: v[:1] for k, v in ours.items()}, {k: v[:1] for k, v in expected.items()})
    assert max(rel.values()) <= 1e-4


def test_parity_cli_writes_official_layout(tmp_path):
    config, f, _ = _official_files("trm-att-learned-short-prefix", tmp_path)
    out = tmp_path / "out.pt"
    r = _parity_cli(config, f["state_dict"], f["batch"], out, expected=f["expected"])
    assert r.returncode == 0, r.stderr
    assert "PASS" in r.stdout
    got = torch.load(out, weights_only=True)
    exp = torch.load(f["expected"], weights_only=True)
    assert {k: v.shape for k, v in got.items()} == {k: v.shape for k, v in exp.items()}


def test_parity_cli_errors_name_the_key(tmp_path):
    config, f, sd = _official_files("trm-att-rope", tmp_path)
    sd = dict(sd)
    sd["inner.L_level.layers.0.mlp.down_proj.weight"] = torch.zeros(3, 3)
    bad = tmp_path / "bad.pt"
    torch.save(sd, bad)
    r = _parity_cli(config, bad, f["batch"], tmp_path / "o.pt")
    assert r.returncode == 2
    assert "inner.L_level.layers.0.mlp.down_proj.weight" in r.stderr
    assert "Traceback" not in r.stderr
    del sd["inner.L_level.layers.0.mlp.down_proj.weight"]
    sd["inner.extra.weight"] = torch.zeros(1)
    torch.save(sd, bad)
    r = _parity_cli(config, bad, f["batch"], tmp_path / "o.pt")
    assert r.returncode == 2 and "inner.extra.weight" in r.stderr
    assert not (tmp_path / "o.pt").exists()


@pytest.mark.parametrize("case", ["trm-mlp-sudoku", "trm-att-learned-short-prefix"])
def test_arch_only_config_is_completed_from_weights(case):
    cfg, sd, batch, expected = load_golden(case)
    for k in ("vocab_size", "seq_len", "num_puzzle_identifiers", "batch_size"):
        cfg.pop(k)
    rel = compare(run_parity(cfg, sd, batch), expected)
    assert max(rel.values()) <= 1e-4


def test_rope_config_without_seq_len_asks_for_it():
    from trm.config import ConfigError
    from trm.model.official import complete_official_config

    cfg, sd, _, _ = load_golden("trm-att-rope")
    cfg.pop("seq_len")
    with pytest.raises(ConfigError, match="seq_len"):
        complete_official_config(cfg, sd)


def test_import_official_writes_a_model_folder(tmp_path):
    from trm.checkpoint import load_model
    from trm.cli import main

    config, f, _ = _official_files("hrm-rope", tmp_path)
    _, _, batch, expected = load_golden("hrm-rope")
    assert main(["import-official", str(config), str(f["state_dict"]), "--out", str(tmp_path / "m")]) == 0
    model, cfg, meta = load_model(tmp_path / "m")
    assert cfg.model.arch == "hrm" and meta["source"] == "official checkpoint"
    with torch.no_grad():
        carry, out = model(model.initial_carry(batch), batch)
    assert torch.allclose(out["logits"], expected["logits"][0], atol=1e-5)
