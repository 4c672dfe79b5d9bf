"""Package exports loaded on first use (PEP 562), so that a package's light modules import alone.

``pos.listener``, ``pos.reconcile`` and ``pos.manager`` re-export names from
their heavy modules (Flask apps, the ledger) for callers' convenience, and also
hold the light ``cli`` module that ``pos --help`` imports. With plain imports in
their ``__init__``, importing ``pos.listener.cli`` would import Flask too. So
their ``__init__`` says where each name lives, and the module is imported when
the name is first asked for::

    __getattr__ = lazy_exports(__name__, {"create_app": "pos.listener.app"})
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, where: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package`` that imports ``where[name]`` when ``name`` is asked for,
    and keeps the value in the package so the next lookup is an ordinary one."""

    def __getattr__(name: str) -> Any:
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(where[name]), name)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__
