"""How every kernel is compiled, written once.

- ``kernel``: called only by other kernels. It has no Python entry point
  (``no_cpython_wrapper``, ``no_cfunc_wrapper``): a wrapper would unbox every array of the
  tables, state and scratch records a kernel takes, and numba compiles it and links it into
  the module of every caller, where it is optimised again at each level of the call tree.
  It is not cached on disk either: nothing calls it from Python, and the cached machine code
  of an entry point holds everything the entry point calls.
- ``entry``: called from Python as well, cached on disk (the engine's ``execute`` and
  ``refresh``, and the small numeric helpers the tests hold against numpy).
- ``parallel_kernel``: a ``kernel`` whose ``prange`` loops share their iterations over
  numba's threads.
- ``inlined``: a small ``kernel`` of the driver whose body numba copies into its caller
  (numba IR inlining), so the op-family kernels are linked and optimised once more in
  ``execute`` instead of once more at every level of the driver.

The kernels take their records by reference (``records.Record``, a StructRef), so they run
with numba's reference counting on: a record's fields are read through it.

A literal argument (a constant such as a counter column) gives a callee a specialisation of
its own; the kernels pass typed values (``np.int64(0)``) where a constant would otherwise
compile a large kernel twice.
"""

from __future__ import annotations

from numba import njit

_COMMON: dict[str, bool] = {}
_INTERNAL = {"no_cpython_wrapper": True, "no_cfunc_wrapper": True}

kernel = njit(**_COMMON, **_INTERNAL)
entry = njit(**_COMMON, cache=True)
parallel_kernel = njit(**_COMMON, **_INTERNAL, parallel=True)
inlined = njit(**_COMMON, **_INTERNAL, inline="always")
