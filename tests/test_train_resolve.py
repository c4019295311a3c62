"""The run config resolved once (trm.train.resolve) and the training set-up rules of trm.hardware."""

from __future__ import annotations

import math

import pytest
import torch

from trm import hardware
from trm.presets import get_preset
from trm.train.resolve import resolve
from trm.utils import TRMError

CPU = torch.device("cpu")


def cfg(*overrides):
    return get_preset("tiny_att").override(["train.lr_warmup_steps=0", *overrides])


def test_the_loop_numbers_are_derived_once():
    r = resolve(cfg("train.max_steps=0", "train.epochs=3", "train.eval_interval=2"), device=CPU,
                world_size=1, steps_per_epoch=2.5, note=pytest.fail)  # fmt: skip
    assert (r.total_steps, r.eval_every, r.check_every, r.dtype) == (7, 5, 1, torch.float32)
    assert r.time_limit_s == math.inf and r.global_batch == r.cfg.train.global_batch_size
    r = resolve(cfg("train.max_steps=40", "train.eval_interval_steps=9", "train.max_minutes=0.5",
                    "train.log_interval=4"), device=CPU, world_size=1, steps_per_epoch=2.5)  # fmt: skip
    assert (r.total_steps, r.eval_every, r.log_every, r.time_limit_s) == (40, 9, 4, 30.0)
    assert resolve(cfg("train.eval_interval=0"), device=CPU, world_size=1, steps_per_epoch=1).eval_every == 0


def test_what_cannot_run_is_one_line():
    with pytest.raises(TRMError, match="float16 training on the CPU"):
        resolve(cfg("train.dtype=float16"), device=CPU, world_size=1, steps_per_epoch=1)
    with pytest.raises(TRMError, match="global_batch_size 30 is not divisible by the 4 processes"):
        resolve(cfg("train.global_batch_size=30"), device=CPU, world_size=4, steps_per_epoch=1)


def test_a_resumed_run_keeps_its_set_up(monkeypatch):
    monkeypatch.setattr(hardware, "choose_cpu_setup", lambda *a, **k: pytest.fail("chose again"))
    c = cfg("train.autotune=true")
    assert resolve(c, device=CPU, world_size=1, steps_per_epoch=1, choose_setup=False).cfg == c


def test_the_set_up_rules_live_in_hardware(monkeypatch):
    c = cfg("train.autotune=true")
    assert hardware.autotunes(c, CPU) and not hardware.autotunes(c, torch.device("cuda"))
    for fixed in ("train.dtype=float32", "train.kernels=eager", "train.compile=loss", "train.autotune=false"):
        assert not hardware.autotunes(cfg("train.autotune=true", fixed), CPU)
    assert hardware.setup_key(c) == "tiny_att D32 L38 attention T2 n2 layers2 m256 batch16 curriculum[]"
    assert hardware.fused_kernels("auto", torch.bfloat16, "off")
    assert not hardware.fused_kernels("auto", torch.bfloat16, "loss")
    assert not hardware.fused_kernels("auto", torch.float32, "off")
    assert hardware.fused_kernels("fused", torch.float32, "step")
    assert not hardware.fused_kernels("eager", torch.bfloat16, "off")
    seen = []
    monkeypatch.setattr(
        hardware,
        "choose_cpu_setup",
        lambda key, time_step, log: seen.append(key) or hardware.Setup("bfloat16", "fused"),
    )
    r = resolve(c, device=CPU, world_size=1, steps_per_epoch=1, note=lambda _: None)
    assert (r.cfg.train.dtype, r.cfg.train.kernels, r.dtype) == ("bfloat16", "fused", torch.bfloat16)
    assert seen == [hardware.setup_key(c)]
