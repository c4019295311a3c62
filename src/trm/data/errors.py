"""The error type of the data package."""

from __future__ import annotations

from ..utils import TRMError


class DataError(TRMError, ValueError):
    """Bad input data (a puzzle, a task file, a dataset directory). The message names what is wrong and where.

    It is a :class:`~trm.utils.TRMError`, so the CLI prints it without a traceback, and a ``ValueError``, so
    library callers can catch it as one.
    """
