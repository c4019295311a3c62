"""The one error type of the task layer, and the ignore label.

Inside trm, :class:`PuzzleError` is a :class:`trm.errors.TRMError` (the CLI prints it as one line); in the copy of
this package that an ONNX export folder carries (``trm_tasks``), trm is absent and it is a plain ``ValueError``.
"""

from __future__ import annotations

try:
    from ..errors import TRMError as _Base
except ImportError:  # a top-level copy (``trm_tasks``): no parent package

    class _Base(Exception):  # type: ignore[no-redef]
        pass


class PuzzleError(_Base, ValueError):
    """A puzzle, grid, task file or dataset that cannot be read; the message says what is wrong and where."""


IGNORE = -100
"""Label value of positions that do not count in the loss or in accuracy (SPEC §4)."""
