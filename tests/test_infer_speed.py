"""The fast inference path answers exactly as the plain eager step: the transpose-free step of the MLP over
positions (trm.model.fast_step), cut into parts that several worker threads run."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from trm.infer import Settings, TorchBackend, run
from trm.model import fast_step

from .test_infer_engine import sudoku_inputs, tiny_model


def _state(model, B: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    L, D = model.cfg.total_len, model.cfg.hidden_size
    y, z = (model.y_init + torch.randn(B, L, D, generator=g) for _ in range(2))
    inputs = torch.randint(0, model.cfg.vocab_size, (B, model.cfg.seq_len), generator=g)
    return y, z, {"inputs": inputs, "puzzle_identifiers": torch.zeros(B, dtype=torch.int32)}


@pytest.mark.parametrize("kw", [{}, {"puzzle_emb_ndim": 16, "puzzle_emb_len": 1, "pos_encodings": "learned"}])
def test_fast_step_is_the_model_step(kw):
    model, _ = tiny_model(num_layers=2, **kw)
    assert fast_step.supports(model)
    y, z, batch = _state(model, 5)
    with torch.inference_mode():
        want, got = model.step(y, z, batch), fast_step.step(model, y, z, batch)
    for w, g in zip(want, got, strict=True):
        assert w.shape == g.shape
        torch.testing.assert_close(g, w, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("mode", ["official", "adaptive"])
@pytest.mark.parametrize("mixer", ["mlp_t", "attention"])
def test_parts_on_worker_threads_give_the_same_answers(mode, mixer):
    model, _ = tiny_model(mixer=mixer, num_heads=2, pos_encodings="rope" if mixer == "attention" else "none")
    x, _ = sudoku_inputs(23)
    st = Settings(mode=mode, threshold=0.6 if mixer == "mlp_t" else 0.9, batch_size=16)
    plain = TorchBackend(model, threads=2, fast=False)
    fast = TorchBackend(model, threads=2)
    fast.part = 3  # several parts per step, taken by two worker threads
    a = run(plain, x, np.zeros(len(x), np.int64), st, model.cfg.N_sup)
    b = run(fast, x, np.zeros(len(x), np.int64), st, model.cfg.N_sup)
    assert fast._pool is not None and torch.get_num_threads() == 2  # worker threads ran; ours is untouched
    assert (a.preds == b.preds).all()
    assert (a.steps == b.steps).all()
    if mode == "adaptive":
        assert len(set(a.steps.tolist())) > 1  # rows really halted at different steps
    np.testing.assert_allclose(a.q_halt, b.q_halt, rtol=1e-4, atol=1e-4)


def test_fast_step_declines_what_it_does_not_implement():
    for kw in ({"mixer": "attention", "num_heads": 2}, {"arch": "hrm"}):
        assert not fast_step.supports(tiny_model(**kw)[0])
    model, _ = tiny_model()
    model.dtype = torch.bfloat16
    assert not fast_step.supports(model)


def test_part_size_is_measured_once_per_machine_and_cached(tmp_path, monkeypatch):
    from trm import hardware
    from trm.infer import torch_backend

    monkeypatch.setenv("TRM_CACHE_DIR", str(tmp_path))
    calls: list[int] = []
    cost = {8: 3.0, 16: 1.0, 32: 2.0, 64: 4.0}
    assert hardware.choose_part_rows("k", lambda c: calls.append(c) or cost[c]) == 16
    assert sorted(calls) == [8, 16, 32, 64]
    assert hardware.choose_part_rows("k", lambda c: 1 / 0) == 16  # cached: not timed again
    assert hardware.choose_part_rows("other shape", lambda c: cost[c] if c != 64 else 0.5) == 64

    # the backend times the candidates on its first large batch, keeps the answers, and records the choice
    model, _ = tiny_model()
    monkeypatch.setattr(torch_backend, "TUNE_ROWS", 64)  # the largest candidate
    x = np.repeat(sudoku_inputs(23)[0], 3, axis=0)[:66]
    st = Settings(mode="official", batch_size=66)
    plain = TorchBackend(model, threads=2, fast=False)
    fast = TorchBackend(model, threads=2)
    a = run(plain, x, np.zeros(len(x), np.int64), st, model.cfg.N_sup)
    b = run(fast, x, np.zeros(len(x), np.int64), st, model.cfg.N_sup)
    assert fast._tuned and fast.part in (8, 16, 32, 64)
    assert (a.preds == b.preds).all()
    entries = [v for k, v in hardware._read_cache().items() if "infer part rows|mlp_t" in k]
    assert len(entries) == 1 and entries[0]["rows"] == fast.part
    assert set(entries[0]["us_per_row"]) == {"8", "16", "32", "64"}
    assert TorchBackend(model, part_rows=5).part == 5  # given: never measured
