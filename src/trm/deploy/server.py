"""``trm serve``: the solver over HTTP (FastAPI), with a web page at ``/``.

    POST /v1/solve     {"task", "puzzle", one field per inference option ("mode", "samples", "budget", ...),
                        "trace", "timeout"} -> {"answer", "verified", "candidate", "steps", "confidence",
                        "valid", "errors", "calls", "rung", "rungs"[, "trace"]} (the object ``trm solve --json``
                        prints; unset options: the model's protocol; verified solving within "budget")
    GET  /healthz      liveness and queue depth (open: no API key needed)
    GET  /v1/model     preset, task, the page's view of it, parameters, training data, protocol, limits
    GET  /v1/tool      a JSON tool definition an LLM can use to call /v1/solve
    GET  /v1/example   a generated puzzle for the page
    GET  /openapi.json the OpenAPI schema (FastAPI)

Requests from all clients are batched together: a handler turns its puzzle into a
:class:`~trm.infer.solver.Request` and awaits a future; one worker thread owns the model and runs the
:class:`~trm.infer.engine.Engine`, which advances every live row by one supervision step per forward pass. A
puzzle leaves the batch when it is done and new ones join at the next step, so a request asking for many steps
does not hold others back. Bounded: request body size, grid size (the model's), max_steps, samples, augment,
rows per forward, requests in the system (503 beyond), and time per request (504; its rows are dropped from
the batch at the next step). Who may call is :mod:`trm.deploy.access`'s: API keys (401), a per-client rate
limit (429), CORS origins. Every error body is ``{"detail": ...}`` of plain JSON values.
"""

import asyncio
import dataclasses
import json
import logging
import os
import re
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any, Literal

from .. import __version__
from ..infer.settings import Settings
from ..infer.solver import ArcRequest
from ..tasks import TASKS, Task
from ..tasks.examples import example_puzzle
from ..utils import TRMError, install_hint
from .access import Access, AccessMiddleware
from .backends import LoadedModel, load_for_serving
from .batcher import Batcher, Busy, Limits
from .page import page_view
from .web_export import WEB_MANIFEST

try:
    from contextlib import asynccontextmanager

    from fastapi import FastAPI, Query
    from fastapi import Request as HttpRequest
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import FileResponse, JSONResponse
    from fastapi.staticfiles import StaticFiles
    from pydantic import AfterValidator, BaseModel, ConfigDict, Field, create_model
except ImportError as e:  # trm serve names the extra to install (create_app raises it)
    _MISSING = e
else:
    _MISSING = None

STATIC = Path(__file__).parent / "static"
MAX_ARC_TESTS = 8  # test inputs of one ARC task per request
MAX_JSON_DEPTH = (
    32  # nesting of an ARC task sent as JSON text (a task needs 5: {"test": [{"input": [[...]]}]})
)
SEED_MAX = next(f.metadata["max"] for f in dataclasses.fields(Settings) if f.name == "seed")


def _error(status: int, msg: Any) -> "JSONResponse":
    return JSONResponse({"detail": _plain(msg)}, status_code=status)


def _finite_numbers(puzzle: Any) -> Any:
    """The puzzle's numbers are finite and fit a signed 64-bit integer (else 422: ``1e400``, ``2**63``); whether
    they are valid cells is the task's to say (400)."""
    todo = [puzzle]
    while todo:
        v = todo.pop()
        if isinstance(v, dict):
            todo.extend(v.values())
        elif isinstance(v, list):
            todo.extend(v)
        elif isinstance(v, float) and not abs(v) < float("inf"):
            raise ValueError(f"the puzzle holds a number that is not finite ({v})")
        elif isinstance(v, int) and not isinstance(v, bool) and not -(2**63) <= v < 2**63:
            raise ValueError("the puzzle holds an integer outside the signed 64-bit range")
    return puzzle


def _plain(value: Any) -> Any:
    """``value`` made encodable as UTF-8 JSON: text (keys too) with lone surrogates or other unencodable
    characters escaped (``\\ud800``), anything that is not JSON as its text, so an error body never fails."""
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, dict):
        return {_plain(str(k)): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (bool, int)):
        return value
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else str(value)
    return _plain(str(value))


def request_model(task: str, n_sup: int, limits: Limits | None = None) -> type:
    """The POST /v1/solve body: the puzzle, one optional field per inference option (declared once, in
    :class:`~trm.infer.engine.Settings`; null = the model's protocol), trace and timeout. Integers are strict
    (no bools, floats or strings), numbers finite; the server's ``limits`` appear in the schema as the
    ``maximum`` of their fields (a request above one is answered 400 with a message of its own)."""
    limits = limits or Limits()
    server_max = {
        "max_steps": limits.max_steps,
        "samples": limits.max_samples,
        "augment": limits.max_augment,
    }
    fields: dict[str, Any] = {
        "task": (
            Literal[tuple(TASKS)] | None,
            Field(None, description=f"the puzzle kind; must be the kind this model solves ({task})"),
        ),
        "puzzle": (
            Annotated[str | list[Any] | dict[str, Any], AfterValidator(_finite_numbers)],
            Field(
                ...,
                description="; ".join(f"{kind}: {family.puzzle_help}" for kind, family in TASKS.items()),
            ),
        ),
    }
    for f in dataclasses.fields(Settings):
        if f.name == "batch_size":  # the server's own (--max-rows)
            continue
        meta = f.metadata
        text = meta["help"] + (f" (default: the model's N_sup = {n_sup})" if f.name == "max_steps" else "")
        if meta["choices"]:
            fields[f.name] = (Literal[meta["choices"]] | None, Field(None, description=text))
        elif f.name == "threshold":
            fields[f.name] = (
                float | None,
                Field(None, gt=meta["min"], lt=meta["max"], allow_inf_nan=False, description=text),
            )
        elif f.type == "float":
            fields[f.name] = (
                float | None,
                Field(None, ge=meta["min"], le=meta["max"], allow_inf_nan=False, description=text),
            )
        else:  # integers: no bools or floats; the server's limits are checked with a message of their own
            upper = meta["max"] if f.name == "seed" else None
            extra = {"maximum": server_max[f.name]} if f.name in server_max else None
            if extra:
                text += f" (at most {server_max[f.name]} on this server; above: 400)"
            fields[f.name] = (
                int | None,
                Field(None, ge=meta["min"], le=upper, strict=True, description=text, json_schema_extra=extra),
            )
    fields["trace"] = (
        bool,
        Field(False, strict=True, description="also return the answer and confidence after every step"),
    )
    fields["timeout"] = (
        float | None,
        Field(
            None,
            gt=0.0,
            allow_inf_nan=False,
            description=f"seconds before giving up (capped at {limits.timeout_s:g} by the server)",
            json_schema_extra={"maximum": limits.timeout_s},
        ),
    )
    return create_model("SolveRequest", __config__=ConfigDict(extra="forbid"), **fields)


if _MISSING is None:

    class TraceStep(BaseModel):
        step: int
        answer: Any
        confidence: float

    class SolveResponse(BaseModel):
        answer: Any = Field(
            ...,
            description="the answer in the puzzle's format; null when verified is false (no verified answer)",
        )
        verified: bool | None = Field(
            ...,
            description="true: the task's verifier accepts the answer; false: no rung of the ladder within the "
            "budget gave an answer it accepts (see candidate); null: the task has no verifier",
        )
        candidate: Any = Field(
            None, description="when verified is false: the best unverified answer, NOT an answer"
        )
        steps: int = Field(..., description="supervision steps used")
        confidence: float = Field(..., description="sigmoid(q_halt): the model's estimate that it is right")
        valid: bool | None = Field(..., description="the symbolic verifier's verdict (null: no verifier)")
        errors: list[str] = Field(..., description="why the answer is invalid")
        calls: int = Field(
            ..., description="network calls: supervision steps summed over the candidates and the rungs run"
        )
        rung: str | None = Field(None, description="the ladder rung of the answer (verified solving)")
        rungs: list[str] = Field([], description="the ladder rungs run, in order")
        trace: list[TraceStep] | None = Field(None, description="present when requested")


class Service:
    """The handlers of one served model."""

    def __init__(self, loaded: LoadedModel, limits: Limits):
        self.loaded, self.limits, self.solver = loaded, limits, loaded.solver
        self.task = self.solver.task.kind
        self.batcher = Batcher(loaded.solver, limits)
        limits.validate()
        self.solver.caps = {
            "max_steps": limits.max_steps,
            "samples": limits.max_samples,
            "augment": limits.max_augment,
        }
        # a run's declared protocol above this server's limits is served at the limits (a request naming a larger
        # value is refused; one naming none gets the capped default)
        d = self.solver.defaults
        steps = d.max_steps if (d.max_steps or self.solver.n_sup) <= limits.max_steps else limits.max_steps
        self.solver.defaults = d.replace(
            augment=min(d.augment, limits.max_augment),
            samples=min(d.samples, limits.max_samples),
            max_steps=steps,
        )

    def info(self):
        cfg, loaded = self.loaded.cfg, self.loaded
        card = (loaded.meta or {}).get("card", {})
        return {
            "preset": cfg.name,
            "task": self.task,
            "grid": self.solver.info.to_dict(),
            "view": page_view(self.solver.task),  # what the web page shows and how it draws answers
            "backend": loaded.kind,
            "parameters": {
                "dense": loaded.dense_parameters,
                "puzzle_embedding": loaded.puzzle_emb_parameters,
            },
            "architecture": {
                "arch": cfg.model.arch,
                "mixer": cfg.model.mixer,
                "hidden_size": cfg.model.hidden_size,
                "T": cfg.model.T,
                "n": cfg.model.n,
                "N_sup": self.solver.n_sup,
            },
            "protocol": self.solver.defaults.describe(self.solver.n_sup),
            "threshold": self.solver.defaults.threshold,  # the adaptive default (the page's threshold box)
            "training_data": card.get("data") or cfg.data.path or None,
            "results": card.get("results"),
            "limits": asdict(self.limits),
        }

    def example(self, seed: Annotated[int, Query(ge=0, le=SEED_MAX, strict=False)] = 0):
        """A generated puzzle; ``seed`` is an integer in [0, 2^31 - 1] (else 422, like the solve options)."""
        try:
            data_info = (self.loaded.meta or {}).get("data_info")
            return {"task": self.task, "puzzle": example_puzzle(self.solver.info, seed, data_info)}
        except TRMError as e:
            return _error(404, str(e))

    async def solve(self, req):
        lim = self.limits
        if req.task is not None and req.task != self.task:
            return _error(400, f"this model solves {self.task} puzzles, not {req.task}")
        for name, value, limit in (
            ("max_steps", req.max_steps, lim.max_steps),
            ("samples", req.samples, lim.max_samples),
            ("augment", req.augment, lim.max_augment),
        ):
            if value is not None and value > limit:
                return _error(400, f"{name} {value} is above this server's limit of {limit}")
        timeout = min(req.timeout or lim.timeout_s, lim.timeout_s)
        options = {
            f.name: getattr(req, f.name) for f in dataclasses.fields(Settings) if f.name != "batch_size"
        }
        try:
            st = self.solver.settings(**{k: v for k, v in options.items() if v is not None})
            request = self.solver.request(_json_text(req.puzzle, self.solver.task), st, req.trace)
            if isinstance(request, ArcRequest) and len(request.tests) > MAX_ARC_TESTS:
                return _error(400, f"an ARC task may have at most {MAX_ARC_TESTS} test inputs here")
        except TRMError as e:
            return _error(400, str(e))
        try:
            result = await self.batcher.submit(request, timeout)
        except Busy as e:
            return _error(503, str(e))
        except (TimeoutError, asyncio.TimeoutError):
            return _error(504, f"the request did not finish within {timeout:g} s")
        except RuntimeError as e:
            return _error(500, str(e))
        return JSONResponse(result)

    async def bound_body(self, request: "HttpRequest", call_next):
        if request.method == "POST":
            length = request.headers.get("content-length")
            if length is None:
                return _error(411, "a Content-Length header is required")
            if not length.isdigit() or int(length) > self.limits.max_body_bytes:
                return _error(413, f"request body larger than {self.limits.max_body_bytes} bytes")
        return await call_next(request)


async def _internal_error(request: "HttpRequest", exc: Exception) -> "JSONResponse":
    """A bug, not a client's mistake (those are validated into 4xx): the traceback goes to the server log, the
    client gets a JSON body that reveals nothing of the server's internals."""
    logging.getLogger("trm.serve").error(
        "internal error on %s %s", request.method, request.url.path, exc_info=exc
    )
    return _error(500, "internal error (the server log has the details)")


async def _validation_error(request: "HttpRequest", exc: "RequestValidationError") -> "JSONResponse":
    """422 with plain JSON: where and what (pydantic's own detail may hold objects JSON cannot carry)."""
    return _error(
        422,
        [
            {
                "loc": [str(p) for p in e.get("loc", ())],
                "msg": str(e.get("msg", "")),
                "type": str(e.get("type", "")),
            }
            for e in exc.errors()
        ],
    )


def create_app(
    model_path: str | os.PathLike | None = None,
    *,
    loaded: LoadedModel | None = None,
    limits: Limits | None = None,
    device: str = "cpu",
    dtype: str = "float32",
    threads: int | None = None,
    access: Access | None = None,
):
    """The FastAPI app serving ``model_path`` (model folder, checkpoint, run directory or ONNX export).

    The batcher thread starts and stops with the app's lifespan (uvicorn, or ``with TestClient(app)``).
    ``access`` (:class:`~trm.deploy.access.Access`): API keys, CORS origins, rate limit; default: no key, no
    rate limit, CORS closed (``trm serve`` applies its own defaults, a rate limit among them).
    """
    if _MISSING is not None:
        raise TRMError(f"trm serve needs the serve extra: {install_hint('serve')} ({_MISSING})")
    if loaded is None:
        if model_path is None:
            raise TRMError("create_app needs a model path")
        loaded = load_for_serving(model_path, device=device, threads=threads, dtype=dtype)
    service = Service(loaded, limits or Limits())
    SolveRequest = request_model(service.task, service.solver.n_sup, service.limits)

    @asynccontextmanager
    async def lifespan(app):
        service.batcher.start()
        yield
        service.batcher.stop()

    app = FastAPI(
        title="trm",
        version=__version__,
        lifespan=lifespan,
        description=f"Tiny Recursive Model `{loaded.cfg.name}` solving {service.task} puzzles.",
    )
    app.state.batcher, app.state.limits, app.state.service = service.batcher, service.limits, service
    app.middleware("http")(service.bound_body)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _internal_error)
    access = (access or Access(rate=0.0)).validate()
    app.add_middleware(AccessMiddleware, access=access)  # outermost: before the body limit and every route
    app.state.access = access
    app.get("/healthz")(
        lambda: {"status": "ok", "in_progress": service.batcher.in_system, **service.batcher.stats}
    )
    app.get("/v1/model")(service.info)
    app.get("/v1/tool")(
        lambda: tool_definition(service.task, service.info(), SolveRequest.model_json_schema())
    )
    app.get("/v1/example")(service.example)
    app.get("/", include_in_schema=False)(lambda: FileResponse(STATIC / "index.html"))
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    if (
        model_path is not None and (Path(model_path) / WEB_MANIFEST).is_file()
    ):  # a web export: in-browser mode
        app.mount("/web", StaticFiles(directory=model_path), name="web")

    async def solve(req: SolveRequest):  # noqa: ANN202 - FastAPI reads the body type from this annotation
        return await service.solve(req)

    app.post(
        "/v1/solve",
        response_model=SolveResponse,
        response_model_exclude_none=False,
        responses={
            400: {"description": "bad puzzle or options"},
            503: {"description": "server busy"},
            504: {"description": "timed out"},
        },
    )(solve)
    return app


def _json_text(puzzle: Any, task: Task) -> Any:
    """A JSON family's puzzle given as text is JSON object text, read here (never a file name: a request does
    not read the server's files); a grid comes as JSON itself."""
    if not (task.json_puzzles and isinstance(puzzle, str)):
        return puzzle
    if not puzzle.lstrip().startswith("{"):
        raise TRMError(f"{task.title}: expected {task.puzzle_help}")
    if json_depth(puzzle) > MAX_JSON_DEPTH:
        raise TRMError(f"the {task.title} is nested more than {MAX_JSON_DEPTH} levels deep")
    try:
        return json.loads(puzzle)
    except json.JSONDecodeError as e:
        raise TRMError(f"the {task.title} is not valid JSON ({e})") from None


def json_depth(text: str) -> int:
    """The deepest nesting of ``[`` and ``{`` in JSON text, outside strings, counted without parsing (Python's
    parser recurses once per level; deep enough text would exhaust the stack before a limit could be checked)."""
    depth = deepest = 0
    for token in re.finditer(r'"(?:[^"\\]|\\.)*"?|[\[{]|[\]}]', text):
        c = token.group()
        if c in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif c in "]}":
            depth -= 1
    return deepest


def tool_definition(task: str, info: dict[str, Any], request_schema: dict[str, Any]) -> dict[str, Any]:
    """A function-calling tool description of POST /v1/solve (OpenAI ``parameters`` / Anthropic
    ``input_schema`` carry the same JSON Schema)."""
    props = {
        k: v
        for k, v in request_schema.get("properties", {}).items()
        if k in ("puzzle", "mode", "max_steps", "threshold", "samples", "budget", "trace")
    }
    grid = info.get("grid") or {}
    size = f"{grid.get('side')}x{grid.get('side')} " if grid.get("side") else ""
    description = (
        f"Solve a {size}{task} puzzle with a Tiny Recursive Model ({info['parameters']['dense']:,} parameters). "
        "Where the task has a verifier the answer is verified: the solver escalates through more steps, "
        "symmetric copies and noisy trajectories within a budget of network calls and returns either an answer "
        "the verifier accepts (verified true) or no answer (verified false, answer null; the best unverified "
        "attempt is in candidate and must not be used as the answer). Also returns the calls used, the "
        "supervision steps and the model's confidence."
    )
    schema = {"type": "object", "properties": props, "required": ["puzzle"], "additionalProperties": False}
    return {
        "name": f"solve_{task}",
        "description": description,
        "parameters": schema,
        "input_schema": schema,
        "http": {
            "method": "POST",
            "path": "/v1/solve",
            "content_type": "application/json",
            "fixed_fields": {"task": task},
        },
        "returns": {
            "answer": "the answer in the puzzle's format (null when verified is false)",
            "verified": "bool, or null where the task has no verifier",
            "candidate": "the best unverified answer when verified is false (not an answer)",
            "steps": "int",
            "confidence": "0..1",
            "valid": "bool or null",
            "errors": "list of strings",
            "calls": "int (network calls used)",
        },
    }
