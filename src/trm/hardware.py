"""What machine this is, and which training set-up is fastest on it — measured, not guessed from CPU flags.

CPUs differ by an order of magnitude in bfloat16 speed: with native instructions (AMX, AVX512-BF16) a
bfloat16 matmul runs several times faster than float32; on AVX2-only CPUs PyTorch emulates it and it runs
~15x slower. :func:`choose_cpu_setup` times the real training step for each candidate (dtype x elementwise
kernels) for a few seconds, keeps the fastest, and caches the choice per machine and model shape in
``~/.cache/trm/autotune.json`` (``TRM_CACHE_DIR`` overrides the folder).

The rules of a training set-up live here too, beside the measurement: when ``train.autotune`` chooses
(:func:`autotunes`), the cache key of a config (:func:`setup_key`), which dtypes a device trains in
(:func:`check_train_dtype`) and what ``train.kernels=auto`` means (:func:`fused_kernels`). A config is read
by its attribute names (``cfg.train.system.dtype``, ``cfg.model.hidden_size``): this module sits beside
:mod:`trm.config` and does not import it; the step it times is the trainer's (:mod:`trm.train.step`).
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from .errors import TRMError

if TYPE_CHECKING:  # hints only: hardware sits beside config in the layers (pyproject.toml)
    from .config import Config


def cpu_model() -> str:
    """The CPU's model name as ``lscpu`` prints it (``/proc/cpuinfo``), else what platform knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def cpu_capability() -> str:
    """The vector instruction level PyTorch's CPU kernels use (``AVX2``, ``AVX512``, ...)."""
    try:
        return str(torch.backends.cpu.get_cpu_capability())
    except (AttributeError, RuntimeError):
        return "unknown"


def machine_info() -> dict[str, Any]:
    return {
        "cpu": cpu_model(),
        "cpu_capability": cpu_capability(),
        "cpu_threads": torch.get_num_threads(),
        "cuda_devices": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        if torch.cuda.is_available()
        else [],
    }


def matmul_gflops(
    dtype: torch.dtype = torch.float32,
    size: int = 1024,
    seconds: float = 0.3,
    device: torch.device | str = "cpu",
) -> float:
    """Measured rate of a square ``size``³ matmul in ``dtype`` (GFLOP/s), timed for about ``seconds``."""
    a = torch.randn(size, size, device=device).to(dtype)
    b = torch.randn(size, size, device=device).to(dtype)
    a @ b
    reps, t0 = 0, time.perf_counter()
    while True:
        a @ b
        reps += 1
        if torch.device(device).type == "cuda":
            torch.cuda.synchronize()
        elapsed = time.perf_counter() - t0
        if elapsed >= seconds and reps >= 2:
            return 2 * size**3 * reps / elapsed / 1e9


@dataclass
class Setup:
    """A training set-up: forward dtype and elementwise kernels, with what was measured for it."""

    dtype: str  # "float32" or "bfloat16"
    kernels: str  # "eager" or "fused"
    sec_per_step: float = float("nan")
    note: str = ""


def _cache_path() -> Path:
    root = os.environ.get("TRM_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "trm")
    return Path(root) / "autotune.json"


def _read_cache() -> dict[str, Any]:
    try:
        data = json.loads(_cache_path().read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _write_cache(data: dict[str, Any]) -> None:
    path = _cache_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps(data, indent=1))
        os.replace(tmp, path)
    except OSError:
        pass  # a cache we cannot write is only a missed shortcut


def machine_key(key: str) -> str:
    """``key`` qualified by what a measured choice depends on: CPU, instruction level, torch, threads."""
    return (
        f"{cpu_model()}|{cpu_capability()}|torch {torch.__version__}|{torch.get_num_threads()} threads|{key}"
    )


def choose_part_rows(
    key: str, seconds_per_row: Callable[[int], float], candidates: tuple[int, ...] = (8, 16, 32, 64)
) -> int:
    """The inference part size (rows per single-core piece of a step) with the least ``seconds_per_row(rows)``,
    measured once per machine and model shape and cached beside the training set-ups (issue 16: the best size
    depends on the CPU's caches, so it is timed, not assumed)."""
    full_key = machine_key(f"infer part rows|{key}")
    cached = _read_cache().get(full_key)
    if isinstance(cached, dict) and isinstance(cached.get("rows"), int) and cached["rows"] > 0:
        return cached["rows"]
    timings = {c: float(seconds_per_row(c)) for c in candidates}
    rows = min(timings, key=timings.__getitem__)
    cache = _read_cache()
    cache[full_key] = {"rows": rows, "us_per_row": {str(c): round(t * 1e6, 2) for c, t in timings.items()}}
    _write_cache(cache)
    return rows


def choose_cpu_setup(
    key: str,
    time_step: Callable[[Setup], float],
    candidates: list[Setup] | None = None,
    use_cache: bool = True,
    log: Callable[[str], None] = print,
) -> Setup:
    """The fastest of ``candidates`` by ``time_step(setup)`` (seconds per training step; it may raise, and then
    that candidate is skipped — e.g. when compiling fused kernels fails), cached under ``key``.

    bfloat16 candidates are tried only where a bfloat16 matmul measures at least as fast as float32 (one
    tenth of a second each): elsewhere PyTorch emulates bfloat16 and a single bfloat16 step can take seconds.
    """
    full_key = machine_key(key)
    cache = _read_cache() if use_cache else {}
    if full_key in cache:
        try:
            setup = Setup(**cache[full_key])
            log(
                f"training set-up (cached for this machine): {setup.dtype}, {setup.kernels} kernels, "
                f"{setup.sec_per_step:.3f} s/step when measured"
            )
            return setup
        except TypeError:
            pass
    if candidates is None:
        candidates = [Setup("float32", "eager"), Setup("float32", "fused"), Setup("bfloat16", "fused")]
    f32 = matmul_gflops(torch.float32, seconds=0.1)
    bf16 = None
    if any(c.dtype == "bfloat16" for c in candidates):
        bf16 = matmul_gflops(torch.bfloat16, seconds=0.1)
        if bf16 < f32:
            candidates = [c for c in candidates if c.dtype != "bfloat16"]
    rates = f"matmul float32 {f32:.0f} GFLOP/s" + (
        f", bfloat16 {bf16:.0f} GFLOP/s" if bf16 is not None else ""
    )
    log(f"choosing the training set-up by timing the step ({rates}; {cpu_model()}, {cpu_capability()}):")
    best: Setup | None = None
    for cand in candidates:
        try:
            cand.sec_per_step = float(time_step(cand))
        except Exception as e:  # compilation failures come in many exception types
            log(
                f"  {cand.dtype:>8} {cand.kernels:>5}: unavailable ({type(e).__name__}: {str(e).splitlines()[0][:120] if str(e) else ''})"
            )
            continue
        log(f"  {cand.dtype:>8} {cand.kernels:>5}: {cand.sec_per_step:.3f} s/step")
        if best is None or cand.sec_per_step < best.sec_per_step:
            best = cand
    if best is None:
        best = Setup("float32", "eager", note="no candidate could be timed")
    best.note = rates
    log(f"  chosen: {best.dtype}, {best.kernels} kernels")
    if use_cache and best.note != "no candidate could be timed":
        cache = _read_cache()
        cache[full_key] = asdict(best)
        _write_cache(cache)
    return best


def autotunes(cfg: Config, device: torch.device) -> bool:
    """Whether ``train.autotune`` chooses the dtype and kernels of ``cfg`` on ``device``: on a CPU only, and
    only where the user left ``train.dtype`` and ``train.kernels`` at ``auto`` without ``train.compile``."""
    t = cfg.train.system
    return (
        bool(t.autotune)
        and torch.device(device).type == "cpu"
        and t.dtype == "auto"
        and t.kernels == "auto"
        and t.compile == "off"
    )


def setup_key(cfg: Config) -> str:
    """What a measured training set-up of ``cfg`` depends on besides the machine (:func:`machine_key`): the
    model's shape, the batch and the depth curriculum."""
    m, t = cfg.model, cfg.train
    return (
        f"{cfg.name} D{m.hidden_size} L{m.total_len} {m.mixer} T{m.T} n{m.n} layers{m.num_layers} "
        f"m{m.swiglu_multiple} batch{t.loop.global_batch_size} curriculum[{t.recipe.depth_curriculum}]"
    )


def choose_train_setup(
    cfg: Config,
    device: torch.device,
    time_step: Callable[[Setup], float],
    log: Callable[[str], None] = print,
) -> Setup | None:
    """The fastest set-up for ``cfg`` on this CPU by ``time_step`` (:func:`choose_cpu_setup`), or None where
    ``train.autotune`` does not choose (:func:`autotunes`)."""
    if not autotunes(cfg, device):
        return None
    return choose_cpu_setup(setup_key(cfg), time_step, log=log)


def fused_kernels(kernels: str, dtype: torch.dtype, compile: str) -> bool:
    """Whether the blocks' elementwise parts run as compiled fused kernels for ``train.kernels``: ``fused``
    always, ``auto`` when training in bfloat16/float16 without ``train.compile``, ``eager`` never."""
    return kernels == "fused" or (kernels == "auto" and dtype != torch.float32 and compile == "off")


def check_train_dtype(dtype: torch.dtype, device: torch.device) -> None:
    """Refuse a forward dtype that ``device`` cannot train in (float16 on a CPU)."""
    if dtype == torch.float16 and torch.device(device).type == "cpu":
        raise TRMError("float16 training on the CPU is not supported; use bfloat16 or float32")
