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
from dataclasses import dataclass
from typing import Any

from ..infer.engine import Engine, Job
from ..infer.solver import Request, Solver


@dataclass
class Limits:
    """What one server accepts and how much work it takes on (each at most the engine's own bound)."""

    max_body_bytes: int = 64_000  # request body
    max_steps: int = 64  # largest max_steps a request may ask for
    max_samples: int = 8  # trajectories per puzzle
    max_augment: int = 8  # symmetric copies per puzzle
    max_rows: int = 256  # trajectories in one forward pass
    max_jobs: int = 1024  # puzzles queued or running; beyond: 503
    timeout_s: float = 30.0  # default and largest per-request time


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
            result = item.request.result(job).to_json(trace=item.request.trace)
        except Exception as e:  # formatting or verification of a strange answer
            self.stats["failed"] += 1
            self._finish(item, error=RuntimeError(f"could not format the answer: {e}"))
            return
        self.stats["completed"] += 1
        self._finish(item, value=result)


# ============================================================================================ the service
