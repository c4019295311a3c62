"""Run our model on an official config + state dict and write what the official code would, for comparison.

Forward (docs/PARITY.md)::

    python -m trm.parity --official-config C --official-state-dict S --batch B --out O [--steps K]

Evaluation semantics: every row starts from the initial carry and runs K supervision steps (default: the
config's halt_max_steps). The output file holds, per step s, ``logits`` [K, B, seq_len, V], ``q_halt_logits``
[K, B], ``q_continue_logits`` [K, B], and the carry ``y``, ``z`` [K, B, L, D].

Training::

    python -m trm.parity --official-config C --official-state-dict S --train-config TRAIN.json \
        --batches STREAM.pt --train-steps K --out O [--explore] [--seed S]

K optimizer steps of our trainer's step (:class:`trm.train.step.TrainStep`) with the official semantics, from
the state dict's weights: call k hands batch k of STREAM (``inputs``, ``labels`` [K, B, seq_len],
``puzzle_identifiers`` [K, B]) to the ACT wrapper, which takes new rows only where the carry has halted; the
loss is scaled by 1/global_batch_size; AdamATan2 on the dense parameters and sign-SGD on the puzzle-embedding
rows, both on the warm-up + cosine schedule; EMA after every step. TRAIN.json holds the official pretrain keys
(:data:`TRAIN_KEYS`). Halting exploration is off (``halt_exploration_prob`` 0) unless ``--explore``; before call
k the global torch RNG is seeded with ``S + k`` (the exploration draws). The output is a dict: ``loss`` [K] (the
total loss of each call, summed over rows, before the 1/global_batch_size scaling), ``lr`` and
``puzzle_emb_lr`` [K], ``metrics`` {official name: [K]} as the official ``train_batch`` logs them (losses per
global-batch example, the others per halted row), ``sums`` {name: [K]} (before that division), ``grads``
{official key: gradient of the step-1 update} (the puzzle table's as ``inner.puzzle_emb.local_weights`` [B, E]
with ``inner.puzzle_emb.local_ids``), and ``params`` (every saved tensor), ``ema``, ``exp_avg``,
``exp_avg_sq`` {official key: tensor} after step K, keys as the official ACT model names them (``inner.*``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import torch

from .config import Config, ConfigError, ModelConfig
from .errors import TRMError
from .model.official import (
    complete_official_config,
    config_from_official,
    load_official_state_dict,
    ours_to_official,
)
from .model.recursive import TRM
from .train.schedule import lr_at
from .train.step import METRICS, build_training, reduce_metrics
from .utils import atomic_torch_save, load_tensors

BATCH_KEYS = ("inputs", "labels", "puzzle_identifiers")
# the official pretrain config keys a training comparison needs (TRAIN.json), and the schedule's total steps
TRAIN_KEYS = (
    "lr",
    "lr_min_ratio",
    "lr_warmup_steps",
    "weight_decay",
    "beta1",
    "beta2",
    "puzzle_emb_lr",
    "puzzle_emb_weight_decay",
    "global_batch_size",
    "ema_rate",
    "total_steps",
)


def run_parity(
    official_config: dict, state_dict: dict, batch: dict, steps: int | None = None, device: str = "cpu"
) -> dict[str, torch.Tensor]:
    cfg, dtype = config_from_official(complete_official_config(official_config, state_dict))
    model = TRM(cfg, dtype=dtype)
    load_official_state_dict(model, state_dict)
    model.to(device).eval()
    batch = {k: v.to(device) for k, v in _check_batch(cfg, batch, "batch file").items()}
    K = cfg.N_sup if steps is None else steps
    out: dict[str, list[torch.Tensor]] = {
        k: [] for k in ("logits", "q_halt_logits", "q_continue_logits", "y", "z")
    }
    with torch.inference_mode():
        carry = model.initial_carry(batch)
        for _ in range(K):
            carry, o = model(carry, batch, max_steps=K)
            for k in ("logits", "q_halt_logits", "q_continue_logits"):
                out[k].append(o[k].float().cpu())
            out["y"].append(carry.y.float().cpu())
            out["z"].append(carry.z.float().cpu())
    return {k: torch.stack(v) for k, v in out.items()}


def _check_batch(cfg, batch: dict, what: str) -> dict:
    for key in BATCH_KEYS:
        if key not in batch:
            raise ConfigError(f"{what}: missing tensor {key!r} (has {sorted(batch)})")
    if batch["inputs"].shape[-1] != cfg.seq_len:
        raise ConfigError(
            f"{what}: inputs have length {batch['inputs'].shape[-1]}, config seq_len is {cfg.seq_len}"
        )
    if int(batch["inputs"].max()) >= cfg.vocab_size or int(batch["inputs"].min()) < 0:
        raise ConfigError(f"{what}: token ids must lie in [0, {cfg.vocab_size})")
    if cfg.puzzle_emb_ndim > 0 and int(batch["puzzle_identifiers"].max()) >= cfg.num_puzzle_identifiers:
        raise ConfigError(f"{what}: puzzle_identifiers exceed num_puzzle_identifiers")
    return {k: batch[k] for k in BATCH_KEYS}


def train_config_from_official(train: dict, model: ModelConfig, dtype: torch.dtype) -> Config:
    """Our config for K official-semantics training steps: the model, and the official pretrain keys mapped to
    ``train.*`` (AdamATan2, EMA without warm-up, no clipping, eager float kernels, no speed switches)."""
    missing = [k for k in TRAIN_KEYS if k not in train]
    if missing:
        raise ConfigError(f"train config: missing key(s) {missing} (needs {list(TRAIN_KEYS)})")
    keys = ("lr", "lr_min_ratio", "lr_warmup_steps", "weight_decay", "beta1", "beta2", "puzzle_emb_lr")
    t = {k: train[k] for k in keys}
    t.update(
        puzzle_emb_weight_decay=train["puzzle_emb_weight_decay"],
        global_batch_size=int(train["global_batch_size"]),
        ema=True,
        ema_rate=train["ema_rate"],
        # the official schedule takes a run shorter than its warm-up (every step is then a warm-up step, whose
        # rate does not depend on the total); our config refuses one, so it gets the warm-up's length: the same
        # rates for the steps run (run_train_parity still stops at total_steps)
        max_steps=max(int(train["total_steps"]), int(train["lr_warmup_steps"])),
        optimizer="adam_atan2",
        dtype=str(dtype).replace("torch.", ""),
        kernels="eager",
        compile="off",
        device="cpu",
    )
    return Config.from_dict({"name": "official-parity", "model": dataclasses.asdict(model), "train": t})


def run_train_parity(
    official_config: dict,
    state_dict: dict,
    train: dict,
    stream: dict,
    steps: int,
    explore: bool = False,
    seed: int = 0,
) -> dict:
    """``steps`` training steps of our trainer with the official semantics (see the module doc); CPU."""
    official = complete_official_config(official_config, state_dict)
    if not explore:
        official["halt_exploration_prob"] = 0.0
    mcfg, dtype = config_from_official(official)
    cfg = train_config_from_official(train, mcfg, dtype)
    total = int(train["total_steps"])
    stream = _check_batch(mcfg, stream, "batch stream")
    if stream["inputs"].ndim != 3 or stream["puzzle_identifiers"].ndim != 2:
        raise ConfigError(
            "batch stream: expected inputs/labels [K, B, seq_len] and puzzle_identifiers [K, B]"
        )
    if not 1 <= steps <= min(stream["inputs"].shape[0], total):
        raise ConfigError(
            f"--train-steps {steps}: must be in [1, {min(stream['inputs'].shape[0], total)}] (the stream has "
            f"{stream['inputs'].shape[0]} batches; the official trainer takes no step past total_steps {total})"
        )
    if stream["inputs"].shape[1] != cfg.train.global_batch_size:
        raise ConfigError(
            f"batch stream: {stream['inputs'].shape[1]} rows per batch, global_batch_size is "
            f"{cfg.train.global_batch_size}"
        )
    model = TRM(mcfg, dtype=dtype)
    load_official_state_dict(model, state_dict)
    cpu = torch.device("cpu")
    model, opt, puzzle_opt, ema, step = build_training(
        cfg, cpu, dtype, total, note=lambda _: None, model=model
    )
    arch = mcfg.arch
    names = {p: ours_to_official(n, arch) for n, p in model.named_parameters()}
    grads: dict[str, torch.Tensor] = {}

    def keep_dense_grads(_opt, *_):
        if not any(k in grads for k in names.values()):
            grads.update({names[p]: p.grad.detach().clone() for p in names if p.grad is not None})

    opt.register_step_pre_hook(keep_dense_grads)
    if puzzle_opt is not None:
        table_step = puzzle_opt.step

        def keep_table_grad(ids, g, lr, group=None):
            if "inner.puzzle_emb.local_weights" not in grads:
                grads["inner.puzzle_emb.local_weights"] = g.detach().clone()
                grads["inner.puzzle_emb.local_ids"] = ids.detach().clone()
            return table_step(ids, g, lr, group)

        puzzle_opt.step = keep_table_grad
    t = cfg.train
    rec: dict[str, list] = {"loss": [], "lr": [], "puzzle_emb_lr": []}
    sums_k: list[torch.Tensor] = []
    carry = model.initial_carry({k: v[0] for k, v in stream.items()})
    for k in range(1, steps + 1):
        torch.manual_seed(seed + k)
        carry, loss, sums = step(carry, {n: v[k - 1] for n, v in stream.items()}, k)
        rec["loss"].append(loss.double())
        rec["lr"].append(torch.tensor(lr_at(k, t.lr, t.lr_warmup_steps, total, t.lr_min_ratio)))
        rec["puzzle_emb_lr"].append(
            torch.tensor(lr_at(k, t.puzzle_emb_lr, t.lr_warmup_steps, total, t.lr_min_ratio))
        )
        sums_k.append(sums)
    logged = [k for k in METRICS if k != "loss" and (k != "q_continue_loss" or mcfg.uses_continue)]
    per_step = [dict(zip(METRICS, s.tolist(), strict=True)) for s in sums_k]
    reduced = [reduce_metrics(m, t.global_batch_size) for m in per_step]
    state = {ours_to_official(n, arch): v.detach().clone() for n, v in model.state_dict().items()}
    ema_state = ema.state_dict() if ema is not None else {}
    return {
        **{k: torch.stack(v).to(torch.float64) for k, v in rec.items()},
        "metrics": {m: torch.tensor([r[m] for r in reduced], dtype=torch.float64) for m in logged},
        "sums": {m: torch.tensor([r[m] for r in per_step], dtype=torch.float64) for m in logged},
        "grads": grads,
        "params": state,
        "ema": {ours_to_official(n, arch): v.clone() for n, v in ema_state.items()},
        "exp_avg": {names[p]: opt.state[p]["exp_avg"].clone() for p in names if p in opt.state},
        "exp_avg_sq": {names[p]: opt.state[p]["exp_avg_sq"].clone() for p in names if p in opt.state},
    }


def flatten(tree: dict, prefix: str = "") -> dict[str, torch.Tensor]:
    """{"a": {"b": t}} -> {"a/b": t} (the layout of the committed fixtures)."""
    out = {}
    for k, v in tree.items():
        if isinstance(v, dict):
            out.update(flatten(v, f"{prefix}{k}/"))
        else:
            out[f"{prefix}{k}"] = v
    return out


def compare(ours: dict[str, torch.Tensor], expected: dict[str, torch.Tensor]) -> dict[str, float]:
    """Per-tensor max |ours - expected| / max |expected|."""
    rel = {}
    for k, e in expected.items():
        if k not in ours:
            raise KeyError(f"output is missing {k!r}")
        if ours[k].shape != e.shape:
            raise ValueError(f"{k}: shape {tuple(ours[k].shape)} != expected {tuple(e.shape)}")
        rel[k] = float((ours[k].double() - e.double()).abs().max() / e.double().abs().max().clamp_min(1e-30))
    return rel


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m trm.parity",
        description=__doc__.split("\n\n")[0],
        epilog="Forward: --batch [--steps]. Training: --train-config --batches --train-steps [--explore --seed].",
    )
    ap.add_argument("--official-config", required=True, help="official config (JSON, or YAML with PyYAML)")
    ap.add_argument(
        "--official-state-dict", required=True, help="official state dict (.pt, loaded weights_only)"
    )
    ap.add_argument(
        "--batch", default=None, help="forward: batch file with inputs, labels, puzzle_identifiers"
    )
    ap.add_argument("--out", required=True, help="where to write the outputs (.pt)")
    ap.add_argument(
        "--steps", type=int, default=None, help="forward: supervision steps (default: halt_max_steps)"
    )
    ap.add_argument("--train-config", default=None, help="training: JSON with the official pretrain keys")
    ap.add_argument("--batches", default=None, help="training: batch stream [K, B, seq_len] (.pt)")
    ap.add_argument("--train-steps", type=int, default=None, help="training: optimizer steps K")
    ap.add_argument("--explore", action="store_true", help="training: keep the config's halting exploration")
    ap.add_argument(
        "--seed", type=int, default=0, help="training: the RNG is seeded with SEED + k before call k"
    )
    ap.add_argument(
        "--expected", default=None, help="optional expected outputs to compare against (prints errors)"
    )
    ap.add_argument("--device", default="cpu", help="forward only (training parity runs on the CPU)")
    args = ap.parse_args(argv)
    training = args.train_config is not None
    if training and (args.batches is None or args.train_steps is None or args.batch is not None):
        ap.error("training parity needs --train-config, --batches and --train-steps (and no --batch)")
    if not training and (args.batch is None or args.batches or args.train_steps is not None):
        ap.error("forward parity needs --batch (training parity: --train-config, --batches, --train-steps)")
    try:
        official = read_official_config(Path(args.official_config))
        sd = load_tensors(args.official_state_dict)
        if training:
            train = _read_json(Path(args.train_config))
            stream = load_tensors(args.batches)
            out = run_train_parity(official, sd, train, stream, args.train_steps, args.explore, args.seed)
        else:
            out = run_parity(official, sd, load_tensors(args.batch), args.steps, args.device)
        atomic_torch_save(out, args.out)
        flat = flatten(out)
        print(f"wrote {args.out}: {len(flat)} tensors")
        if args.expected:
            rel = compare(flat, flatten(load_tensors(args.expected)))
            worst = max(rel.values())
            for k, v in sorted(rel.items(), key=lambda kv: -kv[1])[:20]:
                print(f"  {k:>60}: max rel err {v:.2e}")
            print(
                "PASS" if worst <= 1e-4 else "FAIL",
                f"(worst {worst:.2e} over {len(rel)} tensors, tolerance 1e-4)",
            )
            return 0 if worst <= 1e-4 else 1
    except (TRMError, ConfigError, ValueError, KeyError, OSError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except OSError as e:
        raise ConfigError(f"{path}: {e.strerror or e}") from None
    except json.JSONDecodeError as e:
        raise ConfigError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of keys")
    return data


def read_official_config(path: Path) -> dict:
    text = path.read_text()
    if not path.is_file():
        raise ConfigError(f"{path}: no such file")
    if path.suffix in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:
            raise ConfigError(
                f"{path}: reading YAML needs PyYAML (pip install pyyaml), or pass JSON"
            ) from None
        data = yaml.safe_load(text)
        data = data.get("arch", data) if isinstance(data, dict) else data
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise ConfigError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of config fields")
    return data


if __name__ == "__main__":
    sys.exit(main())
