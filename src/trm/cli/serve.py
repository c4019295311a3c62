"""``trm serve``: the solver as an HTTP service with a web page."""

from __future__ import annotations

import argparse
import dataclasses

from ..deploy import access as access_mod
from ..deploy.batcher import Limits
from ..typed import num_text

HELP = "serve a model over HTTP (POST /v1/solve, web page at /)"
DESCRIPTION = """Serve CHECKPOINT (model folder, checkpoint, run directory or ONNX export folder).

  POST /v1/solve   {"task", "puzzle", "mode", "max_steps", "threshold", "samples", "augment", "trace", ...}
                   -> {"answer", "steps", "confidence", "valid", "errors"[, "trace"]}
  GET  /healthz, /v1/model, /v1/tool (LLM tool definition), /openapi.json, /docs, and / (web page)

Requests from all clients share one batch, advanced one supervision step at a time. With an API key
(--api-key or TRM_API_KEY) every path but /healthz needs `Authorization: Bearer KEY` or `X-API-Key: KEY`;
a --host other than loopback needs a key (or --insecure). Each client address may send --rate-limit requests
per second (429 beyond). See docs/RELIABILITY.md for the threat model; put TLS in a reverse proxy.
"""


def add_network_arguments(p: argparse.ArgumentParser, what: str = "") -> None:
    """--host, --port, --threads and the access flags (shared with ``trm mcp``)."""
    p.add_argument("--host", default="127.0.0.1", help=f"{what}interface to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help=f"{what}port, 1-65535 (default 8000)")
    p.add_argument("--device", default="cpu", help="PyTorch device for model folders (cpu, cuda, mps, auto)")
    p.add_argument(
        "--threads", type=int, default=None, help="intra-op threads of the model (default: every core)"
    )
    access_mod.add_arguments(p)


def check_network_arguments(args: argparse.Namespace, listens: bool = True) -> access_mod.Access:
    """Bounds of --port and --threads, and the access options (one-line :class:`TRMError`); a server that
    ``listens`` on --host must not be reachable from other machines without a key (or --insecure)."""
    from ..utils import TRMError

    if not 1 <= args.port <= 65535:
        raise TRMError(f"--port must be in [1, 65535], got {args.port}")
    if args.threads is not None and not 1 <= args.threads <= 4096:
        raise TRMError(f"--threads must be in [1, 4096], got {args.threads}")
    if not args.host or any(c.isspace() for c in args.host):
        raise TRMError(f"--host must be an interface name or address, got {args.host!r}")
    access = access_mod.from_arguments(args)
    if listens:
        access.check_bind(args.host)
    return access


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "checkpoint",
        help="model folder, checkpoint, run directory, ONNX export folder or shipped name (sudoku6)",
    )
    add_network_arguments(p)
    for f in dataclasses.fields(Limits):
        meta = f.metadata
        p.add_argument(
            meta["flag"],
            dest=f.name,
            type=int if f.type == "int" else float,
            default=f.default,
            help=f"{meta['help']} (default {num_text(f.default)}; {num_text(meta['min'])} to {num_text(meta['max'])})",
        )
    p.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])


def run(args: argparse.Namespace) -> int:
    from ..utils import TRMError

    limits = Limits(**{f.name: getattr(args, f.name) for f in dataclasses.fields(Limits)}).validate()
    access = check_network_arguments(args)
    try:
        import uvicorn
    except ImportError:
        raise TRMError("trm serve needs the serve extras: pip install 'trm[serve]'") from None
    from ..deploy.server import create_app  # FastAPI loads only for this command

    app = create_app(args.checkpoint, limits=limits, device=args.device, threads=args.threads, access=access)
    guard = "API key required" if access.api_keys else "no API key"
    rate = f"{access.rate:g}/s per client" if access.rate > 0 else "no rate limit"
    print(
        f"serving {args.checkpoint} on http://{args.host}:{args.port}/ (API docs at /docs; {guard}; {rate})",
        flush=True,
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)
    return 0
