"""Optimizers, schedule and EMA of the trainer (SPEC §5), against hand-computed values."""

import math

import pytest
import torch
from torch import nn

from trm.presets import get_preset
from trm.train.ema import EMA
from trm.train.optim import AdamATan2, PuzzleEmbeddingSignSGD
from trm.train.schedule import lr_at
from trm.train.trainer import build_training


def _reference_adam_atan2(theta, grads, lr, b1, b2, wd):
    """The SPEC formula, element by element, in plain Python floats."""
    theta = list(theta)
    m = [0.0] * len(theta)
    v = [0.0] * len(theta)
    for t, g in enumerate(grads, start=1):
        for i in range(len(theta)):
            theta[i] *= 1 - lr * wd
            m[i] = b1 * m[i] + (1 - b1) * g[i]
            v[i] = b2 * v[i] + (1 - b2) * g[i] ** 2
            theta[i] -= lr / (1 - b1**t) * math.atan2(m[i], math.sqrt(v[i]) / math.sqrt(1 - b2**t))
    return theta


def test_adam_atan2_matches_the_formula():
    theta0 = [0.5, -1.0, 2.0, 0.0]
    grads = [[0.1, -0.2, 0.0, 3.0], [-0.3, -0.1, 0.0, 1e-3], [0.2, 0.4, 0.0, -2.0]]
    lr, b1, b2, wd = 0.01, 0.9, 0.95, 0.5
    p = nn.Parameter(torch.tensor(theta0, dtype=torch.float64))
    opt = AdamATan2([p], lr=lr, betas=(b1, b2), weight_decay=wd)
    for g in grads:
        p.grad = torch.tensor(g, dtype=torch.float64)
        opt.step()
    expected = _reference_adam_atan2(theta0, grads, lr, b1, b2, wd)
    assert p.detach().tolist() == pytest.approx(expected, abs=1e-12)


def test_adam_atan2_with_tensor_learning_rate_matches_the_formula():
    # train.compile=step keeps lr (and the step count) in tensors, so a moving schedule never recompiles
    theta0 = [0.5, -1.0, 2.0, 0.0]
    grads = [[0.1, -0.2, 0.0, 3.0], [-0.3, -0.1, 0.0, 1e-3], [0.2, 0.4, 0.0, -2.0]]
    p = nn.Parameter(torch.tensor(theta0, dtype=torch.float64))
    opt = AdamATan2([p], lr=0.01, betas=(0.9, 0.95), weight_decay=0.5)
    opt.param_groups[0]["lr"] = torch.tensor(0.01, dtype=torch.float64)
    for g in grads:
        p.grad = torch.tensor(g, dtype=torch.float64)
        opt.step()
    expected = _reference_adam_atan2(theta0, grads, 0.01, 0.9, 0.95, 0.5)
    # the step count is a float32 tensor (as in PyTorch's capturable Adam): bias corrections to ~1e-7
    assert p.detach().tolist() == pytest.approx(expected, rel=1e-6, abs=1e-9)
    assert float(opt.state[p]["step"]) == 3


def test_adam_atan2_first_step_and_bound():
    # at t = 1, m = (1 − β1)·g and sqrt(v / (1 − β2)) = |g|: every element moves by
    # lr / (1 − β1) · atan(1 − β1) · sign(g), whatever |g| is (and not at all where g = 0)
    p = nn.Parameter(torch.tensor([1.0, -1.0, 0.0]))
    opt = AdamATan2([p], lr=0.1, betas=(0.9, 0.95), weight_decay=0.0)
    p.grad = torch.tensor([1e-8, -5.0, 0.0])
    opt.step()
    move = 0.1 / 0.1 * math.atan(0.1)
    assert p.detach().tolist() == pytest.approx([1 - move, -1 + move, 0.0], abs=1e-6)
    assert opt.state[p]["step"].item() == 1


@pytest.mark.parametrize("dense_rows", [4096, 0], ids=["dense", "sparse"])
def test_sign_sgd_touches_batch_rows_and_sums_duplicates(dense_rows, monkeypatch):
    monkeypatch.setattr(PuzzleEmbeddingSignSGD, "DENSE_ROWS", dense_rows)
    table = torch.arange(15, dtype=torch.float32).view(5, 3) / 10
    before = table.clone()
    opt = PuzzleEmbeddingSignSGD(table, weight_decay=0.5)
    ids = torch.tensor([1, 3, 1])
    grads = torch.tensor(
        [[1.0, -1.0, 0.0], [0.5, 0.5, -0.5], [-2.0, -1.0, 0.0]]
    )  # row 1 gets g = (-1, -2, 0): sum first, then the sign
    lr = 0.1
    opt.step(ids, grads, lr)
    decay = 1 - lr * 0.5
    assert torch.equal(
        table[[0, 2, 4]], before[[0, 2, 4]]
    )  # rows not in the batch: untouched, not even decayed
    assert torch.allclose(table[1], before[1] * decay - lr * torch.tensor([-1.0, -1.0, 0.0]))
    assert torch.allclose(table[3], before[3] * decay - lr * torch.tensor([1.0, 1.0, -1.0]))


def test_train_step_updates_only_the_used_puzzle_rows():
    cfg = get_preset("tiny_att").override(
        ["model.num_puzzle_identifiers=6", "train.global_batch_size=4", "train.lr_warmup_steps=0"]
    )
    model, _, _, _, step = build_training(cfg, torch.device("cpu"), torch.float32, total_steps=10)
    with torch.no_grad():
        model.puzzle_emb.weight.normal_()
    before = model.puzzle_emb.weight.clone()
    batch = {
        "inputs": torch.randint(1, 8, (4, 36)),
        "labels": torch.randint(2, 8, (4, 36)),
        "puzzle_identifiers": torch.tensor([2, 4, 2, 4], dtype=torch.int32),
    }
    step(model.initial_carry(batch), batch, 1)
    after = model.puzzle_emb.weight
    changed = (after != before).any(-1).tolist()
    assert changed == [False, False, True, False, True, False]


def test_schedule_warmup_cosine_and_floor():
    lr = 1e-3
    assert lr_at(1, lr, 10, 110) == pytest.approx(1e-4)
    assert lr_at(5, lr, 10, 110) == pytest.approx(5e-4)
    assert lr_at(10, lr, 10, 110) == pytest.approx(lr)
    assert lr_at(60, lr, 10, 110, min_ratio=0.1) == pytest.approx(lr * (0.1 + 0.9 * 0.5))
    assert lr_at(110, lr, 10, 110, min_ratio=0.1) == pytest.approx(lr * 0.1)
    assert lr_at(500, lr, 10, 110, min_ratio=0.1) == pytest.approx(lr * 0.1)
    assert all(lr_at(s, lr, 10, 110, min_ratio=1.0) == pytest.approx(lr) for s in (10, 50, 110, 1000))
    assert lr_at(1, lr, 0, 100) == pytest.approx(lr)


def test_ema_update_swap_and_state():
    net = nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        net.weight.copy_(torch.tensor([[1.0, 2.0]]))
    ema = EMA(net, rate=0.9)
    with torch.no_grad():
        net.weight.copy_(torch.tensor([[3.0, 0.0]]))
    ema.update(net)
    expected = torch.tensor([[0.9 * 1 + 0.1 * 3, 0.9 * 2 + 0.1 * 0]])
    assert torch.allclose(ema.state_dict()["weight"], expected)
    with ema.swapped_in(net):
        assert torch.allclose(net.weight, expected)
    assert torch.equal(net.weight, torch.tensor([[3.0, 0.0]]))
    assert torch.allclose(ema.model_state(net)["weight"], expected)


def _tiny_step(kernels, dtype):
    cfg = get_preset("tiny_att").override(
        [
            "model.mixer=mlp_t",
            "model.pos_encodings=none",
            "model.puzzle_emb_ndim=0",
            "train.global_batch_size=4",
            f"train.kernels={kernels}",
        ]
    )
    model, _, _, _, step = build_training(cfg, torch.device("cpu"), dtype, total_steps=10)
    gen = torch.Generator().manual_seed(0)
    batch = {
        "inputs": torch.randint(1, 8, (4, 36), generator=gen),
        "labels": torch.randint(2, 8, (4, 36), generator=gen),
        "puzzle_identifiers": torch.zeros(4, dtype=torch.int32),
    }
    carry, loss, _ = step(model.initial_carry(batch), batch, 1)
    return model, loss


def test_fused_kernels_fall_back_to_plain_pytorch(monkeypatch):
    import trm.model.layers as layers

    def broken(*args, **kwargs):
        raise RuntimeError("no C++ compiler")

    for fused in (layers.fused_add_rms_norm, layers.fused_swiglu_activation):
        monkeypatch.setattr(fused, "compiled", None)
        monkeypatch.setattr(fused, "failed", False)
    monkeypatch.setattr(torch, "compile", lambda fn, **kw: broken)
    with pytest.warns(UserWarning, match="fused kernels unavailable"):
        model, loss = _tiny_step("fused", torch.float32)
    assert torch.isfinite(loss)
    reference, ref_loss = _tiny_step("eager", torch.float32)
    assert torch.equal(loss, ref_loss)
    for (n, p), q in zip(model.named_parameters(), reference.parameters(), strict=True):
        assert torch.equal(p, q), n


@pytest.mark.slow
def test_fused_kernels_match_eager_numerics():
    model, loss = _tiny_step("fused", torch.float32)
    reference, ref_loss = _tiny_step("eager", torch.float32)
    assert torch.allclose(loss, ref_loss, rtol=1e-5)
    for p, q in zip(model.parameters(), reference.parameters(), strict=True):
        assert torch.allclose(p, q, atol=1e-6)
