"""Time the dataset builds of issue 3 and print one JSON object.

    flock /tmp/trm-cpu.lock python benchmarks/data_build.py [--only arc1 sudoku-hard sudoku-generate-10k maze-hard]

Needs ../shared/data (or --shared) for arc1 and sudoku-hard; outputs go to a temporary directory that is
removed afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", default=str(REPO.parent / "shared" / "data"))
    ap.add_argument("--only", nargs="+", default=["arc1", "sudoku-hard", "sudoku-generate-10k", "maze-hard"])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--tmp", default=None, help="where to write the datasets (default: system temp)")
    args = ap.parse_args()

    from trm.data import sudoku_generate as S
    from trm.data.build.arc import build_arc_preset
    from trm.data.build.maze import build_maze_generated
    from trm.data.build.sudoku import build_sudoku_hard
    from trm.data.format import describe

    shared = Path(args.shared)
    results: dict = {
        "cpu_count": os.cpu_count(),
        "workers": args.workers,
        "python": platform.python_version(),
    }
    tmp = Path(tempfile.mkdtemp(prefix="trm-data-bench-", dir=args.tmp))
    try:
        for name in args.only:
            out = tmp / name
            t0 = time.perf_counter()
            if name == "arc1":
                src = shared / "trm-kaggle-combined"
                if not src.is_dir():
                    results[name] = {"skipped": f"{src} not found"}
                    continue
                build_arc_preset(out, "arc1", src, num_aug=1000, workers=args.workers)
            elif name == "sudoku-hard":
                src = shared / "sudoku"
                if not src.is_dir():
                    results[name] = {"skipped": f"{src} not found"}
                    continue
                build_sudoku_hard(out, src, workers=args.workers)
            elif name == "sudoku-generate-10k":
                p, _ = S.generate(10_000, (3, 3), (50, 58), seed=0, workers=args.workers)
                assert (p == 0).reshape(len(p), -1).sum(1).min() >= 50
            elif name == "maze-hard":
                build_maze_generated(out, 30, 1000, 1000, workers=args.workers)
            else:
                raise SystemExit(f"unknown benchmark {name}")
            dt = time.perf_counter() - t0
            entry: dict = {"seconds": round(dt, 1)}
            if out.exists():
                d = describe(out)
                entry["train_examples"] = d["train"]["examples"]
                entry["test_examples"] = d["test"]["examples"]
                entry["identifiers"] = d["identifiers"]
                shutil.rmtree(out)
            results[name] = entry
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
