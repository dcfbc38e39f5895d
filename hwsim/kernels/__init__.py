"""Numba kernels: run the encoded per-core programs, event by event, counting every operation.

One module per op family of ``compiler.ops`` (each declares ``FAMILY`` and the op kinds it
``IMPLEMENTS``; tests/hwsim/test_kernel_vocabulary.py checks them against the vocabulary):
``elementwise``, ``synapse`` (matvec, sigma-delta), ``lru``, ``learn``, ``output``,
``messages`` (send, deliver, host input), ``apply``. Around them: ``tables`` (the named
records the encoder builds and the engine allocates), ``numeric`` (activations, rounding,
vector updates), ``counts`` (counter columns), ``resets`` (sequence and step resets, derived
tables) and ``driver`` (``execute``: the program's phases in order). docs/hwsim.md states
what every counter counts.

How a kernel is compiled is written once, in ``jit`` (no Python entry point for the kernels
only other kernels call; only the entry points cached on disk, since their cached machine code
holds everything they call); the kernels take their records by reference (``records``).
docs/hwsim.md, 'Compile time', says what each choice saved.

Numba's on-disk cache (``cache=True``) is invalidated only when a function's own file
changes, not when a function it calls in another file does, so after an edit of, say,
``lru.py`` the cached ``driver.execute`` would still run the old LRU code. Before the
kernels are imported, ``_drop_stale_cache`` therefore empties the package's cache whenever
any of its sources changed (one recompile, as when the kernels were a single file).
"""

from __future__ import annotations

import hashlib
from pathlib import Path


def _drop_stale_cache() -> None:
    here = Path(__file__).resolve().parent
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in sorted(here.glob("*.py")))).hexdigest()
    cache = here / "__pycache__"
    stamp = cache / "kernel-sources.sha256"
    try:
        if stamp.exists() and stamp.read_text() == digest:
            return
        for path in cache.glob("*.nb[ic]"):
            path.unlink(missing_ok=True)
        cache.mkdir(exist_ok=True)
        stamp.write_text(digest)
    except OSError:  # a read-only install: numba then does not cache either
        pass


_drop_stale_cache()

from hwsim.kernels.driver import FAMILY_MODULES, execute  # noqa: E402
from hwsim.kernels.resets import refresh  # noqa: E402

__all__ = ["FAMILY_MODULES", "execute", "refresh"]
