"""Hops split by direction and chip crossings in the placement's proportions, and priced apart."""

from __future__ import annotations

import numpy as np

from hwsim.costs import load_profile
from hwsim.counters import WorkCounts
from hwsim.energy import neuromorphic_energy
from hwsim.routes import route_split
from tests.approx import close


def test_the_split_weights_each_channels_route_by_its_messages():
    # cores 0 (0, 1), 1 (2, 1), 2 (2, 0); channels host->0 (no hops), 0->1 x3 messages, 1->2 x1,
    # 0->2 x1, 2->0 x2
    x, y = np.array([0, 2, 2]), np.array([1, 1, 0])
    src, dst = np.array([-1, 0, 1, 0, 2]), np.array([0, 1, 2, 2, 0])
    messages = np.array([5, 3, 1, 1, 2])
    crossings = np.array([0, 1, 0, 1, 1])
    split = route_split(messages, src, dst, x, y, crossings)
    # east-west: 3 x 2 + 1 x 2 + 2 x 2 = 12; north-south: 1 x 1 + 1 x 1 + 2 x 1 = 4; crossings
    # 3 + 1 + 2 = 6 per 16 hops
    assert (split.east_west, split.north_south, split.crossings) == (close(0.75), close(0.25),
                                                                       close(0.375))
    assert route_split(np.array([1]), np.array([-1]), np.array([0]), x, y, np.array([0])) is None


def test_split_hops_are_priced_at_their_own_direction():
    counts = WorkCounts(hops=100)
    loihi = load_profile("loihi")
    split = neuromorphic_energy(counts, loihi, east_west=0.25)
    hops = {line.label: (line.count, line.joules) for line in split.lines if line.kind == "hops"}
    assert hops == {"hops east-west": (25, close(25 * 3.0e-12)),
                    "hops north-south": (75, close(75 * 4.0e-12))}
    mean = neuromorphic_energy(counts, loihi)
    assert [line.label for line in mean.lines if line.kind == "hops"] == ["network-on-chip hops"]
