"""Learning curves of the official code and of ours, side by side, on one dataset with one recipe.

    python benchmarks/train_parity.py --official PATH/TO/TinyRecursiveModels --data DIR --out OUT.json \
        [--preset sudoku6_mlp] [KEY=VALUE ...] [--seeds 0 1 2] [--steps 1500] [--eval-every 100] \
        [--eval-limit 500] [--codes official ours]
    python benchmarks/train_parity.py --report OUT.json [MORE.json ...] [--png OUT.png]
    python benchmarks/train_parity.py --official PATH --data DIR --lockstep 120 [--preset sudoku6_mlp] [KEY=VALUE ...]
    python benchmarks/train_parity.py --official PATH --data DIR --init-stats 6 [--preset sudoku6_mlp] [KEY=VALUE ...]

Each code trains with its own pipeline from its own seeded initialisation: the official side is its model,
``ACTLossHead``, optimizers, ``EMAHelper``, ``pretrain.train_batch`` and its ``PuzzleDataset`` sampler
(driven by ``benchmarks/official_harness.py``, which says what is substituted to run it on a CPU); ours is
:func:`trm.train.step.build_training`'s step and :class:`trm.data.sampler.TrainSampler`. The recipe is the
preset's, with the switches the official code does not have forced to their official values (AdamATan2, no
on-the-fly augmentation, float32; any other non-official switch is refused). Every ``--eval-every`` steps
both score their EMA weights with every row running all N_sup steps on the same first ``--eval-limit``
examples of the dataset's test split (a measurement: nothing is chosen on it). ``--report`` prints steps to
50/90/95% exact accuracy per run, mean ± sd per code and the ratio of the two codes' means, and plots mean ± sd
bands against steps; given several files (e.g. one process per code, run side by side) it reads their runs as one.

``--lockstep K`` takes away the randomness instead: both codes start from the same official initial weights
(the halting head made live, as the training fixtures make it, so rows halt early), take the same K batches of
the official sampler and the same exploration draws (the torch RNG seeded with ``1000 + k`` before call k), in
one process at one thread count, and the per-step losses, halting steps and final weights are compared (our
side through :func:`trm.parity.run_train_parity`).

``--init-stats N`` checks the other random draw the two codes make apart: their initial weights. For seeds 0 … N-1
each code builds its model as a training run of that seed would, and every tensor's mean and standard deviation,
averaged over the seeds, is printed for both (keys as the official code names them).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import torch

from trm.cli.common import add_overrides, overrides_of
from trm.config import Config
from trm.data.format import load_split
from trm.data.sampler import test_batches
from trm.hardware import machine_info
from trm.model.official import export_official_state_dict, official_arch_config
from trm.parity import TRAIN_KEYS, compare, run_train_parity
from trm.presets import get_preset
from trm.train.data import open_data
from trm.train.evaluate import evaluate
from trm.train.step import build_training
from trm.utils import atomic_write_json

sys.path.insert(0, str(Path(__file__).resolve().parent))
from official_harness import OfficialRun, import_official, live_halting_state  # noqa: E402

LOCKSTEP_SEED = 1000  # --lockstep: the torch RNG is seeded with this + k before call k of both codes

# switches the official code lacks, forced to the official behaviour
FORCED = {
    "train.optimizer": "adam_atan2",
    "train.dtype": "float32",
    "train.kernels": "eager",
    "train.compile": "off",
    "train.autotune": False,
    "train.ema": True,
    "data.augment_on_the_fly": False,
    # every training group trained on, as the official sampler does (no validation groups carved out of a dataset
    # without a val/ split; both codes are scored on the benchmark's own held-out examples)
    "eval.select_on": "test",
}
# switches that must already hold their official value (refused otherwise: the comparison would be unfair)
OFFICIAL = {
    "train.grad_clip": 0.0,
    "train.halt_loss_weight": 0.5,
    "train.step_weight_decay": 1.0,
    "train.label_smoothing": 0.0,
    "train.init_noise": 0.0,
    "train.latent_noise": 0.0,
    "train.depth_curriculum": "",
    "train.ema_warmup": False,
    "model.swiglu_norm": False,
    "model.swiglu_multiple": 256,
}
LEVELS = (0.5, 0.9, 0.95)
COLOURS = {"official": (200, 60, 40), "ours": (40, 90, 200)}


def recipe(preset: str, sets: list[str]) -> Config:
    cfg = get_preset(preset).override(sets).override(FORCED)
    bad = [f"{k}={_get(cfg, k)!r}" for k, v in OFFICIAL.items() if _get(cfg, k) != v]
    if bad:
        raise SystemExit(
            f"error: not an official recipe ({', '.join(bad)}); the official code has no such switch"
        )
    return cfg


def _get(cfg: Config, dotted: str):
    """The value of a dotted key (a flat ``train.KEY`` reads its group's field)."""
    for part in dotted.split("."):
        cfg = getattr(cfg, part)
    return cfg


def eval_set(data_dir: Path, limit: int, batch: int) -> list[dict[str, torch.Tensor]]:
    """The first ``limit`` examples of the test split, in batches (padding rows cut off)."""
    test = load_split(data_dir, "test")
    out, seen = [], 0
    for b, real in test_batches(test, batch):
        take = min(real, limit - seen)
        if take <= 0:
            break
        out.append({k: v[:take] for k, v in b.items()})
        seen += take
    return out


def run_ours(cfg: Config, data_dir: Path, seed: int, args, batches, log) -> list[dict]:
    cfg = cfg.override({"train.seed": seed, "train.max_steps": args.steps})
    data = open_data(data_dir, cfg, note=lambda _: None)
    cpu = torch.device("cpu")
    model, _, _, ema, step = build_training(data.cfg, cpu, torch.float32, args.steps, note=lambda _: None)
    torch.manual_seed(seed + 1)  # the trainer's exploration stream
    sampler = iter(data.sampler)
    carry, curve, t0 = None, [], time.perf_counter()
    for k in range(1, args.steps + 1):
        batch = next(sampler)
        carry = model.initial_carry(batch) if carry is None else carry
        carry, _, _ = step(carry, batch, k)
        if k % args.eval_every == 0:
            with ema.swapped_in(model):
                m = evaluate(model, batches, cpu, loss=data.cfg.model.loss)
            model.train()
            curve.append(_point(k, m, t0))
            log(curve)
    return curve


def official_side(cfg: Config, data_dir: Path, steps: int, official: str, seed: int):
    """The official modules, arch config, pretrain keys (``total_steps`` = ``steps``) and training sampler."""
    off = import_official(official)
    from puzzle_dataset import PuzzleDataset, PuzzleDatasetConfig

    t = cfg.train
    arch = official_arch_config(open_data(data_dir, cfg, note=lambda _: None).cfg.model, t.global_batch_size)
    # TRAIN.json's official keys carry our TrainConfig field names (see trm.parity.train_config_from_official)
    train = {k: getattr(t, k) for k in TRAIN_KEYS if k != "total_steps"} | {"total_steps": steps}
    dataset = PuzzleDataset(
        PuzzleDatasetConfig(
            seed=seed,
            dataset_paths=[str(data_dir)],
            global_batch_size=t.global_batch_size,
            test_set_mode=False,
            epochs_per_iter=1,
            rank=0,
            num_replicas=1,
        ),
        split="train",
    )
    return off, arch, train, dataset


def run_official(cfg: Config, data_dir: Path, seed: int, args, batches, log) -> list[dict]:
    off, arch, train, dataset = official_side(cfg, data_dir, args.steps, args.official, seed)
    run = OfficialRun(off, arch, train, seed=seed)
    curve, t0, k = [], time.perf_counter(), 0
    while k < args.steps:
        for _, batch, _ in dataset:  # one pass over the groups per iteration, as pretrain.launch's loop
            k += 1
            run.train_step(batch)
            if k % args.eval_every == 0:
                m = run.evaluate(batches)
                curve.append(_point(k, m, t0))
                log(curve)
            if k >= args.steps:
                break
    return curve


def lockstep(cfg: Config, data_dir: Path, steps: int, official: str) -> str:
    """``--lockstep``: both codes' steps from one state on one batch stream with the same draws (module doc)."""
    off, arch, train, dataset = official_side(cfg, data_dir, steps, official, seed=0)
    state = live_halting_state(off, arch, seed=0)  # rows halt before N_sup from the first step
    batches: list[dict] = []
    while len(batches) < steps:
        batches += [b for _, b, _ in dataset][: steps - len(batches)]
    stream = {k: torch.stack([b[k] for b in batches]) for k in batches[0]}
    run = OfficialRun(off, arch, train, state=state)
    theirs: dict[str, list[float]] = {"lm_loss": [], "steps": []}
    for k in range(1, steps + 1):
        torch.manual_seed(LOCKSTEP_SEED + k)
        out = run.train_step({n: v[k - 1] for n, v in stream.items()})
        for name in theirs:
            theirs[name].append(float(out[f"train/{name}"]))
    ours = run_train_parity(arch, state, train, stream, steps, explore=True, seed=LOCKSTEP_SEED)
    lines = [
        f"{steps} steps of {cfg.name} (task {cfg.task}) on {data_dir}, both codes from the same weights, batches "
        "and exploration draws:"
    ]
    for name, values in theirs.items():
        mine = ours["metrics"][name].tolist()
        rel = max(abs(a - b) / max(abs(b), 1e-12) for a, b in zip(mine, values, strict=True))
        lines.append(f"  {name} of every call: worst relative difference {rel:.1e}")
    early = sum(v < arch["halt_max_steps"] for v in theirs["steps"])
    lines.append(f"  steps in which halted rows averaged fewer than N_sup supervision steps: {early}")
    for group, tensors in (
        ("params", {k: v for k, v in run.model.model.state_dict().items()}),
        ("ema", {k.removeprefix("model."): v for k, v in run.ema.shadow.items()}),
    ):
        rel = compare({k: v for k, v in ours[group].items()}, {k: tensors[k] for k in ours[group]})
        lines.append(f"  {group} after step {steps}: worst relative difference {max(rel.values()):.1e}")
    return "\n".join(lines)


def init_stats(cfg: Config, data_dir: Path, seeds: int, official: str) -> str:
    """``--init-stats``: each code's initial weights for seeds 0 … seeds-1, per tensor mean and sd (module doc)."""
    stats: dict[str, dict[str, list[tuple[float, float]]]] = {"official": {}, "ours": {}}
    shapes: dict[str, tuple[int, ...]] = {}
    off, arch, train, _ = official_side(
        cfg, data_dir, 1, official, seed=0
    )  # the seed only orders its sampler
    for seed in range(seeds):
        theirs = OfficialRun(off, arch, train, seed=seed).model.state_dict()
        c = cfg.override({"train.seed": seed})
        model, *_ = build_training(
            open_data(data_dir, c, note=lambda _: None).cfg,
            torch.device("cpu"),
            torch.float32,
            1,
            note=lambda _: None,
        )
        mine = export_official_state_dict(model, prefix="")
        for code, sd in (("official", theirs), ("ours", mine)):
            for key, v in sd.items():
                key = key.removeprefix("_orig_mod.").removeprefix("model.")
                v = v.detach().float()
                shapes[key] = tuple(v.shape)
                sd_ = v.std().item() if v.numel() > 1 else 0.0
                stats[code].setdefault(key, []).append((v.mean().item(), sd_))

    def cell(values: list[tuple[float, float]] | None) -> str:
        if values is None:
            return "missing"
        n = len(values)
        return f"{sum(m for m, _ in values) / n:+.4f} / {sum(s for _, s in values) / n:.4f}"

    lines = [
        f"initial weights of {cfg.name} (task {cfg.task}), mean / sd per tensor averaged over seeds 0-{seeds - 1}:"
    ]
    lines.append(f"  {'tensor':52s} {'shape':12s} {'official':>18s} {'ours':>18s}")
    for key in sorted(set(stats["official"]) | set(stats["ours"])):
        a, b = stats["official"].get(key), stats["ours"].get(key)
        lines.append(f"  {key:52s} {str(shapes[key]):12s} {cell(a):>18s} {cell(b):>18s}")
    return "\n".join(lines)


def _point(step: int, m: dict, t0: float) -> dict:
    return {
        "step": step,
        "exact_accuracy": float(m["exact_accuracy"]),
        "accuracy": float(m["accuracy"]),
        "minutes": round((time.perf_counter() - t0) / 60, 3),
    }


def first_reaching(curve: list[dict], level: float) -> int | None:
    return next((p["step"] for p in curve if p["exact_accuracy"] >= level), None)


def _mean_sd(values: list[float]) -> tuple[float, float]:
    m = sum(values) / len(values)
    sd = math.sqrt(sum((v - m) ** 2 for v in values) / (len(values) - 1)) if len(values) > 1 else 0.0
    return m, sd


def merged(records: list[dict]) -> dict:
    """Several written records as one (their runs together; a code and seed given twice is an error)."""
    runs, seen = [], set()
    for rec in records:
        for r in rec["runs"]:
            key = (r["code"], r["seed"])
            if key in seen:
                raise SystemExit(f"error: {r['code']} seed {r['seed']} is in more than one file")
            seen.add(key)
            runs.append(r)
    return {**records[0], "runs": runs}


def _steps_to(runs: list[dict], level: float) -> list[int | None]:
    return [first_reaching(r["curve"], level) for r in runs]


def report(record: dict) -> str:
    lines = ["| code | seed | " + " | ".join(f"steps to {p:.0%}" for p in LEVELS) + " | final exact |"]
    lines.append("|---" * (len(LEVELS) + 3) + "|")
    for r in record["runs"]:
        steps = [first_reaching(r["curve"], p) for p in LEVELS]
        final = r["curve"][-1]["exact_accuracy"] if r["curve"] else float("nan")
        cells = " | ".join("–" if s is None else f"{s:,}" for s in steps)
        lines.append(f"| {r['code']} | {r['seed']} | {cells} | {final:.1%} |")
    for code in sorted({r["code"] for r in record["runs"]}):
        runs = [r for r in record["runs"] if r["code"] == code]
        cells = []
        for p in LEVELS:
            s = _steps_to(runs, p)
            if any(v is None for v in s):
                cells.append(f"{sum(v is not None for v in s)}/{len(s)} reached")
            else:
                m, sd = _mean_sd([float(v) for v in s])
                cells.append(f"{m:,.0f} ± {sd:,.0f}")
        finals = [r["curve"][-1]["exact_accuracy"] for r in runs if r["curve"]]
        m, sd = _mean_sd(finals) if finals else (float("nan"), 0.0)
        lines.append(
            f"| **{code}**, mean ± sd ({len(runs)} seeds) | | "
            + " | ".join(cells)
            + f" | {m:.1%} ± {sd:.1%} |"
        )
    by_code = {c: [r for r in record["runs"] if r["code"] == c] for c in ("official", "ours")}
    if all(by_code.values()):
        ratios = []
        for p in LEVELS:
            a, b = _steps_to(by_code["official"], p), _steps_to(by_code["ours"], p)
            if any(v is None for v in a + b):
                ratios.append(f"{p:.0%}: not reached by every run")
            else:
                ratios.append(f"{p:.0%}: {(sum(b) / len(b)) / (sum(a) / len(a)):.2f}")
        lines.append("")
        lines.append("mean steps, ours / official — " + "; ".join(ratios))
    return "\n".join(lines)


def plot(record: dict, path: str) -> str:
    """Exact accuracy against steps: mean ± sd band and mean line per code."""
    try:
        from PIL import Image, ImageDraw
    except ImportError:
        return f"skipped {path}: pillow is not installed (pip install 'trm[plot]')"
    W, H, m = 640, 380, 50
    img = Image.new("RGB", (W, H + 40), (255, 255, 255))
    d = ImageDraw.Draw(img, "RGBA")
    xmax = max((p["step"] for r in record["runs"] for p in r["curve"]), default=1)
    X = lambda s: m + (W - 20 - m) * s / xmax  # noqa: E731
    Y = lambda a: H - m - (H - m - 20) * a  # noqa: E731
    d.rectangle([m, 20, W - 20, H - m], outline=(0, 0, 0))
    for i in range(0, 11, 2):
        d.text((12, Y(i / 10) - 6), f"{i / 10:.1f}", fill=(0, 0, 0))
    for i in range(5):
        label = f"{round(xmax * i / 4):,}"
        d.text((X(xmax * i / 4) - d.textlength(label) / 2, H - m + 6), label, fill=(0, 0, 0))
    d.text((W // 2 - 50, H - 24), "optimizer steps", fill=(0, 0, 0))
    d.text((m + 6, 4), "held-out exact accuracy (mean ± sd over seeds)", fill=(0, 0, 0))
    for j, code in enumerate(sorted({r["code"] for r in record["runs"]})):
        runs = [r["curve"] for r in record["runs"] if r["code"] == code]
        steps = sorted(set.intersection(*({p["step"] for p in c} for c in runs)))
        stats = [
            _mean_sd([next(p["exact_accuracy"] for p in c if p["step"] == s) for c in runs]) for s in steps
        ]
        colour = COLOURS.get(code, (0, 0, 0))
        if len(steps) > 1:
            upper = [(X(s), Y(min(1.0, mu + sd))) for s, (mu, sd) in zip(steps, stats, strict=True)]
            lower = [(X(s), Y(max(0.0, mu - sd))) for s, (mu, sd) in zip(steps, stats, strict=True)]
            d.polygon(upper + lower[::-1], fill=colour + (60,))
            d.line([(X(s), Y(mu)) for s, (mu, _) in zip(steps, stats, strict=True)], fill=colour, width=2)
        y = H + 8 + 16 * j
        d.line([m, y + 6, m + 20, y + 6], fill=colour, width=3)
        d.text((m + 26, y), f"{code} ({len(runs)} seeds)", fill=(0, 0, 0))
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    img.save(path)
    return f"wrote {path}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--official", help="checkout of the official TinyRecursiveModels code")
    ap.add_argument("--data", help="dataset directory (official layout) both codes train on")
    ap.add_argument("--out", help="JSON written after every evaluation")
    ap.add_argument("--preset", default="sudoku6_mlp")
    add_overrides(
        ap,
        help="config overrides of our side, e.g. train.lr=3e-4 (docs/CLI.md)",
        old="--set",
        action="append",
    )
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--codes", nargs="+", default=["official", "ours"], choices=["official", "ours"])
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--eval-every", type=int, default=100)
    ap.add_argument("--eval-limit", type=int, default=500)
    ap.add_argument(
        "--report",
        nargs="+",
        metavar="JSON",
        help="print the table of written JSON files (and --png their plot)",
    )
    ap.add_argument("--png")
    ap.add_argument(
        "--lockstep",
        type=int,
        metavar="K",
        help="compare K steps of both codes from one state, stream and draws (needs --official, --data)",
    )
    ap.add_argument(
        "--init-stats",
        type=int,
        metavar="N",
        help="print both codes' initial weights' mean and sd per tensor over seeds 0..N-1 (needs --official, --data)",
    )
    args = ap.parse_intermixed_args(argv)
    if args.report:
        record = merged([json.loads(Path(f).read_text()) for f in args.report])
        print(report(record))
        if args.png:
            print(plot(record, args.png))
        return 0
    if args.lockstep:
        if not (args.official and args.data):
            ap.error("--lockstep needs --official and --data")
        print(
            lockstep(recipe(args.preset, overrides_of(args)), Path(args.data), args.lockstep, args.official)
        )
        return 0
    if args.init_stats:
        if not (args.official and args.data):
            ap.error("--init-stats needs --official and --data")
        print(
            init_stats(
                recipe(args.preset, overrides_of(args)), Path(args.data), args.init_stats, args.official
            )
        )
        return 0
    if not (args.official and args.data and args.out):
        ap.error("training needs --official, --data and --out (or --report FILE)")
    cfg = recipe(args.preset, overrides_of(args))
    data_dir = Path(args.data)
    batches = eval_set(data_dir, args.eval_limit, cfg.eval.batch_size)
    out = Path(args.out)
    record = json.loads(out.read_text()) if out.is_file() else None
    if record is None:
        record = {
            "command": " ".join(sys.argv),
            "machine": machine_info(),
            "config": cfg.to_dict(),
            "data": str(data_dir.resolve()),
            "eval_examples": sum(len(b["inputs"]) for b in batches),
            "runs": [],
        }
    done = {(r["code"], r["seed"]) for r in record["runs"] if r.get("finished")}
    for seed in args.seeds:
        for code in args.codes:
            if (code, seed) in done:
                continue
            record["runs"] = [r for r in record["runs"] if (r["code"], r["seed"]) != (code, seed)]
            entry = {"code": code, "seed": seed, "curve": [], "finished": False}
            record["runs"].append(entry)

            def log(curve, entry=entry):
                entry["curve"] = curve
                atomic_write_json(out, record)
                p = curve[-1]
                print(
                    f"{entry['code']} seed {entry['seed']} step {p['step']}: exact {p['exact_accuracy']:.1%} "
                    f"({p['minutes']:.1f} min)",
                    flush=True,
                )

            runner = run_official if code == "official" else run_ours
            entry["curve"] = runner(cfg, data_dir, seed, args, batches, log)
            entry["finished"] = True
            atomic_write_json(out, record)
    print(report(record))
    if args.png:
        print(plot(record, args.png))
    return 0


if __name__ == "__main__":
    sys.exit(main())
