"""Inference with trained models: batched solving (official mode, adaptive halting, test-time depth,
multi-trajectory sampling, augmentation voting), symbolic verifiers, dataset evaluation and the ARC voting
evaluator.

    from trm.infer import load_solver
    solver = load_solver("runs/demo")
    result = solver.solve(puzzle, mode="adaptive", threshold=0.7)
    result.to_json()  # {"answer", "steps", "confidence", "valid", "errors"[, "trace"]}
"""

from .engine import Prediction, Settings, Trajectories, choose, predict, run
from .evaluate import evaluate, format_report
from .solver import Solver, SolveResult, TraceStep, load_solver
from .tasks import TaskInfo, TokenTransform, make_codec, task_info
from .verify import check_maze, check_sudoku
from .voting import ArcVoter

__all__ = [
    "Solver", "SolveResult", "TraceStep", "load_solver", "Settings", "Prediction", "Trajectories", "run", "predict",
    "choose", "evaluate", "format_report", "TaskInfo", "TokenTransform", "task_info", "make_codec", "check_sudoku",
    "check_maze", "ArcVoter",
]
