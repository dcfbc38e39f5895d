"""Backends that execute a compiled artifact, by name.

``native`` is the Numba engine (fast, counts every event); ``interpreter`` runs each op's
documented semantics literally in numpy (slow, readable: the oracle the others are held
against); ``lava`` deploys the program as Lava processes (optional: the ``lava`` extra).
A new backend implements ``hwsim.backends.protocol.Backend`` and registers its
factory here; the runner and the CLI find it by name.
"""

from __future__ import annotations

from importlib import import_module

from compiler.artifact import Artifact
from hwsim.backends.protocol import Backend, BackendFactory, BlockOutput, ExecutionOptions
from neuropc.errors import NeuropcError

#: backend name -> "module:factory"; imported only when the backend is used
REGISTRY: dict[str, str] = {
    "native": "hwsim.backends.native:NativeBackend",
    "interpreter": "hwsim.backends.interpreter:InterpreterBackend",
    "lava": "hwsim.backends.lava:LavaBackend",
}
#: how to install what a backend needs beyond the core dependencies (one line, for errors)
INSTALL: dict[str, str] = {
    "lava": 'pip install -e ".[lava]" && pip install --no-deps --ignore-requires-python lava-nc==0.10.0',
}


class BackendUnavailable(NeuropcError):
    """A registered backend whose dependencies are not installed (a user error: the message
    is one line with the install command)."""


def backend_names() -> tuple[str, ...]:
    return tuple(REGISTRY)


def available_backends() -> tuple[str, ...]:
    """The registered backends whose dependencies import here."""
    out = []
    for name in REGISTRY:
        try:
            backend_factory(name)
        except BackendUnavailable:
            continue
        out.append(name)
    return tuple(out)


def backend_factory(name: str) -> BackendFactory:
    """The factory of backend ``name``; KeyError names the known ones."""
    if name not in REGISTRY:
        raise KeyError(f"unknown backend {name!r}; choose one of {', '.join(REGISTRY)}")
    module, attr = REGISTRY[name].split(":")
    try:
        return getattr(import_module(module), attr)
    except ImportError as exc:
        hint = f"; install it with: {INSTALL[name]}" if name in INSTALL else ""
        raise BackendUnavailable(f"backend {name!r} needs {exc.name}, which is not installed{hint}") from exc


def open_backend(name: str, artifact: Artifact, lanes: int,
                 options: ExecutionOptions | None = None) -> Backend:
    """Load ``artifact`` on backend ``name`` for ``lanes`` sequences in lockstep."""
    return backend_factory(name)(artifact, lanes, options or ExecutionOptions())


__all__ = ["Backend", "BackendFactory", "BackendUnavailable", "BlockOutput", "ExecutionOptions",
           "available_backends", "backend_factory", "backend_names", "open_backend"]
