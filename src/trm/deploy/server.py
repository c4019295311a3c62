"""``trm serve``: the solver over HTTP (FastAPI), with a web page at ``/``.

    POST /v1/solve     {"task", "puzzle", "mode", "max_steps", "threshold", "samples", "noise", "seed", "vote",
                        "trace", "timeout"} -> {"answer", "steps", "confidence", "valid", "errors"[, "trace"]}
                       (the object ``trm solve --json`` prints)
    GET  /healthz      liveness and queue depth
    GET  /v1/model     preset, task, parameters, training data, limits
    GET  /v1/tool      a JSON tool definition an LLM can use to call /v1/solve
    GET  /v1/example   a generated puzzle for the page
    GET  /openapi.json the OpenAPI schema (FastAPI)

Requests from all clients are batched together: handlers put their puzzle on a queue and await a future;
one worker thread owns the model and runs :class:`~trm.deploy.onnx_runner.Engine`, which advances every live
puzzle by one supervision step per forward pass. A puzzle leaves the batch when it is done and new ones join
at the next step, so a request asking for many steps does not hold others back. Bounded: request body size,
grid size (the model's), max_steps, samples, rows per forward, requests in the system (503 beyond), and time
per request (504; its rows are dropped from the batch at the next step).
"""


import asyncio
import os
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from ..config import DEFAULT_HALT_THRESHOLD
from ..utils import TRMError
from .backends import LoadedModel, load_for_serving
from .onnx_runner import Job, PuzzleError, Settings, combine_arc, job_result

STATIC = Path(__file__).parent / "static"


@dataclass
class Limits:
    """What one server accepts and how much work it takes on."""

    max_body_bytes: int = 64_000  # request body
    max_steps: int = 64  # largest max_steps a request may ask for
    max_samples: int = 8  # trajectories per puzzle
    max_rows: int = 256  # trajectories in one forward pass
    max_jobs: int = 1024  # puzzles queued or running; beyond: 503
    timeout_s: float = 30.0  # default and largest per-request time


class Busy(Exception):
    pass


class _Pending:
    """A puzzle on its way through the batcher."""

    __slots__ = ("parsed", "settings", "trace", "future", "loop", "deadline", "cancelled")

    def __init__(self, parsed, settings, trace, future, loop, deadline):
        self.parsed, self.settings, self.trace = parsed, settings, trace
        self.future, self.loop, self.deadline = future, loop, deadline
        self.cancelled = False


def _resolve(fut: asyncio.Future, value: Any, error: BaseException | None) -> None:
    if fut.done():
        return
    if error is not None:
        fut.set_exception(error)
    else:
        fut.set_result(value)


class Batcher:
    """Cross-client batching: an asyncio-facing queue in front of one worker thread that owns the model."""

    def __init__(self, loaded: LoadedModel, limits: Limits):
        self.loaded, self.limits = loaded, limits
        self.engine = loaded.engine(limits.max_rows)
        self.cond = threading.Condition()
        self.incoming: deque[_Pending] = deque()
        self.in_system = 0
        self.stats = {"completed": 0, "timed_out": 0, "failed": 0, "forward_passes": 0, "rows": 0}
        self._stop = False
        self.thread = threading.Thread(target=self._loop, name="trm-batcher", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        with self.cond:
            self._stop = True
            self.cond.notify_all()
        self.thread.join(timeout=10)

    async def submit(self, parsed, settings: Settings, trace: bool, timeout: float) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        item = _Pending(parsed, settings, trace, fut, loop, time.monotonic() + timeout)
        with self.cond:
            if self.in_system >= self.limits.max_jobs:
                raise Busy(f"the server is at its limit of {self.limits.max_jobs} puzzles in progress; retry later")
            self.in_system += 1
            self.incoming.append(item)
            self.cond.notify()
        try:
            return await asyncio.wait_for(asyncio.shield(fut), timeout + 1.0)  # the worker answers at the deadline
        except (asyncio.TimeoutError, asyncio.CancelledError):
            item.cancelled = True  # client gone or stuck: drop its rows at the next step
            raise

    def _finish(self, item: _Pending, value: Any = None, error: BaseException | None = None) -> None:
        with self.cond:
            self.in_system -= 1
        try:
            item.loop.call_soon_threadsafe(_resolve, item.future, value, error)
        except RuntimeError:  # the client's event loop is gone: nobody is waiting for this answer
            pass

    def _loop(self) -> None:
        eng = self.engine
        while True:
            with self.cond:
                while not self._stop and not self.incoming and not eng.busy:
                    self.cond.wait()
                if self._stop:
                    break
                new = list(self.incoming)
                self.incoming.clear()
            for item in new:
                eng.add(item.parsed, item.settings, trace=item.trace, user=item)
            now = time.monotonic()
            for job in eng.jobs:
                if job.user.cancelled or now > job.user.deadline:
                    job.cancelled = True
            try:
                rows = sum(int((~j.done).sum()) for j in eng.jobs if not j.cancelled)
                finished = eng.step()
                self.stats["forward_passes"] += rows > 0
                self.stats["rows"] += min(rows, self.limits.max_rows)
            except Exception as e:  # a failing forward fails the puzzles in it, not the server
                finished, eng.jobs = eng.jobs, []
                for job in finished:
                    self.stats["failed"] += 1
                    self._finish(job.user, error=RuntimeError(f"inference failed: {type(e).__name__}: {e}"))
                continue
            for job in finished:
                self._settle(job)
        for job in eng.jobs:
            self._finish(job.user, error=RuntimeError("server shutting down"))

    def _settle(self, job: Job) -> None:
        item: _Pending = job.user
        if job.cancelled:
            self.stats["timed_out"] += 1
            self._finish(item, error=TimeoutError())
            return
        try:
            result = job_result(job, self.loaded.codec)
        except Exception as e:  # formatting or verification of a strange answer
            self.stats["failed"] += 1
            self._finish(item, error=RuntimeError(f"could not format the answer: {e}"))
            return
        self.stats["completed"] += 1
        self._finish(item, value=result)


# ============================================================================================ the app
def create_app(model_path: str | os.PathLike | None = None, *, loaded: LoadedModel | None = None,
               limits: Limits | None = None, device: str = "cpu", threads: int | None = None):
    """The FastAPI app serving ``model_path`` (model folder, checkpoint, run directory or ONNX export).

    The batcher thread starts and stops with the app's lifespan (uvicorn, or ``with TestClient(app)``).
    """
    try:
        from contextlib import asynccontextmanager

        from fastapi import FastAPI, Request
        from fastapi.responses import FileResponse, JSONResponse
        from fastapi.staticfiles import StaticFiles
        from pydantic import BaseModel, ConfigDict, Field
    except ImportError as e:
        raise TRMError(f"trm serve needs the serve extras: pip install 'trm[serve]' ({e})") from None

    limits = limits or Limits()
    if loaded is None:
        if model_path is None:
            raise TRMError("create_app needs a model path")
        loaded = load_for_serving(model_path, device=device, threads=threads)
    cfg, codec = loaded.cfg, loaded.codec
    task = codec.task
    n_sup = cfg.model.N_sup

    class SolveRequest(BaseModel):
        model_config = ConfigDict(extra="forbid")
        task: Literal["sudoku", "maze", "arc", "custom"] | None = Field(
            None, description="the puzzle kind; must be the kind this model solves (GET /v1/model)")
        puzzle: str | list[Any] | dict[str, Any] = Field(
            ..., description="Sudoku: N*N characters row-major, '.' or '0' blank; maze: text rows of '#', ' ', "
                             "'S', 'G'; ARC: a task {'train': [...], 'test': [{'input': grid}]} or one input grid")
        mode: Literal["official", "adaptive"] = Field(
            "official", description="official: run max_steps supervision steps; adaptive: stop once confident")
        max_steps: int | None = Field(None, ge=1, description=f"supervision steps (default N_sup = {n_sup})")
        threshold: float = Field(DEFAULT_HALT_THRESHOLD, gt=0.0, lt=1.0, description="adaptive mode: stop when sigmoid(q_halt) > this")
        samples: int = Field(1, ge=1, description="trajectories per puzzle (> 1 needs noise > 0)")
        noise: float = Field(0.1, ge=0.0, le=10.0, description="std of the latent noise of extra trajectories")
        seed: int = Field(0, ge=0, le=2**31 - 1)
        vote: Literal["majority", "confidence"] = "majority"
        trace: bool = Field(False, description="also return the answer and confidence after every step")
        timeout: float | None = Field(None, gt=0.0, description="seconds before giving up (capped by the server)")

    class TraceStep(BaseModel):
        step: int
        answer: Any
        confidence: float

    class SolveResponse(BaseModel):
        answer: Any = Field(..., description="the answer in the puzzle's format")
        steps: int = Field(..., description="supervision steps used")
        confidence: float = Field(..., description="sigmoid(q_halt): the model's estimate that it is right")
        valid: bool | None = Field(..., description="the symbolic verifier's verdict (null: no verifier)")
        errors: list[str] = Field(..., description="why the answer is invalid")
        trace: list[TraceStep] | None = Field(None, description="present when requested")

    batcher = Batcher(loaded, limits)

    @asynccontextmanager
    async def lifespan(app):
        batcher.start()
        yield
        batcher.stop()

    app = FastAPI(title="trm", version=_version(), lifespan=lifespan,
                  description=f"Tiny Recursive Model `{cfg.name}` solving {task} puzzles.")
    app.state.batcher = batcher
    app.state.limits = limits

    def error(status: int, msg: str) -> JSONResponse:
        return JSONResponse({"detail": msg}, status_code=status)

    @app.middleware("http")
    async def bound_body(request: Request, call_next):
        if request.method == "POST":
            length = request.headers.get("content-length")
            if length is None:
                return error(411, "a Content-Length header is required")
            if not length.isdigit() or int(length) > limits.max_body_bytes:
                return error(413, f"request body larger than {limits.max_body_bytes} bytes")
        return await call_next(request)

    def model_info() -> dict[str, Any]:
        card = (loaded.meta or {}).get("card", {})
        info = getattr(codec, "info", {"kind": task})
        return {
            "preset": cfg.name,
            "task": task,
            "grid": info,
            "backend": loaded.kind,
            "parameters": {"dense": loaded.dense_parameters, "puzzle_embedding": loaded.puzzle_emb_parameters},
            "architecture": {"arch": cfg.model.arch, "mixer": cfg.model.mixer, "hidden_size": cfg.model.hidden_size,
                             "T": cfg.model.T, "n": cfg.model.n, "N_sup": n_sup},
            "training_data": card.get("data") or cfg.data.path or None,
            "results": card.get("results"),
            "limits": asdict(limits),
        }

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        return {"status": "ok", "in_progress": batcher.in_system, **batcher.stats}

    @app.get("/v1/model")
    async def model() -> dict[str, Any]:
        return model_info()

    @app.get("/v1/tool")
    async def tool() -> dict[str, Any]:
        return tool_definition(task, model_info(), SolveRequest.model_json_schema())

    @app.get("/v1/example")
    async def example(seed: int = 0) -> dict[str, Any]:
        try:
            return {"task": task, "puzzle": example_puzzle(codec, seed)}
        except TRMError as e:
            return error(404, str(e))

    @app.post("/v1/solve", response_model=SolveResponse, response_model_exclude_none=False,
              responses={400: {"description": "bad puzzle or options"}, 503: {"description": "server busy"},
                         504: {"description": "timed out"}})
    async def solve(req: SolveRequest):
        if req.task is not None and req.task != task:
            return error(400, f"this model solves {task} puzzles, not {req.task}")
        if req.max_steps is not None and req.max_steps > limits.max_steps:
            return error(400, f"max_steps {req.max_steps} is above this server's limit of {limits.max_steps}")
        if req.samples > limits.max_samples:
            return error(400, f"samples {req.samples} is above this server's limit of {limits.max_samples}")
        timeout = min(req.timeout or limits.timeout_s, limits.timeout_s)
        try:
            st = Settings(mode=req.mode, threshold=req.threshold, max_steps=req.max_steps, samples=req.samples,
                          noise=req.noise, seed=req.seed, vote=req.vote).validate()
            puzzles, tests = _split(req.puzzle, task)
            parsed = [codec.parse(p) for p in puzzles]
            npid = cfg.model.num_puzzle_identifiers
            if any(p.pid < 0 or p.pid >= npid for p in parsed):
                return error(400, f"puzzle_identifier must be in [0, {npid})")
        except (PuzzleError, TRMError, ValueError) as e:
            return error(400, str(e))
        try:
            results = await asyncio.gather(*(batcher.submit(p, st, req.trace, timeout) for p in parsed))
        except Busy as e:
            return error(503, str(e))
        except (TimeoutError, asyncio.TimeoutError):
            return error(504, f"the request did not finish within {timeout:g} s")
        except RuntimeError as e:
            return error(500, str(e))
        out = combine_arc(tests, results) if tests is not None else results[0]
        if not req.trace:
            out.pop("trace", None)
        return JSONResponse(out)

    @app.get("/", include_in_schema=False)
    async def index():
        return FileResponse(STATIC / "index.html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


def _split(puzzle: Any, task: str) -> tuple[list[Any], list[dict[str, Any]] | None]:
    """An ARC task becomes one puzzle per test input; anything else is one puzzle."""
    if task == "arc" and isinstance(puzzle, str) and puzzle.lstrip().startswith("{"):
        import json

        try:
            puzzle = json.loads(puzzle)
        except json.JSONDecodeError as e:
            raise PuzzleError(f"the ARC task is not valid JSON ({e})") from None
    if task == "arc" and isinstance(puzzle, dict) and "test" in puzzle:
        tests = puzzle["test"]
        if not isinstance(tests, list) or not tests or not all(isinstance(t, dict) and "input" in t for t in tests):
            raise PuzzleError("an ARC task needs a non-empty 'test' list of {'input': grid} objects")
        if len(tests) > 8:
            raise PuzzleError("an ARC task may have at most 8 test inputs here")
        pid = puzzle.get("puzzle_identifier", 0)
        return [{"input": t["input"], "puzzle_identifier": pid} for t in tests], tests
    return [puzzle], None


def _version() -> str:
    from .. import __version__

    return __version__


def example_puzzle(codec, seed: int) -> Any:
    """A generated puzzle of the model's kind and size (Sudoku and Maze)."""
    info = getattr(codec, "info", {})
    if codec.task == "sudoku":
        from ..data import sudoku as sd

        box = tuple(info.get("box") or sd.box_for_size(info["side"]))
        n = box[0] * box[1]
        blanks = (n * n // 2, n * n // 2 + n)
        puzzles, _ = sd.generate(1, box, blanks=blanks, seed=seed)
        return sd.format_sudoku(puzzles[0])
    if codec.task == "maze":
        from ..data import maze as mz

        n = info["side"]
        mazes, _ = mz.generate(1, n=n, min_path=max(1, mz.default_min_path(n) // 2), seed=seed)
        return mz.format_maze(mazes[0])
    raise TRMError(f"no example generator for {codec.task} puzzles")


def tool_definition(task: str, info: dict[str, Any], request_schema: dict[str, Any]) -> dict[str, Any]:
    """A function-calling tool description of POST /v1/solve (OpenAI ``parameters`` / Anthropic
    ``input_schema`` carry the same JSON Schema)."""
    props = {k: v for k, v in request_schema.get("properties", {}).items()
             if k in ("puzzle", "mode", "max_steps", "threshold", "samples", "trace")}
    grid = info.get("grid") or {}
    size = f"{grid.get('side')}x{grid.get('side')} " if grid.get("side") else ""
    description = (
        f"Solve a {size}{task} puzzle with a Tiny Recursive Model ({info['parameters']['dense']:,} parameters). "
        "Returns the answer, the supervision steps used, the model's confidence and whether a symbolic verifier "
        "accepts the answer (valid). Prefer mode 'adaptive' for speed; if valid is false, retry with more "
        "max_steps or samples, or treat the answer as unreliable.")
    schema = {"type": "object", "properties": props, "required": ["puzzle"], "additionalProperties": False}
    return {
        "name": f"solve_{task}",
        "description": description,
        "parameters": schema,
        "input_schema": schema,
        "http": {"method": "POST", "path": "/v1/solve", "content_type": "application/json",
                 "fixed_fields": {"task": task}},
        "returns": {"answer": "the answer in the puzzle's format", "steps": "int", "confidence": "0..1",
                    "valid": "bool or null", "errors": "list of strings"},
    }
