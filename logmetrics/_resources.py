"""Where the shipped data lives: inside the installed package, or at the repository top in a checkout."""

from __future__ import annotations

from pathlib import Path

_PKG = Path(__file__).resolve().parent


def resource_dir(name: str) -> Path:
    """Return the directory ``fixtures``, ``templates`` or ``data`` whichever way the package runs."""
    inside = _PKG / name
    if inside.is_dir():
        return inside
    return _PKG.parent / name
