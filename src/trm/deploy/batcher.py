"""The cross-client batcher of ``trm serve``: requests from every client share one
:class:`~trm.infer.engine.Engine`, owned by one worker thread, advanced one supervision step per forward pass.

Handlers put a :class:`~trm.infer.solver.Request` on a queue and await a future; the worker submits new
requests as jobs at the next step, drops the rows of requests past their deadline or whose client went away,
and answers each finished request with its result JSON. Bounded by :class:`Limits`.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from dataclasses import dataclass, field, fields
from typing import Any

from ..infer.engine import Engine, Job
from ..infer.settings import Settings
from ..infer.solver import Request, Solver
from ..typed import check_flag_bounds

_SETTINGS = {f.name: f.metadata["max"] for f in fields(Settings)}  # the engine's upper bounds


def _limit(default: float, help: str, flag: str, lo: float, hi: float) -> Any:
    return field(default=default, metadata={"help": help, "flag": flag, "min": lo, "max": hi})


@dataclass
class Limits:
    """What one server accepts and how much work it takes on: each limit's default, help and bounds, declared
    once (``trm serve`` generates its flags from these; ``max_steps``, ``samples``, ``augment`` and ``max_rows``
    are at most the engine's own bounds in :class:`~trm.infer.settings.Settings`)."""

    max_body_bytes: int = _limit(64_000, "largest request body in bytes", "--max-body", 1024, 2**30)
    max_steps: int = _limit(
        64,
        "largest max_steps a request or the model's default may use",
        "--max-steps",
        1,
        _SETTINGS["max_steps"],
    )
    max_samples: int = _limit(
        8,
        "largest samples a request or the model's default may use",
        "--max-samples",
        1,
        _SETTINGS["samples"],
    )
    max_augment: int = _limit(
        8,
        "largest augment a request or the model's default may use",
        "--max-augment",
        1,
        _SETTINGS["augment"],
    )
    max_rows: int = _limit(256, "trajectories per forward pass", "--max-rows", 1, _SETTINGS["batch_size"])
    max_jobs: int = _limit(1024, "puzzles queued or running before 503", "--max-jobs", 1, 10**6)
    timeout_s: float = _limit(30.0, "seconds per request (default and maximum)", "--timeout", 0.01, 86_400.0)

    def validate(self) -> Limits:
        """Check every limit's type and bounds; raise :class:`TRMError` with one line naming its flag."""
        check_flag_bounds(self)
        return self


class Busy(Exception):
    pass


class _Pending:
    """A request on its way through the batcher."""

    __slots__ = ("request", "future", "loop", "deadline", "cancelled")

    def __init__(self, request: Request, future, loop, deadline: float):
        self.request, self.future, self.loop, self.deadline = request, future, loop, deadline
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

    def __init__(self, solver: Solver, limits: Limits):
        self.limits = limits
        self.engine = Engine(solver.backend, solver.n_sup, limits.max_rows)
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

    async def submit(self, request: Request, timeout: float) -> dict[str, Any]:
        """The result JSON of ``request``; raises :class:`Busy`, ``TimeoutError`` or ``RuntimeError``."""
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        item = _Pending(request, fut, loop, time.monotonic() + timeout)
        with self.cond:
            if self.in_system >= self.limits.max_jobs:
                raise Busy(
                    f"the server is at its limit of {self.limits.max_jobs} puzzles in progress; retry later"
                )
            self.in_system += 1
            self.incoming.append(item)
            self.cond.notify()
        try:
            return await asyncio.wait_for(
                asyncio.shield(fut), timeout + 1.0
            )  # the worker answers at the deadline
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
                item.request.submit(eng, user=item)
            now = time.monotonic()
            for job in eng.jobs.values():
                if job.user.cancelled or now > job.user.deadline:
                    job.cancelled = True
            try:
                finished = eng.step()
            except Exception as e:  # a failing forward fails the puzzles in it, not the server
                for job in eng.abort():
                    self.stats["failed"] += 1
                    self._finish(job.user, error=RuntimeError(f"inference failed: {type(e).__name__}: {e}"))
                continue
            self.stats["forward_passes"], self.stats["rows"] = eng.forward_passes, eng.rows_stepped
            for job in finished:
                self._settle(job)
        for job in eng.jobs.values():
            self._finish(job.user, error=RuntimeError("server shutting down"))

    def _settle(self, job: Job) -> None:
        item: _Pending = job.user
        if job.cancelled:
            self.stats["timed_out"] += 1
            self._finish(item, error=TimeoutError())
            return
        try:
            out = item.request.finish(job, self.engine, item)
            if isinstance(out, Job):  # escalated: the request's next rung is in the engine, same deadline
                return
            result = out.to_json(trace=item.request.trace)
        except Exception as e:  # formatting or verification of a strange answer
            self.stats["failed"] += 1
            self._finish(item, error=RuntimeError(f"could not format the answer: {e}"))
            return
        self.stats["completed"] += 1
        self._finish(item, value=result)


# ============================================================================================ the service
