"""Number formats of the simulator: float64, float32, and fixed point at the chip's bit widths.

Fixed point (``fixed``): every buffer of every core has the width of its kind in the target's
resource table (``Buffer.bits``: weights, traces, accumulators, optimizer moments, parameters,
neuron state) and a binary point chosen per buffer group by one rule (``fractional_bits``):

    integer bits I = ceil(log2(max |value|)) + 1,   fractional bits f = bits - 1 - I

where ``max |value|`` is the largest magnitude the group reaches in a float64 calibration run
(``hwsim.runner.calibration_maxima``): by default the float64 twin of the run itself (the
same training sequences and updates), so the range covers what the values grow to during
training, with one bit of headroom; optionally a short run of N sequences on a separate
random stream. A group (``group_key``) is every buffer bound to the same global array -- all
slices of a layer, the re and im parts, and a weight's feedback copy together with its
primary, so copies stay bit-identical -- or, for an unbound register or inbox, one buffer
name in one layer. f may exceed the width or be negative: the grid is then a scaled integer,
as with Loihi's per-synapse-group weight exponent. A group that stayed 0 gets I = 0.

A value is stored as round(v * 2^f) / 2^f, rounded to nearest with ties to even (IEEE
``rint``), then saturated to the two's complement range [-2^(bits-1), 2^(bits-1) - 1] of grid
steps. Rounding happens whenever a value is stored: after every op, on every delivered
message, on host inputs. Arithmetic inside one op is exact (float64) and rounded once when
the result is stored, like a fixed-point datapath with wide intermediate registers; the
hidden sigma-delta accumulators of the matvecs are such registers (products of grid values
are exact in float64 at these widths). exp, log, tanh are evaluated exactly (a chip would use
lookup tables; their error is not modelled).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from compiler.program import Buffer

NUMBER_FORMATS = ("float64", "float32", "fixed")
ROUNDING = "round to nearest, ties to even; saturate at the two's complement range"


@dataclass(frozen=True)
class FixedFormat:
    """``bits`` wide two's complement with ``frac`` fractional bits."""

    bits: int
    frac: int

    def __post_init__(self) -> None:
        if self.bits < 2:
            raise ValueError(f"a fixed-point format needs at least 2 bits, got {self.bits}")

    @property
    def scale(self) -> float:
        return math.ldexp(1.0, self.frac)

    @property
    def step(self) -> float:
        return math.ldexp(1.0, -self.frac)

    @property
    def lo(self) -> int:
        """Smallest representable value in grid steps."""
        return -(1 << (self.bits - 1))

    @property
    def hi(self) -> int:
        return (1 << (self.bits - 1)) - 1

    @property
    def max_value(self) -> float:
        return self.hi * self.step

    @property
    def min_value(self) -> float:
        return self.lo * self.step


def group_key(layer: str, buffer: Buffer) -> tuple[str, str, str]:
    """The format group of a buffer of a core of ``layer`` (see the module docstring)."""
    b = buffer.binding
    if b is None:
        return ("local", layer, buffer.name)
    return (b.space, b.name, "" if b.layer is None else str(b.layer))


def fractional_bits(bits: int, max_abs: float) -> int:
    """The rule above: leave one integer bit of headroom over the largest magnitude seen."""
    if not np.isfinite(max_abs):
        raise ValueError(f"cannot choose a fixed-point range for a value of {max_abs}")
    integer = math.ceil(math.log2(max_abs)) + 1 if max_abs > 0 else 0
    return bits - 1 - integer


def quantize(values: np.ndarray | float, fmt: FixedFormat) -> np.ndarray:
    """Round to the format's grid (ties to even) and saturate; numpy twin of the kernel's."""
    steps = np.clip(np.rint(np.asarray(values, dtype=np.float64) * fmt.scale), fmt.lo, fmt.hi)
    return steps / fmt.scale
