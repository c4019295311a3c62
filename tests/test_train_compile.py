"""``train.compile``: the whole optimizer step under torch.compile matches the eager step, never recompiles as the
schedule moves, and falls back to eager (once, cleanly) when compilation fails."""

import functools

import pytest
import torch
import torch._dynamo.utils as dynamo_utils

from trm.config import Config, ConfigError
from trm.presets import get_preset
from trm.train.step import build_training, random_batch

SMALL = [
    "model.hidden_size=16",
    "model.num_heads=2",
    "model.num_layers=1",
    "model.mixer=mlp_t",
    "model.pos_encodings=none",
    "model.T=2",
    "model.n=1",
    "model.N_sup=2",
    "model.seq_len=4",
    "model.vocab_size=5",
    "model.puzzle_emb_ndim=0",
    "model.swiglu_multiple=8",
    "train.global_batch_size=4",
    "train.lr_warmup_steps=2",
    "train.grad_clip=0.5",
    "train.step_weight_decay=0.7",
    "train.label_smoothing=0.1",
]


@pytest.fixture(autouse=True)
def _fresh_dynamo(monkeypatch, request):
    # aot_eager traces exactly what inductor would compile (dynamo graphs, AOT forward + backward), without the
    # minutes of C++ code generation on a small CPU; tests marked gpu or slow use inductor itself
    if not any(request.node.get_closest_marker(m) for m in ("gpu", "slow")):
        monkeypatch.setattr(torch, "compile", functools.partial(torch.compile, backend="aot_eager"))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: threads only add OpenMP waits on a loaded machine
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()
    torch.set_num_threads(threads)


def _train(mode: str, optimizer: str, steps: int = 3, notes: list | None = None, extra=(), device="cpu"):
    cfg = get_preset("tiny_att").override(
        [*SMALL, f"train.compile={mode}", f"train.optimizer={optimizer}", *extra]
    )
    model, opt, _, _, step = build_training(
        cfg,
        torch.device(device),
        torch.float32,
        total_steps=steps,
        note=print if notes is None else notes.append,
    )
    batch = random_batch(cfg.model, 4, torch.device(device), torch.Generator().manual_seed(0))
    carry = model.initial_carry(batch)
    losses, graphs = [], []
    for k in range(1, steps + 1):  # warm-up then cosine: the learning rate changes at every step
        carry, loss, _ = step(carry, batch, k)
        losses.append(float(loss))
        graphs.append(dynamo_utils.counters["stats"]["unique_graphs"])
    moments = [opt.state[p]["exp_avg"] for p in model.parameters() if p in opt.state]
    return losses, [p.detach().clone() for p in model.parameters()] + moments, graphs


@pytest.mark.parametrize(
    "optimizer, device",
    [
        ("adam_atan2", "cpu"),
        pytest.param("adamw", "cpu", marks=pytest.mark.slow),  # inductor: minutes of C++ compilation
        pytest.param("adam_atan2", "cuda", marks=pytest.mark.gpu),  # inductor with CUDA graphs
    ],
)
def test_compiled_step_matches_eager_and_never_recompiles(optimizer, device):
    eager_losses, eager_params, _ = _train("off", optimizer, device=device)
    losses, params, graphs = _train("step", optimizer, device=device)
    assert losses == pytest.approx(eager_losses, rel=1e-5)
    for a, b in zip(params, eager_params, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
    assert graphs[0] > 0, "nothing was compiled"
    # the first step creates the optimizer state (one more graph); the moving learning rate adds none
    assert graphs[1] == graphs[-1]


def test_a_failed_compilation_falls_back_to_the_eager_step_once(monkeypatch):
    def failing(fn, **kw):
        def run(carry, batch):  # fails after the backward pass, as a late compilation error would
            _, loss, _ = fn.__self__._forward_loss(carry, batch)
            loss.backward()
            raise RuntimeError("C++ compiler not found\nmore detail")

        return run

    no_clip = ["train.grad_clip=0"]  # (clipping would hide doubled gradients)
    expected_losses, expected, _ = _train("off", "adamw", extra=no_clip)
    monkeypatch.setattr(torch, "compile", failing)
    notes = []
    losses, params, _ = _train("step", "adamw", notes=notes, extra=no_clip)
    failures = [n for n in notes if "torch.compile failed" in n]
    assert len(failures) == 1 and "C++ compiler not found" in failures[0] and "more detail" not in failures[0]
    # the gradients of the failed attempt were discarded: the first moments (proportional to the gradients)
    # agree with the eager run's (tensor learning rates round differently from floats in the last bits)
    assert losses == pytest.approx(expected_losses, rel=1e-6) and len(params) == len(expected)
    for a, b in zip(params, expected, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)


def test_compile_values_and_the_old_booleans():
    t = Config.from_dict({"train": {"compile": True}}).train
    assert t.compile == "loss"
    assert Config().override(["train.compile=false"]).train.compile == "off"
    assert Config().override(["train.compile=step"]).train.compile == "step"
    with pytest.raises(ConfigError, match="train.compile"):
        Config().override(["train.compile=always"])
