"""``trm info``: versions and devices."""

from __future__ import annotations

import argparse

HELP = "print versions and available devices"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument(
        "--measure",
        action="store_true",
        help="also measure the float32 and bfloat16 matmul rates of this CPU (about a second)",
    )


def collect(measure: bool = False) -> dict:
    import platform

    import numpy
    import torch

    from .. import __version__
    from ..hardware import cpu_capability, cpu_model, matmul_gflops

    info = {
        "trm": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "cpu": cpu_model(),
        "cpu_capability": cpu_capability(),
        "cpu_threads": torch.get_num_threads(),
        "cuda": torch.cuda.is_available(),
        "cuda_devices": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())],
        "mps": bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()),
        "bf16_cpu": _cpu_bf16(),
    }
    if measure:  # emulated bfloat16 (AVX2-only CPUs) is an order of magnitude slower than float32
        info["matmul_gflops_float32"] = round(matmul_gflops(torch.float32), 1)
        info["matmul_gflops_bfloat16"] = round(matmul_gflops(torch.bfloat16), 1)
    for opt in ("onnxruntime", "fastapi", "safetensors"):
        try:
            info[opt] = __import__(opt).__version__
        except ImportError:
            info[opt] = None
    return info


def _cpu_bf16() -> bool:
    import torch

    try:
        torch.ones(2, 2, dtype=torch.bfloat16) @ torch.ones(2, 2, dtype=torch.bfloat16)
        return True
    except RuntimeError:
        return False


def run(args: argparse.Namespace) -> int:
    import json

    info = collect(measure=args.measure)
    if args.json:
        print(json.dumps(info))
        return 0
    width = max(len(k) for k in info)
    for k, v in info.items():
        print(f"{k:<{width}}  {v}")
    return 0
