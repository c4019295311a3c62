"""The Tiny Recursive Model and the HRM baseline, in the paper's notation.

Legend (ours -> official code):
    x      input_embeddings   embedded question (puzzle prefix + tokens), scaled by sqrt(D)
    y      z_H                embedded current answer
    z      z_L                latent reasoning state
    n      L_cycles           latent updates per recursion
    T      H_cycles           recursions per supervision step (T-1 without gradient)
    N_sup  halt_max_steps     maximum supervision steps
    net    L_level            the tiny network (HRM: net = L_level, net_H = H_level)
    y_init / z_init  H_init / L_init

Shapes: B batch, S = seq_len tokens, P prefix, L = P + S, D hidden, V vocab.

``forward(carry, batch) -> (carry, outputs)`` is one call of the deep-supervision (ACT) wrapper: halted rows
are reset and take the new batch's row, every row then runs one supervision step. The model knows nothing of
devices, optimizers or logging.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace

import torch
from torch import nn

from ..config import ModelConfig
from .layers import (
    CastedEmbedding,
    CastedLinear,
    PuzzleEmbedding,
    ReasoningNet,
    RotaryEmbedding,
    trunc_normal_,
)

Batch = dict[str, torch.Tensor]


@dataclass
class Carry:
    """State kept between supervision steps."""

    y: torch.Tensor  # [B, L, D] current answer (official z_H)
    z: torch.Tensor  # [B, L, D] latent state (official z_L)
    steps: torch.Tensor  # [B] int32 supervision steps taken on the current puzzle
    halted: torch.Tensor  # [B] bool: this row is finished and takes a new puzzle on the next call
    data: Batch  # the batch rows each carry row is working on

    def detach(self) -> Carry:
        return replace(self, y=self.y.detach(), z=self.z.detach())

    def to(self, device: torch.device | str) -> Carry:
        return Carry(**{f.name: _to(getattr(self, f.name), device) for f in fields(self)})


def _to(v, device):
    if isinstance(v, dict):
        return {k: t.to(device) for k, t in v.items()}
    return v.to(device)


class TRM(nn.Module):
    """TRM (``cfg.arch == "trm"``) or HRM (``"hrm"``): same embeddings, blocks, heads and ACT wrapper;
    only the recursion differs."""

    def __init__(self, cfg: ModelConfig, dtype: torch.dtype = torch.float32):
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        self.dtype = dtype  # forward dtype; not part of the model's identity (weights stay float32)
        # (T, n) used in training instead of the config's (a depth curriculum sets it); evaluation ignores it
        self.train_depth: tuple[int, int] | None = None
        D = cfg.hidden_size
        self.P = cfg.prefix_len
        self.embed_scale = math.sqrt(D)

        self.embed_tokens = CastedEmbedding(cfg.vocab_size, D, std=1.0 / self.embed_scale)
        if cfg.puzzle_emb_ndim > 0:
            self.puzzle_emb = PuzzleEmbedding(cfg.num_puzzle_identifiers, cfg.puzzle_emb_ndim)
        if cfg.pos_encodings == "learned":
            self.embed_pos = CastedEmbedding(cfg.total_len, D, std=1.0 / self.embed_scale)
        self.rope = (
            RotaryEmbedding(cfg.head_dim, cfg.total_len, cfg.rope_theta)
            if cfg.pos_encodings == "rope" and cfg.mixer == "attention"
            else None
        )
        self.net = ReasoningNet(cfg, cfg.num_layers)
        if cfg.arch == "hrm":
            self.net_H = ReasoningNet(cfg, cfg.h_layers)
        self.lm_head = CastedLinear(D, cfg.vocab_size)
        self.q_head = CastedLinear(D, 2, bias=True)
        with torch.no_grad():  # halting starts "off": q = (-5, -5)
            self.q_head.weight.zero_()
            self.q_head.bias.fill_(-5.0)
        self.register_buffer("y_init", trunc_normal_(torch.empty(D), std=1.0))
        self.register_buffer("z_init", trunc_normal_(torch.empty(D), std=1.0))

    # ---------------------------------------------------------------- embedding
    def embed(self, inputs: torch.Tensor, puzzle_identifiers: torch.Tensor) -> torch.Tensor:
        """x = sqrt(D) · [puzzle prefix ; token embeddings] (+ learned positions). [B, S] -> [B, L, D]."""
        D = self.cfg.hidden_size
        e = self.embed_tokens(inputs, self.dtype)  # [B, S, D]
        if self.P > 0:
            p = self.puzzle_emb(puzzle_identifiers).to(self.dtype)  # [B, puzzle_emb_ndim]
            pad = self.P * D - p.shape[-1]
            if pad > 0:
                p = nn.functional.pad(p, (0, pad))  # zero-padded at its end to P·D
            e = torch.cat((p.view(-1, self.P, D), e), dim=-2)  # [B, L, D]
        if self.cfg.pos_encodings == "learned":
            e = 0.707106781 * (e + self.embed_pos.weight.to(self.dtype))
        return self.embed_scale * e

    # ---------------------------------------------------------------- recursion
    def _recurse_trm(self, x, y, z):
        net, rope = self.net, self.rope
        T, n = self.train_depth if (self.training and self.train_depth) else (self.cfg.T, self.cfg.n)
        with torch.no_grad():
            for _ in range(T - 1):
                for _ in range(n):
                    z = net(z, y + x, rope)
                y = net(y, z, rope)
        for _ in range(n):  # the last recursion: full backprop through its n + 1 net calls
            z = net(z, y + x, rope)
        y = net(y, z, rope)
        return y, z

    def _recurse_hrm(self, x, y, z):
        cfg, rope = self.cfg, self.rope
        with torch.no_grad():
            for h in range(cfg.T):
                for l in range(cfg.n):
                    if not (h == cfg.T - 1 and l == cfg.n - 1):
                        z = self.net(z, y + x, rope)
                if h != cfg.T - 1:
                    y = self.net_H(y, z, rope)
        z = self.net(z, y + x, rope)  # 1-step gradient: only the final z and y updates backpropagate
        y = self.net_H(y, z, rope)
        return y, z

    def step(self, y: torch.Tensor, z: torch.Tensor, batch: Batch):
        """One supervision step (the official inner forward).

        Returns ``(y, z, logits [B, S, V], q_halt [B], q_continue [B])`` with y, z detached.
        """
        x = self.embed(batch["inputs"], batch["puzzle_identifiers"])
        recurse = self._recurse_hrm if self.cfg.arch == "hrm" else self._recurse_trm
        y, z = recurse(x, y, z)
        logits = self.lm_head(y)[:, self.P :]  # [B, S, V]
        q = self.q_head(y[:, 0]).float()  # [B, 2]
        return y.detach(), z.detach(), logits, q[:, 0], q[:, 1]

    # ---------------------------------------------------------------- ACT wrapper
    def initial_carry(self, batch: Batch) -> Carry:
        """All rows halted, so the first call resets every row and takes the batch."""
        B = batch["inputs"].shape[0]
        dev = batch["inputs"].device
        shape = (B, self.cfg.total_len, self.cfg.hidden_size)
        return Carry(
            y=torch.zeros(shape, dtype=self.dtype, device=dev),
            z=torch.zeros(shape, dtype=self.dtype, device=dev),
            steps=torch.zeros(B, dtype=torch.int32, device=dev),
            halted=torch.ones(B, dtype=torch.bool, device=dev),
            data={k: torch.zeros_like(v) for k, v in batch.items()},
        )

    def reset_rows(self, carry: Carry, batch: Batch) -> Carry:
        """Halted rows start over on the new batch's row: (y, z) <- (y_init, z_init), steps <- 0."""
        h = carry.halted
        h3 = h.view(-1, 1, 1)
        y = torch.where(h3, self.y_init.to(self.dtype), carry.y.to(self.dtype))
        z = torch.where(h3, self.z_init.to(self.dtype), carry.z.to(self.dtype))
        data = {
            k: torch.where(h.view((-1,) + (1,) * (v.ndim - 1)), batch[k], v) for k, v in carry.data.items()
        }
        steps = torch.where(h, torch.zeros_like(carry.steps), carry.steps)
        return Carry(y=y, z=z, steps=steps, halted=h, data=data)

    def forward(
        self, carry: Carry, batch: Batch, max_steps: int | None = None
    ) -> tuple[Carry, dict[str, torch.Tensor]]:
        """One ACT call: reset halted rows, one supervision step, update halting.

        In eval mode rows halt only at ``max_steps`` (default N_sup), as in the official evaluation; early
        halting at inference is done by :mod:`trm.infer`. In training (and N_sup > 1) rows also halt on the Q
        head, with exploration.
        """
        cfg = self.cfg
        N = cfg.N_sup if max_steps is None else max_steps
        carry = self.reset_rows(carry, batch)
        y, z, logits, q_halt, q_continue = self.step(carry.y, carry.z, carry.data)
        outputs = {"logits": logits, "q_halt_logits": q_halt, "q_continue_logits": q_continue}
        with torch.no_grad():
            steps = carry.steps + 1
            is_last = steps >= N
            halted = is_last
            if self.training and N > 1:
                if cfg.uses_continue:
                    halted = halted | (q_halt > q_continue)
                else:
                    halted = halted | (q_halt > 0)
                explore = torch.rand_like(q_halt) < cfg.halt_exploration_prob
                min_steps = explore * torch.randint_like(steps, low=2, high=N + 1)
                halted = halted & (steps >= min_steps)
                if cfg.uses_continue:
                    # Q-learning target for q_continue from one extra step on the new carry
                    _, _, _, nq_halt, nq_cont = self.step(y, z, carry.data)
                    outputs["target_q_continue"] = torch.sigmoid(
                        torch.where(is_last, nq_halt, torch.maximum(nq_halt, nq_cont))
                    )
        return Carry(y=y, z=z, steps=steps, halted=halted, data=carry.data), outputs

    # ---------------------------------------------------------------- conveniences
    def dense_parameters(self) -> list[nn.Parameter]:
        """Every trainable parameter (the puzzle-embedding table is a buffer, trained separately)."""
        return [p for p in self.parameters() if p.requires_grad]

    def num_dense_parameters(self) -> int:
        return sum(p.numel() for p in self.dense_parameters())

    def use_fused_kernels(self, enabled: bool = True) -> TRM:
        """Run the elementwise parts of every block (SwiGLU activation, residual + RMS norm) as compiled fused
        kernels. A speed option for low-precision training on CPUs (and GPUs without full compilation); the
        float32 results then differ from plain PyTorch in the last bits."""
        from .layers import Block, SwiGLU

        for m in self.modules():
            if isinstance(m, (Block, SwiGLU)):
                m.fused = enabled
        return self


def count_dense_parameters(cfg: ModelConfig) -> int:
    """Dense parameter count without allocating weights (the ARC puzzle table alone is 1.8 GB)."""
    with torch.device("meta"):
        return TRM(cfg).num_dense_parameters()
