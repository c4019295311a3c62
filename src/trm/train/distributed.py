"""Multi-process training on PyTorch's own engine (``torchrun --nproc-per-node K -m trm train ...``).

One process per device; NCCL on CUDA, gloo elsewhere. The global batch is split evenly over the ranks and the
loss of every rank is divided by the *global* batch size, so one optimizer step means the same for any K.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta

import torch

from ..utils import TRMError, resolve_device

TEARDOWN_WAIT_S = 120  # how long a finished rank waits at the end for the others before leaving anyway


@dataclass
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    group: object | None = None  # the default process group when world_size > 1
    owns_group: bool = False  # True when this module created the process group (and must destroy it)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def launched_with_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def setup(device_name: str) -> tuple[DistInfo, torch.device]:
    """Join the process group when launched by torchrun (or use an existing one); pick this rank's device."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        info = DistInfo(
            dist.get_rank(),
            dist.get_world_size(),
            int(os.environ.get("LOCAL_RANK", "0")),
            dist.group.WORLD,
            owns_group=False,
        )
    elif launched_with_torchrun():
        if not dist.is_available():
            raise TRMError("WORLD_SIZE > 1 but this PyTorch build has no torch.distributed")
        info = DistInfo(
            int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ.get("LOCAL_RANK", "0"))
        )
        info.owns_group = True
    else:
        return DistInfo(), resolve_device(device_name)

    device = resolve_device(device_name)
    if device.type == "cuda":
        device = torch.device("cuda", info.local_rank if device.index is None else device.index)
        torch.cuda.set_device(device)
    elif device.type == "mps":
        raise TRMError("multi-process training on MPS is not supported; use one process")
    if info.owns_group:
        backend = "nccl" if device.type == "cuda" else "gloo"
        kwargs = {"device_id": device} if device.type == "cuda" else {}
        dist.init_process_group(backend=backend, **kwargs)
        info.group = dist.group.WORLD
    return info, device


def teardown(info: DistInfo, finished: bool = True) -> None:
    """Leave the process group this module created.

    ``finished``: every rank reached the end of the run normally, so all wait for each other first; a rank that
    tears its gloo connections down while a peer is still using them can abort at exit ("terminate called
    without an active exception"). After an error no barrier is taken (the other ranks may never arrive).
    """
    import torch.distributed as dist

    if info.owns_group and dist.is_initialized():
        if finished and info.enabled:
            try:
                if dist.get_backend(info.group) == "gloo":  # bounded: a rank that died never arrives
                    dist.monitored_barrier(group=info.group, timeout=timedelta(seconds=TEARDOWN_WAIT_S))
                else:
                    dist.barrier(group=info.group)
            except RuntimeError:
                pass  # a peer is gone: nothing left to wait for
        dist.destroy_process_group()


def all_reduce_sum(t: torch.Tensor, info: DistInfo) -> torch.Tensor:
    if info.enabled:
        import torch.distributed as dist

        dist.all_reduce(t, group=info.group)
    return t


def all_gather_cat(t: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Concatenate a same-shaped tensor of every rank along dim 0, in rank order."""
    if not info.enabled:
        return t
    import torch.distributed as dist

    out = [torch.empty_like(t) for _ in range(info.world_size)]
    dist.all_gather(out, t.contiguous(), group=info.group)
    return torch.cat(out, dim=0)


def all_gather_objects(obj, info: DistInfo) -> list:
    if not info.enabled:
        return [obj]
    import torch.distributed as dist

    out: list = [None] * info.world_size
    dist.all_gather_object(out, obj, group=info.group)
    return out


def broadcast_flag(flag: bool, info: DistInfo, device: torch.device) -> bool:
    """True if any rank's flag is set."""
    if not info.enabled:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    all_reduce_sum(t, info)
    return bool(t.item() > 0)
