"""``trm mcp``: a model as a Model Context Protocol server for LLM agents."""

from __future__ import annotations

import argparse
import sys

from .common import shipped_list
from .serve import MCP_PORT, add_network_arguments, check_network_arguments

HELP = "serve a model to LLM agents over the Model Context Protocol (stdio or streamable HTTP)"
DESCRIPTION = """Serve CHECKPOINT (model folder, run directory, ONNX export folder or a shipped model name such as
sudoku6) as an MCP server. Tools: solve_sudoku / solve_maze / solve_arc_task (the model's task) and
describe_model. A solve tool returns the answer, steps, confidence and the verifier's verdict (valid, errors).

Client configuration (Claude Desktop, Cursor, ...):
  {"mcpServers": {"trm": {"command": "trm", "args": ["mcp", "sudoku6"]}}}

With --transport http the access options apply as for `trm serve`: an API key (--api-key or TRM_API_KEY) sent
as `Authorization: Bearer KEY` or `X-API-Key: KEY`, required for a --host other than loopback (or --insecure),
a per-client rate limit (429) and CORS closed unless --cors-origin.

examples:
  trm mcp sudoku6                                   # stdio: the client starts this command
  trm mcp runs/demo --transport http                # streamable HTTP at http://127.0.0.1:8001/mcp
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "checkpoint",
        help=f"model folder, run directory, ONNX export folder or shipped model name ({shipped_list()})",
    )
    p.add_argument("--transport", choices=["stdio", "http"], default="stdio", help="default stdio")
    add_network_arguments(p, "http: ", port=MCP_PORT)


def run(args: argparse.Namespace) -> int:
    from ..deploy.mcp_server import serve  # the MCP SDK loads only for this command

    access = check_network_arguments(args, listens=args.transport == "http")
    if args.transport == "http":  # stdout belongs to the protocol on stdio
        print(f"MCP server for {args.checkpoint} at http://{args.host}:{args.port}/mcp", file=sys.stderr)
    serve(args.checkpoint, transport=args.transport, host=args.host, port=args.port, device=args.device,
          threads=args.threads, access=access, dtype=args.dtype)  # fmt: skip
    return 0
