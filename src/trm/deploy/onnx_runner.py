"""Run an exported TRM (``trm export --format onnx``) with numpy and onnxruntime only.

``trm export`` copies this module, with the torch-free modules it imports (the inference engine, settings,
voting, solver and selectors of :mod:`trm.infer`, the task layer :mod:`trm.tasks`), into the export folder as
the package ``trm_runtime/`` (the same relative layout as trm's, so the relative imports below hold there too),
and writes ``trm_onnx_runner.py`` beside it, a script that imports this module from it. The folder runs
wherever onnxruntime does, without torch or trm, with the same engine, settings, task parsers and result object
as ``trm solve``::

    python trm_onnx_runner.py EXPORT_DIR "1.3..6.2...." --mode adaptive --json

    from trm_onnx_runner import OnnxSolver
    solver = OnnxSolver("EXPORT_DIR")
    solver.solve("1.3..6.2....", mode="adaptive").to_json()
    # {"answer", "steps", "confidence", "valid", "errors", "calls"}: the object `trm solve --json` prints

Inside trm this module is :mod:`trm.deploy.onnx_runner` (``python -m trm.deploy.onnx_runner`` runs it).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

from ..infer.engine import NumpyOps
from ..infer.settings import Settings, add_arguments, given_options
from ..infer.solver import Solver
from ..infer.voting import predict
from ..tasks import PuzzleError, get_task

MANIFEST = "trm_export.json"
VARIANTS = {"float32": "step", "int8": "step_int8", "fp16w": "step_fp16w"}
STEP_OUTPUTS = ["y_next", "z_next", "logits", "q_halt", "q_continue"]
MAX_MANIFEST_BYTES = 64 << 20
MAX_PUZZLE_BYTES = 16 << 20  # a puzzle read from @FILE or stdin by the runner's command line


def _is_int(v: Any, lo: int = 0, hi: int = 2**31 - 1) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi


def _shown(key: str) -> str:
    """A manifest key as an error message names it: as written, or quoted where it is not printable (a newline
    in a key would split the one-line message)."""
    return key if key.isprintable() else repr(key)


def member(folder: Path, rel: Any, what: str) -> Path:
    """``folder/rel`` for a path named by the manifest: relative, without ``..``, resolving (symbolic links
    included) inside the folder, and a regular file; else a one-line :class:`PuzzleError`."""
    where = folder / MANIFEST
    what = _shown(what)
    if not isinstance(rel, str) or not rel or "\x00" in rel:
        raise PuzzleError(f"{where}: files.{what} must be a file name inside the folder, got {rel!r}")
    if os.path.isabs(rel) or ".." in Path(rel).parts:
        raise PuzzleError(f"{where}: files.{what} = {rel!r} leaves the export folder")
    path = folder / rel
    try:
        real, root = path.resolve(strict=True), folder.resolve(strict=True)
    except (OSError, RuntimeError):
        raise PuzzleError(f"{path}: missing (named by {where} as files.{what})") from None
    if real != root and root not in real.parents:
        raise PuzzleError(f"{where}: files.{what} = {rel!r} leads outside the export folder (to {real})")
    if not real.is_file():
        raise PuzzleError(f"{path}: not a regular file (named by {where} as files.{what})")
    return path


def read_manifest(folder: str | os.PathLike) -> dict[str, Any]:
    """The export folder's manifest, schema-checked: an object with ``files`` (names of files inside the
    folder), ``io`` and ``config.model`` (positive integers); errors are one line naming the file."""
    folder = Path(folder)
    path = folder / MANIFEST
    if not path.is_file():
        raise PuzzleError(
            f"{folder}: not an ONNX export folder (no {MANIFEST}); create one with "
            "`trm export CHECKPOINT --format onnx --out DIR`"
        )
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_MANIFEST_BYTES + 1)
        if len(raw) > MAX_MANIFEST_BYTES:
            raise PuzzleError(f"{path}: larger than {MAX_MANIFEST_BYTES >> 20} MiB; not a manifest")
        man = json.loads(raw.decode("utf-8"))
    except PuzzleError:
        raise
    except OSError as e:
        raise PuzzleError(f"{path}: cannot read the manifest ({e.strerror or e})") from None
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise PuzzleError(f"{path}: corrupt manifest, not UTF-8 JSON ({msg})") from None

    def need(obj: Any, key: str, kind: type, where: str) -> Any:
        if not isinstance(obj, dict) or key not in obj:
            raise PuzzleError(f"{path}: missing {where}{key}; not a trm export manifest")
        if not isinstance(obj[key], kind):
            raise PuzzleError(f"{path}: {where}{key} must be an object")
        return obj[key]

    if not isinstance(man, dict):
        raise PuzzleError(f"{path}: the manifest must be a JSON object, got {type(man).__name__}")
    files = need(man, "files", dict, "")
    io = need(man, "io", dict, "")
    model = need(need(man, "config", dict, ""), "model", dict, "config.")
    for key, value in files.items():
        if key == "unrolled":
            if not isinstance(value, dict) or not all(
                isinstance(k, str) and k.isdigit() and isinstance(v, str) for k, v in value.items()
            ):
                raise PuzzleError(f"{path}: files.unrolled must map step counts to file names")
        elif not isinstance(value, str):
            raise PuzzleError(f"{path}: files.{_shown(key)} must be a file name, got {value!r}")
    if "step" not in files or "carry_init" not in files:
        raise PuzzleError(f"{path}: files must name 'step' and 'carry_init'")
    for obj, key, where, lo, optional in (
        (io, "total_len", "io.", 1, False),
        (io, "hidden_size", "io.", 1, False),
        (model, "seq_len", "config.model.", 1, False),
        (model, "vocab_size", "config.model.", 2, False),
        (model, "N_sup", "config.model.", 1, False),
        (model, "num_puzzle_identifiers", "config.model.", 0, True),
    ):
        if optional and key not in obj:
            continue
        if key not in obj or not _is_int(obj[key], lo, 1 << 24):
            got = repr(obj.get(key, "nothing"))[:40]
            raise PuzzleError(f"{path}: {where}{key} must be an integer in [{lo}, {1 << 24}], got {got}")
    if model["seq_len"] > io["total_len"]:
        raise PuzzleError(f"{path}: config.model.seq_len exceeds io.total_len")
    for key, kind in (("settings", dict), ("task_info", dict), ("task", str)):
        if man.get(key) is not None and not isinstance(man[key], kind):
            raise PuzzleError(f"{path}: {key} must be {'an object' if kind is dict else 'a string'}")
    return man


def load_graph(ort: Any, path: Path, opts: Any = None) -> Any:
    """An onnxruntime session of ``path``; a truncated or foreign file is one line naming it."""
    try:
        return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own exception types for invalid models
        msg = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        raise PuzzleError(f"{path}: not a usable ONNX graph ({msg})") from None


class OnnxBackend:
    """One onnxruntime session of an export folder's step graph, behind the engine's backend interface."""

    ops = NumpyOps()

    def __init__(self, export_dir: str | os.PathLike, variant: str = "float32", threads: int | None = None):
        import onnxruntime as ort  # the one dependency beyond numpy, loaded when a session is made

        self.dir = Path(export_dir)
        self.manifest = read_manifest(self.dir)
        files = self.manifest["files"]
        if variant not in VARIANTS or VARIANTS[variant] not in files:
            have = [v for v, key in VARIANTS.items() if key in files]
            raise PuzzleError(
                f"variant {variant!r} is not in this export (have {have}); re-export with "
                "--int8 / --fp16 to add it"
            )
        io = self.manifest["io"]
        self.total_len, self.hidden_size = io["total_len"], io["hidden_size"]
        if threads is not None and not _is_int(threads, 0, 4096):
            raise PuzzleError(f"threads must be an integer in [0, 4096], got {threads!r}")
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        opts.intra_op_num_threads = threads or 0  # 0: onnxruntime uses every core
        graph = member(self.dir, files[VARIANTS[variant]], VARIANTS[variant])
        self.session = load_graph(ort, graph, opts)
        self.input_names = {i.name for i in self.session.get_inputs()}
        missing = ({"inputs", "y", "z"} - self.input_names) | (
            set(STEP_OUTPUTS) - {o.name for o in self.session.get_outputs()}
        )
        if missing:
            raise PuzzleError(f"{graph}: not a TRM step graph (no {sorted(missing)})")
        shape = (self.total_len, self.hidden_size)
        init_path = member(self.dir, files["carry_init"], "carry_init")
        try:
            with np.load(init_path, allow_pickle=False) as init:
                self._init = tuple(np.asarray(init[k], dtype=np.float32) for k in ("y_init", "z_init"))
            for a in self._init:
                if np.broadcast_shapes(a.shape, shape) != shape:
                    raise ValueError(f"shape {a.shape} does not broadcast to {shape}")
        except KeyError as e:
            raise PuzzleError(f"{init_path}: not a carry_init archive (no {e})") from None
        except Exception as e:  # a truncated or foreign archive: zipfile, numpy and OS errors
            raise PuzzleError(f"{init_path}: not a readable carry_init .npz ({e})") from None
        self.table = None
        if "puzzle_emb" in files:
            emb_path = member(self.dir, files["puzzle_emb"], "puzzle_emb")
            try:
                self.table = np.load(emb_path, mmap_mode="r", allow_pickle=False)
                if self.table.ndim != 2 or self.table.dtype.kind != "f":
                    raise ValueError(f"a {self.table.ndim}-d {self.table.dtype} array, not a float table")
            except Exception as e:
                raise PuzzleError(f"{emb_path}: not a readable puzzle-embedding table ({e})") from None
        if "puzzle_emb" in self.input_names and self.table is None:
            raise PuzzleError(f"{graph}: the graph takes puzzle_emb but the manifest names no table")

    def init_state(self) -> tuple[np.ndarray, np.ndarray]:
        return self._init

    def puzzle_rows(self, pids: np.ndarray) -> np.ndarray | None:
        if self.table is None:
            return None
        pids = np.asarray(pids, dtype=np.int64)
        if pids.size and not 0 <= int(pids.min()) <= int(pids.max()) < len(self.table):
            raise PuzzleError(
                f"puzzle identifiers must be in [0, {len(self.table)}), got {pids.tolist()[:8]}"
            )
        return np.ascontiguousarray(self.table[pids], dtype=np.float32)

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
        try:
            task = get_task(
                man.get("task_info") or man.get("task") or "custom", self.seq_len, self.vocab_size
            )
            defaults = Settings().replace(**(man.get("settings") or {}))
            defaults.validate()
        except (PuzzleError, TypeError) as e:
            raise PuzzleError(f"{backend.dir / MANIFEST}: {e}") from None
        super().__init__(
            backend,
            task,
            model["N_sup"],
            defaults=defaults,
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
        sess = load_graph(ort, member(self.backend.dir, unrolled[key], f"unrolled.{key}"))
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
            text = sys.stdin.read(MAX_PUZZLE_BYTES + 1)
        elif text.startswith("@"):
            text = _read_puzzle_file(Path(text[1:]))
        if len(text) > MAX_PUZZLE_BYTES:
            raise PuzzleError(f"the puzzle is longer than {MAX_PUZZLE_BYTES >> 20} MiB")
        solver = OnnxSolver(args.export_dir, variant=args.variant, threads=args.threads)
        puzzle: Any = solver.task.read_text(text)
        result = solver.solve(puzzle, solver.settings(**given_options(args)), trace=args.trace)
        print(json.dumps(result.to_json(trace=args.trace)) if args.json else result.text())
        sys.stdout.flush()
    except KeyboardInterrupt:
        return 130
    except (PuzzleError, ValueError, OSError, OverflowError, RecursionError, MemoryError) as e:
        if os.environ.get("TRM_DEBUG"):
            raise
        if isinstance(e, BrokenPipeError):
            e = OSError("standard output was closed before the runner finished writing")
        elif isinstance(e, OSError) and e.strerror:
            e = OSError(f"{e.filename}: {e.strerror}" if e.filename else e.strerror)
        msg = (str(e).strip().splitlines() or [type(e).__name__])[0]
        print(f"error: {msg}", file=sys.stderr)
        return 2
    except Exception as e:  # a bug: one line, the traceback with TRM_DEBUG=1
        if os.environ.get("TRM_DEBUG"):
            raise
        msg = (str(e).strip().splitlines() or [""])[0][:300]
        print(f"internal error: {type(e).__name__}: {msg} (TRM_DEBUG=1 for the traceback)", file=sys.stderr)
        return 3
    return 0


def _read_puzzle_file(path: Path) -> str:
    """The text of ``@FILE``: a regular file of at most MAX_PUZZLE_BYTES (not /dev/zero, a FIFO or a folder)."""
    if not path.is_file():
        raise PuzzleError(f"{path}: not a regular file")
    with open(path, "rb") as f:
        raw = f.read(MAX_PUZZLE_BYTES + 1)
    if len(raw) > MAX_PUZZLE_BYTES:
        raise PuzzleError(f"{path}: larger than {MAX_PUZZLE_BYTES >> 20} MiB; not a puzzle")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise PuzzleError(f"{path}: not UTF-8 text") from None


if __name__ == "__main__":
    sys.exit(main())
