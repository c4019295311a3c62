"""Two CPU processes (gloo, launched by torchrun) take the same optimizer step as one process on the same
global batch."""

import os
import socket
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from .test_train_loop import make_dataset

ARGS = [
    "tiny_att",
    "train.max_steps=2",
    "train.lr_warmup_steps=2",  # at most max_steps
    "train.global_batch_size=16",
    "train.log_interval=1",
    "train.eval_interval_steps=0",
    "model.hidden_size=32",
    "model.puzzle_emb_ndim=32",
    "model.N_sup=2",
    "data.augment_on_the_fly=true",
    "eval.batch_size=16",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(cmd, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed is not available")
def test_two_gloo_processes_match_one_process(tmp_path):
    data = make_dataset(tmp_path / "data", n_train=64, n_test=16, identifiers=3)
    one, two = tmp_path / "one", tmp_path / "two"
    _run([sys.executable, "-m", "trm", "train", *ARGS, "--data", str(data), "--out", str(one)], tmp_path)
    out = _run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc-per-node",
            "2",
            "--master-addr",
            "127.0.0.1",
            "--master-port",
            str(_free_port()),
            "-m",
            "trm",
            "train",
            *ARGS,
            "--data",
            str(data),
            "--out",
            str(two),
        ],
        tmp_path,
    )
    assert "x2 processes" in out and out.count("done:") == 1
    a = load_file(str(one / "checkpoints/last/train_state.safetensors"))
    b = load_file(str(two / "checkpoints/last/train_state.safetensors"))
    compared = 0
    for k in a:
        if k.startswith(("live.", "optim.", "carry.")):
            assert a[k].shape == b[k].shape, k
            assert torch.allclose(a[k].double(), b[k].double(), rtol=1e-5, atol=1e-6), k
            compared += 1
    assert compared > 20
    ma = load_file(str(one / "checkpoints/last/model.safetensors"))
    mb = load_file(str(two / "checkpoints/last/model.safetensors"))
    assert ma["puzzle_emb.weight"].abs().sum() > 0  # the used rows of the table moved ...
    assert torch.allclose(ma["puzzle_emb.weight"], mb["puzzle_emb.weight"], atol=1e-6)  # ... identically
    for k in ma:
        assert torch.allclose(ma[k], mb[k], rtol=1e-5, atol=1e-6), k
