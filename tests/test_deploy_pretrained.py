"""Pretrained model folders: save/load round trip, the model card, no unpickling."""

import json
import pickle

import pytest
import torch

from trm.deploy.pretrained import from_pretrained, model_card, save_pretrained, wilson_interval
from trm.model import TRM
from trm.presets import get_preset
from trm.utils import TRMError


def make_sudoku_model(seed: int = 0):
    """The demo architecture (6x6 Sudoku TRM-MLP) with a contractive recursion (block weights at half scale,
    like the golden cases) and a live halting head, so different runtimes agree step after step."""
    torch.manual_seed(seed)
    cfg = get_preset("sudoku6_mlp")
    model = TRM(cfg.model).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.startswith("net."):
                p.mul_(0.5)
        model.q_head.weight.normal_(0, 0.5)
        model.q_head.bias.zero_()
    return model, cfg


CARD = {
    "data": "6x6 Sudoku, 2000 generated puzzles",
    "seed": 7,
    "steps": 1500,
    "results": [{"metric": "exact accuracy", "split": "test", "correct": 180, "total": 200}],
    "limitations": ["Only 6x6 grids with 2x3 boxes."],
}


def test_round_trip_and_card(tmp_path):
    model, cfg = make_sudoku_model()
    folder = save_pretrained(model, cfg, tmp_path / "m", card_info=CARD)
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "config.json", "model.safetensors"]
    loaded, cfg2, meta = from_pretrained(folder)
    assert cfg2.to_dict() == cfg.to_dict()
    assert meta["card"]["seed"] == 7
    for k, v in model.state_dict().items():
        assert torch.equal(v, loaded.state_dict()[k]), k
    x = {"inputs": torch.randint(1, 8, (2, 36)), "puzzle_identifiers": torch.zeros(2, dtype=torch.int32)}
    y = model.y_init.expand(2, 36, 64)
    with torch.no_grad():
        assert torch.equal(model.step(y, y, x)[2], loaded.step(y, y, x)[2])
    card = (folder / "README.md").read_text()
    for needle in (
        "sudoku6_mlp",
        "6x6 Sudoku, 2000 generated puzzles",
        "Seed: 7",
        "N_sup = 8",
        "Halting",
        "90.0%",
        "[85.1%, 93.4%]",
        "180/200",
        "Only 6x6 grids",
        "Limitations",
    ):
        assert needle in card, needle


def test_loading_never_unpickles(tmp_path, monkeypatch):
    model, cfg = make_sudoku_model()
    save_pretrained(model, cfg, tmp_path / "m")

    def refuse(*a, **k):
        raise AssertionError("unpickling attempted")

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "Unpickler", refuse)
    monkeypatch.setattr(torch, "load", refuse)
    loaded, _, _ = from_pretrained(tmp_path / "m")
    assert loaded.num_dense_parameters() == model.num_dense_parameters()


def test_card_for_arc_names_the_embedding_limitation():
    cfg = get_preset("tiny_att")
    cfg.task = "arc"
    text = model_card(cfg, {}, n_dense=1000, n_table=128)
    assert "own learned puzzle embedding" in text and "not a zero-shot solver" in text
    assert "No evaluation results" in text


def test_errors(tmp_path):
    with pytest.raises(TRMError, match="no such model folder"):
        from_pretrained(tmp_path / "missing")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "config.json").write_text(json.dumps({"format_version": 1, "config": {}}))
    with pytest.raises(TRMError):
        from_pretrained(tmp_path / "bad")
    with pytest.raises(TRMError, match="correct"):
        model_card(get_preset("tiny_att"), {"results": [{"metric": "x"}]}, 1)


def test_wilson_interval():
    lo, hi = wilson_interval(180, 200)
    assert 0.85 < lo < 0.86 and 0.93 < hi < 0.94
    assert wilson_interval(0, 0) == (0.0, 1.0)
    lo, hi = wilson_interval(10, 10)
    assert hi == 1.0 and lo > 0.6
