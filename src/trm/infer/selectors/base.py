"""The :class:`Selector` interface and the registry (numpy only: copied into ONNX export folders with the engine).

A selector decides how one answer is chosen among a puzzle's candidates: ``samples`` trajectories times
``augment`` symmetric copies. Its class attributes tell the engine and :class:`~trm.infer.settings.Settings`
what it needs; its methods are the only code that knows how it behaves. See docs/EXTENDING.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import numpy as np

if TYPE_CHECKING:  # hints only: the engine and the settings import this package, not the other way round
    from ..engine import Job
    from ..settings import Settings


class Selector:
    """How one answer is chosen among a puzzle's candidates. Subclass, set the class attributes, override
    what the selector does, and decorate the class with :func:`register`; one instance serves every job (keep
    per-row state in the engine's ``state`` counter or the job, never on the selector)."""

    name: ClassVar[str]  # what --select, the HTTP and MCP schemas and the eval config section call it
    help: ClassVar[str]  # one phrase, shown after the name in the --select help
    options: ClassVar[tuple[str, ...]] = ()  # Settings options only this selector reads (stated in reports)
    grouped: ClassVar[bool] = False  # a puzzle's trajectories run in lockstep; one settling stops them all
    halts: ClassVar[bool] = False  # rows stop once sigmoid(q_halt) > threshold in official mode too
    observes: ClassVar[bool] = False  # the engine calls observe() with every row's answer after every step
    resamples: ClassVar[bool] = False  # the engine calls resample() for each group after every step

    @property
    def acts_while_running(self) -> bool:
        """Whether the selector changes how the engine runs the rows (not only which answer is chosen)."""
        return self.grouped or self.halts or self.observes or self.resamples

    def check(self, settings: Settings) -> str | None:
        """What is wrong with ``settings`` for this selector (one line), or None."""
        return None

    def observe(
        self, job: Job, rows: np.ndarray, step: np.ndarray, answers: np.ndarray, state: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """After every step (``observes``), for the batch rows of one job: their job ``rows`` [n], the 0-based
        ``step`` just taken [n], their ``answers`` [n, S] and the ``state`` [n] this selector keeps per row (0
        when a row enters). Returns (the new state, which rows settled: they stop and count as settled)."""
        raise NotImplementedError

    def resample(self, conf: np.ndarray, seed: int, step: int, group: int) -> np.ndarray | None:
        """After every step (``resamples``), for the live rows of one group: ``conf`` = sigmoid(q_halt) [n].
        Returns, for each row, the row (0..n-1) whose y and z it takes, or None to keep them all."""
        raise NotImplementedError

    def eligible(self, settled: np.ndarray) -> np.ndarray:
        """Which candidates vote, from which rows settled (``settled`` [B, A, K]: puzzles, symmetric copies,
        trajectories); the eligible rows of each copy share one vote. Default: every row."""
        return np.ones_like(settled, bool)

    def score(self, support: np.ndarray, mean: np.ndarray, conf: np.ndarray) -> np.ndarray:
        """Rank C candidates [B, C] (the highest eligible one is chosen): ``support`` = the summed vote of the
        eligible candidates giving the same answer, ``mean`` = their mean confidence, ``conf`` = the
        candidate's own sigmoid(q_halt)."""
        raise NotImplementedError


def settled_or_all(settled: np.ndarray) -> np.ndarray:
    """:meth:`Selector.eligible` of the selectors that stop rows early: the rows that settled, or every row of a
    symmetric copy where none did."""
    return settled | ~settled.any(-1, keepdims=True)


SELECTORS: dict[str, Selector] = {}  # name -> the one instance


def register(cls: type[Selector]) -> type[Selector]:
    """Class decorator: add a :class:`Selector` under its ``name`` (a name can be registered once)."""
    if cls.name in SELECTORS:
        raise ValueError(f"a selector named {cls.name!r} is already registered")
    SELECTORS[cls.name] = cls()
    return cls


def get(name: str) -> Selector:
    """The registered selector called ``name``."""
    try:
        return SELECTORS[name]
    except KeyError:
        raise KeyError(f"unknown selector {name!r}; registered: {list(SELECTORS)}") from None


def names() -> tuple[str, ...]:
    """The registered selectors' names, sorted (not in import order, which a module importing another decides):
    the choices of ``select`` wherever it is offered."""
    return tuple(sorted(SELECTORS))
