"""``trm serve``: the solver as an HTTP service with a web page."""

from __future__ import annotations

import argparse

HELP = "serve a model over HTTP (POST /v1/solve, web page at /)"
DESCRIPTION = """Serve CHECKPOINT (model folder, checkpoint, run directory or ONNX export folder).

  POST /v1/solve   {"task", "puzzle", "mode", "max_steps", "threshold", "samples", "trace"}
                   -> {"answer", "steps", "confidence", "valid", "errors"[, "trace"]}
  GET  /healthz, /v1/model, /v1/tool (LLM tool definition), /openapi.json, /docs, and / (web page)

Requests from all clients share one batch, advanced one supervision step at a time.
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("checkpoint", help="model folder, checkpoint, run directory or ONNX export folder")
    p.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--device", default="cpu", help="PyTorch device for model folders (cpu, cuda, mps, auto)")
    p.add_argument("--threads", type=int, default=None, help="intra-op threads of the model")
    p.add_argument("--max-rows", type=int, default=256, help="trajectories per forward pass")
    p.add_argument("--max-jobs", type=int, default=1024, help="puzzles queued or running before 503")
    p.add_argument("--max-steps", type=int, default=64, help="largest max_steps a request may ask for")
    p.add_argument("--max-samples", type=int, default=8, help="largest samples a request may ask for")
    p.add_argument("--max-body", type=int, default=64_000, help="largest request body in bytes")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds per request (default and maximum)")
    p.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])


def run(args: argparse.Namespace) -> int:
    from ..utils import TRMError

    try:
        import uvicorn
    except ImportError:
        raise TRMError("trm serve needs the serve extras: pip install 'trm[serve]'") from None
    from ..deploy.server import Limits, create_app

    limits = Limits(max_body_bytes=args.max_body, max_steps=args.max_steps, max_samples=args.max_samples,
                    max_rows=args.max_rows, max_jobs=args.max_jobs, timeout_s=args.timeout)
    app = create_app(args.checkpoint, limits=limits, device=args.device, threads=args.threads)
    print(f"serving {args.checkpoint} on http://{args.host}:{args.port}/ (API docs at /docs)", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)
    return 0
