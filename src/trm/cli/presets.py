"""``trm presets``: the named configurations and their dense parameter counts."""

from __future__ import annotations

import argparse

HELP = "list presets with their parameter counts"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", nargs="?", help="show one preset's full resolved config as JSON")
    p.add_argument("--paper", action="store_true", help="apply the paper text's values where they differ")
    p.add_argument("--json", action="store_true", help="print the table as JSON")


def table(paper: bool = False) -> list[dict]:
    from ..model import count_dense_parameters  # here, not at the top: torch loads only for this table
    from ..presets import PAPER_RESULTS, PRESETS, get_preset

    rows = []
    for name in PRESETS:
        cfg = get_preset(name, paper=paper)
        m = cfg.model
        rows.append(
            {
                "preset": name,
                "task": cfg.task,
                "arch": m.arch,
                "mixer": m.mixer,
                "pos": m.pos_encodings,
                "T": m.T,
                "n": m.n,
                "N_sup": m.N_sup,
                "D": m.hidden_size,
                "dense_params": count_dense_parameters(m),
                "puzzle_table": m.num_puzzle_identifiers * m.puzzle_emb_ndim,
                "paper": PAPER_RESULTS.get(name, ""),
            }
        )
    return rows


def run(args: argparse.Namespace) -> int:
    import json

    from ..presets import get_preset

    if args.name:
        print(get_preset(args.name, paper=args.paper).to_json())
        return 0
    rows = table(args.paper)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    head = f"{'preset':<15} {'task':<7} {'arch':<4} {'mixer':<9} {'pos':<7} {'T':>2} {'n':>2} {'N_sup':>5} {'D':>4} {'dense params':>13} {'puzzle table':>13}  paper"
    print(head)
    print("-" * len(head))
    for r in rows:
        print(
            f"{r['preset']:<15} {r['task']:<7} {r['arch']:<4} {r['mixer']:<9} {r['pos']:<7} {r['T']:>2} {r['n']:>2} "
            f"{r['N_sup']:>5} {r['D']:>4} {r['dense_params']:>13,} {r['puzzle_table']:>13,}  {r['paper']}"
        )
    return 0
