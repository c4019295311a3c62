"""The worked example of docs/DATA.md, "Your own grid puzzles": a JSONL file of input/output grids that
`trm data build grid-pairs --source FILE` reads. The puzzle is "gravity": every grain ``#`` of an H×W grid of
``.`` falls to the bottom of its column (the output). Standard library only; every grid comes from ``--seed``.

    python benchmarks/make_grid_pairs_example.py --out gravity.jsonl --pairs 3000 --size 8 --seed 0
    python benchmarks/make_grid_pairs_example.py --out mixed.jsonl --min-size 4 --size 8   # then --padded
"""

from __future__ import annotations

import argparse
import json
import random


def fall(grid: list[str]) -> list[str]:
    """Every ``#`` dropped to the bottom of its column."""
    h, w = len(grid), len(grid[0])
    grains = [sum(row[c] == "#" for row in grid) for c in range(w)]
    return ["".join("#" if r >= h - grains[c] else "." for c in range(w)) for r in range(h)]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="the JSONL file to write")
    p.add_argument("--pairs", type=int, default=3000, help="input/output pairs")
    p.add_argument("--size", type=int, default=8, help="grid side (with --min-size: the largest)")
    p.add_argument(
        "--min-size", type=int, default=None, help="grids of random heights and widths from this to --size"
    )
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    rng = random.Random(a.seed)
    with open(a.out, "w", encoding="utf-8") as f:
        for _ in range(a.pairs):
            density = rng.uniform(0.1, 0.6)
            grid = [
                "".join("#" if rng.random() < density else "." for _ in range(a.size)) for _ in range(a.size)
            ]
            f.write(json.dumps({"input": "\n".join(grid), "output": "\n".join(fall(grid))}) + "\n")


if __name__ == "__main__":
    main()
