"""The error type of the data package: the task layer's :class:`~trm.tasks.errors.PuzzleError` (a
:class:`~trm.utils.TRMError`, so the CLI prints it without a traceback, and a ``ValueError``), under the name
data code uses for bad input files, puzzles and dataset directories."""

from __future__ import annotations

from ..tasks.errors import PuzzleError as DataError

__all__ = ["DataError"]
