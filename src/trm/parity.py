"""Run our model on an official config + state dict + batch and write the official-format outputs.

    python -m trm.parity --official-config C --official-state-dict S --batch B --out O [--steps K]

Evaluation semantics (SPEC §10): every row starts from the initial carry and runs K supervision steps
(default: the config's halt_max_steps). The output file holds, per step s, ``logits`` [K, B, seq_len, V],
``q_halt_logits`` [K, B], ``q_continue_logits`` [K, B], and the carry ``y``, ``z`` [K, B, L, D].
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from .config import ConfigError
from .model.official import complete_official_config, config_from_official, load_official_state_dict
from .model.recursive import TRM
from .utils import atomic_torch_save, load_tensors

BATCH_KEYS = ("inputs", "labels", "puzzle_identifiers")


def run_parity(
    official_config: dict, state_dict: dict, batch: dict, steps: int | None = None, device: str = "cpu"
) -> dict[str, torch.Tensor]:
    cfg, dtype = config_from_official(complete_official_config(official_config, state_dict))
    model = TRM(cfg, dtype=dtype)
    load_official_state_dict(model, state_dict)
    model.to(device).eval()
    for key in BATCH_KEYS:
        if key not in batch:
            raise ConfigError(f"batch file: missing tensor {key!r} (has {sorted(batch)})")
    batch = {k: batch[k].to(device) for k in BATCH_KEYS}
    if batch["inputs"].shape[-1] != cfg.seq_len:
        raise ConfigError(
            f"batch file: inputs have length {batch['inputs'].shape[-1]}, config seq_len is {cfg.seq_len}"
        )
    if int(batch["inputs"].max()) >= cfg.vocab_size or int(batch["inputs"].min()) < 0:
        raise ConfigError(f"batch file: token ids must lie in [0, {cfg.vocab_size})")
    if cfg.puzzle_emb_ndim > 0 and int(batch["puzzle_identifiers"].max()) >= cfg.num_puzzle_identifiers:
        raise ConfigError("batch file: puzzle_identifiers exceed num_puzzle_identifiers")
    K = cfg.N_sup if steps is None else steps
    out: dict[str, list[torch.Tensor]] = {
        k: [] for k in ("logits", "q_halt_logits", "q_continue_logits", "y", "z")
    }
    with torch.inference_mode():
        carry = model.initial_carry(batch)
        for _ in range(K):
            carry, o = model(carry, batch, max_steps=K)
            for k in ("logits", "q_halt_logits", "q_continue_logits"):
                out[k].append(o[k].float().cpu())
            out["y"].append(carry.y.float().cpu())
            out["z"].append(carry.z.float().cpu())
    return {k: torch.stack(v) for k, v in out.items()}


def compare(ours: dict[str, torch.Tensor], expected: dict[str, torch.Tensor]) -> dict[str, float]:
    """Per-tensor max |ours - expected| / max |expected|."""
    rel = {}
    for k, e in expected.items():
        if k not in ours:
            raise KeyError(f"output is missing {k!r}")
        if ours[k].shape != e.shape:
            raise ValueError(f"{k}: shape {tuple(ours[k].shape)} != expected {tuple(e.shape)}")
        rel[k] = float((ours[k].double() - e.double()).abs().max() / e.double().abs().max().clamp_min(1e-30))
    return rel


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m trm.parity", description=__doc__.split("\n\n")[0])
    ap.add_argument("--official-config", required=True, help="official config (JSON, or YAML with PyYAML)")
    ap.add_argument(
        "--official-state-dict", required=True, help="official state dict (.pt, loaded weights_only)"
    )
    ap.add_argument("--batch", required=True, help="batch file with inputs, labels, puzzle_identifiers")
    ap.add_argument("--out", required=True, help="where to write the outputs (.pt)")
    ap.add_argument("--steps", type=int, default=None, help="supervision steps (default: halt_max_steps)")
    ap.add_argument(
        "--expected", default=None, help="optional expected.pt to compare against (prints errors)"
    )
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args(argv)
    try:
        official = read_official_config(Path(args.official_config))
        sd = load_tensors(args.official_state_dict)
        batch = load_tensors(args.batch)
        out = run_parity(official, sd, batch, args.steps, args.device)
        atomic_torch_save(out, args.out)
        print(f"wrote {args.out}: " + ", ".join(f"{k} {tuple(v.shape)}" for k, v in out.items()))
        if args.expected:
            rel = compare(out, load_tensors(args.expected))
            worst = max(rel.values())
            for k, v in rel.items():
                print(f"  {k:>18}: max rel err {v:.2e}")
            print("PASS" if worst <= 1e-4 else "FAIL", f"(worst {worst:.2e}, tolerance 1e-4)")
            return 0 if worst <= 1e-4 else 1
    except (ConfigError, ValueError, KeyError, OSError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


def read_official_config(path: Path) -> dict:
    text = path.read_text()
    if not path.is_file():
        raise ConfigError(f"{path}: no such file")
    if path.suffix in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:
            raise ConfigError(
                f"{path}: reading YAML needs PyYAML (pip install pyyaml), or pass JSON"
            ) from None
        data = yaml.safe_load(text)
        data = data.get("arch", data) if isinstance(data, dict) else data
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise ConfigError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of config fields")
    return data


if __name__ == "__main__":
    sys.exit(main())
