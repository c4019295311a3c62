"""The one settings object of inference: every option, its default and its bounds, declared once (torch-free;
copied into ONNX export folders with the engine).

The command-line flags (:func:`add_arguments`: ``trm solve``, ``trm eval``, the exported runner), the HTTP
schema of ``trm serve``, a run's ``eval`` config section (:meth:`Settings.from_eval`) and the model card are
all derived from :class:`Settings`.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..tasks import PuzzleError
from . import selectors

MODES = ("official", "adaptive")
# Adaptive halting stops a row once sigmoid(q_halt) exceeds this. The training rule (q_halt > 0) is 0.5, but at
# inference 0.9 keeps nearly all of the official mode's accuracy for most of the savings (docs/BENCHMARKS.md).
DEFAULT_HALT_THRESHOLD = 0.9
# Network calls per puzzle a verified solve may spend climbing the ladder (LADDER below): the whole ladder of a
# model with N_sup <= 8 (8 + 16 + 128 + 128 + 512 = 792 calls) fits, and of one with N_sup = 16 all but the last rung.
DEFAULT_BUDGET = 1024


class _Declared(Mapping):
    """An option's metadata. A callable entry is called on every read: the selectors' names and help come from
    the registry as it is when a parser, a schema or a check reads them, plug-ins registered later included."""

    def __init__(self, **entries: Any):
        self._entries = entries

    def __getitem__(self, key: str) -> Any:
        value = self._entries[key]
        return value() if callable(value) else value

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)


def _opt(
    default: Any,
    help: str | Callable[[], str],
    lo: float | None = None,
    hi: float | None = None,
    choices: tuple[str, ...] | Callable[[], tuple[str, ...]] | None = None,
    flag: str | None = None,
    old: tuple[str, ...] = (),
) -> Any:
    """An option; ``flag``: its command-line spelling when not ``--name-with-dashes``; ``old``: former spellings,
    still accepted (with a deprecation warning from the command line)."""
    return field(
        default=default, metadata=_Declared(help=help, min=lo, max=hi, choices=choices, flag=flag, old=old)
    )


def _select_help() -> str:
    described = ", ".join(f"{name} ({selectors.get(name).help})" for name in selectors.names())
    return f"how one answer is chosen among a puzzle's trajectories: {described}; symmetric copies then vote"


@dataclass
class Settings:
    """How to run inference: the one declaration of every option, its default and its bounds. The CLI
    flags, the HTTP schema, a run's ``eval`` config section and the model card are derived from it."""

    mode: str = _opt(
        "official",
        "official: every puzzle runs max_steps supervision steps; adaptive: a puzzle "
        "stops once sigmoid(q_halt) > threshold",
        choices=MODES,
    )
    threshold: float = _opt(
        DEFAULT_HALT_THRESHOLD,
        "adaptive and halt-first halting threshold on sigmoid(q_halt), in (0, 1) (0.5 is the training rule "
        "q_halt > 0)",
        lo=0.0,
        hi=1.0,
    )
    max_steps: int | None = _opt(
        None,
        "supervision steps at most (more than the model's N_sup: test-time depth); `max_steps` in HTTP and "
        "config, --sup-steps on the command line (train.max_steps counts optimizer steps)",
        lo=1,
        hi=256,
        flag="--sup-steps",
        old=("--max-steps",),
    )
    samples: int = _opt(
        1, "trajectories per puzzle; trajectory 0 is noise-free, the others add noise", lo=1, hi=256
    )
    noise: float = _opt(
        0.1,
        "std of the noise added to the latent z of the extra trajectories before every step",
        lo=0.0,
        hi=10.0,
    )
    init_noise: float = _opt(
        0.0, "std of the noise added once to the initial y and z of the extra trajectories", lo=0.0, hi=10.0
    )
    seed: int = _opt(0, "seed of the noise, the resampling and the symmetries", lo=0, hi=2**31 - 1)
    select: str = _opt(
        "majority", _select_help, choices=selectors.names, old=("--vote",)
    )  # docs/BENCHMARKS.md compares them
    tolerance: float = _opt(
        0.0, "converged: fraction of answer tokens that may still change between steps", lo=0.0, hi=1.0
    )
    patience: int = _opt(2, "converged: steps the answer must stay within the tolerance", lo=1, hi=256)
    augment: int = _opt(
        1,
        "symmetric copies per puzzle, solved, mapped back and voted on (1 = off; ARC: how many "
        "of the task's trained versions vote, 1 = all)",
        lo=1,
        hi=64,
    )
    batch_size: int = _opt(256, "rows per forward pass", lo=1, hi=65536)
    budget: int = _opt(
        DEFAULT_BUDGET,
        lambda: (
            "network calls per puzzle that a verified solve (tasks with a verifier: Sudoku, maze) may spend: "
            "while the verifier rejects the answer it climbs the ladder " + ladder_help() + "; a rung whose "
            "worst-case calls exceed what is left is not run and the result is 'no verified answer'; the first rung "
            "always runs, so 0 turns escalation off"
        ),
        lo=0,
        hi=2**20,
    )

    def validate(self) -> Settings:
        """Check types and bounds; raise :class:`PuzzleError` with a one-line message."""
        for f in dataclasses.fields(self):
            v, meta = getattr(self, f.name), f.metadata
            if v is None and f.name == "max_steps":
                continue
            want_int = f.type in ("int", "int | None")
            if meta["choices"]:
                if v not in meta["choices"]:
                    raise PuzzleError(f"{f.name} must be one of {list(meta['choices'])}, got {v!r}")
                continue
            if isinstance(v, bool) or not isinstance(v, int if want_int else (int, float)) or v != v:
                raise PuzzleError(f"{f.name} must be {'an integer' if want_int else 'a number'}, got {v!r}")
            lo, hi = meta["min"], meta["max"]
            if f.name == "threshold":  # bounded (open) only where it halts rows: checked once select is known
                open_bounds = lo, hi
            elif not lo <= v <= hi:
                raise PuzzleError(f"{f.name} must be in [{_num(lo)}, {_num(hi)}], got {v}")
        if self.halts and not open_bounds[0] < self.threshold < open_bounds[1]:
            raise PuzzleError(f"the halting threshold must be in (0, 1), got {self.threshold}")
        if self.samples > 1 and self.noise <= 0 and self.init_noise <= 0:
            raise PuzzleError(
                "several samples need noise > 0 or init_noise > 0 (otherwise every trajectory is the same)"
            )
        problem = self.selector.check(self)
        if problem:
            raise PuzzleError(problem)
        return self

    @property
    def selector(self) -> selectors.Selector:
        """The registered selector named by ``select``."""
        return selectors.get(self.select)

    @property
    def halts(self) -> bool:
        """Whether rows stop once sigmoid(q_halt) > threshold (adaptive mode, or a selector that halts)."""
        return self.mode == "adaptive" or self.selector.halts

    def replace(self, **options: Any) -> Settings:
        """A copy with ``options`` set (unknown names are an error; ``vote``, the former name of ``select``,
        is read as ``select``); not validated."""
        if "vote" in options:
            options = {"select": options["vote"], **{k: v for k, v in options.items() if k != "vote"}}
        unknown = set(options) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise PuzzleError(f"unknown inference option(s) {sorted(unknown)}")
        return dataclasses.replace(self, **options)

    @classmethod
    def from_eval(cls, section: Any) -> Settings:
        """The protocol a run's ``eval`` config section (``trm.config.EvalConfig``) asks for, over the defaults."""
        return cls().replace(**section.options())

    def describe(self, n_sup: int) -> dict[str, Any]:
        """What a report or a model card states about the protocol (options that do not apply are None)."""
        sel = self.selector
        only_some = {name for other in selectors.SELECTORS.values() for name in other.options}
        return {
            "mode": self.mode,
            "threshold": self.threshold if self.halts else None,
            "max_steps": self.max_steps or n_sup,
            "samples": self.samples,
            "noise": self.noise if self.samples > 1 else 0.0,
            "init_noise": self.init_noise if self.samples > 1 else 0.0,
            "augment": self.augment,
            "select": self.select,
            "budget": self.budget,
            **{
                f.name: getattr(self, f.name) if f.name in sel.options else None
                for f in dataclasses.fields(self)
                if f.name in only_some  # the options of other selectors do not apply
            },
        }


# ============================================================================================ the ladder
@dataclass(frozen=True)
class Rung:
    """One protocol of verified solving, relative to the protocol asked for (rung 1): ``depth`` times its
    supervision steps, at least ``augment`` symmetric copies and ``samples`` trajectories, and ``options``
    (other :class:`Settings` options) where it adds trajectories. Every rung after the first runs all its steps
    (official mode): a row that halted early would halt at the same step again and repeat the answer rejected."""

    name: str
    help: str
    depth: int = 1
    augment: int = 1
    samples: int = 1
    options: tuple[tuple[str, Any], ...] = ()


NOISY = (
    ("init_noise", 1.0),
)  # noise on the initial state: what makes trajectories differ (docs/BENCHMARKS.md)
LADDER = (
    Rung("protocol", "the protocol asked for"),
    Rung("depth", "twice the supervision steps", depth=2),
    Rung("symmetries", "8 symmetric copies voted, twice the steps", depth=2, augment=8),
    Rung(
        "trajectories",
        "8 trajectories from a noisy initial state (init_noise 1), the most confident chosen, twice the steps",
        depth=2,
        samples=8,
        options=(*NOISY, ("select", "confidence")),
    ),
    Rung(
        "both",
        "8 symmetric copies x 4 noisy trajectories, twice the steps",
        depth=2,
        augment=8,
        samples=4,
        options=NOISY,
    ),  # fmt: skip
)


@dataclass(frozen=True)
class Planned:
    """A rung made concrete for one request: its settings and its worst-case cost in network calls (supervision
    steps x symmetric copies x trajectories; adaptive halting and early-stopping selectors may use fewer)."""

    rung: Rung
    settings: Settings
    cost: int


def ladder_help() -> str:
    """The ladder as one line (``--budget``'s help, the HTTP and MCP schemas)."""
    return "; ".join(f"{i}. {r.name}: {r.help}" for i, r in enumerate(LADDER, 1))


def plan(base: Settings, n_sup: int, symmetries: int, caps: Mapping[str, int] | None = None) -> list[Planned]:
    """The rungs of :data:`LADDER` for a request whose protocol is ``base`` (validated): each rung's settings,
    its supervision steps capped at the engine's bound (and ``caps["max_steps"]``), its copies at the task's
    ``symmetries`` (and ``caps["augment"]``), its trajectories at ``caps["samples"]``; a rung equal to an earlier
    one is left out. The budget decides at run time how many are climbed (:class:`~.solver.VerifiedRequest`)."""
    caps = caps or {}
    hi = {f.name: f.metadata["max"] for f in dataclasses.fields(Settings)}
    steps = base.max_steps or n_sup
    out: list[Planned] = []
    for rung in LADDER:
        st = base
        if rung is not LADDER[0]:
            samples = min(max(base.samples, rung.samples), caps.get("samples", hi["samples"]))
            st = base.replace(
                mode="official",
                max_steps=min(rung.depth * steps, caps.get("max_steps", hi["max_steps"]), hi["max_steps"]),
                augment=min(max(base.augment, rung.augment), caps.get("augment", hi["augment"]), symmetries),
                samples=samples,
                **(dict(rung.options) if samples > 1 else {}),
            ).validate()
        same = st.replace(max_steps=st.max_steps or n_sup)
        if any(p.settings.replace(max_steps=p.settings.max_steps or n_sup) == same for p in out):
            continue
        out.append(Planned(rung, st, (st.max_steps or n_sup) * st.augment * st.samples))
    return out


def add_arguments(parser: Any, alias: Callable[..., None] | None = None) -> None:
    """One command-line flag per :class:`Settings` option (``trm solve``, ``trm eval``, the exported runner),
    with its help, type, choices, default and bound; an unset flag stays None (see :func:`given_options`).
    An option's former spellings are added by ``alias(parser, old, new, dest, **kwargs)`` (the command line's
    warns), else accepted silently."""
    for f in dataclasses.fields(Settings):
        meta = f.metadata
        kind = int if f.type.startswith("int") else float if f.type == "float" else str
        shown = "the model's N_sup" if f.default is None else f.default
        bound = f", at most {meta['max']}" if kind is int and meta["max"] else ""
        flag = meta["flag"] or "--" + f.name.replace("_", "-")
        spec = dict(type=kind, choices=meta["choices"], default=None)
        parser.add_argument(
            flag,
            dest=f.name,
            metavar=None if meta["choices"] else f.name.upper(),
            help=f"{meta['help']} (default {shown}{bound})",
            **spec,
        )
        for old in meta["old"]:
            if alias is not None:
                alias(parser, old, flag, f.name, **spec)
            else:
                parser.add_argument(old, dest=f.name, help=argparse.SUPPRESS, **spec)


def given_options(args: Any) -> dict[str, Any]:
    """The :class:`Settings` options set on the command line (``args`` from :func:`add_arguments`)."""
    return {
        f.name: getattr(args, f.name)
        for f in dataclasses.fields(Settings)
        if getattr(args, f.name) is not None
    }


def _num(x: float) -> str:
    """A bound as people write it: integers in full (2147483647), other numbers short (0.9)."""
    return str(int(x)) if float(x).is_integer() else f"{x:g}"
