"""Pretrained model folders: save/load round trip, the model card, no unpickling."""

import json
import pickle

import pytest
import torch

from trm.deploy.pretrained import from_pretrained, model_card, push_to_hub, save_pretrained, wilson_interval
from trm.model import TRM
from trm.models import shipped_names
from trm.presets import get_preset
from trm.utils import TRMError


def contract(model: TRM) -> TRM:
    """Block weights at half scale (a contractive recursion, like the golden cases) and a live halting head
    (drawn from torch's generator), so that different runtimes agree step after step."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.startswith("net."):
                p.mul_(0.5)
        model.q_head.weight.normal_(0, 0.5)
    return model


def make_sudoku_model(seed: int = 0):
    """The demo architecture (6x6 Sudoku TRM-MLP), contracted (see :func:`contract`)."""
    torch.manual_seed(seed)
    cfg = get_preset("sudoku6_mlp")
    model = contract(TRM(cfg.model).eval())
    with torch.no_grad():
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
    assert meta["card"]["seed"] == 7 and "data_info" not in meta
    # how the training puzzles were made travels with the folder when given (a run's checkpoint meta has it)
    info = {"task": "sudoku", "size": 6, "blanks": [23, 28]}
    _, _, meta = from_pretrained(save_pretrained(model, cfg, tmp_path / "m2", data_info=info))
    assert meta["data_info"] == info
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


# ------------------------------------------------------------------------------- Hugging Face Hub layout
def test_card_header_is_hub_metadata(tmp_path):
    model, cfg = make_sudoku_model()
    folder = save_pretrained(model, cfg, tmp_path / "m", card_info={**CARD, "datasets": ["someone/sudoku6"]})
    text = (folder / "README.md").read_text()
    header = text.split("---\n")[1].splitlines()
    assert header[:2] == ["library_name: trm", "license: mit"]
    assert "metrics: [exact_match]" in header and "datasets: [someone/sudoku6]" in header
    hub = pytest.importorskip(
        "huggingface_hub", reason="huggingface_hub not installed (pip install -e '.[hub]')"
    )
    data = hub.ModelCard.load(folder / "README.md").data  # the Hub's own parser reads the header
    assert data.library_name == "trm" and data.license == "mit" and "tiny-recursive-model" in data.tags
    assert data.metrics == ["exact_match"] and data.datasets == ["someone/sudoku6"]


HUB_SCRIPT = """
import sys
from trm.deploy.pretrained import from_pretrained, push_to_hub
from trm.utils import TRMError
model, cfg, meta = from_pretrained("owner/cached")  # from the Hub cache, offline
print("loaded", cfg.name, model.num_dense_parameters())
for call in (lambda: from_pretrained("someone/absent"), lambda: push_to_hub(sys.argv[1], "someone/new")):
    try:
        call()
    except TRMError as e:
        print("error", e)
"""


def test_hub_repo_ids_offline(tmp_path):
    pytest.importorskip("huggingface_hub", reason="huggingface_hub not installed (pip install -e '.[hub]')")
    import os
    import subprocess
    import sys

    model, cfg = make_sudoku_model()
    folder = save_pretrained(model, cfg, tmp_path / "m", card_info=CARD)
    repo = tmp_path / "hf" / "hub" / "models--owner--cached"  # the Hub cache layout snapshot_download reads
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("0" * 40)
    snap = repo / "snapshots" / ("0" * 40)
    snap.mkdir(parents=True)
    for f in folder.iterdir():
        (snap / f.name).write_bytes(f.read_bytes())
    env = {**os.environ, "HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1"}
    r = subprocess.run([sys.executable, "-c", HUB_SCRIPT, str(folder)], env=env, capture_output=True, text=True,
                       timeout=120)  # fmt: skip
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == f"loaded sudoku6_mlp {model.num_dense_parameters()}"
    assert lines[1].startswith("error someone/absent: no such local folder") and "HF_HUB_OFFLINE" in lines[1]
    assert lines[2].startswith("error someone/new: upload to the Hugging Face Hub failed")


def test_hub_without_huggingface_hub(tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "huggingface_hub", None)
    with pytest.raises(
        TRMError, match=r"owner/name: no such local folder.*pip install 'huggingface_hub.*'\.\[hub\]'"
    ):
        from_pretrained("owner/name")
    with pytest.raises(TRMError, match="no model.safetensors"):
        push_to_hub(tmp_path, "owner/name")


# --------------------------------------------------------------------------------- the shipped model
def test_shipped_model_solves_a_held_out_puzzle_in_seconds():
    import time

    from trm.data import sudoku_generate
    from trm.infer import load_solver
    from trm.tasks import sudoku

    puzzles, _ = sudoku_generate.generate(
        1, (2, 3), blanks=(23, 28), seed=777, minimal=True
    )  # as in training (seed 0)
    t0 = time.perf_counter()
    result = load_solver("sudoku6").solve(sudoku.format_sudoku(puzzles[0]))
    assert result.valid is True and result.errors == []
    assert time.perf_counter() - t0 < 10.0  # 0.3-3 s on a shared 2-core AMD EPYC


@pytest.mark.parametrize("name", shipped_names())
def test_every_shipped_model_solves_its_example_verified(name):
    """Each shipped model: the Hub files only, small, a card that says how it was made and what it scores on
    held-out data, no path of the machine it was trained on, and an example puzzle made like its training ones
    solved and verified in process with the default budget, in seconds."""
    import time

    from trm.deploy.pretrained import HUB_FILES
    from trm.infer import load_solver
    from trm.models import shipped_model
    from trm.tasks.examples import example_puzzle

    folder = shipped_model(name)
    assert sorted(p.name for p in folder.iterdir()) == sorted(HUB_FILES)
    assert sum(p.stat().st_size for p in folder.iterdir()) < 3 << 20
    card = (folder / "README.md").read_text()
    for needle in ("library_name: trm", "held-out", "## How it was made", f"trm mcp {name}", "verified"):
        assert needle in card, (name, needle)
    _, cfg, meta = from_pretrained(name)
    assert cfg.data.path == "" and "/work/" not in json.dumps(meta.get("data_info") or {})
    solver = load_solver(name)
    puzzle = example_puzzle(solver.info, 3, meta.get("data_info"))
    t0 = time.perf_counter()
    result = solver.solve(puzzle)
    assert result.verified is True and result.valid is True and result.calls >= 1
    assert time.perf_counter() - t0 < 10.0  # a median solve is well under a second (the cards)


def test_shipped_folder_and_card():
    from trm.checkpoint import resolve_model_dir
    from trm.deploy.pretrained import HUB_FILES
    from trm.models import shipped_model, shipped_names

    assert "sudoku6" in shipped_names()
    folder = shipped_model("sudoku6")
    assert resolve_model_dir("sudoku6") == folder
    assert sorted(p.name for p in folder.iterdir()) == sorted(HUB_FILES)
    assert sum(p.stat().st_size for p in folder.iterdir()) < 3 << 20
    card = (folder / "README.md").read_text()
    for needle in (
        "library_name: trm",
        "trm demo --out",
        "986/1000",
        "held-out",
        "trm mcp sudoku6",
        "step 685",
    ):
        assert needle in card, needle
    _, cfg, _ = from_pretrained("sudoku6")
    assert cfg.task == "sudoku" and cfg.model.seq_len == 36 and cfg.data.path == ""
    for name in ("../sudoku6", "sudoku6/config.json", "", "nope"):
        assert shipped_model(name) is None


def test_a_local_path_wins_over_a_shipped_name(tmp_path, monkeypatch):
    from trm.checkpoint import resolve_model_dir

    model, cfg = make_sudoku_model()
    save_pretrained(model, cfg, tmp_path / "sudoku6")
    monkeypatch.chdir(tmp_path)
    assert resolve_model_dir("sudoku6").resolve() == (tmp_path / "sudoku6").resolve()
    _, cfg2, _ = from_pretrained("sudoku6")
    assert cfg2.name == "sudoku6_mlp"  # not the shipped sudoku6_mlp_fast


def test_cli_commands_take_the_shipped_name(capsys):
    from trm.cli import main
    from trm.deploy.backends import load_for_serving

    assert main(["solve", "sudoku6", "......6.5...5.1....6...445..1..3..6.", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["answer"] == "314526625341541632263154456213132465" and out["valid"] is True
    assert load_for_serving("sudoku6").cfg.name == "sudoku6_mlp_fast"  # trm serve's loader
