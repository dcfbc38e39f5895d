"""Make lava-nc 0.10.0 importable on Python 3.11, without touching site-packages.

Every lava-nc release declares Python < 3.11. The one thing that actually breaks on 3.11 is
``lava/magma/compiler/var_model.py``: eight dataclass fields use an instance
(``ByteEncoder()``) as their default, which Python 3.11's dataclasses reject as a mutable
default, so ``import lava.magma.core.process.process`` fails. This module installs an import
hook (a meta-path finder) that rewrites those defaults to ``field(default_factory=ByteEncoder)``
in memory while that one module loads. Nothing is written to disk (not even a .pyc), so the
installed package stays as pip left it and every other user of the environment sees it
unchanged. Lava forks its worker processes, so a hook installed before the first Lava import
is inherited by them.

``install()`` is called by ``hwsim.backends.lava`` before it imports Lava, i.e. only when
the Lava backend is used. A Lava release that fixed the module is left alone: the rewrite
only happens where the offending text is present.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import multiprocessing
import re
import sys
from collections.abc import Sequence
from types import ModuleType

TARGET = "lava.magma.compiler.var_model"
_DEFAULT = re.compile(rb"^(\s+\w+: ByteEncoder) = ByteEncoder\(\)\s*$", re.MULTILINE)


def patch_source(source: bytes) -> bytes:
    """The module's source with every ``ByteEncoder()`` default made a default factory."""
    return _DEFAULT.sub(rb"\1 = __import__('dataclasses').field(default_factory=ByteEncoder)", source)


class _PatchingLoader(importlib.machinery.SourceFileLoader):
    """Loads the target from its source, rewritten; never reads or writes bytecode."""

    def get_data(self, path: str) -> bytes:
        if not path.endswith(".py"):
            raise OSError("bytecode of a rewritten module is not used")  # forces the source path
        return patch_source(super().get_data(path))

    def set_data(self, path: str, data: bytes, *, _mode: int = 0o666) -> None:
        """Write no .pyc: site-packages stays untouched."""


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if fullname != TARGET:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or not isinstance(spec.loader, importlib.machinery.SourceFileLoader):
            return spec
        spec.loader = _PatchingLoader(fullname, spec.origin)
        spec.cached = None
        return spec


def release_fork_start_method() -> None:
    """Lava's message infrastructure calls ``multiprocessing.set_start_method('fork')`` when
    it is imported, which raises if the start method is already fixed. Reading it fixes it:
    numba does that when its threading layer starts (the native kernels' parallel loops), so
    a process that ran or loaded the native engine before importing Lava could not import
    it. When the method fixed is 'fork', the one Lava sets, it is released again (CPython's
    ``set_start_method(None, force=True)``), and Lava sets it back to the same."""
    if multiprocessing.get_start_method(allow_none=True) == "fork":
        multiprocessing.set_start_method(None, force=True)


def install() -> None:
    """Put the finder first on ``sys.meta_path`` (once). Must run before Lava is imported."""
    if sys.version_info < (3, 11) or any(isinstance(f, _Finder) for f in sys.meta_path):
        return
    if TARGET in sys.modules:
        return  # already imported (an environment fixed some other way)
    sys.meta_path.insert(0, _Finder())
