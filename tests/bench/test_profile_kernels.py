"""bench/profile_kernels.py names the samples of perf's report by kernel and bounds what delta
coding can gain from them."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from collections import Counter  # noqa: E402

from profile_kernels import OUTSIDE, delta_bound, kernel_name, samples  # noqa: E402


def test_kernel_names_from_mangled_symbols() -> None:
    assert kernel_name("_ZN5hwsim7kernels7numeric5axpy4B3v38B36c8tJTIeFIjxB2IKSgI4Crv") == "numeric.axpy4"
    assert kernel_name("_ZN5hwsim7kernels8messages15_deliver_recordB3v98B62c8") == "messages._deliver_record"
    assert kernel_name("__expm1_fma") == "libc.expm1"
    assert kernel_name("__ieee754_exp_fma") == "libc.exp"
    assert kernel_name("exp@GLIBC_2.2.5") == "libc.exp"
    assert kernel_name("_PyEval_EvalFrameDefault") is None
    assert kernel_name("llvm::SUnit::addPred") is None


def test_samples_add_up_by_kernel() -> None:
    report = """# Overhead       Period  Symbol
     5.00%     50000000  [.] _ZN5hwsim7kernels7numeric5axpy4B3v38
     2.50%     25000000  [.] _ZN5hwsim7kernels7numeric5axpy4B3v39
     1.00%     10000000  [.] __expm1_fma
     9.00%     90000000  [.] _PyEval_EvalFrameDefault
"""
    assert samples(report) == {"numeric.axpy4": 75000000, "libc.expm1": 10000000, OUTSIDE: 90000000}


def test_the_delta_bound_scales_only_the_event_kernels_by_their_events() -> None:
    """Synapse time 400 at a quarter of the synaptic ops, message time 100 at half the messages,
    the rest (500, and time outside the kernels, which is left out) as it is: 500 + 100 + 50."""
    profile = Counter({"synapse._group": 300, "synapse._events": 100, "messages.send": 100,
                       "elementwise.run": 400, "libc.expm1": 100, OUTSIDE: 5000})
    text = delta_bound(profile, 10, {"synaptic_ops_effective": 0.25, "messages": 0.5})
    assert "`synapse.*` 40.0% of the kernels' time" in text and "4.00x fewer" in text
    assert "`messages.*` 10.0%" in text and "2.00x fewer" in text
    assert "take 65 ns per sequence-step in the kernels against 100" in text
    assert "at most **1.54x** faster" in text and "no time at all, 2.00x" in text
