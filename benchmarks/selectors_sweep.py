"""The compute/accuracy frontier of test-time selection: exact accuracy against network calls per puzzle for a
grid of selectors x trajectories x depth, on one model and dataset (``trm eval`` for every point).

    python benchmarks/selectors_sweep.py RUN --data DIR [--limit N] [--ks 1,2,4,8,16] [--depths 8,16]
        [--selectors majority,confidence,halt-first,converged,q-weighted] [--noise 0.2 ...] --out DIR

Every other inference flag of ``trm eval`` (noise, init-noise, threshold, tolerance, patience, seed, augment,
batch-size) sets the base settings of all points. With one trajectory only the selectors that stop early
(halt-first, converged) differ from the single pass, so the others are not run there. Writes ``DIR/
frontier.json`` (every point, and the issue's two questions answered from them) and ``DIR/frontier.png``
(pillow; without it the JSON only, and the output says so). A network call is one supervision step of one
row: calls per puzzle are steps summed over trajectories and symmetric copies.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from trm.checkpoint import load_model
from trm.hardware import cpu_model
from trm.infer import Settings, evaluate
from trm.infer.render import plot_frontier
from trm.infer.selectors import names
from trm.infer.settings import add_arguments, given_options
from trm.infer.torch_backend import TorchBackend
from trm.utils import atomic_write_json

EARLY = ("halt-first", "converged")  # the selectors that differ from a single pass at one trajectory


def summarise(points: list[dict], n_sup: int) -> dict:
    """The issue's questions: the best gain over one trajectory at <= 16x its calls, and whether halt-first or
    converged reach majority voting's accuracy (within 1 point) at <= half its calls."""
    base = next(
        p for p in points if p["select"] == "majority" and p["samples"] == 1 and p["max_steps"] == n_sup
    )
    within = [p for p in points if p["calls_per_puzzle"] <= 16 * base["calls_per_puzzle"] + 1e-9]
    best = max(within, key=lambda p: p["exact_accuracy"])
    matches = []
    for maj in (p for p in points if p["select"] == "majority" and p["samples"] > 1):
        cheap = [
            p
            for p in points
            if p["select"] in EARLY and p["calls_per_puzzle"] <= maj["calls_per_puzzle"] / 2 + 1e-9
        ]
        top = max(cheap, key=lambda p: p["exact_accuracy"], default=None)
        matches.append(
            {
                "majority": _key(maj),
                "majority_accuracy": maj["exact_accuracy"],
                "majority_calls": maj["calls_per_puzzle"],
                "best_early_at_half_calls": None if top is None else _key(top),
                "its_accuracy": None if top is None else top["exact_accuracy"],
                "its_calls": None if top is None else top["calls_per_puzzle"],
                "matches": top is not None and top["exact_accuracy"] >= maj["exact_accuracy"] - 0.01,
            }
        )
    return {
        "single_trajectory": {"accuracy": base["exact_accuracy"], "calls": base["calls_per_puzzle"]},
        "best_within_16x_calls": {
            **_key(best),
            "accuracy": best["exact_accuracy"],
            "calls": best["calls_per_puzzle"],
            "gain_points": 100 * (best["exact_accuracy"] - base["exact_accuracy"]),
        },
        "early_vs_majority": matches,
    }


def _key(p: dict) -> dict:
    return {"select": p["select"], "samples": p["samples"], "max_steps": p["max_steps"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint")
    ap.add_argument("--data", required=True)
    ap.add_argument("--split", default="test")
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--ks", default="1,2,4,8,16", help="trajectories per puzzle (comma-separated)")
    ap.add_argument("--depths", default=None, help="max_steps values (default: N_sup and 2 N_sup)")
    ap.add_argument("--selectors", default=",".join(names()))
    ap.add_argument("--out", required=True)
    ap.add_argument("--threads", type=int, default=None)
    add_arguments(ap.add_argument_group("base inference settings"))
    args = ap.parse_args()
    model, cfg, _ = load_model(args.checkpoint, "cpu")
    backend, n_sup = TorchBackend(model, args.threads), cfg.model.N_sup
    base = Settings.from_eval(cfg.eval).replace(**given_options(args))
    depths = [int(d) for d in args.depths.split(",")] if args.depths else [n_sup, 2 * n_sup]
    points = []
    for depth in depths:
        for k in (int(x) for x in args.ks.split(",")):
            for name in args.selectors.split(","):
                if k == 1 and name not in (*EARLY, "majority"):
                    continue
                st = base.replace(samples=k, max_steps=depth, select=name).validate()
                t0 = time.perf_counter()
                r = evaluate(backend, cfg, args.data, st, split=args.split, limit=args.limit)
                point = {
                    "select": name,
                    "samples": k,
                    "max_steps": depth,
                    "exact_accuracy": r["exact_accuracy"],
                    "exact_accuracy_ci95": r["exact_accuracy_ci95"],
                    "calls_per_puzzle": r["calls_per_puzzle"],
                    "mean_steps": r["mean_steps"],
                    "seconds": round(time.perf_counter() - t0, 2),
                }
                points.append(point)
                print(json.dumps(point), flush=True)
    out = Path(args.out)
    report = {
        "checkpoint": str(args.checkpoint),
        "data": str(args.data),
        "cpu": cpu_model(),
        "subset": r["subset"],
        "base_settings": base.describe(n_sup),
        "points": points,
        "summary": summarise(points, n_sup) if n_sup in depths and "1" in args.ks.split(",") else None,
    }
    atomic_write_json(out / "frontier.json", report)
    print(json.dumps(report["summary"], indent=1))
    print(f"wrote {out / 'frontier.json'}")
    print(plot_frontier(points, out / "frontier.png"))


if __name__ == "__main__":
    main()
