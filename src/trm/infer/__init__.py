"""Inference with trained models: one engine (official mode, adaptive halting, test-time depth, continuous
batching, multi-trajectory sampling, augmentation voting) behind a backend interface, the solver that turns
puzzles into results, dataset evaluation and the ARC voting evaluator.

    from trm.infer import load_solver
    solver = load_solver("runs/demo")
    result = solver.solve(puzzle, mode="adaptive", threshold=0.9)
    result.to_json()  # {"answer", "steps", "confidence", "valid", "errors", "calls"[, "trace"]}

``settings``, ``engine``, ``voting`` and ``solver`` import neither torch nor the rest of trm (only :mod:`trm.tasks`), so
that an ONNX export folder runs the same code (:mod:`trm.deploy.onnx_runner`); ``torch_backend`` is the
PyTorch backend and the loader of trained models.
"""

from .engine import Backend, Engine, Job, Trajectories, run
from .evaluate import evaluate, format_report
from .settings import DEFAULT_HALT_THRESHOLD, Settings
from .solver import Solver, SolveResult, TraceStep
from .tasks import TaskInfo, make_codec, task_info
from .torch_backend import TorchBackend, load_solver, torch_solver
from .voting import ArcVoter, Prediction, choose, predict

__all__ = [
    "DEFAULT_HALT_THRESHOLD",
    "Backend",
    "Engine",
    "Job",
    "Settings",
    "Trajectories",
    "run",
    "Solver",
    "SolveResult",
    "TraceStep",
    "TorchBackend",
    "load_solver",
    "torch_solver",
    "Prediction",
    "choose",
    "predict",
    "ArcVoter",
    "evaluate",
    "format_report",
    "TaskInfo",
    "task_info",
    "make_codec",
]
