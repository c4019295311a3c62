"""The one error type of the task layer, and the ignore label.

:class:`PuzzleError` is a :class:`trm.errors.TRMError` (the CLI prints it as one line) and a ``ValueError``. An
ONNX export folder carries a copy of this package with ``errors.py`` above it (``trm_runtime/``).
"""

from __future__ import annotations

from ..errors import TRMError


class PuzzleError(TRMError, ValueError):
    """A puzzle, grid, task file or dataset that cannot be read; the message says what is wrong and where."""


IGNORE = -100
"""Label value of positions that do not count in the loss or in accuracy (SPEC §4)."""
