from __future__ import annotations

import numpy as np
import pytest

from neuropc.tasks import CopyTask, CopyTaskSpec, ScoreTotals, SequenceBatch


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


def test_held_out_is_the_evaluation_stream_of_before_the_registry():
    """Sequences of [seed, 2] (EVAL_STREAM), so held-out results are those of earlier runs."""
    task = CopyTask(CopyTaskSpec(length=3, delay=2, vocab=4))
    held_out = task.held_out(7, 16)
    expected = task.sample(np.random.default_rng([7, 2]), 16)
    for got, want in zip((held_out.inputs, held_out.targets, held_out.mask),
                         (expected.inputs, expected.targets, expected.mask), strict=True):
        np.testing.assert_array_equal(got, want)
    training = task.sample(np.random.default_rng([7, 1]), 16)
    assert not np.array_equal(held_out.inputs, training.inputs)


def test_scores_summed_over_chunks_equal_scoring_the_whole_batch():
    task = CopyTask(CopyTaskSpec(length=5, delay=3, vocab=4))
    batch = task.sample(np.random.default_rng(3), 24)
    rng = np.random.default_rng(4)
    outputs = rng.normal(size=(*batch.targets.shape, 4))
    outputs[-2:, :12] = 5.0 * np.eye(4)[batch.targets[-2:, :12]]  # some recalls right for sure
    whole = task.finish(task.score(outputs, batch), batch.loss_steps())
    totals = ScoreTotals(task)
    for start in range(0, 24, 8):
        chunk = SequenceBatch(batch.inputs[:, start:start + 8], batch.targets[:, start:start + 8],
                              batch.mask[:, start:start + 8])
        totals.add(outputs[:, start:start + 8], chunk)
    assert totals.finish(batch.loss_steps()) == whole
    # the recall accuracy as it was computed before tasks scored themselves
    before = float(((outputs.argmax(axis=-1) == batch.targets) * batch.mask).sum() / batch.loss_steps())
    assert whole == {"accuracy": before}
    assert 24 / 120 <= before < 1.0


def test_copy_names_its_metric_and_describes_itself():
    task = CopyTask(CopyTaskSpec(length=10, delay=10, vocab=9))
    (metric,) = task.metrics
    assert (metric.key, metric.column, metric.label) == ("accuracy", "eval_accuracy", "recall accuracy")
    assert metric.headline and metric.higher_is_better and metric.chance == pytest.approx(1 / 9)
    assert task.describe() == "copy 10 digits (1..9), delay 10, 30 steps per sequence"


@pytest.mark.parametrize("steps", [3, 4, 25, 1000])
def test_resized_copy_task_has_exactly_the_steps_asked(steps: int):
    spec = CopyTaskSpec(length=10, delay=10, vocab=9).resized(steps)
    assert CopyTask(spec).sequence_length == steps and spec.vocab == 9
    assert spec.length == min(10, (steps - 1) // 2)


def test_too_short_a_copy_sequence_is_refused():
    with pytest.raises(ValueError, match="at least 3 steps"):
        CopyTaskSpec().resized(2)
