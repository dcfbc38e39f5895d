"""Ranges instead of points: every constant's low/high carried through to a total or a ratio.

A result here is any function of the cost profiles (a total, a ratio), evaluated once at the
profiles' values, once with each ranged constant alone at its low and at its high end (the
swings of a tornado chart), and once at each corner: every constant at whichever end lowers
the result, then every one at the end that raises it. Every result the reports compute is
monotone in each constant (counts are non-negative, times and powers multiply, a roofline
takes a maximum), so the two corners are its exact extremes over the box of ranges.
Constants derived from the same assumption (Loihi 2's energies all scale Loihi's) move
together at the corners, as they should.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from hwsim.costs import Constant, CostProfile

Profiles = Mapping[str, CostProfile]  # role ("chip", "conventional") -> profile


@dataclass(frozen=True)
class Swing:
    """The result with one constant at its low end and at its high end, the others at their values."""

    profile: str
    key: str
    constant: Constant
    at_low: float
    at_high: float

    @property
    def width(self) -> float:
        return abs(self.at_high - self.at_low)

    def as_dict(self) -> dict[str, Any]:
        return {"constant": f"{self.profile}.{self.key}", "range": self.constant.range_text(),
                "provenance": self.constant.provenance, "at_low": self.at_low, "at_high": self.at_high}


@dataclass(frozen=True)
class Span:
    """A result's value, its extremes over every constant's range, and the swings, widest first."""

    value: float
    low: float
    high: float
    swings: tuple[Swing, ...]

    @property
    def driver(self) -> Swing | None:
        """The constant that moves the result most (None when nothing has a range)."""
        return self.swings[0] if self.swings and self.swings[0].width > 0 else None

    def as_dict(self) -> dict[str, Any]:
        return {"value": self.value, "low": self.low, "high": self.high,
                "tornado": [swing.as_dict() for swing in self.swings if swing.width > 0]}


def span(result: Callable[[Profiles], float], profiles: Profiles) -> Span:
    """``result`` over the ranges of every constant of ``profiles`` (see the module docstring)."""
    value = result(profiles)
    swings: list[Swing] = []
    lowering: dict[str, dict[str, Constant]] = {role: {} for role in profiles}
    raising: dict[str, dict[str, Constant]] = {role: {} for role in profiles}
    for role, profile in profiles.items():
        for key in profile.ranged():
            constant = profile.constant(key)
            low_end, high_end = constant.at("low"), constant.at("high")
            at_low = result({**profiles, role: profile.with_constants({key: low_end})})
            at_high = result({**profiles, role: profile.with_constants({key: high_end})})
            swings.append(Swing(profile.name, key, constant, at_low, at_high))
            lowering[role][key], raising[role][key] = (low_end, high_end) if at_low <= at_high else (high_end, low_end)
    low = result({role: profile.with_constants(lowering[role]) for role, profile in profiles.items()})
    high = result({role: profile.with_constants(raising[role]) for role, profile in profiles.items()})
    swings.sort(key=lambda swing: swing.width, reverse=True)
    return Span(value, min(low, value), max(high, value), tuple(swings))


def range_text(item: Span, unit: str = "x", digits: int = 3) -> str:
    """``0.99x (0.31x-2.1x)``."""
    return f"{item.value:.{digits}g}{unit} ({item.low:.{digits}g}{unit}-{item.high:.{digits}g}{unit})"
