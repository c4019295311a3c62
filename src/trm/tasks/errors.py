"""The one error type of the task layer, and the ignore label.

:class:`PuzzleError` is a :class:`trm.errors.TRMError` (the CLI prints it as one line) and a ``ValueError``. An
ONNX export folder carries a copy of this package with ``errors.py`` above it (``trm_runtime/``).
"""

from __future__ import annotations

from ..errors import TRMError


class PuzzleError(TRMError, ValueError):
    """A puzzle, grid, task file or dataset that cannot be read; the message says what is wrong and where."""


IGNORE = -100
"""Label value of positions that do not count in the loss or in accuracy (docs/PARITY.md)."""


class OtherSizeError(PuzzleError):
    """A puzzle of the family that is another size than the model's: a model of ``kind`` with grid side
    ``side`` (``larger``: or more) would solve it, so that a caller that knows the models at hand can name one."""

    def __init__(self, message: str, kind: str = "", side: int = 0, larger: bool = False):
        super().__init__(message)
        self.kind, self.side, self.larger = kind, side, larger

    def solved_by(self, kind: str, side: int) -> bool:
        """Whether a model of ``kind`` with grid side ``side`` solves the puzzle."""
        return kind == self.kind and (side == self.side or (self.larger and side > self.side))
