"""``trm train``: train a preset on a dataset, or resume a run."""

from __future__ import annotations

import argparse

from .common import add_device, add_dtype, add_overrides

HELP = "train a preset on a dataset (resumable; multi-GPU with torchrun)"
DESCRIPTION = """Train a preset on a dataset in the official layout.

  trm train sudoku_mlp --data data/sudoku-extreme --out runs/sudoku train.max_minutes=60
  trm train sudoku6_mlp model.n=6 train.lr=3e-4 --data data/sudoku6 --out runs/s6
  trm train --resume runs/s6 train.max_steps=5000
  torchrun --nproc-per-node 4 -m trm train arc1_att --data data/arc1 --out runs/arc1

Overrides are dotted config keys (`trm presets NAME` shows a preset's values). The dataset's vocab size,
sequence length and number of puzzle identifiers replace the preset's (with a note) unless you set them.
The run directory gets config.json, run_info.json, metrics.jsonl and checkpoints/{last,best}; Ctrl-C writes
a checkpoint that --resume continues exactly.
"""


def _field_list() -> str:
    """Every config field with its help and its bounds, from their one declaration (:mod:`trm.config`), the
    train keys under their groups."""
    import dataclasses

    from ..config import TRAIN_GROUPS, Config, TrainConfig, field_help

    helps = field_help(Config, aliases=False)
    group_help = {f.name: f.metadata.get("help", "") for f in dataclasses.fields(TrainConfig)}
    lines, shown = [], None
    for key, text in helps.items():
        if "." not in key:
            continue
        parts = key.split(".")
        group = parts[1] if parts[0] == "train" and parts[1] in TRAIN_GROUPS else None
        if group is not None and group != shown:
            lines.append(f" train.{group}: {group_help[group]}")
        shown = group
        lines.append(f"  {key:<36} {text}")
    return (
        "config fields (section.key=value; [allowed: ...] is checked before anything is written; a train key\n"
        "may also be written without its group, as before the groups: train.lr_warmup_steps is\n"
        "train.optim.lr_warmup_steps):\n" + "\n".join(lines)
    )


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.epilog = _field_list()
    p.add_argument("preset", nargs="?", help="preset name (omit with --resume)")
    add_overrides(p)
    p.add_argument("--data", help="dataset directory (official layout); with --resume defaults to the run's")
    p.add_argument("--out", help="run directory to create")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR from its last checkpoint")
    p.add_argument("--overwrite", action="store_true", help="replace an existing run in --out")
    p.add_argument(
        "--paper", action="store_true", help="use the paper text's values where they differ from the code"
    )
    p.add_argument(
        "--seed", type=int, default=None, help="training seed (train.seed; default the preset's, 0)"
    )
    add_device(p, default=None, what="train.device: ")
    add_dtype(p, default=None, what="train.dtype: ")
    p.__class__ = _IntermixedParser


class _IntermixedParser(argparse.ArgumentParser):
    """Accepts overrides after the options (`trm train P --data D --out R k=v`): plain argparse stops filling
    positionals once an option follows them, so this subcommand parses positionals and options intermixed."""

    _inside = False

    def parse_known_args(self, args=None, namespace=None):
        if self._inside:
            return super().parse_known_args(args, namespace)
        self._inside = True
        try:
            return self.parse_known_intermixed_args(args, namespace)
        finally:
            self._inside = False


def run(args: argparse.Namespace) -> int:
    from ..checkpoint import read_config, resolve_slot
    from ..config import Config
    from ..presets import get_preset
    from ..train.trainer import train
    from ..utils import TRMError

    overrides = list(args.overrides)
    preset = args.preset
    if preset is not None and "=" in preset:  # `trm train --resume RUN key=value`: no preset given
        overrides.insert(0, preset)
        preset = None
    overrides = _flag_overrides(args, overrides) + overrides
    if args.resume:
        if preset is not None:
            raise TRMError(
                "--resume takes its config from the run directory; give overrides only, not a preset"
            )
        if args.out and args.out != args.resume:
            raise TRMError("--resume continues the run in place; do not give a different --out")
        from pathlib import Path

        last = resolve_slot(
            Path(args.resume) / "checkpoints" / "last"
        )  # recovers a slot a crash left missing
        saved, _ = read_config(last) if last.is_dir() else (None, None)
        if saved is None:
            raise TRMError(f"{args.resume}: nothing to resume (no checkpoints/last)")
        cfg: Config = saved.override(overrides)
        out = args.resume
    else:
        if preset is None:
            raise TRMError("give a preset (see `trm presets`) or --resume RUN_DIR")
        if not args.data:
            raise TRMError("--data DIR is required (build a dataset with `trm data build ...`)")
        if not args.out:
            raise TRMError("--out RUN_DIR is required")
        cfg = get_preset(preset, paper=args.paper).override(overrides)
        out = args.out
    _check_inference_protocol(cfg)
    explicit = {o.split("=", 1)[0].strip() for o in overrides}
    result = train(cfg, args.data, out, resume=bool(args.resume), explicit=explicit, overwrite=args.overwrite)
    if result.status == "interrupted":
        return 130
    if not result.is_main:
        return 0
    best = (
        f"{result.best_metric:.2%} at step {result.best_step:,}" if result.best_metric is not None else "none"
    )
    test = (
        f"; test exact accuracy {result.test_eval['exact_accuracy']:.2%} (scored once, "
        f"{result.test_eval['count']:,} puzzles)"
        if result.test_eval
        else ""
    )
    print(
        f"done: {result.step:,} steps in {result.train_seconds / 60:.1f} min ({result.status}); best exact accuracy "
        f"{best} on {result.selected_on}{test}; run directory {result.run_dir}"
    )
    return 0


# the flags that are shortcuts for a config key (one vocabulary with the other commands: docs/CLI.md)
FLAG_KEYS = {
    "seed": ("train.seed", "train.loop.seed"),
    "device": ("train.device", "train.system.device"),
    "dtype": ("train.dtype", "train.system.dtype"),
}


def _flag_overrides(args: argparse.Namespace, overrides: list[str]) -> list[str]:
    """``--seed/--device/--dtype`` as overrides of their config keys; the same key given both ways is an error."""
    from ..config import ConfigError

    given = {o.split("=", 1)[0].strip() for o in overrides}
    out = []
    for flag, (key, grouped) in FLAG_KEYS.items():
        value = getattr(args, flag)
        if value is None:
            continue
        if key in given or grouped in given:
            raise ConfigError(f"--{flag} and {key}= both given; give one")
        out.append(f"{key}={value}")
    return out


def _check_inference_protocol(cfg) -> None:
    """The run's ``eval`` section names an inference protocol (selector, threshold, ...) that the inference layer
    checks; the config layer cannot (it sits below it), so ``trm train`` checks it here, before any compute
    or file, rather than at the first ``trm eval`` of the finished run."""
    from ..config import ConfigError
    from ..infer.settings import Settings
    from ..tasks import PuzzleError

    try:
        Settings.from_eval(cfg.eval).validate()
    except PuzzleError as e:
        raise ConfigError(f"eval: {e}") from None
