"""``trm mcp``: a model as a Model Context Protocol server for LLM agents (the official ``mcp`` SDK, 2.x).

Tools (typed input schemas; every inference option is derived from :class:`~trm.infer.settings.Settings`):

    solve_sudoku / solve_maze / solve_arc_task   only the one of the loaded model's task, so an agent is never
                                                 offered a tool that cannot work (run one server per model)
    describe_model                               preset, task, grid, parameters, protocol, training, results

A solve tool returns ``{"answer", "verified", "candidate", "calls", "steps", "confidence", "valid", "errors",
...}``: the object ``trm solve --json`` prints (verified solving: an answer only where the verifier accepts it). A bad puzzle or option is a
tool error (``isError``) with one line saying what is wrong; the server keeps serving. Puzzles go through the
``trm serve`` path: the model's :class:`~trm.infer.solver.Solver` (task parser and verifier) and the
cross-client :class:`~trm.deploy.batcher.Batcher` with its limits and per-request timeout. Transports: stdio
(default) or streamable HTTP (``--transport http``, endpoint ``/mcp``) behind the access control of
:mod:`trm.deploy.access` (API keys, per-client rate limit, CORS), as ``trm serve``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import os
from typing import Annotated, Any, Literal

from typing_extensions import NotRequired, TypedDict  # pydantic needs these on Python < 3.12

from .. import __version__
from ..infer.settings import Settings
from ..infer.solver import ArcRequest
from ..utils import TRMError, install_hint
from .access import Access, AccessMiddleware
from .backends import load_for_serving
from .batcher import Busy, Limits
from .server import MAX_ARC_TESTS, Service


class SolveOutput(TypedDict):
    answer: Any  # text in the puzzle's format; ARC: one grid per test input; None when verified is False
    verified: NotRequired[
        bool | None
    ]  # the verifier accepts the answer; False: no verified answer; None: no verifier
    candidate: NotRequired[Any]  # when verified is False: the best unverified answer (not an answer)
    steps: int  # supervision steps used
    confidence: float  # sigmoid(q_halt): the model's own estimate that the answer is right
    valid: bool | None  # the symbolic verifier's verdict (None: no verifier)
    errors: list[str]  # why the verifier rejects the answer
    calls: NotRequired[int]  # network calls: supervision steps summed over the candidates and rungs
    rung: NotRequired[str | None]  # the ladder rung of the answer (verified solving)
    rungs: NotRequired[list[str]]  # the ladder rungs run


def _require_mcp():
    try:
        from mcp.server.mcpserver import MCPServer
        from mcp.server.mcpserver.exceptions import ToolError
    except ImportError:
        raise TRMError(f"trm mcp needs the Model Context Protocol SDK: {install_hint('mcp')}") from None
    return MCPServer, ToolError


def _option_parameters(limits: Limits) -> list[inspect.Parameter]:
    """One optional keyword per inference option (null = the model's protocol), typed and bounded as declared in
    :class:`Settings` (``max_steps``, ``samples``, ``augment``: at most the server's ``limits``); ``batch_size``
    is the server's own."""
    from pydantic import Field

    server_max = {"max_steps": limits.max_steps, "samples": limits.max_samples, "augment": limits.max_augment}
    params = []
    for f in dataclasses.fields(Settings):
        if f.name == "batch_size":
            continue
        meta = f.metadata
        if meta["choices"]:
            kind, extra = Literal[meta["choices"]], {}
        else:
            kind = int if f.type.startswith("int") else float
            extra = {"ge": meta["min"], "le": server_max.get(f.name, meta["max"]), "strict": kind is int}
        field = Field(description=meta["help"] + " (default: the model's protocol)", **extra)
        params.append(inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=None,
                                        annotation=Annotated[kind | None, field]))  # fmt: skip
    return params


def _one_line(error: Exception) -> str:
    """A tool error as one line: pydantic's argument errors as ``field: problem; ...``."""
    cause = error.__cause__
    if hasattr(cause, "errors"):
        found = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'arguments'}: {e['msg']}" for e in cause.errors()
        )
        return f"invalid arguments: {found}"
    return " ".join(str(error).split())


def create_server(
    model_path: str | os.PathLike,
    *,
    device: str = "cpu",
    dtype: str = "float32",
    threads: int | None = None,
    limits: Limits | None = None,
):
    """The MCP server (an ``mcp`` ``MCPServer``) of a model folder, run directory, ONNX export or shipped name."""
    MCPServer, ToolError = _require_mcp()
    service = Service(
        load_for_serving(model_path, device=device, threads=threads, dtype=dtype), limits or Limits()
    )
    solver, lim = service.solver, service.limits
    info = service.info()
    family = solver.task
    what = family.label()

    class Server(MCPServer):
        async def call_tool(self, name, arguments, context=None):
            try:
                return await super().call_tool(name, arguments, context)
            except ToolError as e:  # one line for the agent, whatever went wrong
                raise ToolError(_one_line(e)) from None

    server = Server(
        "trm",
        version=__version__,
        instructions=f"Tiny Recursive Model `{info['preset']}` ({info['parameters']['dense']:,} parameters): "
        f"solves {what} puzzles and checks each answer with a symbolic verifier. Call "
        f"{family.tool_name}; describe_model tells what the model is and how well it does.",
    )
    service.batcher.start()  # its worker thread (a daemon) owns the model and batches the puzzles of all clients

    async def solve(puzzle: Any, **options: Any) -> SolveOutput:
        try:
            settings = solver.settings(**{k: v for k, v in options.items() if v is not None})
            request = solver.request(puzzle, settings)
        except TRMError as e:
            raise ToolError(str(e)) from None
        if isinstance(request, ArcRequest) and len(request.tests) > MAX_ARC_TESTS:
            raise ToolError(f"an ARC task may have at most {MAX_ARC_TESTS} test inputs here")
        try:
            return await service.batcher.submit(request, lim.timeout_s)
        except (TimeoutError, asyncio.TimeoutError):
            raise ToolError(
                f"no answer within {lim.timeout_s:g} s; ask for fewer max_steps or samples"
            ) from None
        except (Busy, RuntimeError) as e:
            raise ToolError(str(e)) from None

    kind, text = family.puzzle_type, family.puzzle_help
    from pydantic import Field

    puzzle = inspect.Parameter("puzzle", inspect.Parameter.POSITIONAL_OR_KEYWORD,
                               annotation=Annotated[kind, Field(description=text)])  # fmt: skip
    solve.__signature__ = inspect.Signature([puzzle, *_option_parameters(lim)], return_annotation=SolveOutput)
    server.add_tool(
        solve,
        name=family.tool_name,
        title=f"Solve a {what} puzzle",
        description=f"Solve a {what} puzzle with a Tiny Recursive Model ({info['parameters']['dense']:,} "
        "parameters). The answer is verified: while the symbolic verifier rejects it, the solver escalates "
        "(more steps, symmetric copies, noisy trajectories) within `budget` network calls, and returns either an "
        "answer the verifier accepts (verified true) or no answer (verified false, answer null; the best "
        "unverified attempt is in candidate, not to be used as the answer), with the calls used.",
        structured_output=True,
    )

    def describe_model() -> dict[str, Any]:
        """What the served model is: preset, task and grid, parameters, architecture, inference protocol,
        training data, measured results and this server's limits."""
        return info

    server.add_tool(describe_model, title="Describe the model")
    return server


def http_app(server, access: Access | None = None, host: str = "127.0.0.1"):
    """The streamable-HTTP ASGI app of ``server`` (endpoint ``/mcp``) behind the access control of ``access``
    (:class:`~trm.deploy.access.Access`: API keys, rate limit, CORS; default: none of them)."""
    app = server.streamable_http_app(host=host)
    return AccessMiddleware(app, (access or Access(rate=0.0)).validate())


def serve(model_path: str | os.PathLike, transport: str = "stdio", host: str = "127.0.0.1", port: int = 8000,
          device: str = "cpu", threads: int | None = None, access: Access | None = None,
          dtype: str = "float32") -> None:  # fmt: skip
    """Run the MCP server until the client closes stdio (``stdio``) or the process is stopped (``http``). Over
    HTTP, a non-loopback ``host`` needs an API key in ``access`` (or ``access.insecure``)."""
    if transport not in ("stdio", "http"):
        raise TRMError(f"unknown MCP transport {transport!r} (stdio or http)")
    access = (access or Access()).validate()
    if transport == "http":
        access.check_bind(host)
    server = create_server(model_path, device=device, threads=threads, dtype=dtype)
    if transport == "stdio":
        server.run("stdio")
        return
    import uvicorn

    uvicorn.run(http_app(server, access, host), host=host, port=port, log_level="warning")
