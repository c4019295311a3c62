"""Test-time selectors, one module per selector: each defines a :class:`Selector` and registers it.

Every module of this package is imported here, so a built-in selector is one new file; code outside trm
registers its own with :func:`register` before building settings, a solver or a server. Everything that
offers ``select`` (the ``--select`` flag, the HTTP and MCP schemas, :class:`~trm.infer.settings.Settings`)
reads :func:`names`. Walk-through: docs/EXTENDING.md.
"""

import importlib
import pkgutil

from .base import SELECTORS, Selector, get, names, register

for _module in pkgutil.iter_modules(__path__):
    if _module.name != "base":
        importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["SELECTORS", "Selector", "get", "names", "register"]
