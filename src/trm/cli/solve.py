"""``trm solve``: answer one puzzle with a trained model and check the answer."""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
from pathlib import Path

import numpy as np

from ..checkpoint import read_config
from ..deploy.backends import is_export_dir, load_onnx_solver
from ..infer import load_solver
from ..infer.render import save_trace_images, trace_text, use_colour
from ..infer.settings import add_arguments as add_settings_arguments
from ..infer.settings import given_options
from ..models import shipped_model, shipped_names
from ..tasks.base import names_file
from ..tasks.errors import OtherSizeError
from ..utils import TRMError
from .common import add_device, add_dtype, add_threads, announce_device, deprecated_alias, shipped_list

HELP = "solve one puzzle (Sudoku string, maze text file, ARC task JSON) and verify the answer"
DESCRIPTION = """Solve one puzzle with a trained model, print the answer (a Sudoku drawn as a grid; --raw: in the
puzzle's own form), the supervision steps used and the halting head's confidence, and check the answer with a
symbolic verifier (Sudoku: rules and givens; Maze: a valid path of shortest length; ARC: the expected outputs if
the task file has them). A Sudoku may be written as people write it: one line, one row per line, cells
separated by spaces or commas, a grid drawn with |, - and + lines, an .sdk file (docs/DATA.md).

The inference options start from the run's protocol (its config's eval section), else the library defaults.

Verified solving (tasks with a verifier: Sudoku, maze): while the verifier rejects the answer, the solve
climbs a ladder of costlier protocols (--budget lists it) within --budget network calls (one call = one
supervision step of one symmetric copy x trajectory); it prints the first answer the verifier accepts, or "no
verified answer" with the best unverified candidate (JSON: "answer": null, "verified": false, "candidate").
--budget 0: the protocol once, no escalation (still verified).

examples:
  trm solve runs/demo 1.2...3..45.....6.1..2...3..4.2...5.
  trm solve sudoku6 drawn-grid.txt --raw                     # the answer as one line of 36 digits
  trm solve runs/demo puzzle.txt --mode adaptive --threshold 0.7 --trace
  trm solve runs/demo puzzle.txt --sup-steps 32               # test-time depth: 32 supervision steps
  trm solve runs/maze maze.txt --gif steps.gif --json
  trm solve runs/demo puzzle.txt --samples 8 --init-noise 1 --select confidence   # 8 trajectories, one chosen
  trm solve runs/arc task.json --data data/arc1
  trm solve export-dir puzzle.txt                             # an ONNX export (trm export): onnxruntime

exit status: 0 when the answer is verified (or the task has no verifier), 1 when there is no verified answer
(ARC: the task file's expected outputs reject the answer), 2 on bad input.
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "checkpoint",
        help="run directory, checkpoint directory, model folder, ONNX export folder, or a shipped model "
        f"name: {shipped_list()}",
    )
    p.add_argument(
        "puzzle", help="a Sudoku string, or a file: Sudoku text, maze text, ARC task JSON ('-' = stdin)"
    )
    add_inference_arguments(p)
    p.add_argument(
        "--data", default=None, help="dataset directory: task details (box shape, ARC identifiers)"
    )
    p.add_argument("--trace", action="store_true", help="show the answer after every supervision step")
    p.add_argument(
        "--gif", default=None, metavar="FILE", help="draw the steps as an animated GIF (needs pillow)"
    )
    p.add_argument(
        "--png", default=None, metavar="FILE", help="draw the steps side by side in a PNG (needs pillow)"
    )
    p.add_argument(
        "--json", action="store_true", help="print one JSON object: answer, steps, confidence, valid..."
    )
    p.add_argument(
        "--raw",
        action="store_true",
        help="print the answer as text in the puzzle's own form (as --json's answer: a Sudoku as one line of "
        "N*N digits), not drawn as a grid",
    )
    add_device(p)
    add_dtype(p)
    add_threads(p)
    p.add_argument(
        "--backend",
        choices=["auto", "torch", "onnx"],
        default="auto",
        help="auto (default): onnxruntime for an export folder (trm export), PyTorch for everything else",
    )


def add_inference_arguments(p: argparse.ArgumentParser) -> None:
    """The inference flags of ``trm solve`` and ``trm eval`` (one per :class:`~trm.infer.engine.Settings` option)."""
    add_settings_arguments(
        p.add_argument_group("inference (default: the run's eval config, else the value shown)"),
        alias=deprecated_alias,
    )


MAX_PUZZLE_BYTES = 16 << 20  # a puzzle (an ARC task file included) is far smaller; stdin and files are capped


def _read_puzzle(arg: str) -> str:

    if arg == "-":
        text = sys.stdin.read(MAX_PUZZLE_BYTES + 1)
        if len(text) > MAX_PUZZLE_BYTES:
            raise TRMError(f"standard input: more than {MAX_PUZZLE_BYTES >> 20} MiB; not a puzzle")
        return text
    path = Path(arg)
    if names_file(arg):  # a puzzle argument is a puzzle unless it names an existing file
        try:
            if path.stat().st_size > MAX_PUZZLE_BYTES:
                raise TRMError(f"{path}: more than {MAX_PUZZLE_BYTES >> 20} MiB; not a puzzle")
            return path.read_text()
        except (OSError, UnicodeDecodeError) as e:
            raise TRMError(f"{path}: cannot read ({e})") from None
    if "/" in arg or arg.endswith((".txt", ".json")):
        raise TRMError(f"{arg}: no such file")
    return arg


def run(args: argparse.Namespace) -> int:
    text = _read_puzzle(args.puzzle)
    solver = open_solver(args)
    # a task file (ARC) is passed by path: its name identifies the task's trained puzzle embeddings
    puzzle = args.puzzle if solver.task.per_task and args.puzzle != "-" and text != args.puzzle else text
    for path in (args.gif, args.png):  # refuse an unwritable image path before any compute
        if path:
            _check_output_path(path)
    want_trace = bool(args.trace or args.gif or args.png)
    try:
        result = solver.solve(puzzle, solver.settings(**given_options(args)), trace=want_trace)
    except OtherSizeError as e:
        raise TRMError(_with_shipped_model(e)) from None
    announce_device(solver.backend, args.device, args.dtype)  # once the solve succeeded
    notes = []
    if args.gif or args.png:
        notes += _draw(solver, text, result, args)
    if args.json:
        for n in notes:
            print(n, file=sys.stderr)
        print(json.dumps(result.to_json(trace=args.trace)))
    else:
        if args.trace:
            print(_trace(solver, text, result))
            print()
        if not (args.raw or solver.task.per_task):  # the answer drawn for a person (a Sudoku with its boxes)
            drawn = solver.task.display(np.asarray(result.tokens), solver.parse(text))
            shown = "candidate" if result.verified is False else "answer"  # never an unverified "answer"
            result = dataclasses.replace(result, **{shown: drawn})
        print(result.text())
        for n in notes:
            print(n)
    return 1 if result.verified is False or result.valid is False else 0


def open_solver(args: argparse.Namespace):
    """The solver of ``args.checkpoint``: onnxruntime for an export folder (``--backend auto``/``onnx``),
    PyTorch on ``--device``/``--dtype`` otherwise."""
    backend = args.backend
    if backend == "auto":
        backend = "onnx" if is_export_dir(args.checkpoint) else "torch"
    if backend == "onnx":
        if args.data:
            raise TRMError(
                "--data is not supported with an ONNX export (the export carries its task details)"
            )
        return load_onnx_solver(args.checkpoint, threads=args.threads)
    return load_solver(
        args.checkpoint, device=args.device, dtype=args.dtype, data=args.data, threads=args.threads
    )


def _with_shipped_model(e: OtherSizeError) -> str:
    """The message of a puzzle of another size than the model's, naming a shipped model that solves it."""
    for name in shipped_names():
        cfg, _ = read_config(shipped_model(name))
        if e.solved_by(cfg.task, math.isqrt(cfg.model.seq_len)):
            return f"{e} (shipped with trm: trm solve {name} PUZZLE)"
    return str(e)


def _frames(solver, text, result):

    task = solver.task
    if task.per_task:  # a task has several inputs: its trace is drawn without one parsed input
        return [task.cells(np.asarray(t.tokens), None) for t in result.trace], None
    p = solver.parse(text)
    return [task.cells(np.asarray(t.tokens), p) for t in result.trace], task.givens(p)


def _trace(solver, text, result) -> str:

    frames, givens = _frames(solver, text, result)
    return trace_text(frames, [t.confidence for t in result.trace], solver.task, givens, use_colour())


def _check_output_path(path: str) -> None:
    p = Path(path)
    if p.is_dir():
        raise TRMError(f"{path}: is a directory; give an image file name")
    if not p.parent.is_dir():
        raise TRMError(f"{path}: the folder {p.parent} does not exist")


def _draw(solver, text, result, args) -> list[str]:

    frames, givens = _frames(solver, text, result)
    notes = []
    for path in (args.gif, args.png):
        if path:
            notes.append(
                "wrote "
                + save_trace_images(
                    frames,
                    [t.confidence for t in result.trace],
                    solver.task,
                    path,
                    solver.info.box,
                    givens,
                )
            )
    return notes
