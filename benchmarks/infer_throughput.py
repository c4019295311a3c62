"""Inference speed: puzzles per second on a dataset split, and single-puzzle latency.

    python benchmarks/infer_throughput.py RUN_DIR_or_CHECKPOINT --data DIR [--mode official|adaptive]
        [--threshold T] [--batch-size B] [--limit N] [--device cpu] [--json]

The last line with --json is one object: puzzles_per_sec, exact_accuracy, mean_steps, latency_ms_median,
latency_ms_p90, and the settings. Throughput counts the model's work only (data already in memory, no
per-step recording), after one warm-up batch.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint")
    p.add_argument("--data", required=True)
    p.add_argument("--split", default="test")
    p.add_argument("--mode", choices=["official", "adaptive"], default="official")
    p.add_argument("--threshold", type=float, default=0.5)
    p.add_argument("--max-steps", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--limit", type=int, default=None, help="first N examples (default all)")
    p.add_argument("--latency-runs", type=int, default=20, help="single-puzzle solves timed for the latency")
    p.add_argument("--device", default="cpu")
    p.add_argument("--dtype", default="float32", choices=["auto", "float32", "bfloat16", "float16"])
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)

    import numpy as np
    import torch

    from trm.data.format import load_split
    from trm.infer import Settings, load_solver, predict
    from trm.infer.metrics import correctness
    from trm.utils import TRMError

    try:
        if args.threads:
            torch.set_num_threads(args.threads)
        solver = load_solver(args.checkpoint, device=args.device, dtype=args.dtype)
        split = load_split(args.data, args.split)
    except TRMError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    n = split.num_examples if args.limit is None else min(args.limit, split.num_examples)
    idx = np.arange(n)
    inputs = torch.as_tensor(split.batch_inputs(idx))
    labels = torch.as_tensor(split.batch_labels(idx))
    pids = torch.as_tensor(np.repeat(split.puzzle_identifiers, np.diff(split.puzzle_indices))[:n], dtype=torch.int32)
    st = Settings(mode=args.mode, threshold=args.threshold, max_steps=args.max_steps, batch_size=args.batch_size)
    st.validate()
    model = solver.model
    sync = torch.cuda.synchronize if solver.device.type == "cuda" else (lambda: None)

    warm = min(n, args.batch_size)
    predict(model, inputs[:warm], pids[:warm], st)
    sync()
    t0 = time.perf_counter()
    pred = predict(model, inputs, pids, st)
    sync()
    elapsed = time.perf_counter() - t0
    keep = (labels != -100).any(-1)
    exact, _, _ = correctness(pred.preds[keep], labels[keep])

    latencies = []
    for i in range(min(args.latency_runs, n)):
        t = time.perf_counter()
        predict(model, inputs[i:i + 1], pids[i:i + 1], st)
        sync()
        latencies.append((time.perf_counter() - t) * 1000)
    result = {
        "puzzles_per_sec": n / elapsed,
        "exact_accuracy": float(exact.float().mean()),
        "mean_steps": float(pred.steps[keep].float().mean()),
        "latency_ms_median": statistics.median(latencies) if latencies else None,
        "latency_ms_p90": float(np.percentile(latencies, 90)) if latencies else None,
        "count": int(keep.sum()),
        "seconds": elapsed,
        "mode": args.mode,
        "threshold": args.threshold if args.mode == "adaptive" else None,
        "max_steps": args.max_steps or model.cfg.N_sup,
        "batch_size": args.batch_size,
        "device": str(solver.device),
        "threads": torch.get_num_threads(),
    }
    if not args.json:
        for k, v in result.items():
            print(f"{k:<18} {v}")
    else:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
