"""N-Queens validity and coverage of a trained run: K candidate answers per held-out board, each one of the 8
dihedral copies of the board (mapped back) and one trajectory (trajectory 0 noise-free, the others with noise on
the latent z); candidate j is copy j mod 8, trajectory j // 8.

    python benchmarks/nqueens_coverage.py RUN --data DIR [--split test] [--samples 20] [--noise 0.3]
        [--limit N] [--out FILE.json]

Reported (mean over the split's boards; every completion of every board is in ``completions_<split>.json``,
written by ``trm data build nqueens``):

* ``valid_one_pass``: candidate 0 (the board as it is, no noise) is a valid completion;
* ``valid_selected``: the answer chosen among the K candidates (most votes, ties by mean confidence) is valid;
* ``valid_any``: at least one of the K candidates is valid;
* ``coverage``: distinct valid completions among the K candidates over the completions that exist;
* ``exact_selected``: the chosen answer is the dataset's label (the board's first completion);

each also by the number of given queens. Inference runs every supervision step (official mode).
"""

from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from trm.checkpoint import load_model
from trm.data.format import load_split
from trm.hardware import cpu_model
from trm.infer import Settings
from trm.infer.engine import Engine
from trm.infer.voting import Candidates
from trm.tasks import get_task
from trm.tasks.nqueens import decode
from trm.utils import TRMError, atomic_write_json


def coverage(run: Path, data: Path, split: str, samples: int, noise: float, limit: int | None, seed: int):
    slot = "best" if (run / "checkpoints" / "best").is_dir() else "last"
    model, cfg, _ = load_model(run / "checkpoints" / slot if (run / "checkpoints").is_dir() else run)
    task = get_task("nqueens", cfg.model.seq_len, cfg.model.vocab_size)
    path = data / f"completions_{split}.json"
    if not path.is_file():
        raise TRMError(f"{path}: missing; build the dataset with `trm data build nqueens`")
    table = json.loads(path.read_text())["completions"]
    rows = load_split(data, split)
    idx = np.arange(rows.num_examples if limit is None else min(limit, rows.num_examples))
    inputs, labels = rows.batch_inputs(idx), rows.batch_labels(idx)
    syms = task.symmetries(8, seed)
    A = len(syms)
    per_sym = -(-samples // A)
    st = Settings.from_eval(cfg.eval).replace(
        mode="official", augment=1, samples=per_sym, noise=noise if per_sym > 1 else 0.1, seed=seed
    )
    st.validate()
    t0 = time.perf_counter()
    cand = Candidates(inputs, np.zeros(len(idx), np.int64), syms, per_sym)
    engine = Engine(_backend(model), cfg.model.N_sup, st.batch_size)
    job = cand.submit(engine, st)
    engine.run()
    seconds = time.perf_counter() - t0
    preds = cand.undo(job.preds)  # [B, A*K, S], candidate (a, k) at a * K + k
    conf = job.confidence.reshape(len(idx), A, per_sym)
    order = [(j % A) * per_sym + j // A for j in range(samples)]  # copy j mod A, trajectory j // A
    preds, conf = preds[:, order], conf.reshape(len(idx), -1)[:, order]
    stats: dict[str, list] = defaultdict(list)
    by_given: dict[int, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for b in range(len(idx)):
        complete = {tuple(c) for c in table[int(idx[b])]}
        given = int((inputs[b] == 2).sum())
        answers: dict[bytes, list] = {}
        valid_cols = set()
        ok = []
        for j in range(samples):
            p = preds[b, j]
            v = task.accepts(inputs[b], p)
            ok.append(v)
            if v:
                cols = tuple(int(c) for c in np.argmax(decode(p), axis=1))
                if cols not in complete:  # a valid answer is one of the enumerated completions
                    raise TRMError(f"row {idx[b]}: a valid answer missing from the completion table")
                valid_cols.add(cols)
            answers.setdefault(p.tobytes(), [0, 0.0, j])
            answers[p.tobytes()][0] += 1
            answers[p.tobytes()][1] += float(conf[b, j])
        best = max(answers.values(), key=lambda e: (e[0], e[1] / e[0]))[2]
        rec = {
            "valid_one_pass": ok[0],
            "valid_selected": ok[best],
            "valid_any": any(ok),
            "coverage": len(valid_cols) / len(complete),
            "distinct_valid": len(valid_cols),
            "completions": len(complete),
            "exact_selected": bool((preds[b, best] == labels[b]).all()),
        }
        for k, v in rec.items():
            stats[k].append(float(v))
            by_given[given][k].append(float(v))
    mean = {k: float(np.mean(v)) for k, v in stats.items()}
    return {
        "run": str(run),
        "checkpoint": slot,
        "data": str(data),
        "split": split,
        "puzzles": len(idx),
        "samples": samples,
        "noise": noise,
        "seed": seed,
        "candidates": "copy j mod 8 (dihedral), trajectory j // 8 (0 noise-free)",
        **mean,
        "by_given_queens": {
            str(g): {"puzzles": len(v["coverage"]), **{k: float(np.mean(x)) for k, x in v.items()}}
            for g, v in sorted(by_given.items())
        },
        "seconds": seconds,
        "cpu": cpu_model(),
    }


def _backend(model):
    from trm.infer.torch_backend import TorchBackend

    return TorchBackend(model)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run", type=Path, help="run directory (its best checkpoint, else last)")
    ap.add_argument("--data", type=Path, required=True, help="the nqueens dataset directory")
    ap.add_argument("--split", default="test")
    ap.add_argument("--samples", type=int, default=20, help="candidates per board (K)")
    ap.add_argument("--noise", type=float, default=0.3, help="std of the latent noise of trajectories > 0")
    ap.add_argument("--limit", type=int, default=None, help="first N boards of the split")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None, help="write the report as JSON here")
    a = ap.parse_args(argv)
    if a.samples < 1:
        ap.error("--samples must be >= 1")
    report = coverage(a.run, a.data, a.split, a.samples, a.noise, a.limit, a.seed)
    if a.out is not None:
        atomic_write_json(a.out, report)
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
