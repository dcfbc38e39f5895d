"""Comparing physical quantities in SI units.

``pytest.approx`` adds an absolute tolerance of 1e-12 to its relative one, so in joules it
passes any energy of about a picojoule or less whatever its value: a per-op energy off by 50%
would still compare equal. ``close`` is relative only.
"""

from __future__ import annotations

import pytest


def close(expected, rel: float = 1e-6):
    """``expected`` within a relative tolerance ``rel`` and no absolute one (0 must be 0)."""
    return pytest.approx(expected, rel=rel, abs=0)
