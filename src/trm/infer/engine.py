"""The inference engine: one control loop for every backend (numpy only), run as :class:`~.settings.Settings` say.

:class:`Engine` streams token rows through a :class:`Backend` one supervision step at a time. Rows belong to
:class:`Job` s (a request, a puzzle's candidates, a chunk of a dataset); a physical batch of at most
``batch_size`` rows is kept full (continuous batching): a row leaves as soon as it is done, official mode
after ``max_steps`` steps, adaptive mode once sigmoid(q_halt) > threshold, and a waiting row takes its
place at the next step. ``max_steps`` larger than the model's N_sup is test-time depth. Rows with
trajectory k > 0 get seeded Gaussian noise: ``init_noise`` on y and z before their first step, ``noise`` on
z before every step. A job's selector (:mod:`.selectors`) acts on groups of ``group`` consecutive rows (a
puzzle's trajectories) through what it declares: a ``grouped`` selector's groups enter the batch whole (their
rows advance in lockstep) and a row that settles stops its group; one that ``halts`` stops rows at the
threshold; ``observe`` sees every row's answer after every step and may settle rows; ``resample`` may give a
group's rows each other's y and z.

The engine does the bookkeeping in small numpy arrays (one entry per row, no Python loop over rows per
step); the big tensors (y, z, inputs) stay in the backend's own arrays (numpy for onnxruntime, tensors on
the device for PyTorch), reached through ``backend.ops``. Per-step answers are read back only when a job
asks for them (traces, per-step metrics) and otherwise only for rows that finish.

This module imports nothing from trm and no torch: ``trm export`` copies it into the export folder.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from .settings import Settings

_NEVER = 2.0  # a threshold sigmoid never exceeds: official-mode rows halt on their step count only
_INIT_Y, _INIT_Z = 1022, 1023  # noise-table "steps" of the initial-state noise (max_steps is at most 256)
# what a row's selector asks of every step, as bits of the row's "acts" entry (tested for all rows at once)
_GROUPED, _OBSERVES, _RESAMPLES = 1, 2, 4


# ============================================================================================ backends
class Ops(Protocol):
    """Array operations on a backend's own arrays (``a`` native, ``idx`` numpy int64)."""

    def tokens(self, a: np.ndarray) -> Any: ...
    def floats(self, a: np.ndarray) -> Any: ...
    def numpy(self, a: Any) -> np.ndarray: ...
    def cat(self, parts: list) -> Any: ...
    def take(self, a: Any, idx: np.ndarray) -> Any: ...
    def argmax(self, logits: Any) -> Any: ...
    def fill(self, vec: Any, n: int, length: int) -> Any: ...  # [n, length, D] copies of vec [D]
    def add_noise(self, z: Any, rows: np.ndarray, table: Any, traj: np.ndarray, std: np.ndarray) -> Any: ...


class Backend(Protocol):
    """A model behind the engine: the reset state, puzzle-embedding rows and one supervision step."""

    total_len: int  # L: sequence length including the puzzle-embedding prefix
    hidden_size: int  # D
    ops: Ops

    def init_state(self) -> tuple[Any, Any]: ...  # y_init, z_init [D]

    def puzzle_rows(self, pids: np.ndarray) -> Any: ...  # what step() takes for these puzzle identifiers

    def step(self, y: Any, z: Any, inputs: Any, rows: Any) -> tuple[Any, Any, Any, Any, Any]: ...

    # -> y, z [B, L, D], logits [B, S, V], q_halt [B], q_continue [B]


class NumpyOps:
    """:class:`Ops` for backends that take and return numpy arrays (onnxruntime)."""

    def tokens(self, a):
        return np.ascontiguousarray(a, dtype=np.int64)

    def floats(self, a):
        return np.ascontiguousarray(a, dtype=np.float32)

    def numpy(self, a):
        return np.asarray(a)

    def cat(self, parts):
        return np.concatenate(parts)

    def take(self, a, idx):
        return a[idx]

    def argmax(self, logits):
        return logits.argmax(-1)

    def fill(self, vec, n, length):
        return np.repeat(np.asarray(vec, np.float32)[None, None], n * length, 0).reshape(n, length, -1)

    def add_noise(self, z, rows, table, traj, std):
        z[rows] += std[:, None, None] * table[traj]
        return z


def noise_table(seed: int, step: int, K: int, shape: tuple[int, int]) -> np.ndarray:
    """[K, L, D] standard normal noise added to z before supervision step ``step`` (0-based). Trajectory 0 is
    noise-free; trajectory k's noise depends only on (seed, step, k), never on what else is in the batch."""
    t = np.zeros((K, *shape), np.float32)
    for k in range(1, K):
        t[k] = np.random.default_rng([seed, step, k]).standard_normal(shape, dtype=np.float32)
    return t


def sigmoid(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-np.asarray(x, np.float64)))


# ============================================================================================ the loop
class Job:
    """Rows solved together, and what became of them: ``preds`` [R, S], ``q_halt`` [R], ``steps`` [R],
    ``settled`` [R] (stopped by its own rule: crossed the threshold or converged); with ``record``,
    ``step_preds`` [N, R, S] and ``step_q`` [N, R] after every step (held at the final value once a row
    halted, so step k reads "the answer if stopped by step k")."""

    def __init__(
        self,
        inputs: np.ndarray,
        pids: np.ndarray,
        traj: np.ndarray,
        settings: Settings,
        n_steps: int,
        record: bool,
        user: Any = None,
        group: int = 1,
    ):
        self.inputs = np.ascontiguousarray(inputs, dtype=np.int64)
        R, S = self.inputs.shape
        self.pids, self.traj = np.asarray(pids, np.int64), np.asarray(traj, np.int64)
        self.settings, self.max_steps, self.record, self.user = settings, n_steps, record, user
        self.preds = np.zeros((R, S), np.int64)
        self.q_halt = np.zeros(R, np.float32)
        self.steps = np.zeros(R, np.int64)
        self.settled = np.zeros(R, bool)
        self.group, self.selector = max(1, group), settings.selector
        sel = self.selector
        self.acts = _GROUPED * sel.grouped | _OBSERVES * sel.observes | _RESAMPLES * sel.resamples
        self.unit = self.group if sel.grouped else 1  # rows that enter the batch together
        self.thr = settings.threshold if settings.halts else _NEVER
        self.step_preds = np.zeros((n_steps, R, S), np.int16) if record else None  # vocabularies are small
        self.step_q = np.zeros((n_steps, R), np.float32) if record else None
        self.queued = 0  # rows handed to the batch so far
        self.left = R  # rows not finished
        self.cancelled = False
        self.key = 0  # the engine's handle

    @property
    def rows(self) -> int:
        return len(self.inputs)

    @property
    def finished(self) -> bool:
        return self.left == 0

    @property
    def confidence(self) -> np.ndarray:
        return sigmoid(self.q_halt)

    def _hold(self) -> None:
        if self.record:
            N = self.max_steps
            hold = np.minimum(np.arange(N)[:, None], np.maximum(self.steps - 1, 0)[None])  # [N, R]
            self.step_q = np.take_along_axis(self.step_q, hold, 0)
            self.step_preds = np.take_along_axis(self.step_preds, hold[..., None], 0)


_ROW_FIELDS = "job row steps limit thr std istd seed traj record acts state gkey".split()


class Engine:
    """Advances every live row of every job by one supervision step per forward pass (see the module doc)."""

    def __init__(self, backend: Backend, n_sup: int, batch_size: int = 256, noise_cache: int = 64):
        self.backend, self.ops, self.n_sup, self.batch_size = backend, backend.ops, n_sup, batch_size
        self.y0, self.z0 = backend.init_state()
        self.waiting: deque[Job] = deque()
        self.jobs: dict[int, Job] = {}  # key -> job, queued or running
        self._keys = 0
        self._noise: OrderedDict[tuple[int, int], tuple[int, Any]] = OrderedDict()
        self._noise_cache = noise_cache
        self.forward_passes = 0
        self.rows_stepped = 0
        self._reset_batch()

    def _reset_batch(self) -> None:
        self.a = {
            k: np.zeros(0, {"thr": np.float64, "std": np.float32, "istd": np.float32}.get(k, np.int64))
            for k in _ROW_FIELDS
        }
        self.y = self.z = self.x = self.prow = None

    @property
    def busy(self) -> bool:
        return bool(self.jobs)

    @property
    def active(self) -> int:
        return len(self.a["job"])

    def submit(
        self,
        inputs: np.ndarray,
        pids: np.ndarray,
        settings: Settings,
        traj: np.ndarray | None = None,
        record: bool = False,
        user: Any = None,
        group: int = 1,
    ) -> Job:
        """Queue token rows ``inputs`` [R, S] with puzzle identifiers ``pids`` [R] and trajectory numbers
        ``traj`` [R] (0 = noise-free), in groups of ``group`` consecutive rows (one puzzle's trajectories);
        ``record`` keeps the answer after every step."""
        inputs = np.asarray(inputs)
        traj = np.zeros(len(inputs), np.int64) if traj is None else traj
        job = Job(inputs, pids, traj, settings, settings.max_steps or self.n_sup, record, user, group)
        self._keys += 1
        job.key = self._keys
        if job.rows:
            self.jobs[job.key] = job
            self.waiting.append(job)
        return job

    def abort(self) -> list[Job]:
        """Drop every job (queued or running) and return them."""
        jobs = list(self.jobs.values())
        self.jobs.clear()
        self.waiting.clear()
        self._reset_batch()
        return jobs

    def run(self, on_done: Callable[[int], None] | None = None) -> None:
        """Step until every job is done; ``on_done(k)`` hears how many rows just finished."""
        while self.busy:
            before = sum(j.left for j in self.jobs.values())
            self.step()
            if on_done is not None:
                on_done(before - sum(j.left for j in self.jobs.values()))

    # ------------------------------------------------------------------------------------------ one step
    def step(self) -> list[Job]:
        """One supervision step over up to ``batch_size`` rows; returns (and forgets) the jobs that finished
        or were cancelled."""
        out = self._drop_cancelled()
        self._refill()
        a, ops = self.a, self.ops
        if not self.active:
            return out
        self._add_noise()
        y, z, logits, q_halt, _ = self.backend.step(self.y, self.z, self.x, self.prow)
        self.forward_passes += 1
        self.rows_stepped += self.active
        a["steps"] += 1
        done = a["steps"] >= a["limit"]
        preds = ops.argmax(logits)
        q = p = conf = None
        settled = np.zeros(self.active, bool)
        if a["record"].any() or (a["thr"] < _NEVER).any() or (a["acts"] & _RESAMPLES).any():
            q = ops.numpy(q_halt).astype(np.float32)
            conf = sigmoid(q)
            settled = conf > a["thr"]
        observed = (a["acts"] & _OBSERVES) > 0
        if a["record"].any() or observed.any():
            p = ops.numpy(preds)
            for key, sel in _groups(a["job"], np.flatnonzero(a["record"] | observed)):
                job, rows, at = self.jobs[key], a["row"][sel], a["steps"][sel] - 1
                if job.record:
                    job.step_preds[at, rows], job.step_q[at, rows] = p[sel], q[sel]
                if job.selector.observes:
                    a["state"][sel], stop = job.selector.observe(job, rows, at, p[sel], a["state"][sel])
                    settled[sel] |= stop
        grouped = (a["acts"] & _GROUPED) > 0  # a row that settles stops its whole group
        done |= (settled & ~grouped) | np.isin(a["gkey"], a["gkey"][settled & grouped])
        y, z = self._resample(conf, done, y, z)
        fin = np.flatnonzero(done)
        if fin.size:
            pf = p[fin] if p is not None else ops.numpy(ops.take(preds, fin))
            qf = q[fin] if q is not None else ops.numpy(ops.take(q_halt, fin)).astype(np.float32)
            for key, sel in _groups(a["job"][fin], np.arange(fin.size)):
                job = self.jobs[key]
                rows = a["row"][fin[sel]]
                job.preds[rows], job.q_halt[rows], job.steps[rows] = pf[sel], qf[sel], a["steps"][fin[sel]]
                job.settled[rows] = settled[fin[sel]]
                job.left -= sel.size
                if job.finished:
                    job._hold()
                    out.append(self.jobs.pop(key))
            y, z = self._keep(np.flatnonzero(~done), y, z)
        self.y, self.z = y, z
        return out

    def _keep(self, keep: np.ndarray, y, z):
        """Finished rows leave the batch: their carry is dropped."""
        if keep.size == 0:
            self._reset_batch()
            return None, None
        ops = self.ops
        for k in _ROW_FIELDS:
            self.a[k] = self.a[k][keep]
        self.x = ops.take(self.x, keep)
        self.prow = None if self.prow is None else ops.take(self.prow, keep)
        return ops.take(y, keep), ops.take(z, keep)

    def _drop_cancelled(self) -> list[Job]:
        gone = [j for j in self.jobs.values() if j.cancelled]
        if not gone:
            return []
        for j in gone:
            del self.jobs[j.key]
        self.waiting = deque(j for j in self.waiting if not j.cancelled)
        if self.active:
            keys = np.array([j.key for j in gone])
            self.y, self.z = self._keep(np.flatnonzero(~np.isin(self.a["job"], keys)), self.y, self.z)
        return gone

    def _refill(self) -> None:
        """Waiting rows join the batch from the reset state (y_init, z_init), first come first served."""
        free, parts = self.batch_size - self.active, []
        while free > 0 and self.waiting:
            job = self.waiting[0]
            lo, hi = job.queued, min(job.rows, job.queued + free)
            hi -= (hi - lo) % job.unit  # whole groups only
            if hi == lo:  # no room for a group: wait for one, unless the batch is empty
                if self.active or parts:
                    break
                hi = min(job.rows, lo + job.unit)
            parts.append((job, lo, hi))
            job.queued, free = hi, free - (hi - lo)
            if hi == job.rows:
                self.waiting.popleft()
        if not parts:
            return
        ops, n = self.ops, sum(hi - lo for _, lo, hi in parts)
        new = {
            "job": [np.full(hi - lo, j.key) for j, lo, hi in parts],
            "row": [np.arange(lo, hi) for _, lo, hi in parts],
            "steps": [np.zeros(hi - lo, np.int64) for _, lo, hi in parts],
            "limit": [np.full(hi - lo, j.max_steps) for j, lo, hi in parts],
            "thr": [np.full(hi - lo, j.thr) for j, lo, hi in parts],
            "std": [np.full(hi - lo, j.settings.noise, np.float32) for j, lo, hi in parts],
            "istd": [np.full(hi - lo, j.settings.init_noise, np.float32) for j, lo, hi in parts],
            "seed": [np.full(hi - lo, j.settings.seed) for j, lo, hi in parts],
            "traj": [j.traj[lo:hi] for j, lo, hi in parts],
            "record": [np.full(hi - lo, j.record) for j, lo, hi in parts],
            "acts": [np.full(hi - lo, j.acts) for j, lo, hi in parts],
            "state": [np.zeros(hi - lo, np.int64) for _, lo, hi in parts],
            "gkey": [(j.key << 32) | (np.arange(lo, hi) // j.group) for j, lo, hi in parts],
        }
        for k, v in new.items():
            self.a[k] = np.concatenate([self.a[k], *v]).astype(self.a[k].dtype)
        x = ops.tokens(np.concatenate([j.inputs[lo:hi] for j, lo, hi in parts]))
        prow = self.backend.puzzle_rows(np.concatenate([j.pids[lo:hi] for j, lo, hi in parts]))
        y, z = ops.fill(self.y0, n, self.backend.total_len), ops.fill(self.z0, n, self.backend.total_len)
        if self.y is None:
            self.y, self.z, self.x, self.prow = y, z, x, prow
        else:
            self.y, self.z, self.x = ops.cat([self.y, y]), ops.cat([self.z, z]), ops.cat([self.x, x])
            self.prow = None if prow is None else ops.cat([self.prow, prow])

    def _add_noise(self) -> None:
        a = self.a
        extra = a["traj"] > 0
        first = np.flatnonzero(extra & (a["istd"] > 0) & (a["steps"] == 0))
        self.y = self._noisy(self.y, first, np.full(first.size, _INIT_Y), a["istd"])
        self.z = self._noisy(self.z, first, np.full(first.size, _INIT_Z), a["istd"])
        every = np.flatnonzero(extra & (a["std"] > 0))
        self.z = self._noisy(self.z, every, a["steps"][every], a["std"])

    def _noisy(self, t, rows: np.ndarray, steps: np.ndarray, std: np.ndarray):
        """``t`` with the noise of (seed, step, trajectory) times ``std`` added to batch ``rows``."""
        a = self.a
        for (seed, step), sel in _groups(a["seed"][rows] * 1024 + steps, rows, pairs=True):
            table = self._table(seed, step, int(a["traj"][sel].max()) + 1)
            t = self.ops.add_noise(t, sel, table, a["traj"][sel], std[sel])
        return t

    def _resample(self, conf: np.ndarray | None, done: np.ndarray, y, z):
        """The live rows of each group of a resampling selector take the y and z of the rows it picks from their
        ``conf`` = sigmoid(q_halt); a row keeps its trajectory's noise."""
        a, src = self.a, np.arange(self.active)
        live = np.flatnonzero(((a["acts"] & _RESAMPLES) > 0) & ~done)
        for g, idx in _groups(a["gkey"][live], live):
            selector = self.jobs[g >> 32].selector  # gkey = job key << 32 | group
            pick = selector.resample(conf[idx], a["seed"][idx[0]], a["steps"][idx[0]], g)
            if pick is not None:
                src[idx] = idx[pick]
        if (src == np.arange(self.active)).all():
            return y, z
        return self.ops.take(y, src), self.ops.take(z, src)

    def _table(self, seed: int, step: int, K: int):
        key = (seed, step)
        have = self._noise.get(key)
        if have is None or have[0] < K:
            shape = (self.backend.total_len, self.backend.hidden_size)
            have = (K, self.ops.floats(noise_table(seed, step, K, shape)))
            self._noise[key] = have
            if len(self._noise) > self._noise_cache:
                self._noise.popitem(last=False)
        self._noise.move_to_end(key)
        return have[1]


def _groups(keys: np.ndarray, idx: np.ndarray, pairs: bool = False):
    """(key, idx[keys == key]) for each distinct key (``pairs``: key = seed * 1024 + step -> (seed, step))."""
    uniq, inv = np.unique(keys, return_inverse=True)
    inv = inv.reshape(-1)
    for i, k in enumerate(uniq.tolist()):
        yield (divmod(k, 1024) if pairs else k), idx[inv == i]


@dataclass
class Trajectories:
    """What :func:`run` returns, one entry per row (R rows, N = max_steps)."""

    preds: np.ndarray  # [R, S]
    q_halt: np.ndarray  # [R]
    steps: np.ndarray  # [R]
    settled: np.ndarray  # [R]
    step_q: np.ndarray | None = None  # [N, R] with record
    step_preds: np.ndarray | None = None  # [N, R, S] with record

    @property
    def confidence(self) -> np.ndarray:
        return sigmoid(self.q_halt)


def run(
    backend: Backend,
    inputs: np.ndarray,
    puzzle_identifiers: np.ndarray,
    settings: Settings,
    n_sup: int,
    *,
    trajectory: np.ndarray | None = None,
    record: bool = False,
    on_done: Callable[[int], None] | None = None,
    group: int = 1,
) -> Trajectories:
    """Solve token rows ``inputs`` [R, S] as one job (see :class:`Engine`)."""
    eng = Engine(backend, n_sup, settings.batch_size)
    job = eng.submit(
        np.asarray(inputs), np.asarray(puzzle_identifiers), settings, trajectory, record, group=group
    )
    eng.run(on_done)
    return Trajectories(job.preds, job.q_halt, job.steps, job.settled, job.step_q, job.step_preds)
