"""Time to accuracy: train a preset for a wall-clock budget and record held-out accuracy against minutes.

    python benchmarks/speedrun.py sudoku_mlp_fast --data data/sudoku-hard --out runs/speedrun --minutes 15
    python benchmarks/speedrun.py --compare runs/a/speedrun.json runs/b/speedrun.json --png cmp.png

The run is the library's own trainer (``trm.train.train``) with ``train.max_minutes`` as the budget,
``train.eval_interval_steps`` as the interval and ``--test-limit`` examples as the fixed held-out subset of
every evaluation (``data.val_limit`` of the validation split, which the trainer evaluates and stops on;
``data.test_limit`` of the test split, scored once at the end; EMA weights, official mode, as every training
evaluation); ``--target`` stops at that exact accuracy on validation. Minutes are training
minutes (evaluation excluded, as the trainer counts them). Written to ``OUT/speedrun.json`` (machine, config,
the curve, the final evaluation) and ``OUT/speedrun.png`` (exact accuracy against minutes and against steps;
needs pillow, the ``plot`` extra). ``--compare`` draws several such files into one PNG and prints a table of
the steps and minutes each took to reach a few accuracies.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from trm.cli.common import add_overrides, overrides_of
from trm.hardware import machine_info
from trm.presets import get_preset
from trm.train import train
from trm.utils import atomic_write_json

COLOURS = [(0, 90, 200), (230, 120, 0), (0, 150, 60), (200, 0, 60), (120, 60, 180)]
LEVELS = (0.5, 0.9, 0.97, 0.99)


def run(args: argparse.Namespace) -> dict:
    cfg = get_preset(args.preset).override(
        [
            f"train.max_minutes={args.minutes}",
            f"train.eval_interval_steps={args.eval_every}",
            f"data.val_limit={args.test_limit}",
            f"data.test_limit={args.test_limit}",
            f"train.target_accuracy={args.target}",
            *args.set,
        ]
    )
    curve: list[dict] = []

    def on_eval(r: dict) -> None:
        curve.append(
            {
                "step": r["step"],
                "minutes": round(r["train_seconds"] / 60, 3),
                "exact_accuracy": r["exact_accuracy"],
                "token_accuracy": r["accuracy"],
            }
        )
        _write(args.out, cfg, args, curve, None)  # a partial curve survives an interrupted run

    result = train(cfg, args.data, args.out, overwrite=True, console=not args.quiet, on_eval=on_eval)
    return _write(args.out, cfg, args, curve, result.status)


def _write(out: str, cfg, args, curve: list[dict], status: str | None) -> dict:
    record = {
        "label": args.label or cfg.name,
        "preset": args.preset,
        "overrides": args.set,
        "data": str(args.data),
        "budget_minutes": args.minutes,
        "test_limit": args.test_limit,
        "status": status,
        "machine": machine_info(),
        "config": cfg.to_dict(),
        "curve": curve,
    }
    atomic_write_json(Path(out) / "speedrun.json", record)
    return record


def first_reaching(curve: list[dict], level: float) -> dict | None:
    return next((p for p in curve if p["exact_accuracy"] >= level), None)


def table(records: list[dict]) -> str:
    """Markdown: steps / minutes to each accuracy level, and the best accuracy, per record."""
    head = "| run | " + " | ".join(f"{lv:.0%}" for lv in LEVELS) + " | best | steps, minutes |"
    lines = [head, "|" + "---|" * (len(LEVELS) + 3)]
    for r in records:
        c = r["curve"]
        cells = []
        for lv in LEVELS:
            p = first_reaching(c, lv)
            cells.append(f"{p['step']:,} ({p['minutes']:.1f} min)" if p else "–")
        best = max(c, key=lambda p: p["exact_accuracy"]) if c else None
        best_s = f"{best['exact_accuracy']:.1%} @{best['step']:,}" if best else "–"
        last = f"{c[-1]['step']:,}, {c[-1]['minutes']:.1f}" if c else "–"
        lines.append(f"| {r['label']} | " + " | ".join(cells) + f" | {best_s} | {last} |")
    return "\n".join(lines)


def plot(records: list[dict], path: str | Path) -> str:
    """Exact accuracy against training minutes (left) and steps (right), one colour per record."""
    try:
        from PIL import Image, ImageDraw
    except ImportError:
        return f"skipped {path}: pillow is not installed (pip install 'trm[plot]')"
    W, H, m = 460, 320, 44
    img = Image.new("RGB", (2 * W, H + 18 * len(records)), (255, 255, 255))
    d = ImageDraw.Draw(img)
    for panel, key, xlabel in ((0, "minutes", "training minutes"), (1, "step", "optimizer steps")):
        x0 = panel * W
        xmax = max((p[key] for r in records for p in r["curve"]), default=1) or 1
        d.rectangle([x0 + m, 20, x0 + W - 20, H - m], outline=(0, 0, 0))
        for i in range(0, 11, 2):
            y = H - m - (H - m - 20) * i / 10
            d.text((x0 + 8, y - 6), f"{i / 10:.1f}", fill=(0, 0, 0))
        for i in range(5):
            x = x0 + m + (W - 20 - m) * i / 4
            v = xmax * i / 4
            label = f"{round(v):,}" if v >= 100 else f"{v:.3g}"  # steps as integers, not 1.16e+03
            d.text((x - d.textlength(label) / 2, H - m + 6), label, fill=(0, 0, 0))
        d.text((x0 + W // 2 - 40, H - 22), xlabel, fill=(0, 0, 0))
        d.text((x0 + m + 6, 4), "held-out exact accuracy", fill=(0, 0, 0))
        for j, r in enumerate(records):
            colour = COLOURS[j % len(COLOURS)]
            pts = [
                (x0 + m + (W - 20 - m) * p[key] / xmax, H - m - (H - m - 20) * p["exact_accuracy"])
                for p in r["curve"]
            ]
            if len(pts) > 1:
                d.line(pts, fill=colour, width=2)
            for x, y in pts:
                d.ellipse([x - 2, y - 2, x + 2, y + 2], fill=colour)
    for j, r in enumerate(records):
        y = H + 4 + 18 * j
        d.line([m, y + 6, m + 20, y + 6], fill=COLOURS[j % len(COLOURS)], width=3)
        d.text((m + 26, y), r["label"], fill=(0, 0, 0))
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    img.save(path)
    return f"wrote {path}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("preset", nargs="?")
    p.add_argument("--data", help="dataset directory (official layout)")
    p.add_argument("--out", default="runs/speedrun", help="run directory (overwritten)")
    p.add_argument("--minutes", type=float, default=15.0, help="training budget in minutes")
    p.add_argument("--eval-every", type=int, default=500, help="optimizer steps between evaluations")
    p.add_argument(
        "--test-limit",
        type=int,
        default=1000,
        help="held-out puzzles per evaluation (a fixed subset of the validation split; also of the test split "
        "for the final score)",
    )
    p.add_argument("--target", type=float, default=0.0, help="stop at this exact accuracy (0 = never)")
    add_overrides(p, help="config overrides, e.g. train.compile=step (docs/CLI.md)", old="--set", nargs="*")
    p.add_argument("--label", default="", help="name of the curve (default: the preset)")
    p.add_argument("--compare", nargs="+", metavar="JSON", help="plot and tabulate these speedrun.json files")
    p.add_argument("--png", default=None, help="where --compare writes its PNG")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_intermixed_args(argv)
    args.set = overrides_of(args)
    if args.compare:
        records = [json.loads(Path(f).read_text()) for f in args.compare]
        print(table(records))
        if args.png:
            print(plot(records, args.png))
        return 0
    if not args.preset or not args.data:
        p.error("a preset and --data are needed (or --compare)")
    record = run(args)
    print(table([record]))
    print(plot([record], Path(args.out) / "speedrun.png"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
