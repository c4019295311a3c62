"""Time one training step: forward + backward + optimizer of one supervision step (one ACT call).

    python benchmarks/train_step.py --preset sudoku_mlp --batch-size 64 --dtype bfloat16 --json

Inputs are random tokens of the preset's shape (no dataset needed); the loop is the trainer's own
:class:`trm.train.step.TrainStep`, so the optimizer, sign-SGD and EMA are included (``--compile step``: the
whole step compiled, CUDA graphs on CUDA). Warm-up steps (and so compilation) are excluded. The last line
printed is a JSON object with ``sec_per_step``, ``examples_per_sec``, ``peak_mem_mb``, the analytic matmul
FLOPs of the step, the achieved TFLOP/s and the fraction of the device's peak: on CUDA the dense bf16 peak of
:data:`GPU_PEAK_TFLOPS` by device name, elsewhere (or with ``--measure-peak``) a measured 2048³ matmul in the
step's dtype (:func:`trm.hardware.matmul_gflops`); ``--peak-gflops`` overrides both.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time

import torch

from trm.cli.common import add_overrides, overrides_of
from trm.config import ModelConfig, swiglu_width
from trm.hardware import cpu_model, matmul_gflops
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


# dense (not sparse) bfloat16 tensor-core TFLOP/s with float32 accumulation, from the vendors' data sheets;
# the first name found in torch.cuda.get_device_name() wins
GPU_PEAK_TFLOPS = {
    "H100 PCIe": 756.0,
    "H100": 989.0,
    "H200": 989.0,
    "GH200": 989.0,
    "B200": 2250.0,
    "A100": 312.0,
    "L40S": 362.0,
    "L4": 121.0,
    "A10G": 70.0,
    "RTX 4090": 165.0,
    "RTX 5090": 209.5,
}


def device_peak(device: torch.device, dtype: torch.dtype, measure: bool) -> tuple[float, str]:
    """(peak GFLOP/s, where it comes from) for the step's matmuls."""
    if device.type == "cuda" and not measure:
        name = torch.cuda.get_device_name(device)
        for key, tflops in GPU_PEAK_TFLOPS.items():
            if key in name:
                return tflops * 1e3, f"data sheet, {key} dense bf16"
    return matmul_gflops(dtype, size=2048, seconds=1.0, device=device), f"measured 2048^3 {dtype} matmul"


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
    p.add_argument(
        "--compile",
        default="off",
        choices=["off", "loss", "step"],
        help="train.compile: loss = forward and loss; step = the whole optimizer step (CUDA graphs on CUDA)",
    )
    p.add_argument(
        "--kernels",
        default="auto",
        choices=["auto", "eager", "fused"],
        help="elementwise kernels (train.kernels; auto = fused in bfloat16/float16)",
    )
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument(
        "--peak-gflops", type=float, default=None, help="peak matmul rate to compare with (GFLOP/s)"
    )
    p.add_argument("--measure-peak", action="store_true", help="measure the peak on CUDA too (not the table)")
    add_overrides(
        p, help="config overrides, e.g. train.compile=step (docs/CLI.md)", old="--override", nargs="*"
    )
    p.add_argument("--json", action="store_true", help="print only the JSON line")
    args = p.parse_intermixed_args(argv)

    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = get_preset(args.preset)
    overrides = overrides_of(args)
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
        k = 10**6 if step.curriculum else i + 1  # a depth curriculum at its final (deepest) stage
        carry, loss, _ = step(carry, batches[i % 2], k)
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
    if args.peak_gflops:
        peak, peak_source = args.peak_gflops, "--peak-gflops"
    else:
        peak, peak_source = device_peak(device, dtype, args.measure_peak)
    result = {
        "preset": args.preset,
        "hidden_size": cfg.model.hidden_size,
        "batch_size": B,
        "dtype": str(dtype).replace("torch.", ""),
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_model(),
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
        "achieved_tflops": flops / sec / 1e12,
        "peak_gflops": peak,
        "peak_source": peak_source,
        "fraction_of_peak": flops / sec / 1e9 / peak,
    }
    result.update({"sec_per_step": sec, "examples_per_sec": B / sec, "peak_mem_mb": peak_mem})
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
