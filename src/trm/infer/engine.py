"""Batched recursive inference: the official mode, adaptive halting, test-time depth and noisy trajectories.

:func:`run` streams token rows through the model one supervision step at a time. A physical batch of at most
``batch_size`` rows is kept full: in the **adaptive** mode a row leaves the batch as soon as
sigmoid(q_halt) > threshold (its carry is dropped, so no more compute is spent on it) and a waiting row takes
its place; in the **official** mode every row runs exactly ``max_steps`` steps. ``max_steps`` larger than
the model's N_sup is test-time depth.

:func:`predict` adds the candidates on top: each puzzle is solved as ``A`` symmetric copies (augmentation
voting) times ``K`` trajectories (noise on the latent state z, seeded; trajectory 0 is noise-free), the
answers are mapped back and one is chosen per puzzle, by majority vote (ties by mean confidence) or by the
halting head's confidence alone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch

from ..config import DEFAULT_HALT_THRESHOLD
from ..utils import TRMError
from .tasks import TokenTransform

MODES = ("official", "adaptive")
VOTES = ("majority", "confidence")


@dataclass
class Settings:
    """How to run inference. ``max_steps=None`` means the model's N_sup."""

    mode: str = "official"
    threshold: float = DEFAULT_HALT_THRESHOLD
    max_steps: int | None = None
    samples: int = 1
    noise: float = 0.1
    seed: int = 0
    vote: str = "majority"
    augment: int = 1
    batch_size: int = 256

    def validate(self) -> Settings:
        if self.mode not in MODES:
            raise TRMError(f"mode must be one of {list(MODES)}, got {self.mode!r}")
        if self.mode == "adaptive" and not 0.0 < self.threshold < 1.0:
            raise TRMError(f"the adaptive threshold must be in (0, 1), got {self.threshold}")
        if self.max_steps is not None and self.max_steps < 1:
            raise TRMError(f"max_steps must be >= 1, got {self.max_steps}")
        if self.samples < 1:
            raise TRMError(f"samples must be >= 1, got {self.samples}")
        if self.samples > 1 and self.noise <= 0:
            raise TRMError("several samples need noise > 0 (otherwise every trajectory is the same)")
        if self.vote not in VOTES:
            raise TRMError(f"vote must be one of {list(VOTES)}, got {self.vote!r}")
        if self.augment < 1:
            raise TRMError(f"augment (symmetric copies per puzzle) must be >= 1, got {self.augment}")
        if self.batch_size < 1:
            raise TRMError(f"batch_size must be >= 1, got {self.batch_size}")
        return self

    @classmethod
    def from_eval_config(cls, e) -> Settings:
        """From a run's ``eval`` config section (:class:`trm.config.EvalConfig`)."""
        return cls(mode=e.mode, threshold=e.threshold, max_steps=e.max_steps or None, samples=e.samples,
                   noise=e.noise, vote=e.vote, augment=max(1, e.augment_votes), batch_size=e.batch_size)


@dataclass
class Trajectories:
    """What :func:`run` returns, one entry per input row (R rows, N = max_steps)."""

    preds: torch.Tensor  # [R, S] final answer tokens
    q_halt: torch.Tensor  # [R] final halting logit
    steps: torch.Tensor  # [R] supervision steps used
    step_q: torch.Tensor  # [N, R] halting logit after each step (held at the final value once halted)
    step_preds: torch.Tensor | None = None  # [N, R, S] uint8 answer after each step (held once halted)
    extra: dict[str, torch.Tensor] = field(default_factory=dict)

    @property
    def confidence(self) -> torch.Tensor:
        return torch.sigmoid(self.q_halt)


def _noise_table(cache: dict[int, torch.Tensor], step: int, K: int, shape: tuple[int, int], seed: int,
                 device, dtype) -> torch.Tensor:
    """[K, L, D] standard normal noise for step ``step``; row 0 (the clean trajectory) is zero. It depends
    only on (seed, step, trajectory), so a puzzle gets the same noise whatever else is in the batch."""
    if step not in cache:
        g = torch.Generator().manual_seed(seed * 1_000_003 + step)
        t = torch.randn((K, *shape), generator=g)
        t[0] = 0
        cache[step] = t.to(device=device, dtype=dtype)
    return cache[step]


@torch.no_grad()
def run(model, inputs: torch.Tensor, puzzle_identifiers: torch.Tensor, *, mode: str = "official",
        threshold: float = DEFAULT_HALT_THRESHOLD, max_steps: int | None = None, batch_size: int = 256, noise: float = 0.0,
        trajectory: torch.Tensor | None = None, seed: int = 0, record: bool = False,
        on_done: Callable[[int], None] | None = None) -> Trajectories:
    """Solve token rows ``inputs`` [R, S] (any device; results come back on the CPU).

    ``trajectory`` [R] numbers each row's noisy trajectory (0 = no noise); noise of std ``noise`` is added to
    z before every supervision step. ``record`` keeps the answer after every step. ``on_done(k)`` is called
    with the number of rows that just finished (for progress bars).
    """
    if mode not in MODES:
        raise TRMError(f"mode must be one of {list(MODES)}, got {mode!r}")
    device = model.y_init.device
    dtype = model.dtype
    N = model.cfg.N_sup if max_steps is None else int(max_steps)
    R, S = inputs.shape
    L, D = model.cfg.total_len, model.cfg.hidden_size
    adaptive = mode == "adaptive"

    preds = torch.zeros((R, S), dtype=torch.long)
    q_final = torch.zeros(R)
    steps_final = torch.zeros(R, dtype=torch.int32)
    step_q = torch.zeros((N, R))
    step_preds = torch.zeros((N, R, S), dtype=torch.uint8) if record else None
    traj = trajectory if trajectory is not None else torch.zeros(R, dtype=torch.long)
    K = int(traj.max()) + 1 if R else 1
    noisy = noise > 0 and K > 1
    table: dict[int, torch.Tensor] = {}

    y_init = model.y_init.to(dtype)
    z_init = model.z_init.to(dtype)
    ids = torch.zeros(0, dtype=torch.long, device=device)  # row index of each active row
    y = torch.zeros((0, L, D), dtype=dtype, device=device)
    z = torch.zeros((0, L, D), dtype=dtype, device=device)
    x = torch.zeros((0, S), dtype=torch.long, device=device)
    pid = torch.zeros(0, dtype=torch.int32, device=device)
    steps = torch.zeros(0, dtype=torch.int32, device=device)
    nxt = 0
    while nxt < R or len(ids):
        free = batch_size - len(ids)
        if free > 0 and nxt < R:  # refill: waiting rows start from (y_init, z_init)
            new = torch.arange(nxt, min(R, nxt + free), device=device)
            nxt += len(new)
            ids = torch.cat((ids, new))
            y = torch.cat((y, y_init.expand(len(new), L, D)))
            z = torch.cat((z, z_init.expand(len(new), L, D)))
            x = torch.cat((x, inputs[new.cpu()].to(device, torch.long)))
            pid = torch.cat((pid, puzzle_identifiers[new.cpu()].to(device, torch.int32)))
            steps = torch.cat((steps, torch.zeros(len(new), dtype=torch.int32, device=device)))
        if noisy:
            k = traj[ids.cpu()].to(device)
            for s in steps.unique().tolist():
                rows = steps == s
                z[rows] = z[rows] + noise * _noise_table(table, s, K, (L, D), seed, device, dtype)[k[rows]]
        y, z, logits, q_halt, _ = model.step(y, z, {"inputs": x, "puzzle_identifiers": pid})
        steps = steps + 1
        p = logits.argmax(-1)
        ids_cpu, s_cpu, q_cpu, p_cpu = ids.cpu(), (steps - 1).long().cpu(), q_halt.float().cpu(), p.cpu()
        step_q[s_cpu, ids_cpu] = q_cpu
        if record:
            step_preds[s_cpu, ids_cpu] = p_cpu.to(torch.uint8)
        done = steps >= N
        if adaptive:
            done = done | (torch.sigmoid(q_halt.float()) > threshold)
        done_cpu = done.cpu()
        if done_cpu.any():
            fin = ids_cpu[done_cpu]
            preds[fin] = p_cpu[done_cpu]
            q_final[fin] = q_cpu[done_cpu]
            steps_final[fin] = steps.cpu()[done_cpu]
            keep = ~done  # finished rows leave the batch: their carry is dropped
            ids, y, z, x, pid, steps = ids[keep], y[keep], z[keep], x[keep], pid[keep], steps[keep]
            if on_done is not None:
                on_done(len(fin))

    # hold each row's final answer after it halted, so step k reads "the answer if stopped by step k"
    last = (steps_final.long() - 1).clamp_min(0)
    hold = torch.minimum(torch.arange(N).unsqueeze(1), last.unsqueeze(0))  # [N, R]
    step_q = step_q.gather(0, hold)
    if record:
        step_preds = step_preds.gather(0, hold.unsqueeze(-1).expand(N, R, S))
    return Trajectories(preds=preds, q_halt=q_final, steps=steps_final, step_q=step_q, step_preds=step_preds)


# ------------------------------------------------------------------------------------------------ candidates


def choose(preds: torch.Tensor, conf: torch.Tensor, vote: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Pick one of C candidate answers per puzzle. ``preds`` [B, C, S], ``conf`` [B, C] in [0, 1].

    ``majority``: the answer given by the most candidates, ties broken by their mean confidence (SPEC §7
    ranking); ``confidence``: the single most confident candidate. Returns (index [B], votes [B], confidence
    [B] = mean confidence of the candidates agreeing with the choice).
    """
    same = (preds.unsqueeze(2) == preds.unsqueeze(1)).all(-1)  # [B, C, C]
    votes = same.sum(-1)  # [B, C]
    mean_conf = (same * conf.unsqueeze(1)).sum(-1) / votes
    if vote == "majority":
        score = votes.double() + 0.5 * mean_conf.double()  # integer votes first, then confidence in [0, 0.5]
    else:
        score = conf.double()
    idx = score.argmax(-1)
    pick = idx.unsqueeze(-1)
    return idx, votes.gather(1, pick).squeeze(1), mean_conf.gather(1, pick).squeeze(1)


@dataclass
class Prediction:
    """One answer per puzzle (B puzzles) after voting over its candidates."""

    preds: torch.Tensor  # [B, S]
    confidence: torch.Tensor  # [B] mean sigmoid(q_halt) of the candidates agreeing with the answer
    steps: torch.Tensor  # [B] supervision steps of the chosen candidate
    compute: torch.Tensor  # [B] supervision steps summed over all candidates of the puzzle
    votes: torch.Tensor  # [B] candidates agreeing with the answer
    candidates: int  # C = augment x samples
    step_preds: torch.Tensor | None = None  # [N, B, S] the voted answer after each step
    step_conf: torch.Tensor | None = None  # [N, B]
    step_q: torch.Tensor | None = None  # [N, B] halting logit of the chosen trajectory (C = 1 only)


def predict(model, inputs: torch.Tensor, puzzle_identifiers: torch.Tensor, settings: Settings,
            transforms: Sequence[TokenTransform] | None = None, record: bool = False,
            on_done: Callable[[int], None] | None = None) -> Prediction:
    """Solve B puzzles ``inputs`` [B, S] with A = len(transforms) symmetric copies and K = settings.samples
    trajectories each, undo the symmetries and choose one answer per puzzle."""
    st = settings
    transforms = list(transforms) if transforms else [None]
    B, S = inputs.shape
    A, K = len(transforms), st.samples
    C = A * K
    rows = []
    for t in transforms:
        xa = inputs if t is None else t.apply(inputs)
        rows.append(xa.unsqueeze(1).expand(B, K, S))
    x = torch.stack(rows, 1).reshape(B * C, S)  # row (b, a, k)
    pid = puzzle_identifiers.repeat_interleave(C)
    traj = torch.arange(K).repeat(B * A)
    out = run(model, x, pid, mode=st.mode, threshold=st.threshold, max_steps=st.max_steps,
              batch_size=st.batch_size, noise=st.noise if K > 1 else 0.0, trajectory=traj, seed=st.seed,
              record=record, on_done=on_done)

    def undo(p: torch.Tensor) -> torch.Tensor:  # [..., B*C, S] -> [..., B, C, S] in the puzzle's own frame
        p = p.reshape(*p.shape[:-2], B, A, K, S)
        parts = [p[..., a, :, :] if t is None else t.inverse().apply(p[..., a, :, :].long())
                 for a, t in enumerate(transforms)]
        return torch.stack(parts, -3).reshape(*p.shape[:-4], B, C, S)

    preds = undo(out.preds)
    conf = out.confidence.view(B, C)
    idx, votes, confidence = choose(preds, conf, st.vote)
    b = torch.arange(B)
    result = Prediction(
        preds=preds[b, idx], confidence=confidence, steps=out.steps.view(B, C)[b, idx],
        compute=out.steps.view(B, C).sum(-1), votes=votes, candidates=C,
    )
    if record:
        N = out.step_q.shape[0]
        sp = undo(out.step_preds.long()) if C > 1 or transforms[0] is not None else out.step_preds.long().view(N, B, 1, S)
        sc = torch.sigmoid(out.step_q).view(N, B, C)
        step_preds = torch.empty((N, B, S), dtype=torch.long)
        step_conf = torch.empty((N, B))
        for k in range(N):
            i, _, c = choose(sp[k], sc[k], st.vote)
            step_preds[k] = sp[k][b, i]
            step_conf[k] = c
        result.step_preds, result.step_conf = step_preds, step_conf
        if C == 1:
            result.step_q = out.step_q
    return result
