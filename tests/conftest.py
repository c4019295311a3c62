import json
import os
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("TRM_SHARED", REPO.parent / "shared"))
# Parity cases computed by the official TRM/HRM code, committed with the tests (see tests/golden/README.md).
GOLDEN = Path(__file__).resolve().parent / "golden"
GOLDEN_CASES = ("trm-mlp-sudoku", "trm-att-rope", "trm-att-learned-short-prefix", "hrm-rope")


def load_golden(case: str) -> tuple[dict, dict, dict, dict]:
    """(official config, official state dict, batch, expected tensors) of one committed parity case."""
    d = GOLDEN / case
    cfg = json.loads((d / "config.json").read_text())
    return (cfg, *(load_file(d / f"{n}.safetensors") for n in ("state_dict", "batch", "expected")))


# Training-step parity cases computed by the official code's own train_batch (tests/golden_train/README.md).
GOLDEN_TRAIN = Path(__file__).resolve().parent / "golden_train"
GOLDEN_TRAIN_CASES = ("trm-mlp", "trm-att", "hrm")


def load_golden_train(case: str) -> tuple[dict, dict, dict, dict, dict, dict]:
    """(official config, train keys, initial state dict, batch stream, expected, expected with exploration)."""
    d = GOLDEN_TRAIN / case
    cfg = json.loads((d / "config.json").read_text())
    train = json.loads((d / "train.json").read_text())
    tensors = (
        load_file(d / f"{n}.safetensors") for n in ("state_dict", "stream", "expected", "expected-explore")
    )
    return (cfg, train, *tensors)


def load_benchmark(name: str):
    """A script of ``benchmarks/`` imported as a module (the folder is not a package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", default=False, help="also run tests marked slow")


def pytest_collection_modifyitems(config, items):
    skip_slow = pytest.mark.skip(reason="slow test: run with --runslow")
    skip_gpu = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "slow" in item.keywords and not config.getoption("--runslow"):
            item.add_marker(skip_slow)
        if "gpu" in item.keywords and not torch.cuda.is_available():
            item.add_marker(skip_gpu)


@pytest.fixture(autouse=True)
def _deterministic():
    """Every test starts from the same torch seed and leaves torch's thread count as it found it: a solver or
    command run in process with ``threads=1`` sets the process-wide count, and float32 reductions (the golden
    training fixtures among them) change at the 1e-4 level with it."""
    torch.manual_seed(0)
    threads = torch.get_num_threads()
    yield
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


@pytest.fixture
def shared_dir():
    """The workplace's shared folder of real datasets (``$TRM_SHARED`` or ``../shared``); tests that need the
    real Sudoku/ARC collections skip without it (their data is too large, and not ours, to commit)."""
    if not SHARED.is_dir():
        pytest.skip(
            f"checks the real ARC/Sudoku collections, which this repository does not redistribute: "
            f"none at {SHARED} (set TRM_SHARED)"
        )
    return SHARED
