"""SciPy, the optional dependency (``pip install 'tapegrad[scipy]'``), imported at the first use.

Importing tapegrad never imports SciPy; the primitives that run SciPy's functions ask for its modules here.
"""

from __future__ import annotations

import importlib
from functools import cache
from types import ModuleType

EXTRA = "pip install 'tapegrad[scipy]'"


@cache
def installed(module: str) -> ModuleType | None:
    """``module`` (such as ``"scipy.linalg"``), imported at the first call, or None when it is not installed."""
    try:
        return importlib.import_module(module)
    except ImportError:
        return None


def scipy_module(module: str, function: str) -> ModuleType:
    """``module`` (such as ``"scipy.special"``) for tapegrad's ``function``.

    Raises:
        ImportError: SciPy is not installed; the message names ``function`` and the extra to install.
    """
    found = installed(module)
    if found is None:
        raise ImportError(f"tapegrad's {function} needs SciPy, which is not installed: {EXTRA}")
    return found
