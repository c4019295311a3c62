"""``trm serve``: the solver as an HTTP service with a web page."""

from __future__ import annotations

import argparse
import dataclasses

from ..deploy.batcher import Limits

HELP = "serve a model over HTTP (POST /v1/solve, web page at /)"
DESCRIPTION = """Serve CHECKPOINT (model folder, checkpoint, run directory or ONNX export folder).

  POST /v1/solve   {"task", "puzzle", "mode", "max_steps", "threshold", "samples", "augment", "trace", ...}
                   -> {"answer", "steps", "confidence", "valid", "errors"[, "trace"]}
  GET  /healthz, /v1/model, /v1/tool (LLM tool definition), /openapi.json, /docs, and / (web page)

Requests from all clients share one batch, advanced one supervision step at a time.
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "checkpoint",
        help="model folder, checkpoint, run directory, ONNX export folder or shipped name (sudoku6)",
    )
    p.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--device", default="cpu", help="PyTorch device for model folders (cpu, cuda, mps, auto)")
    p.add_argument(
        "--threads", type=int, default=None, help="intra-op threads of the model (default: every core)"
    )
    limits = Limits()
    for name, flag, kind, help in (
        ("max_rows", "--max-rows", int, "trajectories per forward pass"),
        ("max_jobs", "--max-jobs", int, "puzzles queued or running before 503"),
        ("max_steps", "--max-steps", int, "largest max_steps a request or the model's default may use"),
        ("max_samples", "--max-samples", int, "largest samples a request or the model's default may use"),
        ("max_augment", "--max-augment", int, "largest augment a request or the model's default may use"),
        ("max_body_bytes", "--max-body", int, "largest request body in bytes"),
        ("timeout_s", "--timeout", float, "seconds per request (default and maximum)"),
    ):
        p.add_argument(
            flag,
            dest=name,
            type=kind,
            default=getattr(limits, name),
            help=f"{help} (default {getattr(limits, name)})",
        )
    p.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])


def run(args: argparse.Namespace) -> int:
    from ..utils import TRMError

    try:
        import uvicorn
    except ImportError:
        raise TRMError("trm serve needs the serve extras: pip install 'trm[serve]'") from None
    from ..deploy.server import create_app  # FastAPI loads only for this command

    limits = Limits(**{f.name: getattr(args, f.name) for f in dataclasses.fields(Limits)})
    app = create_app(args.checkpoint, limits=limits, device=args.device, threads=args.threads)
    print(f"serving {args.checkpoint} on http://{args.host}:{args.port}/ (API docs at /docs)", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)
    return 0
