from __future__ import annotations

import numpy as np

from neuropc.tasks import CopyTask, CopyTaskSpec


def test_layout_of_a_copy_sequence():
    task = CopyTask(CopyTaskSpec(length=4, delay=3, vocab=5))
    batch = task.sample(np.random.default_rng(0), 8)
    assert batch.inputs.shape == (11, 8, 7) and batch.targets.shape == (11, 8)
    symbols = batch.inputs.argmax(axis=-1)
    assert np.all(batch.inputs.sum(axis=-1) == 1.0)  # one-hot everywhere
    digits = symbols[:4]
    assert digits.min() >= 1 and digits.max() <= 5
    assert np.all(symbols[4:6] == 0) and np.all(symbols[6] == 6)  # blanks, then go marker
    assert np.all(symbols[7:] == 0)
    np.testing.assert_array_equal(batch.targets[7:], digits - 1)
    np.testing.assert_array_equal(batch.mask[:7], 0.0)
    np.testing.assert_array_equal(batch.mask[7:], 1.0)
    assert batch.loss_steps() == 4 * 8


def test_same_seed_same_sequences_other_seed_others():
    task = CopyTask(CopyTaskSpec(length=10, delay=10, vocab=9))
    a = task.sample(np.random.default_rng(5), 16)
    b = task.sample(np.random.default_rng(5), 16)
    c = task.sample(np.random.default_rng(6), 16)
    np.testing.assert_array_equal(a.inputs, b.inputs)
    assert not np.array_equal(a.inputs, c.inputs)


def test_paper_setting_has_seventy_steps():
    task = CopyTask(CopyTaskSpec(length=30, delay=10, vocab=9))
    assert task.sequence_length == 70
