"""neuropc: local learning (tPC-RTRL) for recurrent networks, compiled for neuromorphic chips.

``import neuropc`` gives the front door of ``neuropc.api`` (load or build a spec, train,
compile, simulate on a backend, price the run), imported on first use so that the spec and
reference layers stay importable without the compiler and the simulator.
"""

from __future__ import annotations

from typing import Any

from neuropc.version import __version__ as __version__

_API = ("Artifact", "EnergyReport", "NetworkSpec", "SimulationResult", "TrainResult", "backends",
        "build_spec", "compile", "load_source", "load_spec", "price", "render", "simulate", "train")


def __getattr__(name: str) -> Any:
    if name in _API:
        from neuropc import api

        return getattr(api, name)
    raise AttributeError(f"module 'neuropc' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_API])
