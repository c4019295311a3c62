"""Convert the official parity cases (``.pt`` + ``config.json``) into the in-repo fixtures.

Usage (from the repository root)::

    python tests/golden/convert.py SRC_DIR [--out tests/golden]

``SRC_DIR`` holds one folder per case with ``config.json``, ``state_dict.pt``, ``batch.pt`` and
``expected.pt`` (plain tensor dictionaries). The ``.pt`` files are read with ``weights_only=True`` (no
pickled code runs); each becomes a ``.safetensors`` file with the same keys, dtypes and values, and
``config.json`` is copied byte for byte. Every written file is read back and compared exactly.
"""

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

CASES = ("trm-mlp-sudoku", "trm-att-rope", "trm-att-learned-short-prefix", "hrm-rope")
TENSOR_FILES = ("state_dict", "batch", "expected")


def _atomic_write(dest: Path, write) -> None:
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.")
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def convert_case(src: Path, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    config = (src / "config.json").read_bytes()
    json.loads(config)  # must be valid JSON
    _atomic_write(out / "config.json", lambda p: Path(p).write_bytes(config))
    for name in TENSOR_FILES:
        tensors = torch.load(src / f"{name}.pt", weights_only=True)
        if not isinstance(tensors, dict) or not all(isinstance(v, torch.Tensor) for v in tensors.values()):
            raise SystemExit(f"error: {src / name}.pt is not a dictionary of tensors")
        # safetensors refuses shared storage: store an independent contiguous copy of each tensor.
        plain = {k: v.detach().contiguous().clone() for k, v in tensors.items()}
        dest = out / f"{name}.safetensors"
        meta = {"source": f"{src.name}/{name}.pt"}
        _atomic_write(dest, lambda p, t=plain, m=meta: save_file(t, p, metadata=m))
        back = load_file(dest)
        if set(back) != set(plain) or not all(
            back[k].dtype == v.dtype and torch.equal(back[k], v) for k, v in plain.items()
        ):
            raise SystemExit(f"error: round trip of {dest} changed its tensors")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("src", type=Path, help="folder with one sub-folder per official case")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent, help="destination folder")
    args = ap.parse_args(argv)
    for case in CASES:
        if not (args.src / case).is_dir():
            print(f"error: case folder {args.src / case} not found", file=sys.stderr)
            return 2
    for case in CASES:
        convert_case(args.src / case, args.out / case)
        size = sum(p.stat().st_size for p in (args.out / case).iterdir())
        print(f"{case}: {size:,} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
