"""Verified solving, one puzzle at a time in process (issue 29): verified, abstention and wrong-answer rates, calls
and seconds per solve, on a dataset's test split. Prints one JSON object.

    python benchmarks/verified_solve.py sudoku6 --data DATA [--limit 200] [--threads 1] [--budget N --mode ...]

Every puzzle is solved alone (``Solver.solve``, as ``trm solve`` does in process, the model loaded once); "wrong"
counts answers returned as verified that neither equal the label nor pass the task's check on the dataset's own
question row. ``trm eval MODEL --data DATA`` reports the same rates over batches.
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np

from trm.data.format import load_split
from trm.infer import load_solver
from trm.infer.settings import add_arguments, given_options
from trm.tasks import IGNORE


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--data", required=True)
    ap.add_argument("--split", default="test")
    ap.add_argument("--limit", type=int, default=200)
    add_arguments(ap)  # every inference option, --budget and --mode included (default: the model's protocol)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()

    solver = load_solver(args.model, threads=args.threads)
    task = solver.task
    split = load_split(args.data, args.split)
    n = min(args.limit, split.num_examples)
    idx = np.arange(n)
    inputs, labels = split.batch_inputs(idx), split.batch_labels(idx)
    options = given_options(args)
    solver.solve(task.example_text(inputs[0]), **options)  # warm-up
    calls, seconds, rungs = [], [], {}
    verified = wrong = exact = 0
    for i in range(n):
        text = task.example_text(inputs[i])
        t = time.perf_counter()
        r = solver.solve(text, **options)
        seconds.append(time.perf_counter() - t)
        calls.append(r.calls)
        if r.verified:
            verified += 1
            rungs[r.rung] = rungs.get(r.rung, 0) + 1
            tokens, mask = np.asarray(r.tokens), labels[i] != IGNORE
            same = bool((tokens[mask] == labels[i][mask]).all())
            exact += same
            wrong += not same and not task.accepts(inputs[i], tokens)

    def stats(x):
        a = np.asarray(x, float)
        return {"mean": float(a.mean()), "p50": float(np.percentile(a, 50)), "p95": float(np.percentile(a, 95)),
                "max": float(a.max())}  # fmt: skip

    print(
        json.dumps(
            {
                "model": args.model,
                "data": args.data,
                "puzzles": n,
                "settings": solver.settings(**options).describe(solver.n_sup),
                "verified_rate": verified / n,
                "abstention_rate": 1 - verified / n,
                "wrong": wrong,
                "verified_exact": exact,
                "soundness": (verified - wrong) / verified if verified else None,
                "verified_by_rung": rungs,
                "calls": stats(calls),
                "seconds_per_solve": stats(seconds),
                "threads": args.threads,
                "cpu": platform.processor() or platform.machine(),
            }
        )
    )


if __name__ == "__main__":
    main()
