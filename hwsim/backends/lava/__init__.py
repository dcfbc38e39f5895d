"""The ``lava`` backend: compiled programs deployed as Lava (lava-nc) processes.

Importing this package installs the Python 3.11 compatibility hook (``compat``) and then
imports Lava; without lava-nc installed the import fails with ImportError, which the backend
registry turns into ``BackendUnavailable`` with the install command. docs/lava.md describes
the mapping (core -> process, channel -> port, stage -> Lava time step).
"""

from __future__ import annotations

from hwsim.backends.lava import compat

compat.install()
compat.release_fork_start_method()

from hwsim.backends.lava.backend import RUN_CONFIG, LavaBackend, LavaProcessError  # noqa: E402

__all__ = ["RUN_CONFIG", "LavaBackend", "LavaProcessError"]
