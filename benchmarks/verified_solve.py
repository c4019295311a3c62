"""Verified solving, one puzzle at a time in process (issue 29): verified, abstention and wrong-answer rates, calls
and seconds per solve, on a dataset's test split. Prints one JSON object.

    python benchmarks/verified_solve.py sudoku6 --data DATA [--limit 200] [--threads 1] [--budget N --mode ...]
    python benchmarks/verified_solve.py sudoku9 --puzzles FILE [--limit 200]   # one puzzle a line, no answers

Every puzzle is solved alone (``Solver.solve``, as ``trm solve`` does in process, the model loaded once); "wrong"
counts answers returned as verified that neither equal the label nor pass the task's check on the dataset's own
question row. ``--puzzles`` reads puzzles as text, one a line (``#`` lines skipped; the first ``--limit``), e.g.
the public collections of ``../shared/data/sudoku``: there "wrong" is an answer the task's check rejects on the
puzzle as parsed, and ``verified_exact`` is not reported (no labels). ``trm eval MODEL --data DATA`` reports the
same rates over batches.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from trm.data.format import load_split
from trm.hardware import cpu_model
from trm.infer import load_solver
from trm.infer.settings import add_arguments, given_options
from trm.tasks import IGNORE


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--data", help="dataset directory (official layout); its --split is solved")
    src.add_argument("--puzzles", help="text file, one puzzle a line ('#' lines and blank lines skipped)")
    ap.add_argument("--split", default="test")
    ap.add_argument("--limit", type=int, default=200)
    add_arguments(ap)  # every inference option, --budget and --mode included (default: the model's protocol)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()

    solver = load_solver(args.model, threads=args.threads)
    task = solver.task
    if args.data:
        split = load_split(args.data, args.split)
        n = min(args.limit, split.num_examples)
        idx = np.arange(n)
        inputs, labels = split.batch_inputs(idx), split.batch_labels(idx)
        texts = [task.example_text(row) for row in inputs]
    else:
        with open(args.puzzles, encoding="utf-8") as f:
            lines = [ln.strip() for ln in f]
        texts = [ln for ln in lines if ln and not ln.startswith("#")][: args.limit]
        n = len(texts)
        inputs = np.stack([task.parse(t).tokens for t in texts])
        labels = None
    options = given_options(args)
    solver.solve(texts[0], **options)  # warm-up
    calls, seconds, rungs = [], [], {}
    verified = wrong = exact = 0
    for i in range(n):
        t = time.perf_counter()
        r = solver.solve(texts[i], **options)
        seconds.append(time.perf_counter() - t)
        calls.append(r.calls)
        if r.verified:
            verified += 1
            rungs[r.rung] = rungs.get(r.rung, 0) + 1
            tokens = np.asarray(r.tokens)
            if labels is None:
                wrong += not task.accepts(inputs[i], tokens)
                continue
            mask = labels[i] != IGNORE
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
                "data": args.data or args.puzzles,
                "puzzles": n,
                "settings": solver.settings(**options).describe(solver.n_sup),
                "verified_rate": verified / n,
                "abstention_rate": 1 - verified / n,
                "wrong": wrong,
                "verified_exact": exact if labels is not None else None,
                "soundness": (verified - wrong) / verified if verified else None,
                "verified_by_rung": rungs,
                "calls": stats(calls),
                "seconds_per_solve": stats(seconds),
                "threads": args.threads,
                "cpu": cpu_model(),
            }
        )
    )


if __name__ == "__main__":
    main()
