"""Placement: map logical cores onto physical cores of a mesh of chips, and route channels.

Geometry: chips form a near-square grid; each chip is a ``mesh_rows x mesh_cols`` mesh of
cores, and chip-to-chip links extend the mesh, so a message from global mesh position
(x1, y1) to (x2, y2) travels |x1-x2| + |y1-y2| hops under dimension-ordered (XY) routing and
crosses |cx1-cx2| + |cy1-cy2| chip boundaries. (Extending the mesh across chips is how Loihi
and SpiNNaker boards connect; per-hop costs of chip links differ and are the cost model's
business, so crossings are counted separately.)

Algorithm (greedy constructive placement): order cores by traffic, starting from the
busiest and then always taking the unplaced core that exchanges the most messages with the
cores already placed; put each on the free physical core that minimises the traffic-weighted
hop distance to its placed neighbours. The cost of every free core is evaluated at once
because Manhattan distance separates into x and y terms, each a weighted sum of absolute
differences computed with prefix sums in O(mesh width). The naive baseline fills cores in
logical order, row by row and chip by chip; a seeded random placement is reported too. The
placement with the lower hop count of greedy and naive is kept, so placing never makes
traffic worse than the naive fill.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from compiler.program import HOST, Op, Program
from compiler.targets import ResourceTable

STEP_PHASES = ("predict", "infer", "backprop", "learn", "advance")


def step_sends(program: Program) -> Iterator[tuple[str, Op, int]]:
    """Every send op of a time step with its phase and how often that phase runs (K for infer)."""
    repeat = {p.name: p.repeat for p in program.phases}
    for core in program.cores:
        for phase, ops in core.phases.items():
            if phase in STEP_PHASES:
                for op in ops:
                    if op.kind == "send":
                        yield phase, op, repeat[phase]


def sends_per_step(program: Program) -> np.ndarray:
    """How often each channel is sent in one time step (infer counts K times)."""
    count = np.zeros(len(program.channels), dtype=np.int64)
    count[program.channels.src == HOST] = 1
    for _, op, repeat in step_sends(program):
        np.add.at(count, op.channel_ids(), repeat)
    return count


@dataclass
class Geometry:
    """Physical slots (one per core of every allocated chip) and their coordinates."""

    chips: int
    chip_grid: tuple[int, int]  # chips along x, along y
    rows: int
    cols: int
    x: np.ndarray  # global mesh x of every slot
    y: np.ndarray
    chip: np.ndarray  # chip of every slot
    chip_x: np.ndarray
    chip_y: np.ndarray

    @classmethod
    def for_cores(cls, cores: int, table: ResourceTable) -> Geometry:
        per_chip = table.cores_per_chip
        chips = max(1, -(-cores // per_chip))
        gx = math.ceil(math.sqrt(chips))
        gy = -(-chips // gx)
        rows, cols = table["mesh_rows"], table["mesh_cols"]
        slot = np.arange(chips * per_chip)
        chip, local = np.divmod(slot, per_chip)
        r, c = np.divmod(local, cols)
        cx, cy = chip % gx, chip // gx
        return cls(chips, (gx, gy), rows, cols, cx * cols + c, cy * rows + r, chip, cx, cy)

    @property
    def slots(self) -> int:
        return int(self.x.shape[0])


@dataclass
class Placement:
    """Where every logical core sits and what its routes cost."""

    algorithm: str
    geometry: Geometry
    slot: np.ndarray  # physical slot of every logical core
    hops: np.ndarray  # per channel (0 for host channels)
    crossings: np.ndarray  # chip boundaries crossed, per channel
    messages: np.ndarray  # per channel per step, per lane
    cost: dict[str, dict[str, int]] = field(default_factory=dict)  # per algorithm

    def to_dict(self) -> dict:
        g = self.geometry
        return {"algorithm": self.algorithm, "chips": g.chips, "chip_grid": list(g.chip_grid),
                "mesh": [g.rows, g.cols], "routing": "xy", "comparison": self.cost}


def _routes(geo: Geometry, slot: np.ndarray, program: Program) -> tuple[np.ndarray, np.ndarray]:
    ch = program.channels
    inner = ch.src != HOST
    s = slot[np.where(inner, ch.src, 0)]
    d = slot[ch.dst]
    hops = np.abs(geo.x[s] - geo.x[d]) + np.abs(geo.y[s] - geo.y[d])
    cross = np.abs(geo.chip_x[s] - geo.chip_x[d]) + np.abs(geo.chip_y[s] - geo.chip_y[d])
    return np.where(inner, hops, 0), np.where(inner, cross, 0)


def _traffic_pairs(program: Program, messages: np.ndarray) -> tuple[np.ndarray, ...]:
    """Symmetric core-to-core message weights as CSR arrays (indptr, neighbour, weight)."""
    ch = program.channels
    n = len(program.cores)
    inner = ch.src != HOST
    a, b = ch.src[inner].astype(np.int64), ch.dst[inner].astype(np.int64)
    w = messages[inner].astype(np.float64)
    a, b = np.concatenate([a, b]), np.concatenate([b, a])
    w = np.concatenate([w, w])
    key = a * n + b
    uniq, inv = np.unique(key, return_inverse=True)
    weight = np.bincount(inv, weights=w)
    src, nbr = np.divmod(uniq, n)
    indptr = np.searchsorted(src, np.arange(n + 1))
    return indptr, nbr, weight


def _abs_cost(hist: np.ndarray) -> np.ndarray:
    """f(X) = sum_x hist[x] * |X - x| for every X, in O(len(hist))."""
    pos = np.arange(hist.shape[0], dtype=np.float64)
    cw = np.cumsum(hist)
    cxw = np.cumsum(hist * pos)
    return pos * cw - cxw + (cxw[-1] - cxw) - pos * (cw[-1] - cw)


def greedy(program: Program, geo: Geometry, messages: np.ndarray) -> np.ndarray:
    """Traffic-ordered greedy placement; returns the slot of every logical core."""
    n = len(program.cores)
    indptr, nbr, weight = _traffic_pairs(program, messages)
    total = np.bincount(np.repeat(np.arange(n), np.diff(indptr)), weights=weight, minlength=n)
    width, height = int(geo.x.max()) + 1, int(geo.y.max()) + 1
    slot = np.full(n, -1, dtype=np.int64)
    free = np.ones(geo.slots, dtype=bool)
    conn = np.zeros(n)
    placed = np.zeros(n, dtype=bool)
    # start in the middle of the allocated slots so the cluster can grow every way
    centre = np.argmin(np.abs(geo.x - geo.x.mean()) + np.abs(geo.y - geo.y.mean()))
    for step in range(n):
        score = np.where(placed, -1.0, conn)
        core = int(np.argmax(score)) if score.max() > 0 else int(
            np.argmax(np.where(placed, -1.0, total)))
        lo, hi = indptr[core], indptr[core + 1]
        nb, w = nbr[lo:hi], weight[lo:hi]
        done = placed[nb]
        if step == 0 or not done.any():
            cost = np.abs(geo.x - geo.x[centre]) + np.abs(geo.y - geo.y[centre])
            cost = cost.astype(np.float64)
        else:
            px, py, pw = geo.x[slot[nb[done]]], geo.y[slot[nb[done]]], w[done]
            fx = _abs_cost(np.bincount(px, weights=pw, minlength=width))
            fy = _abs_cost(np.bincount(py, weights=pw, minlength=height))
            cost = fx[geo.x] + fy[geo.y]
        cost[~free] = np.inf
        target = int(np.argmin(cost))
        slot[core] = target
        free[target] = False
        placed[core] = True
        conn[nb] += w
    return slot


def _summary(geo: Geometry, slot: np.ndarray, program: Program,
             messages: np.ndarray) -> dict[str, int]:
    hops, cross = _routes(geo, slot, program)
    return {"hop_messages": int((hops * messages).sum()),
            "chip_crossings": int((cross * messages).sum())}


def place(program: Program, table: ResourceTable, seed: int = 0) -> Placement:
    """Place every core, compare with naive and random placement, route every channel."""
    n = len(program.cores)
    geo = Geometry.for_cores(n, table)
    messages = sends_per_step(program) * program.channels.length.astype(np.int64)
    candidates = {
        "greedy": greedy(program, geo, messages),
        "sequential": np.arange(n, dtype=np.int64),
        "random": np.random.default_rng(seed).permutation(geo.slots)[:n].astype(np.int64),
    }
    cost = {name: _summary(geo, s, program, messages) for name, s in candidates.items()}
    chosen = min(("greedy", "sequential"), key=lambda k: (cost[k]["hop_messages"], k))
    slot = candidates[chosen]
    hops, cross = _routes(geo, slot, program)
    return Placement(chosen, geo, slot, hops, cross, messages, cost)
