"""Which way the counted hops went: east-west, north-south, and across chip boundaries.

hwsim counts hops per message without a direction. The placement knows every channel's route
(XY routing between the cores' mesh coordinates, and the chip boundaries it crosses), and the
program how often each channel sends per step. The split of the hop count is taken in those
proportions: exact for a dense run (every channel sends every time), an approximation for a
delta-coded one (it assumes every channel is equally sparse).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from compiler.artifact import Artifact


@dataclass(frozen=True)
class RouteSplit:
    """Fractions of hop-messages: east-west and north-south (summing to 1), and chip crossings."""

    east_west: float
    north_south: float
    crossings: float  # chip boundaries crossed per hop

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def route_split(messages: np.ndarray, src: np.ndarray, dst: np.ndarray, x: np.ndarray, y: np.ndarray,
                crossings: np.ndarray) -> RouteSplit | None:
    """The split from per-channel messages, endpoints (core ids, negative for the host), core
    coordinates and per-channel chip crossings. None when no message crosses a link."""
    inner = (src >= 0) & (dst >= 0)
    weight = messages[inner].astype(np.float64)
    east_west = float((weight * np.abs(x[src[inner]] - x[dst[inner]])).sum())
    north_south = float((weight * np.abs(y[src[inner]] - y[dst[inner]])).sum())
    total = east_west + north_south
    if total == 0:
        return None
    return RouteSplit(east_west / total, north_south / total, float((weight * crossings[inner]).sum()) / total)


def artifact_route_split(artifact: Artifact) -> RouteSplit | None:
    """The split for a compiled program (per-channel sends per step x values per send)."""
    from compiler.placement import sends_per_step

    program, arrays = artifact.program, artifact.placement_arrays
    channels = program.channels
    messages = sends_per_step(program) * channels.length.astype(np.int64)
    return route_split(messages, channels.src, channels.dst, arrays["x"], arrays["y"], arrays["crossings"])
