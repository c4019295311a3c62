"""Inference engine: official vs adaptive halting, compaction, test-time depth, sampling, voting."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from trm.config import Config, ModelConfig
from trm.data.sudoku_generate import generate
from trm.infer import Settings, TaskInfo, TorchBackend, choose, torch_solver
from trm.infer import predict as _predict
from trm.infer import run as _run
from trm.model import TRM
from trm.tasks import get_task
from trm.tasks import sudoku as sd

BOX = (2, 2)


def tiny_config(**kw) -> Config:
    """4x4 Sudoku shaped TRM-MLP, small enough for many CPU forward passes."""
    model = dict(
        mixer="mlp_t",
        pos_encodings="none",
        vocab_size=6,
        seq_len=16,
        hidden_size=16,
        num_layers=1,
        T=2,
        n=1,
        N_sup=6,
        puzzle_emb_ndim=0,
        puzzle_emb_len=0,
        expansion=2.0,
    )
    model.update(kw)
    return Config(name="tiny", task="sudoku", model=ModelConfig(**model))


def tiny_model(seed: int = 0, q_scale: float = 3.0, **kw) -> tuple[TRM, Config]:
    """Fixed random weights; the Q head is random too so that rows halt at different steps."""
    torch.manual_seed(seed)
    cfg = tiny_config(**kw)
    model = TRM(cfg.model).eval()
    with torch.no_grad():
        model.q_head.weight.normal_(0, q_scale / cfg.model.hidden_size**0.5)
        model.q_head.bias.zero_()
    return model, cfg


def sudoku_inputs(count: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    puzzles, solutions = generate(count, BOX, blanks=(6, 10), seed=seed)
    return sd.encode(puzzles).astype(np.int64), solutions


def run(model, x, pid, trajectory=None, record=False, **options):
    """The engine on a model's PyTorch backend, the rows as one job."""
    return _run(
        TorchBackend(model),
        x,
        pid,
        Settings(**options),
        model.cfg.N_sup,
        trajectory=trajectory,
        record=record,
    )


def predict(model, x, pid, settings, symmetries=None, record=False):
    return _predict(TorchBackend(model), model.cfg.N_sup, x, pid, settings, symmetries, record)


def _sig(q):
    return 1 / (1 + np.exp(-np.asarray(q, np.float64)))


class CountingModel(torch.nn.Module):
    """Wraps a model and records the batch size of every supervision step."""

    def __init__(self, model: TRM):
        super().__init__()
        self.inner = model
        self.cfg, self.dtype, self.y_init, self.z_init = model.cfg, model.dtype, model.y_init, model.z_init
        self.rows: list[int] = []

    def step(self, y, z, batch):
        self.rows.append(y.shape[0])
        return self.inner.step(y, z, batch)


class CopyModel(torch.nn.Module):
    """A fake model that answers its input (so that a symmetry-voting bug shows as disagreeing votes)."""

    def __init__(self, cfg: Config):
        super().__init__()
        self.cfg, self.dtype = cfg.model, torch.float32
        self.register_buffer("y_init", torch.zeros(cfg.model.hidden_size))
        self.register_buffer("z_init", torch.zeros(cfg.model.hidden_size))

    def step(self, y, z, batch):
        x = batch["inputs"]
        logits = torch.nn.functional.one_hot(x, self.cfg.vocab_size).float()
        q = torch.full((x.shape[0],), 2.0)
        return y, z, logits, q, q


def test_adaptive_saves_compute_and_agrees_with_official():
    model, _ = tiny_model()
    x, _ = sudoku_inputs(40)
    pid = np.zeros(len(x), np.int64)
    N = model.cfg.N_sup
    official = run(model, x, pid, mode="official", batch_size=16, record=True)
    counting = CountingModel(model)
    adaptive = run(counting, x, pid, mode="adaptive", threshold=0.6, batch_size=16, record=True)

    assert (official.steps == N).all()
    early = adaptive.steps < N
    assert early.any() and (~early).any(), (
        "the fixture must have rows halting early and rows running to the end"
    )
    # finished rows really leave the batch: the model saw exactly one row per step actually taken
    assert sum(counting.rows) == int(adaptive.steps.sum()) < len(x) * N
    assert max(counting.rows) <= 16
    # rows that halt at the last step give the official answer; earlier rows give the official answer of their step
    assert np.array_equal(adaptive.preds[~early], official.preds[~early])
    for r in np.flatnonzero(early).tolist():
        s = int(adaptive.steps[r])
        assert np.array_equal(adaptive.preds[r], official.step_preds[s - 1, r])
        assert _sig(official.step_q[s - 1, r]) > 0.6
        assert (_sig(official.step_q[: s - 1, r]) <= 0.6).all()


def test_batch_composition_does_not_change_answers():
    model, _ = tiny_model(seed=1)
    x, _ = sudoku_inputs(12, seed=3)
    pid = np.zeros(len(x), np.int64)
    big = run(model, x, pid, mode="adaptive", threshold=0.6, batch_size=64)
    small = run(model, x, pid, mode="adaptive", threshold=0.6, batch_size=5)
    assert np.array_equal(big.steps, small.steps)
    assert np.array_equal(big.preds, small.preds)
    assert np.allclose(big.q_halt, small.q_halt, atol=1e-5)


def test_official_mode_matches_the_act_wrapper():
    model, _ = tiny_model(seed=2)
    x, _ = sudoku_inputs(8, seed=4)
    t = torch.as_tensor(x)
    batch = {"inputs": t, "labels": t, "puzzle_identifiers": torch.zeros(len(x), dtype=torch.int32)}
    carry = model.initial_carry(batch)
    with torch.no_grad():
        for _ in range(model.cfg.N_sup):
            carry, out = model(carry, batch)
    ours = run(model, x, np.zeros(len(x), np.int64), mode="official")
    assert np.array_equal(ours.preds, out["logits"].argmax(-1).numpy())
    assert np.allclose(
        ours.q_halt, out["q_halt_logits"].numpy(), atol=1e-4
    )  # the fast step rounds differently


def test_test_time_depth_runs_more_steps():
    model, _ = tiny_model()
    x, _ = sudoku_inputs(4)
    pid = np.zeros(len(x), np.int64)
    N = model.cfg.N_sup
    deep = run(model, x, pid, max_steps=2 * N, record=True)
    base = run(model, x, pid, record=True)
    assert (deep.steps == 2 * N).all() and deep.step_preds.shape[0] == 2 * N
    assert np.array_equal(deep.step_preds[:N], base.step_preds)  # the first N steps are the same computation


def test_sampling_is_seeded_and_trajectory_zero_is_clean():
    model, _ = tiny_model(q_scale=0.5)
    x, _ = sudoku_inputs(6)
    pid = np.zeros(len(x), np.int64)
    plain = run(model, x, pid)
    K = 4
    rows = np.repeat(x, K, 0)
    traj = np.tile(np.arange(K), len(x))
    a = run(model, rows, np.repeat(pid, K), noise=1.0, trajectory=traj, seed=7)
    b = run(model, rows, np.repeat(pid, K), noise=1.0, trajectory=traj, seed=7)
    c = run(model, rows, np.repeat(pid, K), noise=1.0, trajectory=traj, seed=8)
    assert np.array_equal(a.q_halt, b.q_halt)
    assert not np.array_equal(a.q_halt, c.q_halt)
    clean = a.q_halt.reshape(-1, K)[:, 0]
    assert np.allclose(clean, plain.q_halt, atol=1e-4)  # other rows in the batch change only the rounding
    assert not np.allclose(a.q_halt.reshape(-1, K)[:, 1], plain.q_halt)


def test_choose_majority_and_confidence():
    preds = np.array([[[1, 2], [1, 2], [3, 4], [3, 4]], [[1, 1], [2, 2], [2, 2], [5, 5]]])
    conf = np.array([[0.2, 0.3, 0.9, 0.5], [0.99, 0.1, 0.2, 0.3]])
    idx, votes, c = choose(preds, conf, "majority")
    assert idx.tolist() == [2, 1]  # a tie of two votes each goes to the more confident answer; then majority
    assert votes.tolist() == [2, 2]
    assert np.allclose(c, [0.7, 0.15])
    idx, votes, c = choose(preds, conf, "confidence")
    assert idx.tolist() == [2, 0] and votes.tolist() == [2, 1]


def test_identity_augmentation_voting_equals_plain_evaluation():
    model, cfg = tiny_model()
    x, _ = sudoku_inputs(10)
    pid = np.zeros(len(x), np.int64)
    codec = get_task(TaskInfo("sudoku", 4, BOX), cfg.model.seq_len, cfg.model.vocab_size)
    st = Settings(mode="adaptive", threshold=0.6)
    plain = predict(model, x, pid, st, record=True)
    voted = predict(model, x, pid, st, codec.symmetries(1, seed=0), record=True)
    for field in ("preds", "steps", "confidence", "votes", "step_preds"):
        assert np.array_equal(getattr(plain, field), getattr(voted, field)), field


def test_symmetry_votes_are_mapped_back():
    cfg = tiny_config()
    x, _ = sudoku_inputs(5)
    codec = get_task(TaskInfo("sudoku", 4, BOX), cfg.model.seq_len, cfg.model.vocab_size)
    transforms = codec.symmetries(6, seed=1)
    assert not any(t.is_identity for t in transforms[1:])
    out = predict(CopyModel(cfg), x, np.zeros(len(x), np.int64), Settings(), transforms)
    assert np.array_equal(out.preds, x)
    assert (out.votes == 6).all()


@pytest.mark.parametrize("kind,side", [("sudoku", 4), ("sudoku", 6), ("maze", 5)])
def test_symmetries_are_invertible(kind, side):
    cfg = tiny_config(seq_len=side * side, vocab_size=side + 2 if kind == "sudoku" else 6)
    cfg.task = kind
    info = TaskInfo(kind, side, sd.box_for_size(side) if kind == "sudoku" else None)
    codec = get_task(info, cfg.model.seq_len, cfg.model.vocab_size)
    x = np.random.default_rng(0).integers(0, codec.vocab, (3, side * side))
    for t in codec.symmetries(8, seed=2):
        assert np.array_equal(t.inverse().apply(t.apply(x)), x)
    if kind == "sudoku":
        _, sol = generate(1, info.box, blanks=(4, 8), seed=0)
        for t in codec.symmetries(5, seed=3):
            out = t.apply(sd.encode(sol))
            assert sd.is_valid_solution(sd.decode(out)[0], sd.decode(out)[0], info.box)


def _rounded(result: dict) -> dict:
    return json.loads(json.dumps(result), parse_float=lambda v: round(float(v), 4))


def test_solver_results_and_json():
    model, cfg = tiny_model()
    solver = torch_solver(model, cfg)
    assert solver.info == TaskInfo("sudoku", 4, (2, 2))
    puzzles, _ = generate(3, BOX, blanks=(6, 10), seed=5)
    texts = [sd.format_sudoku(p) for p in puzzles]
    many = solver.solve_many(texts, mode="adaptive", threshold=0.6, trace=True)
    for text, r in zip(texts, many, strict=True):
        single = solver.solve(text, mode="adaptive", threshold=0.6, trace=True)
        assert _rounded(single.to_json()) == _rounded(r.to_json())  # batch size changes only the rounding
        shown = r.answer if r.verified else r.candidate
        assert len(shown) == 16 and len(r.trace) == r.steps
        assert r.trace[-1].answer == shown or r.votes < r.candidates  # a verified non-voted candidate
        keys = {"answer", "verified", "candidate", "steps", "confidence", "valid", "errors", "calls", "rung"}
        assert set(r.to_json()) == keys | {"rungs", "trace"}
        assert isinstance(r.valid, bool) and r.valid == (not r.errors) == r.verified
    sampled = solver.solve(texts[0], samples=3, noise=0.5, augment=4, seed=1, budget=0)
    assert sampled.candidates == 12 and 1 <= sampled.votes <= 12
    assert sampled.compute >= 12


def test_settings_are_validated():
    from trm.utils import TRMError

    for bad in (
        dict(mode="fast"),
        dict(mode="adaptive", threshold=1.5),
        dict(samples=0),
        dict(samples=2, noise=0),
        dict(select="best"),
        dict(select="halt-first", threshold=1.0),
        dict(samples=2, noise=0, init_noise=0.5, select="q-weighted"),
        dict(select="converged", tolerance=1.5),
        dict(patience=0),
        dict(augment=0),
        dict(max_steps=0),
    ):
        with pytest.raises(TRMError):
            Settings(**bad).validate()


def test_settings_reject_wrong_types_and_values_beyond_the_documented_bounds():
    from trm.infer.settings import Settings as S
    from trm.utils import TRMError

    for bad in (
        dict(samples=True),
        dict(max_steps=2.0),
        dict(augment="2"),
        dict(threshold="x"),
        dict(noise=None),
        dict(samples=257, noise=0.1),
        dict(augment=65),
        dict(max_steps=257),
        dict(batch_size=0),
    ):
        with pytest.raises(TRMError):
            S(**bad).validate()
    S(samples=256, augment=64, max_steps=256).validate()
    with pytest.raises(TRMError, match="unknown"):
        S().replace(sample=2)
    assert S().replace(vote="confidence").select == "confidence"  # the option's former name


def test_task_info_from_config_meta_and_dataset():
    from trm.infer import task_info
    from trm.utils import TRMError

    cfg = tiny_config(seq_len=36, vocab_size=8)
    assert task_info(cfg) == TaskInfo("sudoku", 6, (2, 3))
    assert task_info(tiny_config(seq_len=81, vocab_size=11)) == TaskInfo("sudoku", 9, (3, 3))
    assert task_info(cfg, data_info={"task": "custom"}) == TaskInfo("sudoku", 6, (2, 3))
    assert task_info(cfg, data_info={"task": "sudoku", "box": [3, 2]}).box == (3, 2)
    assert task_info(cfg, meta={"task_info": {"kind": "maze"}}) == TaskInfo("maze", 6)
    with pytest.raises(TRMError, match="vocab_size"):
        task_info(tiny_config(seq_len=36, vocab_size=6))
