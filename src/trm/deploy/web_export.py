"""``trm export --format web``: a static folder that solves puzzles in the browser with onnxruntime-web.

    index.html, static/   the page of ``trm serve`` (``static/``) with its in-browser solver ``trm-web.js``
    web.json              what the solver needs, generated here from the Python declarations: the task's token
                          tables, units and symbols, N_sup, the default settings and their bounds, the reset state
    ort/                  onnxruntime-web (pinned in :data:`ORT_WEB`): only the files the page loads, and its package.json
    step.onnx, ...        an ONNX export (``trm_export.json``): ``trm solve DIR`` runs the same model

The runtime comes from the npm registry's tarball, downloaded once over HTTPS, checked against its pinned
integrity hash and cached (``~/.cache/trm`` or ``$TRM_CACHE_DIR``); ``runtime_dir`` (``--runtime-dir``) names a
tarball or an unpacked package instead, for machines without network. Neither node nor npm is needed.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import os
import shutil
import tarfile
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..checkpoint import load_model
from ..infer.settings import LADDER, Settings
from ..infer.tasks import task_info
from ..tasks import TASKS, Task, get_task
from ..tasks.examples import example_puzzle  # the examples of `trm serve`'s GET /v1/example
from ..utils import TRMError, atomic_write_json
from .onnx_export import export_model
from .page import page_view

WEB_MANIFEST = "web.json"
WEB_FORMAT_VERSION = 1
STATIC = Path(__file__).parent / "static"
PAGE = ("app.js", "style.css", "trm-web.js")  # static/ files the exported page loads
ORT_WEB = {
    "name": "onnxruntime-web",
    "version": "1.30.0",
    "integrity": "sha512-q0y+JrrtukXSzsBWEMccVfqX25LRmosXHF+CaRJmg8pZClzcV7svNc4rKY3jL02Vb7QmRMDs1SigqR4CXAfKYQ==",
}
# the bundle the page loads for each execution provider, then the module and the binary it loads
RUNTIMES = {
    "wasm": ("ort.wasm.min.js", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm"),
    "webgpu": (
        "ort.webgpu.min.js",
        "ort-wasm-simd-threaded.asyncify.mjs",
        "ort-wasm-simd-threaded.asyncify.wasm",
    ),
}
WEB_OPTIONS = (
    "mode",
    "threshold",
    "max_steps",
    "budget",
)  # the Settings the browser runs; the rest stay at 1 / off


def tarball_name() -> str:
    return f"{ORT_WEB['name']}-{ORT_WEB['version']}.tgz"


def cached_tarball() -> Path:
    root = os.environ.get("TRM_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "trm")
    return Path(root) / tarball_name()


def _integrity(path: Path) -> str:
    h = hashlib.sha512()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return "sha512-" + base64.b64encode(h.digest()).decode()


def _check_tarball(path: Path) -> Path:
    if _integrity(path) != ORT_WEB["integrity"]:
        raise TRMError(
            f"{path}: not {tarball_name()} (its sha512 differs from the registry's integrity hash); "
            f"delete it or pass the right file to --runtime-dir"
        )
    return path


def fetch_runtime(timeout: float = 60.0) -> Path:
    """The pinned onnxruntime-web tarball: from the cache, else downloaded from the npm registry, verified
    by its integrity hash and cached (written atomically)."""
    dest = cached_tarball()
    if dest.is_file():
        return _check_tarball(dest)
    url = f"https://registry.npmjs.org/{ORT_WEB['name']}/-/{tarball_name()}"
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f, urllib.request.urlopen(url, timeout=timeout) as r:
            shutil.copyfileobj(r, f, 1 << 20)
        _check_tarball(Path(tmp))
        os.replace(tmp, dest)
    except OSError as e:
        raise TRMError(
            f"cannot download {url} ({e}); on a machine without network, fetch it elsewhere "
            f"(`npm pack {ORT_WEB['name']}@{ORT_WEB['version']}`) and pass it with --runtime-dir"
        ) from None
    finally:
        Path(tmp).unlink(missing_ok=True)
    return dest


def copy_runtime(
    out: Path, runtime_dir: str | os.PathLike | None = None, webgpu: bool = True
) -> dict[str, str]:
    """Copy the runtime files into ``out/ort/`` from ``runtime_dir`` (the npm tarball, or an unpacked package:
    a folder holding the files directly, in ``dist/`` or in ``package/dist/``) or from :func:`fetch_runtime`.
    Returns the bundle of each execution provider, relative to ``out``."""
    src = Path(runtime_dir) if runtime_dir is not None else fetch_runtime()
    if not src.exists():
        raise TRMError(f"--runtime-dir {src}: no such file or folder")
    bundles = {k: f"ort/{files[0]}" for k, files in RUNTIMES.items() if webgpu or k == "wasm"}
    names, about = [n for k in bundles for n in RUNTIMES[k]], "package.json"  # about: name, version, licence
    dest = out / "ort"
    dest.mkdir(parents=True, exist_ok=True)
    if src.is_file():
        with tarfile.open(_check_tarball(src), "r:gz") as tar:
            for name in [*names, about]:
                with tar.extractfile(f"package/{'' if name == about else 'dist/'}{name}") as f:  # type: ignore[union-attr]
                    (dest / name).write_bytes(f.read())
        return bundles
    base = next((d for d in (src, src / "dist", src / "package" / "dist") if (d / names[0]).is_file()), src)
    missing = [n for n in names if not (base / n).is_file()]
    if missing:
        raise TRMError(
            f"{src}: no {', '.join(missing)} (there, in dist/ or in package/dist/); pass the "
            f"{tarball_name()} tarball or an unpacked {ORT_WEB['name']} package"
        )
    for path in [base / n for n in names] + [p for p in (base.parent / about, base / about) if p.is_file()][
        :1
    ]:
        shutil.copyfile(path, dest / path.name)
    return bundles


def task_tables(task) -> dict[str, Any]:
    """What the browser needs to read, write and verify the task's puzzles, read off the task layer itself:
    ``decode`` (the character of every token) and the family's :meth:`~trm.tasks.Task.web_tables`."""
    tables = task.web_tables()
    if tables is None:
        *some, last = [family.title for family in TASKS.values() if family.web_tables is not Task.web_tables]
        raise TRMError(
            f"the web export solves {', '.join(some)} and {last} models; this is a {task.kind} model (use "
            "`trm export --format onnx`)"
        )
    every = np.arange(task.seq_len) % task.vocab  # every token value at least once
    decode = task.cells(every, None).reshape(-1)[: task.vocab].tolist()
    return {**task.info.to_dict(), "decode": decode, **tables}


def web_manifest(model, cfg, manifest: dict[str, Any], runtime: dict[str, str]) -> dict[str, Any]:
    """``web.json``: the model, the task and the settings as the in-browser solver reads them."""
    m = cfg.model
    task = get_task(manifest["task_info"], m.seq_len, m.vocab_size)
    # how the training puzzles were made: the examples follow it
    data_info = manifest["meta"].get("data_info")
    defaults = manifest["settings"]
    fields = {f.name: f.metadata for f in dataclasses.fields(Settings)}
    settings = {k: {"default": defaults[k], **fields[k]} for k in WEB_OPTIONS}
    f32 = lambda t: t.detach().float().reshape(-1).tolist()  # noqa: E731 - exact float32 values in JSON
    return {
        "format": "trm-web",
        "format_version": WEB_FORMAT_VERSION,
        "graph": manifest["files"]["step"],
        "n_sup": m.N_sup,
        "seq_len": m.seq_len,
        "vocab_size": m.vocab_size,
        "total_len": m.total_len,
        "hidden_size": m.hidden_size,
        "y_init": f32(model.y_init),
        "z_init": f32(model.z_init),
        "puzzle_emb": f32(model.puzzle_emb.weight[0]) if m.prefix_len > 0 else None,  # row 0: Sudoku, maze
        "task": task_tables(task),
        "settings": settings,
        # verified solving's ladder (trm.infer.settings.LADDER); the browser runs one copy and one trajectory, so
        # its rungs are those of `trm serve --max-augment 1 --max-samples 1`: the protocol, then the deeper one
        "ladder": [{"name": r.name, "help": r.help, "depth": r.depth} for r in LADDER],
        "examples": [example_puzzle(task.info, seed, data_info) for seed in range(8)],
        "runtime": {**ORT_WEB, "dir": "ort/", "bundles": runtime},
        "model": {  # the fields of `trm serve`'s GET /v1/model that the page shows
            "preset": cfg.name,
            "task": task.kind,
            "grid": task.info.to_dict(),
            "view": page_view(task),
            "backend": "onnxruntime-web",
            "parameters": manifest["parameters"],
            "architecture": {"T": m.T, "n": m.n, "N_sup": m.N_sup},
            "limits": {"max_steps": settings["max_steps"]["max"]},
        },
    }


def export_web(
    model_path: str | os.PathLike,
    out: str | os.PathLike,
    *,
    runtime_dir: str | os.PathLike | None = None,
    webgpu: bool = True,
    **options: Any,
) -> dict[str, Any]:
    """Export a model folder / checkpoint / run directory as a static web folder ``out``; returns ``web.json``.
    ``options`` go to :func:`~trm.deploy.onnx_export.export_model` (the folder is also an ONNX export)."""
    model, cfg, meta = load_model(model_path, dtype=torch.float32)
    task_tables(get_task(task_info(cfg, meta), cfg.model.seq_len, cfg.model.vocab_size))  # errors come first
    out = Path(out)
    (out / WEB_MANIFEST).unlink(missing_ok=True)  # an interrupted re-export must not look complete
    runtime = copy_runtime(out, runtime_dir, webgpu)
    manifest = export_model(model, cfg, out, meta=meta, source=str(model_path), **options)
    (out / "static").mkdir(exist_ok=True)
    for name in PAGE:
        shutil.copyfile(STATIC / name, out / "static" / name)
    page = (STATIC / "index.html").read_text()
    (out / "index.html").write_text(page.replace('data-backend="server"', 'data-backend="browser"'))
    web = web_manifest(model, cfg, manifest, runtime)
    atomic_write_json(out / WEB_MANIFEST, web)
    return web
