"""Make a model folder to ship inside the package (``src/trm/models/NAME``) from a training run.

    python benchmarks/ship_model.py RUN src/trm/models/maze --card card.json [eval.augment_votes=1 ...]

Loads RUN's ``checkpoints/best`` (the EMA weights of the checkpoint chosen on validation data; ``--checkpoint``
names another), applies ``eval.*`` overrides to its inference protocol, empties ``data.path`` (a path of the
machine it was trained on), keeps the training dataset's ``trm_task.json`` (the example puzzles of ``trm serve``
and the web page are made like the training ones) and writes ``config.json``, ``model.safetensors`` and the
``README.md`` card (:func:`trm.deploy.pretrained.save_pretrained`; CARD.json holds its ``card_info``: data,
steps, results, evaluation, limitations, command, notes). Written atomically; an existing OUT is replaced only
with ``--overwrite``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from trm.checkpoint import load_model
from trm.cli.common import add_overrides, overrides_of
from trm.deploy.pretrained import save_pretrained


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run", help="run directory")
    ap.add_argument("out", help="model folder to write, e.g. src/trm/models/maze")
    ap.add_argument("--card", required=True, help="JSON file of the card's fields (card_info)")
    ap.add_argument("--checkpoint", default="best", help="checkpoint of RUN to ship (default best)")
    ap.add_argument("--overwrite", action="store_true")
    add_overrides(ap, "inference-protocol overrides of the shipped config, e.g. eval.augment_votes=1")
    args = ap.parse_intermixed_args()

    overrides = overrides_of(args)
    bad = [o for o in overrides if not o.startswith("eval.")]
    if bad:
        ap.error(f"only eval.* keys change a trained model's protocol, got {bad}")
    out = Path(args.out)
    if out.exists() and not args.overwrite:
        ap.error(f"{out} exists; --overwrite replaces it")
    model, cfg, meta = load_model(Path(args.run) / "checkpoints" / args.checkpoint)
    cfg = cfg.override([*overrides, "data.path="])
    card = json.loads(Path(args.card).read_text(encoding="utf-8"))
    save_pretrained(model, cfg, out, card_info=card, data_info=meta.get("data_info"))
    print(f"wrote {out}: {cfg.name}, {model.num_dense_parameters():,} parameters")


if __name__ == "__main__":
    main()
