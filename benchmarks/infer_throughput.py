"""Inference speed against the machine's floor: puzzles per second, achieved GFLOP/s and its fraction of a
measured float32 matmul rate, for the PyTorch and onnxruntime backends of the one engine in one run.

    python benchmarks/infer_throughput.py RUN_DIR_or_CHECKPOINT --data DIR [--backends eager,torch,onnx]
        [--mode adaptive] [--limit N] [--threads T] [--device cpu] [--json]

Backends: eager = the plain PyTorch step of the whole batch (``TorchBackend(fast=False)``), torch = the
library's default PyTorch backend (cache-sized parts on every core, the transpose-free step), onnx =
onnxruntime on a fresh export.

Inference options are the library's (trm.infer.settings.Settings: the same flags and defaults as `trm eval`).
FLOPs per row and supervision step are counted once by torch's FLOP counter on the model (matmuls only, like
the training benchmark); achieved GFLOP/s = row-steps run x FLOPs per row-step / seconds. The matmul rate is a
square float32 matmul on the same threads (``trm.hardware.matmul_gflops``, 1024²), measured just before and just
after each backend's timed solve; ``fraction_of_matmul`` is of their mean (on a shared VM the rate drifts by
±20% within minutes, so a rate measured once at the start misstates the fraction). ``cores_busy`` is CPU time / wall
time of the timed solve. The last line with --json is one object with everything.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from trm.checkpoint import load_model
from trm.data.format import load_split
from trm.deploy.onnx_export import export_onnx
from trm.deploy.onnx_runner import OnnxBackend
from trm.hardware import cpu_model, matmul_gflops
from trm.infer import Settings, TorchBackend, predict
from trm.infer.metrics import correctness
from trm.infer.settings import add_arguments, given_options
from trm.utils import TRMError, resolve_device, resolve_dtype


def step_flops(model) -> float:
    """FLOPs of one supervision step for one row."""
    cfg = model.cfg
    y = model.y_init.expand(1, cfg.total_len, cfg.hidden_size)
    batch = {
        "inputs": torch.ones(1, cfg.seq_len, dtype=torch.long),
        "puzzle_identifiers": torch.zeros(1, dtype=torch.int32),
    }
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        model.step(y, y, batch)
    return float(counter.get_total_flops())


def _seconds(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def _cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def measure(
    backend,
    n_sup: int,
    inputs,
    pids,
    labels,
    st: Settings,
    flops: float,
    rate: Callable[[], float],
    latency_runs: int,
    sync,
) -> dict:
    n = len(inputs)
    warm = min(n, st.batch_size)
    predict(backend, n_sup, inputs[:warm], pids[:warm], st)
    sync()
    rates = [rate()]  # the matmul rate just before and just after: a shared machine's speed drifts
    cpu0, t0 = _cpu_seconds(), time.perf_counter()
    pred = predict(backend, n_sup, inputs, pids, st)
    sync()
    elapsed, cpu = time.perf_counter() - t0, _cpu_seconds() - cpu0
    rates.append(rate())
    keep = (labels != -100).any(-1)
    exact, _, _ = correctness(pred.preds[keep], labels[keep])
    gflops = float(pred.compute.sum()) * flops / elapsed / 1e9
    latencies = [
        1000 * _seconds(lambda i=i: predict(backend, n_sup, inputs[i : i + 1], pids[i : i + 1], st))
        for i in range(min(latency_runs, n))
    ]
    return {
        "puzzles_per_sec": n / elapsed,
        "seconds": elapsed,
        "gflops": gflops,
        "matmul_gflops_around": rates,
        "fraction_of_matmul": gflops / statistics.mean(rates),
        "cores_busy": cpu / elapsed,
        "exact_accuracy": float(exact.mean()),
        "mean_steps": float(pred.steps[keep].mean()),
        "latency_ms_median": statistics.median(latencies) if latencies else None,
        "latency_ms_p90": float(np.percentile(latencies, 90)) if latencies else None,
        "answers": pred.preds,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint")
    p.add_argument("--data", required=True)
    p.add_argument("--split", default="test")
    p.add_argument("--limit", type=int, default=None, help="first N examples (default all)")
    p.add_argument(
        "--backends", default="eager,torch,onnx", help="comma-separated: eager, torch, onnx (default all)"
    )
    p.add_argument("--latency-runs", type=int, default=20, help="single-puzzle solves timed for the latency")
    p.add_argument("--device", default="cpu")
    p.add_argument("--dtype", default="float32", choices=["auto", "float32", "bfloat16", "float16"])
    p.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's, one per core)")
    p.add_argument("--json", action="store_true")
    add_arguments(p.add_argument_group("inference (the library's defaults unless given)"))
    args = p.parse_args(argv)
    try:
        dev = resolve_device(args.device)
        model, cfg, _ = load_model(args.checkpoint, dev, resolve_dtype(args.dtype, dev))
        split = load_split(args.data, args.split)
        st = Settings().replace(**given_options(args)).validate()
    except TRMError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    threads = args.threads or torch.get_num_threads()
    torch.set_num_threads(threads)

    def rate() -> float:
        return matmul_gflops(torch.float32, seconds=0.5, device=dev)

    flops = step_flops(model)
    n = split.num_examples if args.limit is None else min(args.limit, split.num_examples)
    idx = np.arange(n)
    inputs, labels = split.batch_inputs(idx), split.batch_labels(idx)
    pids = np.repeat(split.puzzle_identifiers, np.diff(split.puzzle_indices))[:n]
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    result: dict = {
        "settings": st.describe(cfg.model.N_sup) | {"batch_size": st.batch_size},
        "puzzles": n,
        "threads": threads,
        "device": str(dev),
        "cpu": cpu_model(),
        "matmul_gflops": rate(),
        "step_gflop_per_row": flops / 1e9,
        "backends": {},
    }
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.backends.split(","):
            if name in ("torch", "eager"):
                backend = TorchBackend(model, threads, fast=name == "torch")
            elif name == "onnx":
                export_onnx(args.checkpoint, tmp)
                backend, sync = OnnxBackend(tmp, threads=threads), (lambda: None)
            else:
                print(f"error: unknown backend {name!r}", file=sys.stderr)
                return 2
            result["backends"][name] = measure(
                backend, cfg.model.N_sup, inputs, pids, labels, st, flops, rate, args.latency_runs, sync
            )
    answers = {name: r.pop("answers") for name, r in result["backends"].items()}
    first = next(iter(answers.values()))  # fraction of puzzles answered as the first backend answers them
    result["same_answers"] = {name: float((a == first).all(-1).mean()) for name, a in answers.items()}
    if args.json:
        print(json.dumps(result))
    else:
        print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
