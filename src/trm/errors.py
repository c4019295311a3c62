"""The error a user can act on, in a module without heavy imports (``trm.tasks`` derives its error from it)."""

from __future__ import annotations


class TRMError(Exception):
    """An error a user can act on; the CLI prints its message without a traceback."""
