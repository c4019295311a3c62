"""The ARC voting evaluator (SPEC §7): cropping, undoing augmentations, ranking, pass@k, submission."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from trm.config import Config, ModelConfig
from trm.infer import ArcVoter, Settings, evaluate, torch_solver
from trm.infer.evaluate import vote_arc
from trm.model import TRM
from trm.tasks import arc

from .test_infer_engine import CopyModel

A0 = np.array([[1, 2, 0], [0, 3, 3]])
A1 = np.array([[5]])
B0 = np.array([[7, 7], [0, 7], [1, 1]])
RIGHT = {("A", 0): np.array([[2, 1, 0], [3, 3, 0]]), ("A", 1): np.array([[5, 5]]), ("B", 0): np.array([[0]])}
WRONG = {("A", 0): np.array([[9]]), ("A", 1): np.array([[4, 4], [4, 4]]), ("B", 0): np.array([[1, 2]])}
INPUTS = {("A", 0): A0, ("A", 1): A1, ("B", 0): B0}
VERSIONS = [(0, "0123456789"), (1, "0918273645"), (6, "0123456789"), (4, "0987654321"), (2, "0564738291")]


def canvas_with_junk(grid: np.ndarray, t: int, cmap: str) -> np.ndarray:
    """What a model might output for the augmented version: the grid, EOS, then junk beyond the EOS."""
    c = arc.encode_canvas(arc.augment_grid(grid, t, cmap)).astype(np.int64).reshape(30, 30)
    h, w = arc.augment_grid(grid, t, cmap).shape
    c[h + 1 :, :] = 5  # colours below the EOS row must not be cropped in
    c[:h, w + 1 :] = 7
    return c.reshape(-1)


def arc_encode(grid):
    return arc.encode_canvas(np.asarray(grid)).astype(np.int64)


def arc_crop(tokens):
    return arc.crop_canvas(np.asarray(tokens)).astype(np.int64)


def test_crop_takes_the_largest_top_left_colour_rectangle():
    g = np.arange(12).reshape(3, 4) % 10
    assert np.array_equal(arc_crop(arc_encode(g)), g)
    assert np.array_equal(arc_crop(canvas_with_junk(g, 0, "0123456789")), g)
    ragged = arc_encode(np.ones((4, 5), int)).reshape(30, 30)
    ragged[2, 3] = 0  # 2x5 above the hole has area 10; the hole cuts later rows to width 3: 4x3 (12) wins
    assert arc_crop(ragged.reshape(-1)).shape == (4, 3)
    assert arc_crop(np.zeros(900, np.int64)).shape == (0, 0)


def test_voter_scores_hand_made_predictions_exactly(tmp_path):
    voter = ArcVoter()
    # (task, test input) -> list of (predicted grid in the original frame, confidence), one per version
    plan = {
        ("A", 0): [(RIGHT, 0.6)] * 3 + [(WRONG, 0.99)] * 2,  # majority right: pass@1
        ("A", 1): [
            (WRONG, 0.9),
            (WRONG, 0.9),
            (RIGHT, 0.5),
            (RIGHT, 0.5),
        ],  # tie, wrong more confident: pass@2
        ("B", 0): [(WRONG, 0.8)],  # never right
    }
    for key, preds in plan.items():
        for (which, conf), (t, cmap) in zip(preds, VERSIONS, strict=False):
            name = arc.identifier_name(key[0], t, cmap)
            inputs = arc.encode_canvas(arc.augment_grid(INPUTS[key], t, cmap))
            label = canvas_with_junk(RIGHT[key], t, cmap)
            task, inp, out = vote_arc(
                voter, name, inputs, canvas_with_junk(which[key], t, cmap)[None], [conf], label
            )
            assert task == key[0]
            assert np.array_equal(inp, INPUTS[key])  # the augmentation is undone on the input too
            assert np.array_equal(out, RIGHT[key])
    truth = {"A": [(A0, RIGHT[("A", 0)]), (A1, RIGHT[("A", 1)])], "B": [(B0, RIGHT[("B", 0)])]}
    scores = voter.evaluate(truth)
    assert scores["per_task"]["A"]["pass@1"] == 0.5 and scores["per_task"]["A"]["pass@2"] == 1.0
    assert scores["per_task"]["B"]["pass@1"] == 0.0 and scores["per_task"]["B"]["pass@1000"] == 0.0
    assert scores["pass@1"] == 0.25 and scores["pass@2"] == 0.5 and scores["pass@1000"] == 0.5
    assert scores["tasks"] == 2 and scores["test_inputs"] == 3
    ranks = [r["rank"] for r in scores["per_task"]["A"]["test_inputs"]]
    assert ranks == [1, 2]
    top = voter.ranked("A", A0)
    assert top[0][1] == 3 and abs(top[0][2] - 0.6) < 1e-9

    sub = voter.submission({"A": [A0, A1], "B": [B0], "C": [A0]})
    assert sub["A"][0]["attempt_1"] == RIGHT[("A", 0)].tolist()
    assert sub["A"][0]["attempt_2"] == WRONG[("A", 0)].tolist()
    assert sub["A"][1] == {"attempt_1": WRONG[("A", 1)].tolist(), "attempt_2": RIGHT[("A", 1)].tolist()}
    assert sub["B"][0]["attempt_1"] == sub["B"][0]["attempt_2"] == WRONG[("B", 0)].tolist()
    assert sub["C"] == [{"attempt_1": [[0]], "attempt_2": [[0]]}]


def _write_tasks(root):
    """Two evaluation tasks: 'same' (output = input) and 'flip' (output = input flipped), plus training."""
    rng = np.random.default_rng(0)

    def pair(fn, h, w):
        g = rng.integers(0, 10, (h, w))
        return {"input": g.tolist(), "output": fn(g).tolist()}

    tasks = {
        "evaluation/same": {
            "train": [pair(lambda g: g, 3, 3)],
            "test": [pair(lambda g: g, 2, 4), pair(lambda g: g, 3, 1)],
        },
        "evaluation/flip": {"train": [pair(np.fliplr, 2, 2)], "test": [pair(np.fliplr, 3, 3)]},
        "training/other": {"train": [pair(np.flipud, 2, 2)], "test": [pair(np.flipud, 2, 3)]},
    }
    for name, obj in tasks.items():
        path = root / f"{name}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(obj))


@pytest.fixture(scope="module")
def arc_data(tmp_path_factory):
    from trm.data.build.arc import build_arc

    root = tmp_path_factory.mktemp("arc")
    _write_tasks(root / "src")
    return build_arc(
        root / "data",
        source=root / "src",
        subsets=("training", "evaluation"),
        test_subset="evaluation",
        num_aug=4,
        seed=0,
    )


def test_evaluate_arc_end_to_end_with_a_copying_model(arc_data, tmp_path):
    cfg = Config(
        name="t",
        task="arc",
        model=ModelConfig(
            vocab_size=12,
            seq_len=900,
            hidden_size=8,
            num_heads=2,
            N_sup=2,
            puzzle_emb_ndim=0,
            puzzle_emb_len=0,
        ),
    )
    report = evaluate(CopyModel(cfg), cfg, arc_data, Settings(), out_dir=tmp_path)
    # answering the input is right for every version of 'same' (after undoing each augmentation) and wrong for
    # 'flip', so the benchmark is exactly one task out of two
    assert report["task"] == "arc" and report["tasks"] == 2 and report["test_inputs"] == 3
    assert report["pass@1"] == 0.5 and report["pass@1000"] == 0.5
    per_task = json.loads((tmp_path / "arc_per_task.json").read_text())
    assert per_task["same"]["pass@1"] == 1.0 and per_task["flip"]["pass@2"] == 0.0
    assert all(r["top_votes"] == 5 for r in per_task["same"]["test_inputs"])  # 1 + 4 versions agree
    sub = json.loads((tmp_path / "submission.json").read_text())
    truth = json.loads((arc_data / "test_puzzles.json").read_text())
    assert [a["attempt_1"] for a in sub["same"]] == [t["input"] for t in truth["same"]["test"]]


def test_solve_arc_task_with_its_trained_versions(arc_data, tmp_path):
    torch.manual_seed(0)
    ids = json.loads((arc_data / "identifiers.json").read_text())
    cfg = Config(
        name="t",
        task="arc",
        model=ModelConfig(
            vocab_size=12,
            seq_len=900,
            hidden_size=8,
            num_heads=2,
            T=1,
            n=1,
            N_sup=2,
            puzzle_emb_ndim=8,
            puzzle_emb_len=1,
            num_puzzle_identifiers=len(ids),
            num_layers=1,
        ),
    )
    solver = torch_solver(TRM(cfg.model).eval(), cfg, identifiers=ids)
    task = tmp_path / "same.json"
    task.write_text(
        json.dumps({"train": [], "test": [{"input": [[1, 2], [3, 4]], "output": [[1, 2], [3, 4]]}]})
    )
    r = solver.solve(str(task), trace=True)
    assert r.candidates == 5  # the original and its 4 augmented versions, each with its own embedding
    assert isinstance(r.answer, list) and len(r.answer) == 1
    assert r.valid is (r.answer[0] == [[1, 2], [3, 4]])
    assert len(r.trace) == r.steps == 2
    copy = torch_solver(CopyModel(cfg), cfg, identifiers=ids).solve(str(task))
    assert copy.valid is True and copy.votes == 5 and copy.answer == [[[1, 2], [3, 4]]]
