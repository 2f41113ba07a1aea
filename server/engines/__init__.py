"""Engines: each one makes frames for the four operations behind :class:`server.engines.base.Engine`.

Engines are looked up by name so that the diffusers engine (and torch) is imported only
when it is asked for.
"""

from __future__ import annotations

import importlib

from server.engines.base import Engine, EngineUnavailable

_ENGINE_MODULES = {
    "classical": "server.engines.classical",
    "diffusers": "server.engines.diffusers",  # a package: torch is imported inside its functions
}


def engine_names() -> list[str]:
    return list(_ENGINE_MODULES)


def load_engine(name: str, **options) -> Engine:
    """Import and build the engine called ``name``; raise :class:`EngineUnavailable` if it can't run."""
    if name not in _ENGINE_MODULES:
        raise EngineUnavailable(name, f"no engine called {name!r} (known: {', '.join(_ENGINE_MODULES)})")
    try:
        module = importlib.import_module(_ENGINE_MODULES[name])
    except ImportError as exc:
        raise EngineUnavailable(name, f"engine {name!r} cannot be imported: {exc}") from None
    return module.build_engine(**options)
