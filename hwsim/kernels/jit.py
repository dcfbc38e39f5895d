"""How every kernel is compiled, written once.

- ``kernel``: called only by other kernels. It has no Python entry point
  (``no_cpython_wrapper``, ``no_cfunc_wrapper``): a wrapper would unbox every array of the
  tables, state and scratch records a kernel takes, and numba compiles it and links it into
  the module of every caller, where it is optimised again at each level of the call tree.
  It is not cached on disk either: nothing calls it from Python, and the cached machine code
  of an entry point holds everything the entry point calls.
- ``entry``: called from Python as well, cached on disk (the small numeric helpers the
  tests hold against numpy, which kernels also call).
- ``record_entry``: an ``entry`` that takes the records (the engine's ``execute`` and
  ``refresh``), compiled with numba's reference counting so that its Python wrapper
  releases the reference it takes on each record it is handed; it releases the GIL, so
  that the engine's worker threads run side by side (``hwsim.team``).
- ``inlined``: a small ``kernel`` whose body numba copies into its caller (numba IR
  inlining): the driver's layers, so the op-family kernels are linked and optimised once more
  in ``execute`` instead of once more at every level of the driver; and ``counts.charge``,
  which callers pass constants that would otherwise compile it once per pair of them.
- ``inlined_entry``: an ``entry`` that numba also copies into every kernel that calls it:
  the synapse's innermost updates (``numeric.axpy``, ``axpy4``, ``axpy4_pair``). Called
  through a function, each 64-row update paid a call, its argument passing and LLVM's
  run-time overlap checks of its arrays, which cost as much as the update itself; copied
  into the caller, the update ran 1.5x (one lane) and 2x (two lanes) faster. Tests still
  call them from Python.

Everything else runs without numba's reference counting (``_nrt=False``): kernels allocate
nothing (their working arrays live in ``tables.Scratch``), and with it every array argument
of a small kernel called in an inner loop would cost two atomic updates. The records are
read without it too (``records``, borrowed reads).

The kernels compile at LLVM optimisation level 2 (``OPT_LEVEL``; numba's default is 3), set
only while the engine compiles them (``kernel_optimisation``, ``compile_for``) and only when
the user has not chosen one (``NUMBA_OPT``): measured back to back, the cold compile took 10%
less time and training ran as fast, with the same bits (docs/hwsim.md, 'Compile time').

Everything compiles with numba's numpy error model: a float division by zero gives inf or
NaN, as numpy does, instead of a check that raises ZeroDivisionError; that check kept
LLVM from vectorising any loop with a division (Adam's update ran 7.7x slower).
A literal argument (a constant such as a counter column) gives a callee a specialisation of
its own; the kernels pass typed values (``np.int64(0)``) where a constant would otherwise
compile a large kernel twice.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from numba import njit
from numba.core import config as numba_config

_NUMPY_ERRORS = {"error_model": "numpy"}
_COMMON = {"_nrt": False, **_NUMPY_ERRORS}
_INTERNAL = {"no_cpython_wrapper": True, "no_cfunc_wrapper": True}

kernel = njit(**_COMMON, **_INTERNAL)
entry = njit(**_COMMON, cache=True)
record_entry = njit(**_NUMPY_ERRORS, cache=True, nogil=True)
inlined = njit(**_COMMON, **_INTERNAL, inline="always")
inlined_entry = njit(**_COMMON, cache=True, inline="always")


#: numba's LLVM optimisation level for the kernels (see the module docstring)
OPT_LEVEL = 2
#: one thread at a time under ``kernel_optimisation`` (re-entrant: the engine nests it), so each
#: restores the level it found
_LEVEL_LOCK = threading.RLock()


@contextmanager
def kernel_optimisation() -> Iterator[None]:
    """numba's optimisation level set to ``OPT_LEVEL`` inside, the one it had restored after;
    left alone if the user set ``NUMBA_OPT``. numba reads the level whenever it builds a pass
    pipeline, so what compiles inside gets it. Only the engine's own thread may enter (its
    worker threads must not: their kernels are compiled before they start, ``compile_for``)."""
    if "NUMBA_OPT" in os.environ:
        yield
        return
    with _LEVEL_LOCK:
        before = numba_config.OPT
        numba_config.OPT = type(before)(OPT_LEVEL)
        try:
            yield
        finally:
            numba_config.OPT = before


def compile_for(dispatcher, *args) -> None:
    """Compile (or load from the disk cache) ``dispatcher``'s specialisation for ``args``,
    typed as a call would type them, under ``kernel_optimisation``: then the call itself, in
    whatever threads, finds it compiled."""
    with kernel_optimisation():
        dispatcher.compile(tuple(dispatcher.typeof_pyval(a) for a in args))
