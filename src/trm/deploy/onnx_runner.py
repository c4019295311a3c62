"""Run an exported TRM (``trm export --format onnx``) with numpy and onnxruntime only.

``trm export`` copies this file into the export folder as ``trm_onnx_runner.py``, next to copies of the
inference engine (``trm_engine/``: :mod:`trm.infer.engine`, ``voting``, ``solver``) and of the task layer
(``trm_tasks/``: :mod:`trm.tasks`), so that the folder runs wherever onnxruntime does, without torch or trm,
with the same engine, settings, task parsers and result object as ``trm solve``::

    python trm_onnx_runner.py EXPORT_DIR "1.3..6.2...." --mode adaptive --json

    from trm_onnx_runner import OnnxSolver
    solver = OnnxSolver("EXPORT_DIR")
    solver.solve("1.3..6.2....", mode="adaptive").to_json()
    # {"answer", "steps", "confidence", "valid", "errors"}: the object `trm solve --json` prints

Inside trm this module is :mod:`trm.deploy.onnx_runner` and uses trm's own engine and tasks.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

try:  # inside trm
    from ..infer.engine import NumpyOps
    from ..infer.settings import Settings, add_arguments, given_options
    from ..infer.solver import Solver
    from ..infer.voting import predict
    from ..tasks import PuzzleError, get_task
except ImportError:  # an export folder: its copies of the engine and the task layer, else an installed trm
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    try:
        from trm_engine.engine import NumpyOps
        from trm_engine.settings import Settings, add_arguments, given_options
        from trm_engine.solver import Solver
        from trm_engine.voting import predict
        from trm_tasks import PuzzleError, get_task
    except ImportError:
        from trm.infer.engine import NumpyOps
        from trm.infer.settings import Settings, add_arguments, given_options
        from trm.infer.solver import Solver
        from trm.infer.voting import predict
        from trm.tasks import PuzzleError, get_task

MANIFEST = "trm_export.json"
VARIANTS = {"float32": "step", "int8": "step_int8", "fp16w": "step_fp16w"}
STEP_OUTPUTS = ["y_next", "z_next", "logits", "q_halt", "q_continue"]


class OnnxBackend:
    """One onnxruntime session of an export folder's step graph, behind the engine's backend interface."""

    ops = NumpyOps()

    def __init__(self, export_dir: str | os.PathLike, variant: str = "float32", threads: int | None = None):
        import onnxruntime as ort  # the one dependency beyond numpy, loaded when a session is made

        self.dir = Path(export_dir)
        mpath = self.dir / MANIFEST
        if not mpath.is_file():
            raise PuzzleError(
                f"{self.dir}: not an ONNX export folder (no {MANIFEST}); create one with "
                "`trm export CHECKPOINT --format onnx --out DIR`"
            )
        self.manifest = json.loads(mpath.read_text())
        files = self.manifest["files"]
        if variant not in VARIANTS or VARIANTS[variant] not in files:
            have = [v for v, key in VARIANTS.items() if key in files]
            raise PuzzleError(
                f"variant {variant!r} is not in this export (have {have}); re-export with "
                "--int8 / --fp16 to add it"
            )
        io = self.manifest["io"]
        self.total_len, self.hidden_size = io["total_len"], io["hidden_size"]
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        opts.intra_op_num_threads = threads or 0  # 0: onnxruntime uses every core
        self.session = ort.InferenceSession(
            str(self.dir / files[VARIANTS[variant]]), opts, providers=["CPUExecutionProvider"]
        )
        self.input_names = {i.name for i in self.session.get_inputs()}
        with np.load(self.dir / files["carry_init"], allow_pickle=False) as init:
            self._init = (init["y_init"].astype(np.float32), init["z_init"].astype(np.float32))
        self.table = (
            np.load(self.dir / files["puzzle_emb"], mmap_mode="r", allow_pickle=False)
            if "puzzle_emb" in files
            else None
        )

    def init_state(self) -> tuple[np.ndarray, np.ndarray]:
        return self._init

    def puzzle_rows(self, pids: np.ndarray) -> np.ndarray | None:
        if self.table is None:
            return None
        return np.ascontiguousarray(self.table[np.asarray(pids, dtype=np.int64)], dtype=np.float32)

    def step(self, y, z, inputs, rows):
        feeds = {
            "inputs": np.ascontiguousarray(inputs, dtype=np.int64),
            "y": np.ascontiguousarray(y, dtype=np.float32),
            "z": np.ascontiguousarray(z, dtype=np.float32),
        }
        if "puzzle_emb" in self.input_names:
            feeds["puzzle_emb"] = rows
        return tuple(self.session.run(STEP_OUTPUTS, feeds))


class OnnxSolver(Solver):
    """:class:`~trm.infer.solver.Solver` over an export folder: ``OnnxSolver(dir).solve(puzzle, mode=...)``.
    The task and the default settings (the model's protocol) come from the folder's manifest."""

    def __init__(self, export_dir: str | os.PathLike, variant: str = "float32", threads: int | None = None):
        backend = OnnxBackend(export_dir, variant=variant, threads=threads)
        man = self.manifest = backend.manifest
        model = man["config"]["model"]
        self.seq_len, self.vocab_size = model["seq_len"], model["vocab_size"]
        task = get_task(man.get("task_info") or man.get("task", "custom"), self.seq_len, self.vocab_size)
        super().__init__(
            backend,
            task,
            model["N_sup"],
            defaults=Settings().replace(**man.get("settings", {})),
            num_identifiers=model.get("num_puzzle_identifiers", 1),
        )

    def run(
        self, inputs: np.ndarray, puzzle_identifiers: np.ndarray | None = None, **options: Any
    ) -> dict[str, np.ndarray]:
        """Token-level batch solve: ``inputs`` [B, S] -> predictions [B, S], steps [B], confidence [B]."""
        inputs = np.asarray(inputs, dtype=np.int64)
        pids = (
            np.zeros(len(inputs), np.int64) if puzzle_identifiers is None else np.asarray(puzzle_identifiers)
        )
        pred = predict(self.backend, self.n_sup, inputs, pids, self.settings(**options))
        return {"predictions": pred.preds, "steps": pred.steps, "confidence": pred.confidence}

    def run_unrolled(
        self, inputs: np.ndarray, puzzle_identifiers: np.ndarray | None = None, steps: int | None = None
    ) -> dict[str, np.ndarray]:
        """Fixed-N solve with the loop-free graph ``unrolled_N{steps}.onnx``: predictions [B, S], q_halt [B, k]."""
        import onnxruntime as ort

        unrolled = self.manifest["files"].get("unrolled", {})
        if not unrolled:
            raise PuzzleError("this export has no unrolled graph; re-export with --unrolled N")
        key = str(steps) if steps is not None else sorted(unrolled, key=int)[-1]
        if key not in unrolled:
            raise PuzzleError(f"no unrolled graph for {steps} steps (have {sorted(unrolled, key=int)})")
        sess = ort.InferenceSession(str(self.backend.dir / unrolled[key]), providers=["CPUExecutionProvider"])
        feeds = {"inputs": np.asarray(inputs, dtype=np.int64)}
        if "puzzle_emb" in {i.name for i in sess.get_inputs()}:
            pids = np.zeros(len(inputs), dtype=np.int64) if puzzle_identifiers is None else puzzle_identifiers
            feeds["puzzle_emb"] = self.backend.puzzle_rows(pids)
        logits, q_halt = sess.run(["logits", "q_halt"], feeds)
        return {"predictions": logits.argmax(-1), "q_halt": q_halt}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="trm_onnx_runner",
        description="Solve a puzzle with a TRM ONNX export (numpy + onnxruntime only).",
    )
    ap.add_argument("export_dir")
    ap.add_argument("puzzle", help="puzzle text, @FILE to read it from a file, or - for stdin")
    add_arguments(ap.add_argument_group("inference (default: the model's protocol, else the value shown)"))
    ap.add_argument("--variant", choices=list(VARIANTS), default="float32")
    ap.add_argument(
        "--threads", type=int, default=None, help="onnxruntime intra-op threads (default: every core)"
    )
    ap.add_argument("--trace", action="store_true")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    try:
        text = args.puzzle
        if text == "-":
            text = sys.stdin.read()
        elif text.startswith("@"):
            text = Path(text[1:]).read_text()
        solver = OnnxSolver(args.export_dir, variant=args.variant, threads=args.threads)
        puzzle: Any = (
            json.loads(text) if solver.task.kind == "arc" and text.lstrip().startswith("[") else text
        )
        result = solver.solve(puzzle, solver.settings(**given_options(args)), trace=args.trace)
    except (PuzzleError, ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(result.to_json(trace=args.trace)) if args.json else result.text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
