"""One supervision step for inference, laid out for speed: the arithmetic of :meth:`TRM.step`, in another order.

For a TRM whose token mixer is the MLP over positions (``mixer = "mlp_t"``) in float32, the step keeps y, z
and x sequence-first, ``[L, B·D]``, from the embedding to the output heads:

- the MLP over positions is one matrix product ``W [2m, L] @ h [L, B·D]`` with no transposes, and its gate
  and up halves are contiguous row blocks; the norm after it runs over axis 0 (positions);
- the channel MLP is ``h.view(L·B, D) @ W^T``, one matrix product over every position of every row;
- residual additions are fused into the matrix products (``addmm``) and the norms work in place.

Float32 results agree with :meth:`TRM.step` to rounding (``tests/test_infer_speed.py`` compares answers token
by token). Weights are read at each call, so a model trained further in place needs nothing rebuilt.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def supports(model) -> bool:
    """Whether :func:`step` applies: a TRM with the MLP over positions (no SwiGLU norm), run in float32."""
    cfg = model.cfg
    plain = not getattr(cfg, "swiglu_norm", False)
    return cfg.arch == "trm" and cfg.mixer == "mlp_t" and plain and model.dtype == torch.float32


def _norm_(h: torch.Tensor, dim: int, eps: float) -> torch.Tensor:
    """Unscaled RMS norm over ``dim``, in place."""
    return h.mul_(torch.rsqrt(h.square().mean(dim, keepdim=True).add_(eps)))


def _block(blk, h: torch.Tensor, D: int) -> torch.Tensor:
    """One post-norm block on ``h [L, B·D]``. Both SwiGLUs produce their gate and up halves as contiguous row
    blocks (the channel MLP computes ``W @ hᵀ``, a transposed operand costs the matmul nothing), so SiLU and
    the product run in place on contiguous memory."""
    t, c = blk.mlp_t, blk.mlp
    gu = t.gate_up_proj.weight @ h  # [2m, B·D]
    m = gu.shape[0] // 2
    act = F.silu(gu[:m], inplace=True).mul_(gu[m:])
    h = _norm_(torch.addmm(h, t.down_proj.weight, act), 0, blk.eps)
    hv = h.view(-1, D)  # [L·B, D]
    gu = c.gate_up_proj.weight @ hv.t()  # [2k, L·B]
    k = gu.shape[0] // 2
    act = F.silu(gu[:k], inplace=True).mul_(gu[k:])  # [k, L·B]
    return _norm_(torch.addmm(hv, act.t(), c.down_proj.weight.t()), -1, blk.eps).view_as(h)


def _net(layers, h: torch.Tensor, injection: torch.Tensor, D: int) -> torch.Tensor:
    h = h + injection
    for blk in layers:
        h = _block(blk, h, D)
    return h


def recurse(layers, T: int, n: int, x: torch.Tensor, y: torch.Tensor, z: torch.Tensor, D: int):
    """The T recursions of n latent updates and one answer update, on sequence-first ``[L, B·D]`` tensors."""
    for _ in range(T):
        yx = y + x
        for _ in range(n):
            z = _net(layers, z, yx, D)
        y = _net(layers, y, z, D)
    return y, z


def step(model, y: torch.Tensor, z: torch.Tensor, batch: dict):
    """:meth:`TRM.step` for inference (no gradients), for models where :func:`supports` holds."""
    B, L, D = y.shape
    cfg = model.cfg

    def first(a):  # [B, L, D] -> [L, B·D]
        return a.transpose(0, 1).reshape(L, B * D)

    x = model.embed(batch["inputs"], batch["puzzle_identifiers"])
    ys, zs = recurse(model.net.layers, cfg.T, cfg.n, first(x), first(y), first(z), D)
    y, z = (a.view(L, B, D).transpose(0, 1).contiguous() for a in (ys, zs))
    logits = model.lm_head(y[:, model.P :])  # [B, S, V]
    q = model.q_head(y[:, 0]).float()
    return y, z, logits, q[:, 0], q[:, 1]
