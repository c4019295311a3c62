"""Generate the training-step parity fixtures by running the official TRM/HRM code (see README.md here).

Usage (from the repository root; needs a checkout of the official code and its model dependencies
``einops`` and ``pydantic``; no GPU)::

    python tests/golden_train/generate.py --official PATH/TO/TinyRecursiveModels [--out tests/golden_train]

The official code is driven by ``benchmarks/official_harness.py`` (read its doc for the exact substitutions:
a pure-PyTorch AdamATan2 with the algorithm of the ``adam-atan2`` package's reference test implementation in
place of the CUDA extension, empty stand-ins for wandb/hydra/..., ``Tensor.cuda`` as identity, no compile).
Everything else is the official code: the model and its ACT wrapper (halted rows reset and refilled from the
batch of the call), ``ACTLossHead``, ``CastedSparseEmbeddingSignSGD_Distributed``, ``EMAHelper``,
``pretrain.train_batch`` (1/global_batch_size scaling, the two optimizers, ``compute_lr``: warm-up + cosine)
and its metric reduction. Halting exploration draws from the global torch RNG inside the model: before call k
(1-based) the RNG is seeded with ``seed + k``, so a second implementation that draws the same way sees the
same draws.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1] / "benchmarks"))
from official_harness import OfficialRun, import_official, live_halting_state  # noqa: E402

# Shared by every case: the official pretrain keys (TRAIN.json of `python -m trm.parity`), K and the RNG seed.
TRAIN = {
    "lr": 3e-3,
    "lr_min_ratio": 0.1,
    "lr_warmup_steps": 3,
    "weight_decay": 0.1,
    "beta1": 0.9,
    "beta2": 0.95,
    "puzzle_emb_lr": 1e-2,
    "puzzle_emb_weight_decay": 0.1,
    "global_batch_size": 8,
    "ema_rate": 0.9,
    "total_steps": 10,
}
K = 8
# torch threads the fixtures are made and compared with: float32 sums change with the thread count, and the
# trm-mlp case's trajectory amplifies such rounding about tenfold a step (the official code against its own
# fixture at 1 thread: 8.8e-4 after step 8), so both codes run at this count
THREADS = 2
SEED = 1000  # call k runs with torch.manual_seed(SEED + k)
EXPLORE_PROB = 0.5  # halt_exploration_prob of the exploration runs (0 in the others)

_COMMON = dict(
    batch_size=8,
    seq_len=12,
    vocab_size=6,
    num_puzzle_identifiers=6,
    hidden_size=16,
    expansion=2,
    halt_max_steps=3,
    forward_dtype="float32",
)
CASES = {
    "trm-mlp": dict(
        model="trm",
        name="recursive_reasoning.trm@TinyRecursiveReasoningModel_ACTV1",
        H_cycles=2,
        L_cycles=2,
        H_layers=0,
        L_layers=2,
        num_heads=2,
        pos_encodings="none",
        mlp_t=True,
        puzzle_emb_ndim=16,
        puzzle_emb_len=2,  # prefix of 2 x 16 holding a 16-wide row: zero-padded at its end
        no_ACT_continue=True,
        **_COMMON,
    ),
    "trm-att": dict(
        model="trm",
        name="recursive_reasoning.trm@TinyRecursiveReasoningModel_ACTV1",
        H_cycles=2,
        L_cycles=2,
        H_layers=0,
        L_layers=2,
        num_heads=2,
        pos_encodings="rope",
        mlp_t=False,
        puzzle_emb_ndim=24,
        puzzle_emb_len=0,  # ceil(24 / 16) = 2, the row zero-padded at its end
        no_ACT_continue=True,
        **_COMMON,
    ),
    "hrm": dict(
        model="hrm",
        name="recursive_reasoning.hrm@HierarchicalReasoningModel_ACTV1",
        H_cycles=2,
        L_cycles=2,
        H_layers=1,
        L_layers=2,
        num_heads=2,
        pos_encodings="rope",
        puzzle_emb_ndim=16,
        **_COMMON,
    ),
}
LOSS = {"name": "losses@ACTLossHead", "loss_type": "stablemax_cross_entropy"}


def make_stream(seed: int, k: int, b: int, seq_len: int, vocab: int, ids: int) -> dict[str, torch.Tensor]:
    """K batches [k, b, seq_len]: random tokens; rows labelled in full, on half, on one position, and one row
    with no label at all (count 0), so that every branch of the loss and metrics is taken."""
    g = torch.Generator().manual_seed(seed)
    inputs = torch.randint(0, vocab, (k, b, seq_len), generator=g, dtype=torch.int32)
    labels = torch.randint(1, vocab, (k, b, seq_len), generator=g, dtype=torch.int32)
    keep = torch.ones(k, b, seq_len, dtype=torch.bool)
    for i in range(k):
        for r in range(b):
            kind = (i * b + r) % 4
            if kind == 1:
                keep[i, r] = torch.rand(seq_len, generator=g) < 0.5
            elif kind in (2, 3):
                keep[i, r] = False
                keep[i, r, int(torch.randint(0, seq_len, (1,), generator=g))] = True
    keep[1, 3] = False  # one row without any label
    labels = torch.where(keep, labels, torch.full_like(labels, -100))
    puzzle_identifiers = torch.randint(0, ids, (k, b), generator=g, dtype=torch.int32)
    return {"inputs": inputs, "labels": labels, "puzzle_identifiers": puzzle_identifiers}


def run_official(off, arch: dict, state: dict, stream: dict, explore: bool) -> dict[str, torch.Tensor]:
    """K official training steps from ``state`` on ``stream``; the recorded tensors, flat (see README)."""
    arch = dict(arch, halt_exploration_prob=EXPLORE_PROB if explore else 0.0)
    run = OfficialRun(off, arch | {"loss": LOSS}, TRAIN, state=state)
    model = run.model
    names = {p: n.removeprefix("model.") for n, p in model.named_parameters()}
    rec: dict[str, list] = {"loss": [], "lr": [], "puzzle_emb_lr": []}
    raw: dict[str, list] = {}
    grads: dict[str, torch.Tensor] = {}

    def keep_loss(_module, _args, _kwargs, out):
        rec["loss"].append(out[1].detach().clone())
        for name, value in out[2].items():  # the metric sums before train_batch divides them
            raw.setdefault(name, []).append(value.detach().double().clone())

    def keep_dense_grads(opt, *_):
        if "inner.lm_head.weight" not in grads:
            for p, n in names.items():
                if p.grad is not None:
                    grads[n] = p.grad.detach().clone()

    def keep_table_grad(opt, *_):
        emb = model.model.inner.puzzle_emb
        if "inner.puzzle_emb.local_weights" not in grads:
            grads["inner.puzzle_emb.local_weights"] = emb.local_weights.grad.detach().clone()
            grads["inner.puzzle_emb.local_ids"] = emb.local_ids.detach().clone()

    model.register_forward_hook(keep_loss, with_kwargs=True)
    table, dense = run.optimizers
    table.register_step_pre_hook(keep_table_grad)
    dense.register_step_pre_hook(keep_dense_grads)
    metrics: dict[str, list] = {}
    for k in range(1, K + 1):
        torch.manual_seed(SEED + k)
        out = run.train_step({n: v[k - 1] for n, v in stream.items()})
        rec["lr"].append(torch.tensor(out.pop("train/lr"), dtype=torch.float64))
        plr = off.pretrain.compute_lr(run.config.puzzle_emb_lr, run.config, run.state)
        rec["puzzle_emb_lr"].append(torch.tensor(plr, dtype=torch.float64))
        for name, value in out.items():
            metrics.setdefault(name.removeprefix("train/"), []).append(torch.tensor(float(value)))

    flat: dict[str, torch.Tensor] = {k: torch.stack(v) for k, v in rec.items()}
    flat.update({f"metrics/{k}": torch.stack(v) for k, v in metrics.items()})
    flat.update({f"sums/{k}": torch.stack(v) for k, v in raw.items()})
    flat.update({f"grads/{k}": v for k, v in grads.items()})
    flat.update({f"params/{k}": v.detach().clone() for k, v in model.model.state_dict().items()})
    flat.update({f"ema/{k.removeprefix('model.')}": v.clone() for k, v in run.ema.shadow.items()})
    for p, n in names.items():
        flat[f"exp_avg/{n}"] = dense.state[p]["exp_avg"].clone()
        flat[f"exp_avg_sq/{n}"] = dense.state[p]["exp_avg_sq"].clone()
    return {k: v.contiguous() for k, v in flat.items()}


def _atomic_save(tensors: dict[str, torch.Tensor], dest: Path) -> None:
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.")
    os.close(fd)
    try:
        save_file(tensors, tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    back = load_file(dest)
    assert back.keys() == tensors.keys() and all(torch.equal(back[k], tensors[k]) for k in tensors)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--official", required=True, help="checkout of the official TinyRecursiveModels code")
    ap.add_argument("--out", default=str(HERE), help="where the case folders go (default: beside this file)")
    args = ap.parse_args(argv)
    off = import_official(args.official)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(THREADS)
    for i, (case, arch) in enumerate(CASES.items()):
        out = Path(args.out) / case
        out.mkdir(parents=True, exist_ok=True)
        stream = make_stream(
            7 + i,
            K,
            TRAIN["global_batch_size"],
            arch["seq_len"],
            arch["vocab_size"],
            arch["num_puzzle_identifiers"],
        )
        state = live_halting_state(off, arch, seed=100 + i)
        config = {k: v for k, v in arch.items()} | {"loss": LOSS, "halt_exploration_prob": EXPLORE_PROB}
        (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
        (out / "train.json").write_text(json.dumps(TRAIN | {"train_steps": K, "seed": SEED}, indent=2) + "\n")
        _atomic_save(state, out / "state_dict.safetensors")
        _atomic_save(stream, out / "stream.safetensors")
        _atomic_save(run_official(off, arch, state, stream, explore=False), out / "expected.safetensors")
        # with exploration: the trajectory (losses, metrics, final weights and EMA) is what exploration changes
        explored = run_official(off, arch, state, stream, explore=True)
        keep = ("loss", "lr", "puzzle_emb_lr", "metrics/", "sums/", "params/", "ema/")
        explored = {k: v for k, v in explored.items() if k.startswith(keep)}
        _atomic_save(explored, out / "expected-explore.safetensors")
        sizes = sum(p.stat().st_size for p in out.iterdir())
        print(f"{case}: wrote {out} ({sizes / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
