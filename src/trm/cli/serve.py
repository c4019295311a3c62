"""``trm serve``: the solver as an HTTP service with a web page."""

from __future__ import annotations

import argparse
import dataclasses

from ..deploy import access as access_mod
from ..deploy.batcher import Limits
from ..typed import flag_help, flag_type
from .common import runs_on, shipped_list

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


def add_flags(p: argparse.ArgumentParser, cls: type, what: str = "", defaults: dict | None = None) -> None:
    """One flag per field of the dataclass ``cls`` from its metadata (``flag``, ``help``, ``choices``;
    ``min``/``max`` shown), the field's name as its destination; ``what`` prefixes the help (``"http: "`` for
    ``trm mcp``); ``defaults`` replaces some fields' defaults (``trm mcp``'s port)."""
    for f in dataclasses.fields(cls):
        default = (defaults or {}).get(f.name, f.default)
        p.add_argument(f.metadata["flag"], dest=f.name, type=flag_type(f), default=default,
                       choices=f.metadata.get("choices"),
                       help=what + flag_help(f).replace(f"default {f.default}", f"default {default}"))  # fmt: skip


SERVE_PORT, MCP_PORT = 8000, 8001  # distinct, so that both can run on one machine with their defaults


def add_network_arguments(p: argparse.ArgumentParser, what: str = "", port: int = SERVE_PORT) -> None:
    """The flags of :class:`~trm.deploy.access.Listen` (--host, --port, --device, --dtype, --threads) and of
    :class:`~trm.deploy.access.Access` (shared with ``trm mcp``)."""
    add_flags(p, access_mod.Listen, what, defaults={"port": port})
    access_mod.add_arguments(p)


def check_network_arguments(args: argparse.Namespace, listens: bool = True) -> access_mod.Access:
    """The :class:`~trm.deploy.access.Listen` and access options checked (one-line :class:`TRMError`); a
    server that ``listens`` on --host must not be reachable from other machines without a key (or --insecure)."""
    access_mod.Listen(
        **{f.name: getattr(args, f.name) for f in dataclasses.fields(access_mod.Listen)}
    ).validate()
    access = access_mod.from_arguments(args)
    if listens:
        access.check_bind(args.host)
    return access


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "checkpoint",
        help=f"model folder, checkpoint, run directory, ONNX export folder or shipped name ({shipped_list()})",
    )
    add_network_arguments(p)
    add_flags(p, Limits)
    p.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])


def run(args: argparse.Namespace) -> int:
    from ..utils import TRMError, install_hint

    limits = Limits(**{f.name: getattr(args, f.name) for f in dataclasses.fields(Limits)}).validate()
    access = check_network_arguments(args)
    try:
        import uvicorn
    except ImportError:
        raise TRMError(f"trm serve needs the serve extra: {install_hint('serve')}") from None
    from ..deploy.server import create_app  # FastAPI loads only for this command

    app = create_app(args.checkpoint, limits=limits, device=args.device, dtype=args.dtype, threads=args.threads,
                     access=access)  # fmt: skip
    guard = "API key required" if access.api_keys else "no API key"
    rate = f"{access.rate:g}/s per client" if access.rate > 0 else "no rate limit"
    print(
        f"serving {args.checkpoint} ({runs_on(app.state.service.solver.backend) or 'onnxruntime'}) on http://{args.host}:{args.port}/ "
        f"(API docs at /docs; {guard}; {rate})",
        flush=True,
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)
    return 0
