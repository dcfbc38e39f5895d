"""Train a spec with the numpy reference: the loop behind ``neuropc train``.

Evaluation uses the task's held-out split (for generated tasks a random stream of its own), so
training batches never repeat it, and the same spec and seed give the same run.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from neuropc.errors import NeuropcError
from neuropc.reference.forward import evaluate
from neuropc.reference.network import Architecture, Params, params_from_spec
from neuropc.reference.optim import Optimizer
from neuropc.reference.rules import train_on_batch
from neuropc.run_files import RunDirectory
from neuropc.spec.schema import NetworkSpec
from neuropc.tasks import task_from_spec
from neuropc.tasks.base import SequenceBatch

TRAIN_STREAM = 1  # random stream of training batches (held-out data: the task's held_out)


@dataclass
class TrainResult:
    params: Params
    metrics: list[dict] = field(default_factory=list)
    wall_time: float = 0.0

    @property
    def final(self) -> dict:
        return self.metrics[-1]


ProgressCallback = Callable[[int, float, dict | None], None]


def run_loop(spec: NetworkSpec, train_step: Callable[[SequenceBatch], float],
             evaluate_now: Callable[[int], tuple[float, Mapping[str, float]]],
             run_dir: RunDirectory | None = None,
             on_step: ProgressCallback | None = None) -> tuple[list[dict], float]:
    """The training loop every backend shares: same batches, same held-out evaluations, same rows.

    ``train_step(batch)`` learns from one batch and returns its mean loss; ``evaluate_now(step)``
    returns (held-out loss, the task's metric values by ``Metric.key``). A row holds step,
    train_loss, eval_loss, ``eval_<key>`` for each of the task's metrics and elapsed_s.
    Returns the rows and the wall time. The numpy reference and hwsim both run through here,
    so their metrics are comparable row by row.
    """
    task = task_from_spec(spec.task)
    train_rng = np.random.default_rng([spec.run.seed, TRAIN_STREAM])
    if run_dir is not None:
        run_dir.write_spec(spec)
    metrics: list[dict] = []
    started = time.perf_counter()
    interval_losses: list[float] = []

    def record(step: int) -> dict:
        loss, values = evaluate_now(step)
        row = {
            "step": step,
            "train_loss": float(np.mean(interval_losses)) if interval_losses else None,
            "eval_loss": loss,
            **{metric.column: values.get(metric.key) for metric in task.metrics},
            "elapsed_s": round(time.perf_counter() - started, 3),
        }
        interval_losses.clear()
        metrics.append(row)
        if run_dir is not None:
            run_dir.append_metrics(row)
        return row

    first = record(0)
    if on_step is not None:
        on_step(0, float("nan"), first)
    for step in range(1, spec.run.steps + 1):
        loss = train_step(task.sample(train_rng, spec.run.batch))
        if not np.isfinite(loss):
            raise NeuropcError(f"training diverged: the loss became {loss} at step {step}; "
                               "lower rule.optimizer.lr (or the event threshold / number format)")
        interval_losses.append(loss)
        row = None
        if step % spec.run.eval_every == 0 or step == spec.run.steps:
            row = record(step)
        if on_step is not None:
            on_step(step, loss, row)
    return metrics, time.perf_counter() - started


def held_out_batch(spec: NetworkSpec) -> SequenceBatch:
    """The evaluation sequences: the task's held-out split, never drawn for training."""
    return task_from_spec(spec.task).held_out(spec.run.seed, spec.run.eval_sequences)


def train(spec: NetworkSpec, run_dir: RunDirectory | None = None,
          on_step: ProgressCallback | None = None) -> TrainResult:
    """Train for ``spec.run.steps`` batches with the numpy reference, evaluating every
    ``eval_every`` and at the end."""
    arch = Architecture.from_spec(spec)
    params = params_from_spec(spec)
    optimizer = Optimizer(spec.rule.optimizer)
    task = task_from_spec(spec.task)
    held_out = held_out_batch(spec)

    def evaluate_now(step: int) -> tuple[float, dict[str, float]]:
        evaluation = evaluate(arch, params, held_out, task)
        return evaluation.loss, evaluation.metrics

    metrics, wall_time = run_loop(
        spec, lambda batch: train_on_batch(arch, spec.rule, params, batch, optimizer), evaluate_now,
        run_dir, on_step)
    result = TrainResult(params, metrics, wall_time)
    if run_dir is not None:
        run_dir.write_checkpoint(spec, params, optimizer, spec.run.steps)
        run_dir.write_curve(result.metrics, task.metrics)
        run_dir.write_summary({"wall_time_s": round(result.wall_time, 3), **result.final})
    return result


def describe(spec: NetworkSpec) -> str:
    """The summary ``neuropc check`` prints: layers with parameter counts, rule, task."""
    arch = Architecture.from_spec(spec)
    counts = arch.parameter_count()
    kind = "complex" if arch.complex else "real"
    lines = [f"spec '{spec.name}' is valid", "", "layer        shape                          parameters"]
    shapes = {"lru": f"LRU {kind}, {arch.inputs} -> {arch.state} (gamma {spec.recurrent.gamma})"}
    sizes = arch.readout_sizes
    for layer in range(arch.readout_layers):
        act = spec.readout.activation if layer < arch.readout_layers - 1 else "output"
        shapes[f"readout{layer}"] = f"dense {sizes[layer]} -> {sizes[layer + 1]} ({act})"
    for name, count in counts.items():
        lines.append(f"{name:<12} {shapes[name]:<30} {count:>10,}")
    lines.append(f"{'total':<12} {'':<30} {sum(counts.values()):>10,}")
    rule = spec.rule
    lines += ["", f"rule: {rule.name}, update {rule.update}, optimizer {rule.optimizer.name} "
                  f"(lr {rule.optimizer.lr})"]
    if rule.uses_inference:
        inf = rule.inference
        lines.append(f"      inference K={inf.iterations}, step {inf.step}, fixed prediction "
                     f"{'on' if inf.fixed_prediction else 'off'}, carry {rule.carry}")
    lines.append(f"task: {task_from_spec(spec.task).describe()}")
    lines.append(f"run:  {spec.run.steps} steps, batch {spec.run.batch}, seed {spec.run.seed}")
    if spec.hardware is not None:
        lines.append(f"hardware: target {spec.hardware.target}, event threshold "
                     f"{spec.hardware.event_threshold}")
    return "\n".join(lines)


def load_metrics(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
