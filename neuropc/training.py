"""Train a spec with the numpy reference: the loop behind ``neuropc train``.

Evaluation uses the task's held-out split (for generated tasks a random stream of its own), so
training batches never repeat it, and the same spec and seed give the same run.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from neuropc.errors import NeuropcError, RunStopped
from neuropc.reference.filtering import filtering_errors
from neuropc.reference.forward import evaluate
from neuropc.reference.network import Architecture, Params, params_from_spec
from neuropc.reference.optim import Optimizer
from neuropc.reference.rules import Carry, train_on_batch
from neuropc.run_files import Checkpoint, LoopState, RunDirectory
from neuropc.spec.schema import NetworkSpec
from neuropc.tasks import task_from_spec
from neuropc.tasks.base import SequenceBatch, test_batch
from neuropc.tasks.sysid import SysIdTask

TRAIN_STREAM = 1  # random stream of training batches (held-out data: the task's held_out)


@dataclass
class TrainResult:
    params: Params
    metrics: list[dict] = field(default_factory=list)
    wall_time: float = 0.0
    test: dict[str, float] | None = None  # loss and metrics on the task's test split, if it has one

    @property
    def final(self) -> dict:
        return self.metrics[-1]


ProgressCallback = Callable[[int, float, dict | None], None]
#: writes a checkpoint of the trainer's state (parameters, optimizer, counts) with the loop's
SaveCallback = Callable[[LoopState], None]


class DivergenceGuard:
    """Stops a run whose loss is not finite, or stays far above where it started.

    An optimizer step that is too large (Adam at lr 10) can make the loss climb thousands of
    times over while the run goes on for hours and looks healthy from outside. The starting
    value is the mean of the first ``WARMUP`` batch losses; a loss above ``FACTOR`` times
    that for ``PATIENCE`` batches in a row is divergence (a single spike is not). Its memory
    goes into checkpoints so a resumed run judges exactly as an uninterrupted one.
    """

    WARMUP = 5
    FACTOR = 100.0
    PATIENCE = 20

    def __init__(self, state: Mapping[str, Any] | None = None) -> None:
        state = dict(state or {})
        self.warmup: list[float] = [float(x) for x in state.get("warmup", [])]
        self.reference: float | None = state.get("reference")
        self.above = int(state.get("above", 0))

    def state(self) -> dict[str, Any]:
        return {"warmup": self.warmup, "reference": self.reference, "above": self.above}

    @property
    def rising(self) -> bool:
        """Whether the loss is above the limit now (a checkpoint now would not be good)."""
        return self.above > 0

    def check(self, step: int, loss: float) -> str | None:
        """Why the run must stop after this batch's loss (None: it may go on)."""
        if not math.isfinite(loss):
            return f"the loss became {loss} at step {step}"
        if self.reference is None:
            self.warmup.append(loss)
            if len(self.warmup) == self.WARMUP:
                self.reference = float(np.mean(self.warmup))
            return None
        limit = self.FACTOR * self.reference
        self.above = self.above + 1 if loss > limit > 0 else 0
        if self.above >= self.PATIENCE:
            return (f"the loss stayed above {self.FACTOR:g}x its starting value {self.reference:.4g} "
                    f"for {self.PATIENCE} steps (now {loss:.4g} at step {step})")
        return None


def _quietly() -> np.errstate:
    """Overflow and invalid values are what the divergence guard judges; numpy's warnings
    about them would only print a screenful before its one-line message."""
    return np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore")


def run_loop(spec: NetworkSpec, train_step: Callable[[SequenceBatch], float],
             evaluate_now: Callable[[int], tuple[float, Mapping[str, float]]],
             run_dir: RunDirectory | None = None,
             on_step: ProgressCallback | None = None, *, save: SaveCallback | None = None,
             resume: LoopState | None = None, stop: Callable[[], bool] | None = None,
             command: str = "neuropc train",
             advice: str = "lower rule.optimizer.lr") -> tuple[list[dict], float]:
    """The training loop every backend shares: same batches, same held-out evaluations, same rows.

    ``train_step(batch)`` learns from one batch and returns its mean loss; ``evaluate_now(step)``
    returns (held-out loss, the task's metric values by ``Metric.key``, plus any measurements
    of its own). A row holds step, train_loss, eval_loss, ``eval_<key>`` for each of the
    task's metrics and each extra measurement, and elapsed_s.
    Returns the rows and the wall time. The numpy reference and hwsim both run through here,
    so their metrics are comparable row by row.

    ``save(state)`` writes a checkpoint: every ``run.checkpoint_every`` steps, and when
    ``stop()`` turns true (a signal) before the run raises RunStopped saying how to resume.
    ``resume``: the loop state of a checkpoint to continue from (its rows included). A loss
    the DivergenceGuard rejects raises RunStopped naming the step, with ``advice``; the last
    checkpoint written stays as it is.
    """
    task = task_from_spec(spec.task)
    if resume is not None and task.carries_state:
        raise NeuropcError(f"--resume cannot continue a {spec.task.name} run yet: its streams' position and "
                           "the network state carried across windows are not in the checkpoint; start the "
                           "run again")
    train_rng = np.random.default_rng([spec.run.seed, TRAIN_STREAM])
    state = resume if resume is not None else LoopState()
    if resume is not None and resume.rng is not None:
        train_rng.bit_generator.state = resume.rng
    guard = DivergenceGuard(state.guard)
    if run_dir is not None and resume is None:
        run_dir.write_spec(spec)
    metrics: list[dict] = list(state.metrics)
    started = time.perf_counter() - state.elapsed
    interval_losses: list[float] = list(state.interval_losses)
    saved_at: int | None = state.step if resume is not None else None

    metric_keys = {metric.key for metric in task.metrics}

    def record(step: int) -> dict:
        with _quietly():
            loss, values = evaluate_now(step)
        row = {
            "step": step,
            "train_loss": float(np.mean(interval_losses)) if interval_losses else None,
            "eval_loss": loss,
            **{metric.column: values.get(metric.key) for metric in task.metrics},
            **{f"eval_{key}": value for key, value in values.items() if key not in metric_keys},
            "elapsed_s": round(time.perf_counter() - started, 3),
        }
        interval_losses.clear()
        metrics.append(row)
        if run_dir is not None:
            run_dir.append_metrics(row)
        return row

    def current(step: int) -> LoopState:
        return LoopState(step, train_rng.bit_generator.state, list(interval_losses), guard.state(),
                         time.perf_counter() - started, list(metrics))

    def where() -> str:
        return str(run_dir.path) if run_dir is not None else "the run folder"

    if resume is None:
        first = record(0)
        if on_step is not None:
            on_step(0, float("nan"), first)
    for step in range(state.step + 1, spec.run.steps + 1):
        with _quietly():
            loss = float(train_step(task.sample(train_rng, spec.run.batch)))
        reason = guard.check(step, loss)
        if reason is not None:
            kept = (f"the checkpoint of step {saved_at} is kept in {where()}/checkpoint.npz"
                    if saved_at is not None and save is not None else
                    "no checkpoint was written before it (set run.checkpoint_every to keep one)")
            raise RunStopped(f"training diverged: {reason}; {kept}; {advice}", step)
        interval_losses.append(loss)
        row = None
        if step % spec.run.eval_every == 0 or step == spec.run.steps:
            row = record(step)
        if on_step is not None:
            on_step(step, loss, row)
        every = spec.run.checkpoint_every
        if save is not None and every and step % every == 0 and step < spec.run.steps and not guard.rising:
            save(current(step))
            saved_at = step
        if stop is not None and stop() and step < spec.run.steps:
            if save is not None:
                save(current(step))
                raise RunStopped(f"interrupted at step {step} of {spec.run.steps}; checkpoint written to "
                                 f"{where()}/checkpoint.npz; continue with: {command} --resume {where()}",
                                 step, exit_code=130)
            raise RunStopped(f"interrupted at step {step} of {spec.run.steps}", step, exit_code=130)
    final = current(spec.run.steps)
    final.interval_losses = []
    if save is not None:
        save(final)
    return metrics, time.perf_counter() - started


def held_out_batch(spec: NetworkSpec) -> SequenceBatch:
    """The evaluation sequences: the task's held-out split, never drawn for training."""
    return task_from_spec(spec.task).held_out(spec.run.seed, spec.run.eval_sequences)


def restore_optimizer(optimizer: Optimizer, checkpoint: Checkpoint) -> None:
    """Put a checkpoint's moments and step count into ``optimizer`` (copies: the arrays of a
    loaded file must not be shared with a later checkpoint)."""
    first, second, count = checkpoint.moments()
    optimizer.first = {k: np.array(v) for k, v in first.items()}
    optimizer.second = {k: np.array(v) for k, v in second.items()}
    optimizer.count = count


def train(spec: NetworkSpec, run_dir: RunDirectory | None = None,
          on_step: ProgressCallback | None = None, *, resume: Checkpoint | None = None,
          stop: Callable[[], bool] | None = None,
          probe: Callable[[Params], Mapping[str, float]] | None = None) -> TrainResult:
    """Train for ``spec.run.steps`` batches with the numpy reference, evaluating every
    ``eval_every`` and at the end. ``resume``: continue from a checkpoint of this spec (the
    result is the one an uninterrupted run gives); ``stop``: see ``run_loop``. ``probe``:
    measured on the current parameters at every evaluation, its values stored in the row as
    ``eval_<key>`` (e.g. ``neuropc.reference.approximation.probe``: the update against BPTT)."""
    arch = Architecture.from_spec(spec)
    params = params_from_spec(spec)
    optimizer = Optimizer(spec.rule.optimizer)
    if resume is not None:
        params = {name: np.array(value) for name, value in resume.params.items()}
        restore_optimizer(optimizer, resume)
    task = task_from_spec(spec.task)
    held_out = held_out_batch(spec)
    test = test_batch(task, spec.run.eval_sequences)
    # a streaming task's batches continue the previous ones: the rule's state goes on with them
    carry = Carry(arch, spec.rule, spec.run.batch) if task.carries_state else None

    def evaluate_now(step: int) -> tuple[float, dict[str, float]]:
        evaluation = evaluate(arch, params, held_out, task)
        metrics = dict(evaluation.metrics)
        if isinstance(task, SysIdTask):  # deployment: open loop against PC filtering
            metrics.update(filtering_errors(arch, params, task, spec.run.seed, spec.run.eval_sequences))
        if probe is not None:
            metrics.update(probe(params))
        return evaluation.loss, metrics

    def save(state: LoopState) -> None:
        if run_dir is not None:
            run_dir.write_checkpoint(spec, params, optimizer.state_arrays(), state)

    metrics, wall_time = run_loop(
        spec, lambda batch: train_on_batch(arch, spec.rule, params, batch, optimizer, carry), evaluate_now,
        run_dir, on_step, save=save if run_dir is not None else None,
        resume=resume.loop if resume is not None else None, stop=stop,
        advice=f"lower rule.optimizer.lr (now {spec.rule.optimizer.lr:g})")
    result = TrainResult(params, metrics, wall_time)
    if test is not None:  # the test split, once, with the final parameters
        with _quietly():
            scored = evaluate(arch, params, test, task)
        result.test = {"loss": scored.loss, **scored.metrics}
    if run_dir is not None:
        run_dir.write_curve(result.metrics, task.metrics)
        run_dir.write_summary({"wall_time_s": round(result.wall_time, 3), **result.final,
                               **({"test": result.test} if result.test is not None else {}),
                               "task_data": task.provenance()})
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

