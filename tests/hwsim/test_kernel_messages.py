"""``messages._moved``, delta coding's test of each value against the value last sent, written
without a branch: the same events, in the same order, as the plain rule."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from hwsim.kernels import messages

value = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.just(0.0), st.just(-0.0))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(value, value), min_size=0, max_size=40), st.floats(1e-9, 10.0),
       st.integers(0, 5))
def test_values_that_moved_past_the_threshold_fire_in_order(pairs: list, threshold: float, queued: int) -> None:
    src = np.array([p[0] for p in pairs], dtype=np.float64)
    last = np.array([p[1] for p in pairs], dtype=np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        fire = np.abs(src - last) > threshold  # the rule: moved by more than the threshold
    n = len(pairs)
    fired = np.full(queued + n + 1, -7, np.int64)  # a queue holding `queued` earlier events
    seen = last.copy()
    end = messages._moved(src, seen, fired, queued, n, threshold)
    assert end == queued + int(fire.sum())
    assert fired[queued:end].tolist() == np.flatnonzero(fire).tolist()
    assert (fired[:queued] == -7).all()  # earlier events untouched
    want = np.where(fire, src, last)
    assert np.array_equal(seen, want, equal_nan=True)
    assert np.array_equal(np.signbit(seen), np.signbit(want))  # -0.0 kept where nothing fired
