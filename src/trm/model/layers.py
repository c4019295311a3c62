"""Building blocks shared by TRM and HRM (docs/PARITY.md).

Shape legend: B batch, L sequence length including the puzzle prefix, D hidden size, H heads, d head dim,
V vocabulary, m SwiGLU intermediate width.

Weights are stored in float32 and cast to the activation dtype where they are used, so one set of parameters
serves float32, bfloat16 and float16 forwards; the dtype is a runtime choice, not part of the model.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..config import ModelConfig, swiglu_width


def trunc_normal_(
    tensor: torch.Tensor,
    std: float = 1.0,
    lower: float = -2.0,
    upper: float = 2.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Truncated normal on [lower·σ', upper·σ'] whose *truncated* distribution has std ``std`` (JAX convention).

    PyTorch's ``trunc_normal_`` truncates a normal of std σ, so its samples have a smaller std; here σ' is
    enlarged so that the std after truncation is exactly ``std``. Sampling is by the inverse CDF.
    """
    if tensor.is_meta:  # shapes only (trm.checkpoint.meta_state): drawing on the meta device takes seconds
        return tensor
    with torch.no_grad():
        if std == 0:
            return tensor.zero_()
        r2 = math.sqrt(2.0)
        cdf_lo, cdf_hi = math.erf(lower / r2), math.erf(upper / r2)
        mass = (cdf_hi - cdf_lo) / 2
        phi = lambda t: math.exp(-0.5 * t * t) / math.sqrt(2 * math.pi)  # noqa: E731
        # variance of a standard normal truncated to [lower, upper]
        var = 1 - (upper * phi(upper) - lower * phi(lower)) / mass - ((phi(lower) - phi(upper)) / mass) ** 2
        scale = std / math.sqrt(var)
        tensor.uniform_(cdf_lo, cdf_hi, generator=generator)
        tensor.erfinv_().mul_(r2 * scale).clamp_(lower * scale, upper * scale)
    return tensor


def rms_norm(h: torch.Tensor, eps: float) -> torch.Tensor:
    """Unscaled RMS norm over the last axis, computed in float32 and cast back."""
    dtype = h.dtype
    h = h.float()
    return (h * torch.rsqrt(h.square().mean(-1, keepdim=True) + eps)).to(dtype)


def add_rms_norm(h: torch.Tensor, delta: torch.Tensor, eps: float) -> torch.Tensor:
    """``rms_norm(h + delta)``: the residual connection and post-norm of a block."""
    return rms_norm(h + delta, eps)


def swiglu_activation(gate_up: torch.Tensor) -> torch.Tensor:
    """``silu(a) * b`` for ``a, b = gate_up.chunk(2, -1)``."""
    gate, up = gate_up.chunk(2, dim=-1)
    return F.silu(gate) * up


RECOMPILE_LIMIT = 32


def inductor_isa_options() -> dict[str, int]:
    """``torch.compile`` options that put the CPU vector width into inductor's on-disk cache keys.

    Inductor (seen with torch 2.13) writes its C++ kernels for the vector ISA it picks, which the environment
    can lower (``ATEN_CPU_CAPABILITY=avx2``, as in the AVX2-restricted demo runs), but its FX graph and
    AOTAutograd cache keys leave the ISA out. A later process on another ISA then loads the cached kernel
    source and builds it with its own flags: AVX2 code (8-float loop steps) built for AVX-512 stores 16 floats
    per step, past the end of the output (``double free or corruption``, exit 134, e.g. the residual + RMS norm
    at [128, 81, 64] of the maze MLP-mixer), and AVX-512 code built for AVX2 leaves half of it unwritten.
    ``cpp.simdlen`` only chooses among the ISAs inductor would pick anyway, so setting it to the picked ISA's
    width changes no kernel, only the cache key. Empty where the ISA cannot be probed."""
    try:
        from torch._inductor.cpu_vec_isa import pick_vec_isa

        return {"cpp.simdlen": pick_vec_isa().bit_width()}
    except Exception:  # no inductor or no compiler: compiling fails later and _Fused runs eagerly
        return {}


class _Fused:
    """A small elementwise function compiled with ``torch.compile`` on first use (one fused loop instead of a
    pass over memory per operation, forward and backward); plain PyTorch if compilation is unavailable."""

    def __init__(self, fn):
        self.fn = fn
        self.compiled = None
        self.failed = False

    def __call__(self, *args):
        if self.failed:
            return self.fn(*args)
        try:
            if self.compiled is None:
                # one compiled variant per dtype x grad mode x shape: the CPU set-up chooser alone times float32
                # and bfloat16, training and evaluation (more than dynamo's default limit of 8, past which it
                # warns and runs the rest eagerly)
                config = torch._dynamo.config
                config.recompile_limit = max(config.recompile_limit, RECOMPILE_LIMIT)
                self.compiled = torch.compile(self.fn, dynamic=False, options=inductor_isa_options())
            return self.compiled(*args)
        except Exception as e:  # inductor reports a missing compiler or backend with many exception types
            import warnings

            warnings.warn(
                f"fused kernels unavailable ({type(e).__name__}); using plain PyTorch", stacklevel=2
            )
            self.failed = True
            return self.fn(*args)


fused_add_rms_norm = _Fused(add_rms_norm)
fused_swiglu_activation = _Fused(swiglu_activation)


class CastedLinear(nn.Module):
    """``nn.Linear`` with LeCun truncated-normal init whose weight is cast to the input's dtype at use."""

    def __init__(self, in_features: int, out_features: int, bias: bool = False):
        super().__init__()
        self.weight = nn.Parameter(
            trunc_normal_(torch.empty(out_features, in_features), std=in_features**-0.5)
        )
        self.bias = nn.Parameter(torch.zeros(out_features)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = None if self.bias is None else self.bias.to(x.dtype)
        return F.linear(x, self.weight.to(x.dtype), bias)


class CastedEmbedding(nn.Module):
    """Embedding table [num, D] with truncated-normal init, looked up then cast to ``dtype``."""

    def __init__(self, num: int, dim: int, std: float):
        super().__init__()
        self.weight = nn.Parameter(trunc_normal_(torch.empty(num, dim), std=std))

    def forward(self, ids: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        return F.embedding(ids.long(), self.weight).to(dtype)


class PuzzleEmbedding(nn.Module):
    """Per-puzzle embedding table, kept outside the dense parameters (trained by sign-SGD, as the official code does).

    The table is a persistent buffer. In training, the rows of the batch are gathered into a fresh leaf
    tensor (``local_weights``) that receives the gradient; the optimizer reads it with ``local_ids``.
    """

    def __init__(self, num_identifiers: int, dim: int):
        super().__init__()
        self.register_buffer("weight", torch.zeros(num_identifiers, dim))
        self.local_ids: torch.Tensor | None = None
        self.local_weights: torch.Tensor | None = None

    def forward(self, ids: torch.Tensor) -> torch.Tensor:  # [B] -> [B, puzzle_emb_ndim]
        rows = self.weight[ids.long()]
        if self.training and torch.is_grad_enabled():
            rows = rows.detach().requires_grad_(True)
            self.local_ids, self.local_weights = ids, rows
        return rows


class RotaryEmbedding(nn.Module):
    """cos/sin tables [L, d] for RoPE over the whole sequence (prefix positions first)."""

    def __init__(self, head_dim: int, length: int, theta: float):
        super().__init__()
        inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
        freqs = torch.outer(torch.arange(length, dtype=torch.float32), inv_freq)  # [L, d/2]
        angles = torch.cat((freqs, freqs), dim=-1)  # [L, d]
        self.register_buffer("cos", angles.cos(), persistent=False)
        self.register_buffer("sin", angles.sin(), persistent=False)


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """x [B, L, H, d]; cos/sin [L, d] (float32). Rotation in float32, result in x's dtype."""
    dtype = x.dtype
    x = x.to(cos.dtype)
    cos, sin = cos.unsqueeze(-2), sin.unsqueeze(-2)  # [L, 1, d]
    return (x * cos + _rotate_half(x) * sin).to(dtype)


class Attention(nn.Module):
    """Non-causal multi-head self-attention with a fused qkv projection and optional RoPE."""

    def __init__(self, hidden_size: int, num_heads: int):
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = hidden_size // num_heads
        self.qkv_proj = CastedLinear(hidden_size, 3 * hidden_size)
        self.o_proj = CastedLinear(hidden_size, hidden_size)

    def forward(self, h: torch.Tensor, rope: RotaryEmbedding | None) -> torch.Tensor:
        B, L, D = h.shape
        qkv = self.qkv_proj(h).view(B, L, 3 * self.num_heads, self.head_dim)  # [B, L, 3H, d]
        q, k, v = qkv.split(self.num_heads, dim=2)  # each [B, L, H, d]
        if rope is not None:
            q, k = apply_rope(q, rope.cos, rope.sin), apply_rope(k, rope.cos, rope.sin)
        q, k, v = (t.transpose(1, 2) for t in (q, k, v))  # [B, H, L, d]
        out = F.scaled_dot_product_attention(q, k, v, is_causal=False)  # [B, H, L, d]
        return self.o_proj(out.transpose(1, 2).reshape(B, L, D))


class SwiGLU(nn.Module):
    """``W_down(silu(a) * b)`` with ``a, b = W_gate_up(h).chunk(2)`` over the last axis of width k."""

    fused = False  # use the compiled elementwise kernel (set by TRM.use_fused_kernels)

    def __init__(self, k: int, expansion: float, multiple: int = 256, norm_eps: float | None = None):
        super().__init__()
        m = swiglu_width(k, expansion, multiple)
        self.gate_up_proj = CastedLinear(k, 2 * m)
        self.down_proj = CastedLinear(m, k)
        self.norm_eps = norm_eps  # RMS-normalise the intermediate before W_down (model.swiglu_norm)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        gate_up = self.gate_up_proj(h)
        if self.fused:
            act = fused_swiglu_activation(gate_up)
        elif torch.is_grad_enabled() and gate_up.requires_grad and not torch.compiler.is_compiling():
            act = _SwiGLUActivation.apply(gate_up)  # (under torch.compile the plain form fuses better)
        else:
            act = swiglu_activation(gate_up)
        return self.down_proj(act if self.norm_eps is None else rms_norm(act, self.norm_eps))


class _SwiGLUActivation(torch.autograd.Function):
    """``silu(a) * b`` for ``a, b = x.chunk(2, -1)``, whose backward writes both halves of the gradient into one
    buffer (autograd would build them separately and concatenate: one more pass over the widest tensor).
    The arithmetic is exactly autograd's, so results are bit-identical."""

    @staticmethod
    def forward(ctx, gate_up: torch.Tensor) -> torch.Tensor:
        gate, up = gate_up.chunk(2, dim=-1)
        act = F.silu(gate)
        ctx.save_for_backward(gate_up, act)
        return act * up

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        gate_up, act = ctx.saved_tensors
        gate, up = gate_up.chunk(2, dim=-1)
        out = torch.empty_like(gate_up)
        grad_gate, grad_up = out.chunk(2, dim=-1)
        torch.ops.aten.silu_backward(grad * up, gate, grad_input=grad_gate)
        torch.mul(grad, act, out=grad_up)
        return out


class Block(nn.Module):
    """Post-norm block: token mixing (attention or MLP over positions), then the channel MLP."""

    fused = False  # use the compiled residual + norm kernel (set by TRM.use_fused_kernels)

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.eps = cfg.rms_norm_eps
        norm = cfg.rms_norm_eps if cfg.swiglu_norm else None
        if cfg.mixer == "mlp_t":
            self.mlp_t = SwiGLU(cfg.total_len, cfg.expansion, cfg.swiglu_multiple, norm)
        else:
            self.self_attn = Attention(cfg.hidden_size, cfg.num_heads)
        self.mlp = SwiGLU(cfg.hidden_size, cfg.expansion, cfg.swiglu_multiple, norm)

    def forward(self, h: torch.Tensor, rope: RotaryEmbedding | None) -> torch.Tensor:
        norm = fused_add_rms_norm if self.fused else add_rms_norm
        if hasattr(self, "mlp_t"):
            # a linear layer on a transposed view takes a batched-matmul path that is several times slower in
            # bfloat16 on CPUs, so low precision makes the views contiguous; float32 keeps them (and its
            # bit-exact agreement with the official code)
            h = _layout(h.transpose(1, 2))  # [B, D, L]: mix along positions, normalise over positions
            h = _layout(norm(h, self.mlp_t(h), self.eps).transpose(1, 2))  # [B, L, D]
        else:
            h = norm(h, self.self_attn(h, rope), self.eps)
        return norm(h, self.mlp(h), self.eps)


def _layout(h: torch.Tensor) -> torch.Tensor:
    return h if h.dtype == torch.float32 else h.contiguous()


class ReasoningNet(nn.Module):
    """``net(h, injection)``: add the injection, then the blocks in order."""

    def __init__(self, cfg: ModelConfig, num_layers: int):
        super().__init__()
        self.layers = nn.ModuleList(Block(cfg) for _ in range(num_layers))

    def forward(self, h: torch.Tensor, injection: torch.Tensor, rope: RotaryEmbedding | None) -> torch.Tensor:
        h = h + injection
        for layer in self.layers:
            h = layer(h, rope)
        return h
