"""polars, imported where it is first used instead of where a module is imported.

Why: ``import polars`` costs 0.15-0.3 s of one core, most of a small ingest's start-up, and an
ingest of the usual formats never needs it (the parse builds Arrow arrays and pyarrow writes
the Parquet parts). Modules that an ingest imports but that also serve the report (formats,
parse, localtime) bind ``pl`` to a ``LazyModule``; its first attribute
access imports polars and puts the real module in the importing module's globals, so later
accesses cost nothing.
"""

from __future__ import annotations

import importlib
from typing import Any


class LazyModule:
    """Stands for module ``name`` in ``namespace[alias]`` until an attribute is first read."""

    __slots__ = ("_alias", "_name", "_namespace")

    def __init__(self, name: str, namespace: dict[str, Any], alias: str) -> None:
        self._name = name
        self._namespace = namespace
        self._alias = alias

    def __getattr__(self, attr: str) -> Any:
        module = importlib.import_module(self._name)  # thread-safe: the import lock
        self._namespace[self._alias] = module
        return getattr(module, attr)

    def __repr__(self) -> str:
        return f"<LazyModule {self._name!r} (not imported yet)>"
