"""CPU latency, throughput, accuracy and file sizes: onnxruntime (float32, int8, fp16 weights) vs PyTorch eager.

    python benchmarks/onnx_latency.py runs/demo --data runs/demo/data --threads 1 --json out.json

Same model, same inputs. Latency: one supervision step at batch 1 (median over repeats). Throughput: puzzles
per second for a full official solve (N_sup steps) at a larger batch. Accuracy (with --data): exact match on
the dataset's test split, official mode, for every backend. Sizes: the graph files, their weights by element
type, and the puzzle-embedding table apart.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def _timeit(fn, repeats: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def _test_split(data: Path) -> tuple[np.ndarray, np.ndarray]:
    split = data / "test"
    inputs = sorted(split.glob("*__inputs.npy"))
    if not inputs:
        sys.exit(f"{split}: no *__inputs.npy (not a dataset in the official layout)")
    x = np.load(inputs[0])
    y = np.load(str(inputs[0]).replace("__inputs.npy", "__labels.npy"))
    return x.astype(np.int64), y.astype(np.int64)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", help="model folder / run directory (or a preset name with --random)")
    ap.add_argument("--random", action="store_true", help="MODEL is a preset; use random weights")
    ap.add_argument("--data", default=None, help="dataset directory for the accuracy comparison")
    ap.add_argument("--limit", type=int, default=1000, help="test puzzles for the accuracy comparison")
    ap.add_argument("--threads", type=int, default=1, help="intra-op threads for both runtimes")
    ap.add_argument("--batch", type=int, default=256, help="batch for the throughput measurement")
    ap.add_argument("--repeats", type=int, default=50)
    ap.add_argument("--export-dir", default=None, help="where to export (default: a temporary directory)")
    ap.add_argument("--json", default=None, help="also write the results here")
    args = ap.parse_args(argv)

    from trm.checkpoint import load_model, save_model
    from trm.deploy.onnx_export import export_onnx
    from trm.deploy.onnx_runner import OnnxSolver
    from trm.model import TRM
    from trm.presets import get_preset

    torch.set_num_threads(args.threads)
    tmp = Path(tempfile.mkdtemp(prefix="trm-bench-"))
    if args.random:
        cfg = get_preset(args.model)
        save_model(tmp / "model", TRM(cfg.model), cfg)
        model_path = tmp / "model"
    else:
        model_path = Path(args.model)
    model, cfg, _ = load_model(model_path)
    out = Path(args.export_dir) if args.export_dir else tmp / "export"
    man = export_onnx(model_path, out, int8=True, fp16=True)
    m = cfg.model
    res: dict = {
        "model": str(args.model),
        "preset": cfg.name,
        "threads": args.threads,
        "torch": torch.__version__,
        "dense_parameters": man["parameters"]["dense"],
        "puzzle_emb_values": man["parameters"]["puzzle_emb"],
        "sizes_bytes": man["sizes_bytes"],
        "weights_bytes": man["weights_bytes"],
        "latency_ms": {},
        "throughput": {},
        "accuracy": {},
    }
    import onnxruntime

    res["onnxruntime"] = onnxruntime.__version__

    rng = np.random.default_rng(0)
    solvers = {v: OnnxSolver(out, variant=v, threads=args.threads) for v in ("float32", "int8", "fp16w")}

    def torch_step(B):
        x = torch.from_numpy(rng.integers(1, m.vocab_size, (B, m.seq_len)))
        pid = torch.zeros(B, dtype=torch.int32)
        y = model.y_init.expand(B, m.total_len, m.hidden_size).contiguous()
        z = model.z_init.expand(B, m.total_len, m.hidden_size).contiguous()

        def run():
            with torch.inference_mode():
                model.step(y, z, {"inputs": x, "puzzle_identifiers": pid})

        return run

    def onnx_step(solver, B):
        be = solver.backend
        x = rng.integers(1, m.vocab_size, (B, m.seq_len))
        y = np.broadcast_to(be.init_state()[0], (B, m.total_len, m.hidden_size)).astype(np.float32)
        z = np.broadcast_to(be.init_state()[1], (B, m.total_len, m.hidden_size)).astype(np.float32)
        rows = be.puzzle_rows(np.zeros(B, np.int64))
        return lambda: be.step(y, z, x, rows)

    res["latency_ms"]["pytorch_eager"] = 1e3 * _timeit(torch_step(1), args.repeats)
    for v, s in solvers.items():
        res["latency_ms"][f"onnxruntime_{v}"] = 1e3 * _timeit(onnx_step(s, 1), args.repeats)
    B = args.batch
    reps = max(3, args.repeats // 10)
    res["throughput"]["batch"] = B
    t = _timeit(torch_step(B), reps, warmup=1)
    res["throughput"]["pytorch_eager"] = B / (t * m.N_sup)
    for v, s in solvers.items():
        t = _timeit(onnx_step(s, B), reps, warmup=1)
        res["throughput"][f"onnxruntime_{v}"] = B / (t * m.N_sup)

    if args.data:
        from trm.infer import Settings, TorchBackend, predict

        x, labels = _test_split(Path(args.data))
        x, labels = x[: args.limit], labels[: args.limit]
        res["accuracy"]["puzzles"] = len(x)
        pred = predict(TorchBackend(model), model.cfg.N_sup, x, np.zeros(len(x), np.int64), Settings()).preds
        mask = labels >= 0
        res["accuracy"]["pytorch_eager"] = float((pred == labels).all(-1).mean())
        res["accuracy"]["pytorch_eager_tokens"] = float(((pred == labels) & mask).sum() / mask.sum())
        for v, s in solvers.items():
            p = s.run(x)["predictions"]
            res["accuracy"][f"onnxruntime_{v}"] = float((p == labels).all(-1).mean())
            res["accuracy"][f"onnxruntime_{v}_tokens"] = float(((p == labels) & mask).sum() / mask.sum())
            res["accuracy"][f"onnxruntime_{v}_same_answer_as_torch"] = float((p == pred).all(-1).mean())

    print(json.dumps(res, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
