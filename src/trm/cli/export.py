"""``trm export``: a trained model as an ONNX graph of one supervision step with a torch-free runner, or as a
static web folder that solves puzzles in the browser."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..deploy.onnx_export import MANIFEST, export_onnx
from ..deploy.web_export import export_web
from .common import shipped_list

HELP = "export a model to ONNX (a numpy/onnxruntime runner) or to a static web page (onnxruntime-web)"
DESCRIPTION = """Export CHECKPOINT (model folder, checkpoint or run directory) to DIR.

--format onnx (docs/DEPLOY.md#onnx-export):
  step.onnx            (inputs, [puzzle_emb], y, z) -> (y', z', logits, q_halt, q_continue), dynamic batch
  carry_init.npz       the reset state y_init, z_init
  puzzle_emb.npy       the puzzle-embedding table, kept out of the graph (models with a puzzle embedding)
  trm_onnx_runner.py   numpy + onnxruntime runner: official, adaptive and fixed-N modes
  trm_runtime/         the torch-free code it runs: trm's engine, settings and task layer (a package tree)
  trm_export.json      config, sizes and the export-time checks
Every export is compared with PyTorch on a random batch and refused above 1e-4 relative error.
Run it with `trm solve DIR PUZZLE`, `trm serve DIR`, or without trm:
`python DIR/trm_onnx_runner.py DIR PUZZLE`.

--format web (docs/DEPLOY.md#in-browser-inference; Sudoku and maze models): the ONNX export plus
index.html, static/, web.json and ort/ (onnxruntime-web, downloaded once from the npm registry, verified and
cached in ~/.cache/trm; --runtime-dir names the tarball or an unpacked package instead). Serve DIR from any
static host (`python -m http.server -d DIR`) or with `trm serve DIR`.
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "checkpoint", help=f"model folder, checkpoint, run directory or shipped name ({shipped_list()})"
    )
    p.add_argument("--format", choices=["onnx", "web"], default="onnx", help="export format (default onnx)")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument(
        "--int8", action="store_true", help="also write step_int8.onnx (dynamic int8 quantisation)"
    )
    p.add_argument(
        "--fp16", action="store_true", help="also write step_fp16w.onnx (float16 weights, float32 compute)"
    )
    p.add_argument(
        "--unrolled",
        type=int,
        action="append",
        default=[],
        metavar="N",
        help="also write unrolled_N{N}.onnx: N steps without loops (repeatable)",
    )
    p.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17)")
    p.add_argument(
        "--runtime-dir",
        metavar="PATH",
        help="web: the onnxruntime-web tarball or unpacked package to copy from (default: download once)",
    )
    p.add_argument(
        "--wasm-only", action="store_true", help="web: leave out the WebGPU runtime (half the size)"
    )
    p.add_argument("--json", action="store_true", help="print the manifest as JSON")


def run(args: argparse.Namespace) -> int:
    options = {"int8": args.int8, "fp16": args.fp16, "unrolled": args.unrolled, "opset": args.opset}
    if args.format == "web":
        export_web(
            args.checkpoint, args.out, runtime_dir=args.runtime_dir, webgpu=not args.wasm_only, **options
        )
        man = json.loads((Path(args.out) / MANIFEST).read_text())
    else:
        man = export_onnx(args.checkpoint, args.out, **options)
    if args.json:
        print(json.dumps(man, indent=2))
        return 0
    print(f"exported {man['preset']} ({man['task']}) to {args.out}")
    print(
        f"  dense parameters {man['parameters']['dense']:,}; puzzle-embedding values {man['parameters']['puzzle_emb']:,}"
    )
    for key, size in man["sizes_bytes"].items():
        print(f"  {key:<14} {size / 1024:10.1f} KiB")
    for key, value in man["checks"].items():
        print(f"  check {key}: {value}")
    if args.format == "web":
        print(f"  open it: python -m http.server -d {args.out}  (then http://localhost:8000/)")
    return 0
