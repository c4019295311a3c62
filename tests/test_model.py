"""Behaviour of the TRM/HRM model and its ACT wrapper (SPEC §2–4)."""

import itertools

import pytest
import torch

from trm.config import ModelConfig
from trm.model import TRM, act_loss
from trm.model.layers import trunc_normal_


def tiny(**kw) -> ModelConfig:
    base = dict(
        vocab_size=7,
        seq_len=12,
        hidden_size=32,
        num_heads=2,
        num_layers=2,
        h_layers=2,
        T=3,
        n=2,
        N_sup=4,
        puzzle_emb_ndim=32,
        puzzle_emb_len=2,
        num_puzzle_identifiers=5,
        mixer="attention",
        pos_encodings="rope",
    )
    base.update(kw)
    return ModelConfig(**base)


def batch(cfg: ModelConfig, B=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {
        "inputs": torch.randint(1, cfg.vocab_size, (B, cfg.seq_len), generator=g, dtype=torch.int32),
        "labels": torch.randint(1, cfg.vocab_size, (B, cfg.seq_len), generator=g, dtype=torch.int32),
        "puzzle_identifiers": torch.randint(
            0, cfg.num_puzzle_identifiers, (B,), generator=g, dtype=torch.int32
        ),
    }


def count_grad_calls(model: TRM, module):
    calls = []
    module.register_forward_hook(lambda m, i, o: calls.append(torch.is_grad_enabled()))
    return calls


def test_trm_gradient_flows_only_through_last_recursion():
    cfg = tiny(T=3, n=4)
    model = TRM(cfg).train()
    calls = count_grad_calls(model, model.net)
    b = batch(cfg)
    carry, out = model(model.initial_carry(b), b)
    assert len(calls) == cfg.T * (cfg.n + 1)
    assert calls == [False] * ((cfg.T - 1) * (cfg.n + 1)) + [True] * (cfg.n + 1)
    assert not carry.y.requires_grad and not carry.z.requires_grad
    loss, _ = act_loss(carry, out)
    loss.backward()
    assert all(p.grad is not None for p in model.dense_parameters())


def test_hrm_one_step_gradient():
    cfg = tiny(arch="hrm", T=2, n=3)
    model = TRM(cfg).train()
    l_calls = count_grad_calls(model, model.net)
    h_calls = count_grad_calls(model, model.net_H)
    b = batch(cfg)
    model(model.initial_carry(b), b)
    # without grad: T*n - 1 L-calls and T-1 H-calls (two of them are the Q-target step), then one of each with grad
    n_l = cfg.T * cfg.n  # includes the final grad call
    assert l_calls[:n_l] == [False] * (n_l - 1) + [True]
    assert h_calls[: cfg.T] == [False] * (cfg.T - 1) + [True]


def test_halted_row_is_reset_and_refilled_others_keep_carry():
    cfg = tiny()
    model = TRM(cfg).eval()
    b1, b2 = batch(cfg, seed=1), batch(cfg, seed=2)
    carry, _ = model(model.initial_carry(b1), b1)
    carry.halted = torch.tensor([True, False, True, False])
    steps_before = carry.steps.clone()
    y_before = carry.y.clone()
    new, _ = model(carry, b2)
    for i, h in enumerate(carry.halted.tolist()):
        src = b2 if h else b1
        assert torch.equal(new.data["inputs"][i], src["inputs"][i])
        assert int(new.steps[i]) == (1 if h else int(steps_before[i]) + 1)
    # a refilled row equals a fresh start on that puzzle
    fresh, _ = model(model.initial_carry(b2), b2)
    assert torch.allclose(new.y[0], fresh.y[0], atol=1e-6)
    assert torch.allclose(new.y[2], fresh.y[2], atol=1e-6)
    assert not torch.allclose(new.y[1], fresh.y[1], atol=1e-3)  # row 1 continued from its carry
    assert not torch.equal(y_before[1], new.y[1])


def _force_q(model: TRM, halt: float, cont: float = -5.0):
    with torch.no_grad():
        model.q_head.weight.zero_()
        model.q_head.bias.copy_(torch.tensor([halt, cont]))


def test_eval_mode_never_halts_early():
    cfg = tiny(N_sup=5)
    model = TRM(cfg).eval()
    _force_q(model, 10.0)  # q_halt says "halt now" for every row
    b = batch(cfg)
    carry = model.initial_carry(b)
    for step in range(1, cfg.N_sup + 1):
        carry, _ = model(carry, b)
        assert bool(carry.halted.all()) == (step == cfg.N_sup)


def test_training_halts_on_q_and_exploration_only_delays():
    cfg = tiny(N_sup=6, halt_exploration_prob=0.0)
    model = TRM(cfg).train()
    _force_q(model, 10.0)
    b = batch(cfg, B=64)
    carry, _ = model(model.initial_carry(b), b)
    assert carry.halted.all()  # no exploration: everybody halts at step 1

    cfg = tiny(N_sup=6, halt_exploration_prob=1.0)
    model = TRM(cfg).train()
    _force_q(model, 10.0)
    carry = model.initial_carry(b)
    first_halt = torch.zeros(64, dtype=torch.int32)
    for step in range(1, cfg.N_sup + 1):
        carry, _ = model(carry, b)
        first_halt = torch.where((first_halt == 0) & carry.halted, step, first_halt)
        carry.halted = torch.zeros_like(carry.halted)  # keep every row running to observe its first halt
    assert (first_halt >= 2).all() and (first_halt <= cfg.N_sup).all()
    assert len(set(first_halt.tolist())) > 1  # the random minimum differs across rows

    # a row whose Q head says "continue" is never halted early by exploration
    _force_q(model, -10.0)
    carry = model.initial_carry(b)
    for step in range(1, cfg.N_sup + 1):
        carry, _ = model(carry, b)
        assert bool(carry.halted.any()) == (step == cfg.N_sup)


def test_single_step_model_always_halts_in_training():
    cfg = tiny(N_sup=1)
    model = TRM(cfg).train()
    _force_q(model, -10.0)
    b = batch(cfg)
    carry, _ = model(model.initial_carry(b), b)
    assert carry.halted.all()


@pytest.mark.parametrize(
    "arch,mixer,pos,act_continue,emb",
    [
        (a, m, p, c, e)
        for a, m, p, c, e in itertools.product(
            ["trm", "hrm"], ["attention", "mlp_t"], ["rope", "learned", "none"], [False, True], [32, 0]
        )
        if not (a == "hrm" and c) and not (m == "mlp_t" and p == "rope")
    ],
)
def test_every_option_runs_forward_and_backward(arch, mixer, pos, act_continue, emb):
    cfg = tiny(
        arch=arch,
        mixer=mixer,
        pos_encodings=pos,
        act_continue=act_continue,
        puzzle_emb_ndim=emb,
        loss="softmax" if act_continue else "stablemax",
    )
    model = TRM(cfg).train()
    b = batch(cfg)
    carry, out = model(model.initial_carry(b), b)
    assert out["logits"].shape == (4, cfg.seq_len, cfg.vocab_size)
    assert carry.y.shape == (4, cfg.seq_len + cfg.prefix_len, cfg.hidden_size)
    assert ("target_q_continue" in out) == cfg.uses_continue
    loss, metrics = act_loss(carry, out, loss=cfg.loss)
    assert ("q_continue_loss" in metrics) == cfg.uses_continue
    assert torch.isfinite(loss)
    loss.backward()
    grads = [p.grad for p in model.dense_parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    if emb:
        assert model.puzzle_emb.local_weights.grad is not None


def test_mlp_t_with_rope_is_allowed_but_has_no_rotary_tables():
    model = TRM(tiny(mixer="mlp_t", pos_encodings="rope"))
    assert model.rope is None


def test_no_puzzle_embedding_means_no_prefix():
    cfg = tiny(puzzle_emb_ndim=0, puzzle_emb_len=16)
    assert cfg.prefix_len == 0
    model = TRM(cfg).eval()
    b = batch(cfg)
    carry, out = model(model.initial_carry(b), b)
    assert carry.y.shape[1] == cfg.seq_len
    assert not hasattr(model, "puzzle_emb")


def test_puzzle_embedding_prefix_is_zero_padded_row_major():
    cfg = tiny(hidden_size=32, puzzle_emb_ndim=40, puzzle_emb_len=0, pos_encodings="none")
    assert cfg.prefix_len == 2
    model = TRM(cfg)
    with torch.no_grad():
        model.puzzle_emb.weight.copy_(torch.arange(5 * 40, dtype=torch.float32).view(5, 40))
    x = model.embed(torch.ones(1, cfg.seq_len, dtype=torch.int32), torch.tensor([3], dtype=torch.int32))
    prefix = x[0, :2] / model.embed_scale
    assert torch.allclose(prefix.flatten()[:40], model.puzzle_emb.weight[3])
    assert torch.equal(prefix.flatten()[40:], torch.zeros(24))


def test_bfloat16_forward_tracks_float32():
    cfg = tiny()
    m32 = TRM(cfg).eval()
    m16 = TRM(cfg, dtype=torch.bfloat16).eval()
    m16.load_state_dict(m32.state_dict())
    b = batch(cfg)
    c32, o32 = m32(m32.initial_carry(b), b)
    c16, o16 = m16(m16.initial_carry(b), b)
    assert c16.y.dtype == torch.bfloat16 and o16["q_halt_logits"].dtype == torch.float32
    assert all(p.dtype == torch.float32 for p in m16.parameters())
    rel = (o16["logits"].float() - o32["logits"]).abs().max() / o32["logits"].abs().max()
    assert rel < 0.05


def test_init_conventions():
    cfg = tiny()
    model = TRM(cfg)
    assert torch.equal(model.q_head.weight, torch.zeros_like(model.q_head.weight))
    assert torch.equal(model.q_head.bias, torch.full((2,), -5.0))
    assert torch.equal(model.puzzle_emb.weight, torch.zeros_like(model.puzzle_emb.weight))
    w = model.net.layers[0].mlp.gate_up_proj.weight.detach()
    assert abs(float(w.std()) - cfg.hidden_size**-0.5) < 0.1 * cfg.hidden_size**-0.5


def test_trunc_normal_has_the_requested_std_after_truncation():
    t = trunc_normal_(torch.empty(400_000), std=0.5, generator=torch.Generator().manual_seed(0))
    assert abs(float(t.std()) - 0.5) < 0.005
    assert (
        float(t.abs().max()) <= 2 * 0.5 / 0.8796256610342398 + 1e-6
    )  # bound = 2 sigma' with sigma' = std / 0.8796
    ref = torch.nn.init.trunc_normal_(torch.empty(400_000), std=0.5, a=-1.0, b=1.0)
    assert float(ref.std()) < 0.45  # PyTorch's convention gives a smaller std; ours corrects for truncation


def test_stablemax_matches_definition():
    from trm.model.losses import stablemax_cross_entropy

    logits = torch.tensor([[[-1.0, 0.0, 2.0]]])
    labels = torch.tensor([[2]])
    s = torch.tensor([1 / 2, 1.0, 3.0], dtype=torch.float64)
    expected = -torch.log(s[2] / s.sum())
    assert torch.allclose(stablemax_cross_entropy(logits, labels)[0, 0], expected)
    assert stablemax_cross_entropy(logits, torch.tensor([[-100]]))[0, 0] == 0


def test_act_loss_metrics_count_only_halted_rows():
    cfg = tiny(N_sup=2)
    model = TRM(cfg).eval()
    b = batch(cfg)
    carry, out = model(model.initial_carry(b), b)
    _, m = act_loss(carry, out)
    assert int(m["count"]) == 0  # nobody halted after step 1 of 2
    carry, out = model(carry, b)
    b_labels = carry.data["labels"].clone()
    out["logits"] = torch.nn.functional.one_hot(b_labels.long(), cfg.vocab_size).float() * 10
    out["logits"][0, 0] = -out["logits"][0, 0]  # row 0 wrong in one cell
    _, m = act_loss(carry, out)
    assert int(m["count"]) == 4 and int(m["exact_accuracy"]) == 3 and int(m["steps"]) == 8
    assert abs(float(m["accuracy"]) - (4 - 1 / cfg.seq_len)) < 1e-5
