"""Validation, never test, for every choice: the trainer evaluates, stops and keeps ``best`` on the val split (or
training groups carved out for it), scores the test split once at the end, and records which it used."""

import json
import logging
from pathlib import Path

import numpy as np
import pytest

from trm.checkpoint import read_config
from trm.presets import get_preset
from trm.train.data import open_data
from trm.train.trainer import train
from trm.utils import TRMError

N_TRAIN, N_TEST, N_VAL = 120, 40, 24


def make_dataset(path: Path, val: bool) -> Path:
    """6x6 Sudoku; test and val differ in size so that an evaluation's count says which split it scored."""
    from trm.data.sudoku_generate import generate
    from trm.data.write import write_dataset
    from trm.tasks.sudoku import encode

    n = N_TRAIN + N_TEST + N_VAL
    p, s = generate(n, box=(2, 3), blanks=(14, 20), seed=5)

    def arrays(lo, hi):
        m = hi - lo
        return {
            "inputs": encode(p[lo:hi]).reshape(m, -1),
            "labels": encode(s[lo:hi]).reshape(m, -1),
            "puzzle_identifiers": np.zeros(m, np.int32),
            "puzzle_indices": np.arange(m + 1),
            "group_indices": np.arange(m + 1),
        }

    splits = {"train": arrays(0, N_TRAIN), "test": arrays(N_TRAIN, N_TRAIN + N_TEST)}
    if val:
        splits["val"] = arrays(N_TRAIN + N_TEST, n)
    write_dataset(
        path, splits, ["<blank>"], vocab_size=8, seq_len=36, task_info={"task": "sudoku", "box": [2, 3]}
    )
    return path


@pytest.fixture(scope="module")
def with_val(tmp_path_factory):
    return make_dataset(tmp_path_factory.mktemp("v") / "d", val=True)


@pytest.fixture(scope="module")
def without_val(tmp_path_factory):
    return make_dataset(tmp_path_factory.mktemp("nv") / "d", val=False)


def cfg(*extra):
    return get_preset("tiny_att").override(
        [
            "model.hidden_size=32",
            "model.puzzle_emb_ndim=0",
            "model.N_sup=2",
            "train.global_batch_size=16",
            "train.lr=1e-3",
            "train.lr_warmup_steps=1",
            "train.max_steps=6",
            "train.eval_interval_steps=2",
            "train.log_interval=2",
            "eval.batch_size=32",
            *extra,
        ]
    )


def records(run: Path) -> list[dict]:
    return [json.loads(line) for line in open(run / "metrics.jsonl")]


def test_trainer_evaluates_and_selects_on_val_and_scores_test_once(with_val, tmp_path):
    run = tmp_path / "run"
    result = train(cfg(), with_val, run, console=False)
    rec = records(run)
    evals = [r for r in rec if r["kind"] == "eval"]
    tests = [r for r in rec if r["kind"] == "test"]
    assert [r["count"] for r in evals] == [N_VAL] * 3  # the val split, never the test split
    assert all(r["split"] == "val" and r["selected_on"] == "val" for r in evals)
    assert len(tests) == 1 and tests[0]["count"] == N_TEST and tests[0]["split"] == "test"
    # best = the highest (exact, token) accuracy on val; the test score is that checkpoint's
    best = max(evals, key=lambda r: (r["exact_accuracy"], r["accuracy"]))
    assert result.best_step == best["step"] and tests[0]["checkpoint_step"] == best["step"]
    assert tests[0]["checkpoint"] == "best" and result.test_eval == {
        k: v for k, v in tests[0].items() if k != "time"
    }
    assert result.final_eval["count"] == N_VAL and result.selected_on == "val"
    meta = read_config(run / "checkpoints" / "best")[1]
    assert meta["selected_on"] == "val" and meta["eval_split"] == "val" and meta["eval"]["count"] == N_VAL
    info = json.loads((run / "run_info.json").read_text())
    assert info["selected_on"] == "val" and info["validation"]["split"] == "val"


def test_target_accuracy_stops_on_val_not_test(with_val, tmp_path, monkeypatch):
    """An evaluator that calls any N_VAL-row split solved and any other unsolved: only val can stop the run."""
    import trm.train.trainer as trainer_module

    real = trainer_module.evaluate

    def rigged(model, batches, *a, **kw):
        out = real(model, batches, *a, **kw)
        return {**out, "exact_accuracy": 1.0 if out["count"] == N_VAL else 0.0}

    monkeypatch.setattr(trainer_module, "evaluate", rigged)
    result = train(cfg("train.target_accuracy=0.5"), with_val, tmp_path / "a", console=False)
    assert result.status == "target_reached" and result.step == 2
    assert result.test_eval["count"] == N_TEST and result.test_eval["exact_accuracy"] == 0.0
    result = train(
        cfg("train.target_accuracy=0.5", "eval.select_on=test"), with_val, tmp_path / "b", console=False
    )
    assert result.status == "finished" and result.step == 6


def test_select_on_test_is_the_official_protocol_and_is_recorded(with_val, tmp_path, caplog):
    run = tmp_path / "run"
    with caplog.at_level(logging.INFO, logger="trm.train.trainer"):
        result = train(cfg("eval.select_on=test"), with_val, run, console=False)
    assert any("eval.select_on=test" in r.getMessage() and "TEST" in r.getMessage() for r in caplog.records)
    rec = records(run)
    evals = [r for r in rec if r["kind"] == "eval"]
    assert [r["count"] for r in evals] == [N_TEST] * 3
    assert all(r["split"] == "test" and r["selected_on"] == "test" for r in evals)
    tests = [r for r in rec if r["kind"] == "test"]
    assert len(tests) == 1 and tests[0]["selected_on"] == "test"
    assert json.loads((run / "run_info.json").read_text())["selected_on"] == "test"
    assert read_config(run / "checkpoints" / "best")[1]["selected_on"] == "test"
    assert result.selected_on == "test"


def test_carved_validation_groups_are_never_trained_on(without_val, tmp_path):
    c = cfg("train.seed=3")
    data = open_data(without_val, c)
    v = data.validation
    assert v["split"] == "carved" and v["seed"] == 3 and v["groups"] == N_TRAIN // 10 == data.val.num_examples
    held = {bytes(r) for r in np.asarray(data.val.inputs)}
    assert len(data.sampler.groups) == N_TRAIN - v["groups"]
    seen = set()
    for _ in range(4 * int(data.sampler.steps_per_epoch()) + 4):
        seen |= {bytes(r.astype(np.uint8)) for r in next(data.sampler)["inputs"].numpy()}
    assert not seen & held and len(seen) == N_TRAIN - v["groups"]  # every other group is visited
    # the same seed carves the same groups (resuming), another seed others
    assert (open_data(without_val, c).sampler.groups == data.sampler.groups).all()
    assert not (open_data(without_val, cfg("train.seed=4")).sampler.groups == data.sampler.groups).all()
    run = tmp_path / "run"
    train(c, without_val, run, console=False)
    info = json.loads((run / "run_info.json").read_text())
    assert info["validation"]["seed"] == 3 and info["validation"]["groups"] == v["groups"]
    assert [r["count"] for r in records(run) if r["kind"] == "test"] == [N_TEST]


def test_no_validation_set_is_a_clear_error(without_val):
    with pytest.raises(TRMError, match="no 'val' split.*eval.select_on=test"):
        open_data(without_val, cfg("data.val_groups=0"))
    assert open_data(without_val, cfg("data.val_groups=0", "eval.select_on=test")).val.num_examples == N_TEST


def test_select_on_is_validated():
    from trm.config import ConfigError

    with pytest.raises(ConfigError, match="eval.select_on"):
        cfg("eval.select_on=train")


def test_a_run_from_before_validation_splits_resumes_selecting_on_test(with_val, tmp_path):
    run = tmp_path / "run"
    train(cfg("train.max_steps=2"), with_val, run, console=False)
    path = run / "checkpoints" / "last" / "config.json"
    raw = json.loads(path.read_text())
    for key in ("selected_on", "eval_split"):  # what a checkpoint written before this change lacks
        raw["meta"].pop(key)
    path.write_text(json.dumps(raw))
    result = train(cfg("train.max_steps=4"), with_val, run, resume=True, console=False)
    evals = [r for r in records(run) if r["kind"] == "eval"]
    assert evals[-1]["step"] == 4 and evals[-1]["split"] == "test" and result.selected_on == "test"
    # a new run's checkpoint says what it selected on, so it resumes on val
    run2 = tmp_path / "run2"
    train(cfg("train.max_steps=2"), with_val, run2, console=False)
    assert train(cfg("train.max_steps=4"), with_val, run2, resume=True, console=False).selected_on == "val"


def test_best_checkpoint_is_the_best_on_val(with_val, tmp_path, monkeypatch):
    """Validation peaks at step 4: that checkpoint is kept as best and it is the one the test split scores."""
    import trm.train.trainer as trainer_module

    real, val_scores = trainer_module.evaluate, iter([0.1, 0.5, 0.2])

    def rigged(model, batches, *a, **kw):
        out = real(model, batches, *a, **kw)
        return {**out, "exact_accuracy": next(val_scores) if out["count"] == N_VAL else out["exact_accuracy"]}

    monkeypatch.setattr(trainer_module, "evaluate", rigged)
    result = train(cfg(), with_val, tmp_path / "run", console=False)
    assert result.best_step == 4 and result.best_metric == 0.5
    assert result.test_eval["checkpoint"] == "best" and result.test_eval["checkpoint_step"] == 4
    assert read_config(tmp_path / "run" / "checkpoints" / "best")[1]["step"] == 4


def test_the_caller_can_keep_the_one_test_score_for_itself(with_val, tmp_path, monkeypatch):
    """``trm demo`` scores the chosen checkpoint on test with the inference evaluator: the trainer then does not
    score it too (the test split is scored once, not twice)."""
    import trm.train.trainer as trainer_module

    calls = []
    real = trainer_module.Trainer._final_test
    monkeypatch.setattr(trainer_module.Trainer, "_final_test", lambda self: calls.append(1) or real(self))
    run = tmp_path / "run"
    result = train(cfg(), with_val, run, console=False, score_test=False)
    assert calls == [] and result.test_eval is None
    assert not [r for r in records(run) if r["kind"] == "test"]
    assert [r["count"] for r in records(run) if r["kind"] == "eval"] == [N_VAL] * 3
