"""Time one training step: forward + backward + optimizer of one supervision step (one ACT call).

    python benchmarks/train_step.py --preset sudoku_mlp --batch-size 64 --dtype bfloat16 --json

Inputs are random tokens of the preset's shape (no dataset needed); the loop is the trainer's own
:class:`trm.train.trainer.TrainStep`, so the optimizer, sign-SGD and EMA are included. Warm-up steps are
excluded. The last line printed is a JSON object with ``sec_per_step``, ``examples_per_sec``, ``peak_mem_mb``,
and the analytic FLOP count of the step with the fraction of a given matmul rate it reaches (``--peak-gflops``,
measured with ``--measure-peak``: a large square matmul in the chosen dtype).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time

import torch

from trm.config import ModelConfig, swiglu_width
from trm.presets import get_preset
from trm.train.step import build_training, random_batch
from trm.utils import resolve_device, resolve_dtype


def net_call_flops(m: ModelConfig, batch: int) -> float:
    """Matmul FLOPs of one call of the tiny network (all its blocks) on ``batch`` rows."""
    D, L = m.hidden_size, m.total_len
    md = swiglu_width(D, m.expansion, m.swiglu_multiple)
    channel = 2 * batch * L * (D * 2 * md + md * D)
    if m.mixer == "mlp_t":
        ml = swiglu_width(L, m.expansion, m.swiglu_multiple)
        mixing = 2 * batch * D * (L * 2 * ml + ml * L)
    else:
        mixing = 2 * batch * L * (D * 3 * D + D * D) + 2 * 2 * batch * L * L * D
    return m.num_layers * (channel + mixing)


def step_flops(m: ModelConfig, batch: int) -> tuple[float, float]:
    """(FLOPs, network-call equivalents) of one training step: every call forward, the last recursion's
    n + 1 calls also backward (twice the forward cost)."""
    forward_calls = m.T * (m.n + 1)
    backward_calls = m.n + 1
    equivalents = forward_calls + 2 * backward_calls
    return equivalents * net_call_flops(m, batch), equivalents


def measure_peak(dtype: torch.dtype, device: torch.device, size: int = 2048, reps: int = 10) -> float:
    a = torch.randn(size, size, device=device).to(dtype)
    b = torch.randn(size, size, device=device).to(dtype)
    for _ in range(3):
        a @ b
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(reps):
        a @ b
    _sync(device)
    return 2 * size**3 * reps / (time.perf_counter() - t0) / 1e9


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", required=True)
    p.add_argument("--hidden-size", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=None, help="global batch (default: the preset's)")
    p.add_argument("--dtype", default="auto", choices=["auto", "float32", "bfloat16", "float16"])
    p.add_argument("--device", default="auto")
    p.add_argument("--steps", type=int, default=5, help="timed steps")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    p.add_argument("--compile", action="store_true", help="torch.compile the step's forward and backward")
    p.add_argument(
        "--kernels",
        default="auto",
        choices=["auto", "eager", "fused"],
        help="elementwise kernels (train.kernels; auto = fused in bfloat16/float16)",
    )
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--peak-gflops", type=float, default=None, help="matmul rate to compare with (GFLOP/s)")
    p.add_argument("--measure-peak", action="store_true", help="measure the matmul rate in this dtype first")
    p.add_argument("--override", nargs="*", default=[], help="extra dotted config overrides")
    p.add_argument("--json", action="store_true", help="print only the JSON line")
    args = p.parse_args(argv)

    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = get_preset(args.preset)
    overrides = list(args.override)
    if args.hidden_size:
        overrides.append(f"model.hidden_size={args.hidden_size}")
        if cfg.model.puzzle_emb_ndim > 0:
            overrides.append(f"model.puzzle_emb_ndim={args.hidden_size}")
    if args.batch_size:
        overrides.append(f"train.global_batch_size={args.batch_size}")
    overrides += [
        f"train.dtype={args.dtype}",
        f"train.device={args.device}",
        f"train.compile={args.compile}",
        f"train.kernels={args.kernels}",
    ]
    cfg = cfg.override(overrides)
    device = resolve_device(cfg.train.device)
    dtype = resolve_dtype(cfg.train.dtype, device)
    B = cfg.train.global_batch_size
    log = (lambda *a: None) if args.json else (lambda *a: print(*a, file=sys.stderr))

    model, _, _, _, step = build_training(cfg, device, dtype, total_steps=10**6, note=log)
    gen = torch.Generator().manual_seed(0)
    batches = [random_batch(cfg.model, B, device, gen) for _ in range(2)]
    carry = model.initial_carry(batches[0])
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times = []
    for i in range(args.warmup + args.steps):
        _sync(device)
        t0 = time.perf_counter()
        carry, loss, _ = step(carry, batches[i % 2], i + 1)
        _sync(device)
        dt = time.perf_counter() - t0
        if i >= args.warmup:
            times.append(dt)
        log(f"step {i + 1}: {dt:.3f} s{' (warm-up)' if i < args.warmup else ''}")
    sec = statistics.median(times)
    flops, equivalents = step_flops(cfg.model, B)
    if device.type == "cuda":
        peak_mem = torch.cuda.max_memory_allocated(device) / 2**20
    else:
        peak_mem = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    peak = args.peak_gflops
    if args.measure_peak:
        peak = measure_peak(dtype, device)
    result = {
        "preset": args.preset,
        "hidden_size": cfg.model.hidden_size,
        "batch_size": B,
        "dtype": str(dtype).replace("torch.", ""),
        "device": str(device),
        "threads": torch.get_num_threads(),
        "compile": args.compile,
        "kernels": args.kernels,
        "params": model.num_dense_parameters(),
        "steps": args.steps,
        "sec_per_step_mean": statistics.mean(times),
        "sec_per_step_min": min(times),
        "net_call_equivalents": equivalents,
        "gflop_per_step": flops / 1e9,
        "achieved_gflops": flops / sec / 1e9,
    }
    if peak:
        result["peak_gflops"] = peak
        result["floor_sec_per_step"] = flops / (peak * 1e9)
        result["fraction_of_floor"] = result["floor_sec_per_step"] / sec
    result.update({"sec_per_step": sec, "examples_per_sec": B / sec, "peak_mem_mb": peak_mem})
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
