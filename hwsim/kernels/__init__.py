"""Numba kernels: run the encoded per-core programs, event by event, counting every operation.

One module per op family of ``compiler.ops`` (each declares ``FAMILY`` and the op kinds it
``IMPLEMENTS``; tests/hwsim/test_kernel_vocabulary.py checks them against the vocabulary):
``elementwise``, ``synapse`` (matvec, sigma-delta), ``lru``, ``learn``, ``output``,
``messages`` (send, deliver, host input), ``apply``. Around them: ``tables`` (the named
records the encoder builds and the engine allocates), ``numeric`` (activations, rounding,
dot products), ``counts`` (counter columns), ``resets`` (sequence and step resets, derived
tables) and ``driver`` (``execute``: the program's phases in order). docs/hwsim.md states
what every counter counts.
"""

from hwsim.kernels.driver import FAMILY_MODULES, execute
from hwsim.kernels.resets import refresh

__all__ = ["FAMILY_MODULES", "execute", "refresh"]
