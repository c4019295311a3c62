"""``trm export``: one supervision step of a trained model as an ONNX graph, plus a torch-free runner.

The folder (described by ``trm_export.json``; file by file in docs/DEPLOY.md): ``step.onnx`` (one step, float32,
dynamic batch), its ``--int8`` / ``--fp16`` variants and ``--unrolled k`` loop-free graphs, the reset state
``carry_init.npz``, the puzzle-embedding table ``puzzle_emb.npy`` (kept out of the graph: the graph has the
same size for Sudoku and ARC, and the table is stored and reported on its own), and the runner
``trm_onnx_runner.py`` with the torch-free code it runs, copied as one package tree (``trm_runtime/``, see
:func:`copy_runtime`).

The TorchScript-based exporter (``dynamo=False``) is used: in torch 2.13 the dynamo exporter produced graphs
that differed from eager PyTorch on these models, so every export is checked against PyTorch on random batches
and refused above a relative error of 1e-4.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import shutil
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .. import __version__
from ..checkpoint import load_model
from ..config import Config
from ..infer.settings import Settings
from ..infer.tasks import task_info
from ..model import TRM
from ..utils import TRMError, atomic_write_json, install_hint
from .onnx_runner import OnnxSolver

MANIFEST = "trm_export.json"
EXPORT_FORMAT = "trm-onnx"
EXPORT_VERSION = 1
OPSET = 17
STEP_OUTPUTS = ["y_next", "z_next", "logits", "q_halt", "q_continue"]
CHECK_TOLERANCE = 1e-4


class _Rows(nn.Module):
    """Stands in for the puzzle-embedding table: the 'identifiers' it receives are already the rows."""

    def forward(self, rows: torch.Tensor) -> torch.Tensor:
        return rows


def _graph_model(model: TRM) -> TRM:
    """A float32 copy of ``model`` whose puzzle-embedding lookup is an input, not a table."""
    g = copy.deepcopy(model).float().eval()
    g.dtype = torch.float32
    if g.P > 0:
        g.puzzle_emb = _Rows()
    return g


class StepGraph(nn.Module):
    """(inputs, [puzzle_emb], y, z) -> (y', z', logits, q_halt, q_continue): one supervision step."""

    def __init__(self, model: TRM):
        super().__init__()
        self.m = _graph_model(model)

    def forward(self, inputs, *rest):
        if self.m.P > 0:
            rows, y, z = rest
        else:
            (y, z), rows = rest, inputs[:, 0]  # unused by the model when there is no prefix
        return self.m.step(y, z, {"inputs": inputs, "puzzle_identifiers": rows})


class UnrolledGraph(nn.Module):
    """k supervision steps from the reset state, as one loop-free graph."""

    def __init__(self, model: TRM, k: int):
        super().__init__()
        self.m = _graph_model(model)
        self.k = k

    def forward(self, inputs, *rest):
        rows = rest[0] if self.m.P > 0 else inputs[:, 0]
        B = inputs.shape[0]
        shape = (B, self.m.cfg.total_len, self.m.cfg.hidden_size)
        y, z = self.m.y_init.expand(shape), self.m.z_init.expand(shape)  # [B, L, D]
        batch = {"inputs": inputs, "puzzle_identifiers": rows}
        q_halts = []
        for _ in range(self.k):
            y, z, logits, q_halt, _ = self.m.step(y, z, batch)
            q_halts.append(q_halt)
        return logits, torch.stack(q_halts, dim=1)  # [B, S, V], [B, k]


def _example(cfg: Config, B: int, gen: torch.Generator) -> dict[str, torch.Tensor]:
    m = cfg.model
    ex = {"inputs": torch.randint(0, m.vocab_size, (B, m.seq_len), generator=gen)}
    if m.prefix_len > 0:
        ex["puzzle_emb"] = torch.randn(B, m.puzzle_emb_ndim, generator=gen)
    ex["y"] = torch.randn(B, m.total_len, m.hidden_size, generator=gen)
    ex["z"] = torch.randn(B, m.total_len, m.hidden_size, generator=gen)
    return ex


def _torch_export(
    module: nn.Module,
    args: tuple,
    path: Path,
    input_names: list[str],
    output_names: list[str],
    dynamic: dict[str, dict[int, str]],
    opset: int,
) -> None:
    kw = {
        "opset_version": opset,
        "input_names": input_names,
        "output_names": output_names,
        "dynamic_axes": dynamic,
        "do_constant_folding": True,
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about Python ints taken from shapes; checked below
        try:
            torch.onnx.export(module, args, str(path), dynamo=False, **kw)
        except TypeError:  # a torch without the dynamo switch: the TorchScript exporter is the only one
            torch.onnx.export(module, args, str(path), **kw)


def _rel_err(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.float64) - b).max() / max(np.abs(b.astype(np.float64)).max(), 1e-30))


def _session(path: Path):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def check_step_graph(
    model: TRM, path: str | os.PathLike, batch_sizes: tuple[int, ...] = (1, 3), seed: int = 0
) -> float:
    """Max relative error (per output, vs its max abs value) of the step graph against eager PyTorch."""
    gen = torch.Generator().manual_seed(seed)
    sess = _session(Path(path))
    names = [i.name for i in sess.get_inputs()]
    ref_module = StepGraph(model)
    worst = 0.0
    for B in batch_sizes:
        ex = _example(Config(model=model.cfg), B, gen)
        with torch.inference_mode():
            ref = ref_module(*ex.values())
        got = sess.run(STEP_OUTPUTS, {k: v.numpy() for k, v in ex.items() if k in names})
        worst = max(worst, *(_rel_err(g, r.float().numpy()) for g, r in zip(got, ref, strict=True)))
    return worst


def quantize_int8(src: Path, dst: Path) -> None:
    """Dynamic int8 quantisation of the MatMul weights (activations stay float and are quantised per call)."""
    import tempfile

    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.shape_inference import quant_pre_process

    with tempfile.TemporaryDirectory() as tmp:
        # without shape inference first, only the MatMuls whose input shapes the quantiser can see are quantised
        pre = Path(tmp) / "pre.onnx"
        quant_pre_process(str(src), str(pre), skip_symbolic_shape=False)
        quantize_dynamic(
            str(pre), str(dst), weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul", "Gemm"]
        )


def weight_bytes(path: Path) -> dict[str, int]:
    """Bytes of the graph's initializers by element type (the weights, without the graph structure)."""
    import onnx
    from onnx import numpy_helper

    out: dict[str, int] = {}
    for init in onnx.load(str(path)).graph.initializer:
        a = numpy_helper.to_array(init)
        out[str(a.dtype)] = out.get(str(a.dtype), 0) + int(a.nbytes)
    return out


def fp16_weights(src: Path, dst: Path, min_elements: int = 16) -> None:
    """Store float32 initializers as float16 with a Cast back to float32: half the file, float32 compute."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load(str(src))
    g = model.graph
    kept, casts = [], []
    for init in g.initializer:
        if init.data_type == TensorProto.FLOAT and int(np.prod(init.dims)) >= min_elements:
            arr = numpy_helper.to_array(init).astype(np.float16)
            half = numpy_helper.from_array(arr, name=init.name + "__fp16")
            kept.append(half)
            casts.append(
                helper.make_node(
                    "Cast", [half.name], [init.name], to=TensorProto.FLOAT, name=init.name + "__cast"
                )
            )
        else:
            kept.append(init)
    del g.initializer[:]
    g.initializer.extend(kept)
    nodes = casts + list(g.node)
    del g.node[:]
    g.node.extend(nodes)
    onnx.checker.check_model(model)
    onnx.save(model, str(dst))


def export_onnx(model_path: str | os.PathLike, out: str | os.PathLike, **options: Any) -> dict[str, Any]:
    """Export a model folder / checkpoint / run directory to ``out``; returns the manifest written there.
    ``options``: those of :func:`export_model` (int8, fp16, unrolled, opset, check)."""
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError as e:
        raise TRMError(f"ONNX export needs the onnx extra: {install_hint('onnx')} ({e})") from None
    model, cfg, meta = load_model(model_path, dtype=torch.float32)
    return export_model(model, cfg, out, meta=meta, source=str(model_path), **options)


def export_model(
    model: TRM,
    cfg: Config,
    out: str | os.PathLike,
    *,
    meta: dict[str, Any] | None = None,
    int8: bool = False,
    fp16: bool = False,
    unrolled: list[int] | None = None,
    opset: int = OPSET,
    check: bool = True,
    source: str = "",
) -> dict[str, Any]:
    """Export an in-memory model (see :func:`export_onnx`)."""
    m = cfg.model
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if (out / MANIFEST).exists():
        (out / MANIFEST).unlink()  # an interrupted re-export must not look complete
    model = model.float().eval()
    gen = torch.Generator().manual_seed(0)
    ex = _example(cfg, 2, gen)
    names = list(ex)
    dynamic = {k: {0: "batch"} for k in names + STEP_OUTPUTS}
    _torch_export(
        StepGraph(model), tuple(ex.values()), out / "step.onnx", names, STEP_OUTPUTS, dynamic, opset
    )

    files: dict[str, Any] = {"step": "step.onnx"}
    checks: dict[str, Any] = {}
    if check:
        err = check_step_graph(model, out / "step.onnx")
        checks["step_max_rel_err_vs_torch"] = err
        if err > CHECK_TOLERANCE:
            raise TRMError(
                f"exported step graph differs from PyTorch (max relative error {err:.2e} > "
                f"{CHECK_TOLERANCE:g}); the export is not usable"
            )

    np.savez(out / "carry_init.npz", y_init=model.y_init.float().numpy(), z_init=model.z_init.float().numpy())
    files["carry_init"] = "carry_init.npz"
    if m.prefix_len > 0:
        np.save(out / "puzzle_emb.npy", model.puzzle_emb.weight.float().numpy())
        files["puzzle_emb"] = "puzzle_emb.npy"

    for k in sorted(set(unrolled or [])):
        if not 1 <= k <= 64:
            raise TRMError(f"--unrolled {k}: choose between 1 and 64 steps")
        name = f"unrolled_N{k}.onnx"
        in_names = [n for n in names if n not in ("y", "z")]
        outs = ["logits", "q_halt"]
        _torch_export(
            UnrolledGraph(model, k),
            tuple(ex[n] for n in in_names),
            out / name,
            in_names,
            outs,
            {n: {0: "batch"} for n in in_names + outs},
            opset,
        )
        files.setdefault("unrolled", {})[str(k)] = name

    if int8:
        quantize_int8(out / "step.onnx", out / "step_int8.onnx")
        files["step_int8"] = "step_int8.onnx"
    if fp16:
        fp16_weights(out / "step.onnx", out / "step_fp16w.onnx")
        files["step_fp16w"] = "step_fp16w.onnx"

    files["runner"] = copy_runtime(out)

    n_dense = model.num_dense_parameters()
    manifest = {
        "format": EXPORT_FORMAT,
        "format_version": EXPORT_VERSION,
        "trm_version": __version__,
        "torch_version": torch.__version__,
        "opset": opset,
        "source": source,
        "task": cfg.task,
        "task_info": task_info(cfg, meta).to_dict(),
        "settings": dataclasses.asdict(Settings.from_eval(cfg.eval)),
        "preset": cfg.name,
        "config": cfg.to_dict(),
        "meta": _jsonable(meta or {}),
        "files": files,
        "io": {
            "step_inputs": names,
            "step_outputs": STEP_OUTPUTS,
            "prefix_len": m.prefix_len,
            "total_len": m.total_len,
            "hidden_size": m.hidden_size,
        },
        "parameters": {
            "dense": n_dense,
            "puzzle_emb": int(model.puzzle_emb.weight.numel()) if m.prefix_len > 0 else 0,
        },
        "sizes_bytes": file_sizes(out, files),
        "weights_bytes": {
            k: weight_bytes(out / files[k]) for k in ("step", "step_int8", "step_fp16w") if k in files
        },
        "checks": checks,
    }
    atomic_write_json(out / MANIFEST, manifest)
    if check and (int8 or fp16):
        for variant in ("int8", "fp16w"):
            if f"step_{variant}" in files:
                manifest["checks"][f"{variant}_vs_float32"] = compare_variants(out, variant)
        atomic_write_json(out / MANIFEST, manifest)
    return manifest


RUNTIME = "trm_runtime"
# What an export folder runs, as paths inside trm's package folder: torch-free, importing one another and
# nothing else of trm (a contract of pyproject.toml). trm's __init__.py files of trm, infer and deploy import
# more (torch included), so the copy gets plain ones.
RUNTIME_FILES = (
    "errors.py",
    "tasks/*.py",
    "infer/settings.py",
    "infer/engine.py",
    "infer/voting.py",
    "infer/solver.py",
    "infer/selectors/*.py",
    "deploy/onnx_runner.py",
)
RUNNER = "trm_onnx_runner.py"
RUNNER_SCRIPT = '''"""Run this TRM export with numpy and onnxruntime only (written by `trm export --format onnx`).

    python trm_onnx_runner.py EXPORT_DIR "1.3..6.2...." --mode adaptive --json

    from trm_onnx_runner import OnnxSolver  # with this folder on sys.path
    OnnxSolver("EXPORT_DIR").solve("1.3..6.2....", mode="adaptive").to_json()

The code is trm's own (the engine, settings, task layer and trm/deploy/onnx_runner.py), copied beside this file
as the package trm_runtime/; run as a script, this folder is on sys.path and the package imports from it.
"""

import sys

from trm_runtime.deploy.onnx_runner import *  # noqa: F403 - OnnxSolver, OnnxBackend, MANIFEST, ...
from trm_runtime.deploy.onnx_runner import main

if __name__ == "__main__":
    sys.exit(main())
'''


def copy_runtime(out: Path) -> str:
    """``out/trm_runtime/``: the modules of :data:`RUNTIME_FILES` in trm's relative layout (a fresh copy),
    with plain ``__init__.py`` files where trm's would import more; and ``out/trm_onnx_runner.py``, the script
    that runs it. Returns the script's name."""
    src = Path(__file__).resolve().parents[1]  # the trm package folder
    dest = Path(out) / RUNTIME
    if dest.is_dir() and not dest.is_symlink():
        shutil.rmtree(dest)  # a re-export must not keep modules of another trm version
    for pattern in RUNTIME_FILES:
        for path in sorted(src.glob(pattern)):
            target = dest / path.relative_to(src)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
    for folder in (dest, *(p for p in dest.rglob("*") if p.is_dir())):
        if not (folder / "__init__.py").is_file():
            (folder / "__init__.py").write_text(
                f'"""Part of trm, copied by `trm export` for {RUNNER} (torch-free; see that file)."""\n'
            )
    (Path(out) / RUNNER).write_text(RUNNER_SCRIPT)
    return RUNNER


def _jsonable(obj: Any) -> Any:
    return json.loads(json.dumps(obj, default=str))


def file_sizes(out: Path, files: dict[str, Any]) -> dict[str, int]:
    flat: dict[str, str] = {}
    for key, v in files.items():
        flat.update({f"{key}_N{k}": n for k, n in v.items()} if isinstance(v, dict) else {key: v})
    return {key: (out / name).stat().st_size for key, name in flat.items()}


def compare_variants(out: Path, variant: str, n: int = 64, seed: int = 0) -> dict[str, float]:
    """A quantised variant against float32 on random token inputs, official mode (all N_sup steps):
    share of tokens with the same prediction and the largest change of sigmoid(q_halt)."""
    ref = OnnxSolver(out, variant="float32")
    alt = OnnxSolver(out, variant=variant)
    rng = np.random.default_rng(seed)
    inputs = rng.integers(1, ref.vocab_size, size=(n, ref.seq_len))
    pids = np.zeros(n, dtype=np.int64)
    a = ref.run(inputs, pids, mode="official")
    b = alt.run(inputs, pids, mode="official")
    return {
        "token_agreement": float((a["predictions"] == b["predictions"]).mean()),
        "max_abs_confidence_change": float(np.abs(a["confidence"] - b["confidence"]).max()),
        "inputs": "random tokens",
        "rows": n,
    }
