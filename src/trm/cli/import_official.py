"""``trm import-official``: turn an official TRM/HRM checkpoint into a trm model folder."""

from __future__ import annotations

import argparse

from ..tasks import TASKS, TokensTask

HELP = "convert an official TRM/HRM checkpoint (config + state dict) into a trm model folder"
DESCRIPTION = """Convert a checkpoint of the official TRM/HRM code into a model folder (config.json +
model.safetensors) usable by `trm eval`, `trm solve`, `trm export` and `trm serve`.

The config may be the run's all_config.yaml (its `arch` section is read; needs PyYAML) or a JSON file of the
arch fields. Fields the official code takes from the dataset (vocab_size, seq_len, num_puzzle_identifiers) are
read from the weights where possible; pass --seq-len for attention models with RoPE.
The state dict is loaded with weights_only=True (no code is unpickled); prefixes such as _orig_mod.model.
are removed."""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", help="official all_config.yaml or JSON arch config")
    p.add_argument("state_dict", help="official checkpoint (a state dict saved with torch.save)")
    p.add_argument("--out", required=True, help="model folder to write")
    p.add_argument(
        "--task",
        default=TokensTask.kind,
        choices=list(TASKS),
        help="task the model solves (used by solve/serve)",
    )
    p.add_argument("--seq-len", type=int, default=None, help="token positions, when the config lacks seq_len")
    p.add_argument("--vocab-size", type=int, default=None, help="override the vocabulary size")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..checkpoint import save_model
    from ..config import Config
    from ..model import TRM
    from ..model.official import complete_official_config, config_from_official, load_official_state_dict
    from ..parity import read_official_config
    from ..utils import load_tensors

    official = read_official_config(Path(args.config))
    if args.seq_len is not None:
        official["seq_len"] = args.seq_len
    if args.vocab_size is not None:
        official["vocab_size"] = args.vocab_size
    sd = load_tensors(args.state_dict)
    model_cfg, _ = config_from_official(complete_official_config(official, sd))
    model = TRM(model_cfg)
    load_official_state_dict(model, sd)
    cfg = Config(name=f"imported-{model_cfg.arch}", task=args.task, model=model_cfg).validate()
    save_model(
        args.out,
        model,
        cfg,
        meta={
            "source": "official checkpoint",
            "official_config": str(args.config),
            "official_state_dict": str(args.state_dict),
        },
    )
    print(
        f"wrote {args.out}: {model_cfg.arch.upper()} with {model.num_dense_parameters():,} dense parameters"
    )
    return 0
