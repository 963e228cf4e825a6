"""Modules imported on first use, so importing a task module does not load msal (and requests,
which msal brings) until a token is actually requested: :data:`msal` and :data:`requests` stand
for them (type checkers see the real modules).

Example:
    >>> msal = LazyModule("msal")   # nothing imported yet
    >>> cache = msal.TokenCache()    # imported now
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import TYPE_CHECKING, Any

__all__ = ["LazyModule", "msal", "requests"]


class LazyModule:
    """Stands for a module and imports it when one of its attributes is first read."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._module: ModuleType | None = None

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__"):
            raise AttributeError(attr)
        if self._module is None:
            self._module = importlib.import_module(self._name)
        return getattr(self._module, attr)

    def __repr__(self) -> str:
        state = "loaded" if self._module is not None else "not loaded yet"
        return f"<lazy module {self._name!r} ({state})>"


if TYPE_CHECKING:
    import msal as msal
    import requests as requests
else:  # loaded at the first token request, not when a task module is imported
    msal = LazyModule("msal")
    requests = LazyModule("requests")
