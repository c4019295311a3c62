"""Large-file and data guard: datasets, checkpoints and exported models never enter git."""

import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FORBIDDEN_SUFFIXES = {".npy", ".npz", ".pt", ".pth", ".safetensors", ".onnx", ".ckpt", ".bin"}
MAX_BYTES = 1_000_000


def _tracked():
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    return [REPO / p for p in out.decode().split("\0") if p]


def test_no_data_or_weights_are_tracked():
    bad = [str(p.relative_to(REPO)) for p in _tracked() if p.suffix in FORBIDDEN_SUFFIXES]
    assert not bad, f"data/weight files must not be committed: {bad}"


def test_no_large_files_are_tracked():
    big = [(str(p.relative_to(REPO)), p.stat().st_size) for p in _tracked() if p.is_file() and p.stat().st_size > MAX_BYTES]
    assert not big, f"files over {MAX_BYTES} bytes: {big}"
