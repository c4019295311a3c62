"""``trm solve``: answer one puzzle with a trained model and check the answer."""

from __future__ import annotations

import argparse

from ..config import DEFAULT_HALT_THRESHOLD

HELP = "solve one puzzle (Sudoku string, maze text file, ARC task JSON) and verify the answer"
DESCRIPTION = """Solve one puzzle with a trained model, print the answer, the supervision steps used and the
halting head's confidence, and check the answer with a symbolic verifier (Sudoku: rules and givens; Maze: a
valid path of shortest length; ARC: the expected outputs if the task file has them).

examples:
  trm solve runs/demo 1.2...3..45.....6.1..2...3..4.2...5.
  trm solve runs/demo puzzle.txt --mode adaptive --threshold 0.7 --trace
  trm solve runs/maze maze.txt --gif steps.gif --json
  trm solve runs/arc task.json --data data/arc1

exit status: 0 when the answer is valid (or cannot be checked), 1 when the verifier rejects it, 2 on bad input.
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("checkpoint", help="run directory, checkpoint directory or model folder")
    p.add_argument("puzzle", help="a Sudoku string, or a file: Sudoku text, maze text, ARC task JSON ('-' = stdin)")
    add_inference_arguments(p)
    p.add_argument("--data", default=None, help="dataset directory: task details (box shape, ARC identifiers)")
    p.add_argument("--trace", action="store_true", help="show the answer after every supervision step")
    p.add_argument("--gif", default=None, metavar="FILE", help="draw the steps as an animated GIF (needs pillow)")
    p.add_argument("--png", default=None, metavar="FILE", help="draw the steps side by side in a PNG (needs pillow)")
    p.add_argument("--json", action="store_true", help="print one JSON object: answer, steps, confidence, valid...")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N, mps or auto (default cpu)")
    p.add_argument("--dtype", default="float32", choices=["auto", "float32", "bfloat16", "float16"])
    p.add_argument("--backend", choices=["torch", "onnx"], default="torch",
                   help="onnx: run an export folder (trm export) through onnxruntime, without torch")


def add_inference_arguments(p: argparse.ArgumentParser, batch: bool = False) -> None:
    """The inference options shared by ``trm solve`` and ``trm eval``."""
    g = p.add_argument_group("inference")
    g.add_argument("--mode", choices=["official", "adaptive"], default="official",
                   help="official: every row runs max-steps steps; adaptive: stop once sigmoid(q_halt) > threshold")
    g.add_argument("--threshold", type=float, default=DEFAULT_HALT_THRESHOLD,
                   help=f"adaptive halting threshold on sigmoid(q_halt) (default {DEFAULT_HALT_THRESHOLD}; "
                        "0.5 is the training rule q_halt > 0; "
                        "higher loses less accuracy for a little more compute, see docs/BENCHMARKS.md)")
    g.add_argument("--max-steps", type=int, default=None,
                   help="supervision steps (default: the model's N_sup; larger = test-time depth)")
    g.add_argument("--samples", type=int, default=1, help="noisy trajectories per puzzle (default 1)")
    g.add_argument("--noise", type=float, default=0.1, help="std of the latent noise of extra trajectories")
    g.add_argument("--vote", choices=["majority", "confidence"], default="majority",
                   help="how to choose among trajectories / symmetric copies (default majority)")
    g.add_argument("--augment", type=int, default=1,
                   help="symmetric copies per puzzle, solved, mapped back and voted on (1 = off; maze at most 8; "
                        "ARC solve: how many of the task's trained augmented versions vote, 1 = all)")
    g.add_argument("--seed", type=int, default=0, help="seed of the noise and of the symmetries")
    g.add_argument("--batch-size", type=int, default=256, help="rows per forward pass")


def _read_puzzle(arg: str) -> str:
    import sys
    from pathlib import Path

    from ..utils import TRMError

    if arg == "-":
        return sys.stdin.read()
    path = Path(arg)
    if path.is_file():
        try:
            return path.read_text()
        except (OSError, UnicodeDecodeError) as e:
            raise TRMError(f"{path}: cannot read ({e})") from None
    if "/" in arg or arg.endswith((".txt", ".json")):
        raise TRMError(f"{arg}: no such file")
    return arg


def run(args: argparse.Namespace) -> int:
    import json
    import sys

    from ..infer import load_solver

    text = _read_puzzle(args.puzzle)
    if args.backend == "onnx":
        return _run_onnx(args, text)
    solver = load_solver(args.checkpoint, device=args.device, dtype=args.dtype, data=args.data)
    kind = solver.info.kind
    # an ARC task file is passed by path: its name identifies the task's trained puzzle embeddings
    puzzle = args.puzzle if kind == "arc" and args.puzzle != "-" and text != args.puzzle else text
    want_trace = args.trace or args.gif or args.png
    result = solver.solve(puzzle, mode=args.mode, threshold=args.threshold, max_steps=args.max_steps,
                          samples=args.samples, noise=args.noise, seed=args.seed, trace=bool(want_trace),
                          vote=args.vote, augment=args.augment, batch_size=args.batch_size)
    notes = []
    if args.gif or args.png:
        notes += _draw(solver, text if kind != "arc" else None, result, args)
    if args.json:
        for n in notes:
            print(n, file=sys.stderr)
        print(json.dumps(result.to_json(trace=args.trace)))
    else:
        if args.trace:
            print(_trace(solver, text, result))
            print()
        answer = result.answer if isinstance(result.answer, str) else json.dumps(result.answer)
        print(answer)
        print(f"steps {result.steps}  confidence {result.confidence:.3f}"
              + (f"  votes {result.votes}/{result.candidates}" if result.candidates > 1 else ""))
        if result.valid is None:
            print("not verified: no verifier (or no expected output) for this task")
        elif result.valid:
            print("valid: the verifier accepts this answer")
        else:
            print("WRONG: the verifier rejects this answer:")
            for e in result.errors:
                print(f"  - {e}")
        for n in notes:
            print(n)
    return 1 if result.valid is False else 0


def _run_onnx(args: argparse.Namespace, text: str) -> int:
    import json

    from ..deploy.backends import is_export_dir, load_onnx_solver
    from ..utils import TRMError

    if not is_export_dir(args.checkpoint):
        raise TRMError(f"{args.checkpoint}: not an ONNX export folder (make one with `trm export CHECKPOINT "
                       "--format onnx --out DIR`)")
    unsupported = [flag for flag, on in (("--gif", args.gif), ("--png", args.png), ("--augment", args.augment != 1),
                                         ("--data", args.data)) if on]
    if unsupported:
        raise TRMError(f"{', '.join(unsupported)} not supported with --backend onnx")
    try:
        res = load_onnx_solver(args.checkpoint).solve(
            text, mode=args.mode, threshold=args.threshold, max_steps=args.max_steps, samples=args.samples,
            noise=args.noise, seed=args.seed, vote=args.vote, trace=args.trace)
    except ValueError as e:  # the runner's puzzle and settings errors
        raise TRMError(str(e)) from None
    if args.json:
        print(json.dumps(res))
    else:
        if args.trace:
            for i, t in enumerate(res.get("trace", []), 1):
                print(f"step {i}  confidence {t['confidence']:.3f}\n{t['answer']}\n")
        print(res["answer"] if isinstance(res["answer"], str) else json.dumps(res["answer"]))
        print(f"steps {res['steps']}  confidence {res['confidence']:.3f}")
        if res["valid"] is None:
            print("not verified: no verifier (or no expected output) for this task")
        elif res["valid"]:
            print("valid: the verifier accepts this answer")
        else:
            print("WRONG: the verifier rejects this answer:")
            for e in res.get("errors", []):
                print(f"  - {e}")
    return 1 if res["valid"] is False else 0


def _frames(solver, text, result):
    import numpy as np

    if solver.info.kind == "arc":
        return [solver.codec.cells(np.asarray(t.tokens), None) for t in result.trace], None
    p = solver.parse(text)
    frames = [solver.codec.cells(np.asarray(t.tokens), p) for t in result.trace]
    givens = p.layout["givens"] != 0 if solver.info.kind == "sudoku" else None
    return frames, givens


def _trace(solver, text, result) -> str:
    from ..infer.render import trace_text, use_colour

    frames, givens = _frames(solver, text, result)
    return trace_text(frames, [t.confidence for t in result.trace], solver.info.kind, givens, use_colour())


def _draw(solver, text, result, args) -> list[str]:
    from ..infer.render import save_trace_images

    frames, givens = _frames(solver, text, result)
    notes = []
    for path in (args.gif, args.png):
        if path:
            notes.append("wrote " + save_trace_images(frames, [t.confidence for t in result.trace], solver.info.kind,
                                                      path, solver.info.box, givens))
    return notes
