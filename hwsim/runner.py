"""Train and evaluate a compiled artifact on any backend, the way ``neuropc train`` does
with numpy: the one runner behind ``neuropc simulate``, ``report scaling`` and the benches.

    result = simulate(artifact, backend="native", steps=200, threshold=0.02)
    result.metrics                  # the rows of metrics.jsonl (same keys as neuropc train)
    result.training_counts()        # [WorkCounts] one per training sequence
    result.evaluations[-1].sequence_counts()   # [WorkCounts] one per held-out sequence
    result.evaluations[-1].time_step_counts()  # [WorkCounts] per time step, summed over them

The runner knows backends only through ``hwsim.backends.protocol.Backend``. What it executes
comes from the artifact's typed program data (update mode, thresholds, task, run defaults);
the spec it is given (or the artifact's resolved spec) is only the record written into the
run folder and read by reports. The task generator, the seeds and random streams and the
held-out set are those of ``neuropc.training`` (TRAIN_STREAM, the task's held_out), so a run on any
backend and a reference run of the same spec see the same sequences. Training follows
``neuropc.reference.rules.train_on_batch``: a batch of B sequences either runs in B lanes in
lockstep, or (``lanes=1``, update mode ``sequence``) one sequence after another into the same
accumulators, as a chip does; both apply once per batch with the same normalisation.
Evaluation is inference only on a second backend instance holding the same weights, counted
separately.

Counters are attributed per sequence: every lane's own work goes to its sequence, and work
shared by the lanes (the apply phase) goes to the last sequence of its batch, which is when a
chip running the sequences one after another would do it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from pydantic import ValidationError

from compiler.artifact import Artifact
from compiler.program import Program
from hwsim.backends import Backend, ExecutionOptions, open_backend
from hwsim.counters import FIELDS, WORK_KINDS, WorkCounts, work_counts
from hwsim.filtering import FilterDeployment, feedback_copies
from hwsim.number_format import NUMBER_FORMATS, ROUNDING, FixedFormat, fractional_bits, group_key
from neuropc.errors import NeuropcError
from neuropc.run_files import Checkpoint, LoopState, RunDirectory
from neuropc.spec.loading import parse_spec
from neuropc.spec.schema import EventThresholds, NetworkSpec
from neuropc.tasks import task_from_params
from neuropc.tasks.base import Metric, ScoreTotals, SequenceBatch, Task, test_batch
from neuropc.tasks.sysid import SysIdTask
from neuropc.training import TRAIN_STREAM, ProgressCallback, held_out_batch, run_loop

CALIBRATION_STREAM = 3  # random stream of the fixed-point calibration sequences


def recorded_spec(artifact: Artifact, steps: int | None = None,
                  batch: int | None = None) -> NetworkSpec:
    """The artifact's resolved spec with a run's overrides: the record a run folder keeps
    (spec.yaml, checkpoint) and reports read; nothing executed depends on it."""
    try:
        spec = parse_spec(artifact.resolved_spec_text, "spec.resolved.yaml")
    except NeuropcError as exc:
        raise NeuropcError(f"the artifact's spec.resolved.yaml is malformed: {str(exc).splitlines()[0]}; "
                           "recompile the spec") from None
    overrides: dict[str, Any] = {}
    if steps is not None:
        overrides["run.steps"] = steps
    if batch is not None:
        overrides["run.batch"] = batch
    return spec.with_overrides(overrides) if overrides else spec


def updates_online(program: Program) -> bool:
    """Whether the program applies its updates after every step with loss (else once per
    sequence or batch): the apply phase's ``when``."""
    return any(p.when == "step_with_loss" for p in program.phases)


# -- settings and results ------------------------------------------------------------------

ThresholdArgument = EventThresholds | float | Mapping[str, float] | None


def event_thresholds(program: Program, given: ThresholdArgument = None) -> EventThresholds:
    """The program's delta-coding thresholds with ``given`` laid over them: a number sets
    both populations, a mapping only those it names (``--threshold activity=0.05``)."""
    return overlay_thresholds(EventThresholds.model_validate(program.settings.thresholds), given)


def overlay_thresholds(base: EventThresholds, given: ThresholdArgument = None) -> EventThresholds:
    """``base`` with ``given`` laid over it (see ``event_thresholds``); a NeuropcError naming
    ``--threshold`` for a value that is not a finite number >= 0."""
    if given is None:
        return base
    try:
        return EventThresholds.model_validate({**base.model_dump(), **given}
                                              if isinstance(given, Mapping) else given)
    except ValidationError as err:
        problems = []
        for item in err.errors(include_url=False):
            cause = item.get("ctx", {}).get("error")
            field = "".join(f"{part} threshold: " for part in item["loc"])
            problems.append(f"{field}{cause}" if cause is not None
                            else f"{field}{item['msg']} (got {item['input']!r})")
        raise NeuropcError(f"--threshold: {'; '.join(problems)}") from None


@dataclass(frozen=True)
class SimulationSettings:
    backend: str
    number_format: str
    threshold: EventThresholds
    dense: bool
    batch: int
    lanes: int  # training lanes: batch (lockstep) or 1 (sequences one after another)
    eval_lanes: int
    steps: int
    seed: int
    calibration_sequences: int | None  # fixed point: None = the run's own training

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "threshold": self.threshold.model_dump()}


@dataclass
class EvaluationCounts:
    """Work of one evaluation (inference only) over the held-out sequences."""

    step: int  # training batches done when it ran
    sequences: np.ndarray  # (held-out sequences, 9) per sequence
    time_steps: np.ndarray  # (T, 9) per time step, summed over the held-out sequences

    def sequence_counts(self) -> list[WorkCounts]:
        return [work_counts(row) for row in self.sequences]

    def time_step_counts(self) -> list[WorkCounts]:
        return [work_counts(row) for row in self.time_steps]

    @property
    def total(self) -> WorkCounts:
        return work_counts(self.sequences)

    def per_sequence(self) -> dict[str, float]:
        return self.total.per_sequence(len(self.sequences))

    def per_time_step(self) -> dict[str, float]:
        """Mean work of one time step of one sequence."""
        steps = self.time_steps.shape[0] * len(self.sequences)
        return {k: v / steps for k, v in self.total.as_dict().items()}


@dataclass
class SimulationResult:
    """Everything a run produced; counts are exact integers (columns ``FIELDS``)."""

    spec: NetworkSpec
    settings: SimulationSettings
    metrics: list[dict] = field(default_factory=list)
    training: np.ndarray = field(default_factory=lambda: np.zeros((0, len(FIELDS)), np.int64))
    evaluations: list[EvaluationCounts] = field(default_factory=list)
    training_per_core: np.ndarray | None = None  # (cores, 9)
    inference_per_core: np.ndarray | None = None
    training_by_op: np.ndarray | None = None  # (len(WORK_KINDS), fields)
    inference_by_op: np.ndarray | None = None
    params: dict[str, np.ndarray] = field(default_factory=dict)
    test: dict[str, float] | None = None  # loss and metrics on the task's test split, if it has one
    formats: dict[tuple[str, str, str], FixedFormat] | None = None
    wall_time: float = 0.0

    @property
    def final(self) -> dict:
        return self.metrics[-1]

    def training_counts(self) -> list[WorkCounts]:
        """One WorkCounts per training sequence, in training order."""
        return [work_counts(row) for row in self.training]

    @property
    def training_total(self) -> WorkCounts:
        return work_counts(self.training)

    @property
    def inference_total(self) -> WorkCounts:
        return WorkCounts.total(e.total for e in self.evaluations)


# -- the loop --------------------------------------------------------------------------------

def lanes_for(program: Program, batch: int, lanes: int | None, streams: bool = False) -> int:
    """Training lanes: the batch (lockstep) by default, or 1 (one sequence after another,
    update mode 'sequence' only). ``streams``: the task carries state across batches, which
    needs one lane per stream (a single lane cannot hold every stream's state)."""
    if lanes is None:
        return batch
    if streams and lanes != batch:
        raise NeuropcError(f"this task carries each stream's state from one batch to the next, so its "
                           f"{batch} streams must run in lockstep (lanes = batch), not in {lanes} lane(s)")
    if lanes not in (1, batch):
        raise NeuropcError(f"lanes must be 1 (one sequence after another) or the batch size "
                           f"{batch} (lockstep), got {lanes}")
    if lanes != batch and updates_online(program):
        raise NeuropcError("update mode 'online' applies after every step of the whole batch, "
                           "so its sequences must run in lockstep (lanes = batch)")
    return lanes


def evaluation_lanes(sequences: int, most: int) -> int:
    """The largest lane count <= ``most`` that divides the held-out set, so every chunk is
    full and no padding lane's work mixes into the totals."""
    return max(k for k in range(1, max(1, min(most, sequences)) + 1) if sequences % k == 0)


def train_batch(backend: Backend, batch: SequenceBatch, *, reset: bool = True) -> tuple[float, np.ndarray]:
    """One batch in the program's update mode. Returns (mean training loss as the reference
    reports it, per-sequence counts (B, fields) with the shared work charged to the last).
    ``reset=False``: the batch continues the streams of the previous one (a task that carries
    state), so the lanes keep their LRU state and eligibility traces, as the reference's
    ``Carry`` does; lockstep lanes only."""
    scale = 1.0 / batch.loss_steps()
    online = updates_online(backend.artifact.program)
    size = batch.size
    counts = np.zeros((size, len(FIELDS)), np.int64)
    loss = 0.0
    if backend.lanes == size:
        out = backend.run(batch.inputs, batch.targets, batch.mask, train=True, reset=reset,
                          apply_end=not online, scale=scale)
        loss = float(out.loss.sum())
        taken = backend.take_counts()
        if taken is not None:
            counts[:] = taken[:size].sum(axis=1)
            counts[-1] += taken[size:].sum(axis=(0, 1))
    else:
        if online or backend.lanes != 1 or not reset:
            raise ValueError("sequential training needs update 'sequence', one lane and sequences "
                             "that start from the zero state")
        for k in range(size):
            one = batch.sequences(k, k + 1)
            out = backend.run(one.inputs, one.targets, one.mask, train=True, reset=True,
                              apply_end=k == size - 1, scale=scale)
            loss += float(out.loss.sum())
            taken = backend.take_counts()
            if taken is not None:
                counts[k] = taken.sum(axis=(0, 1))
    return loss * scale, counts


def evaluate(backend: Backend, held_out: SequenceBatch,
             task: Task) -> tuple[float, dict[str, float], EvaluationCounts]:
    """Inference over the held-out set (chunks of ``backend.lanes``, which must divide it):
    loss and the task's metrics as ``neuropc.reference.forward.evaluate`` computes them, and
    the work per sequence and per time step."""
    lanes = backend.lanes
    size, steps = held_out.size, held_out.length
    if size % lanes:
        raise ValueError(f"{lanes} lanes do not divide {size} held-out sequences")
    per_sequence = np.zeros((size, len(FIELDS)), np.int64)
    per_step = np.zeros((steps, len(FIELDS)), np.int64)
    total_loss = 0.0
    scores = ScoreTotals(task)
    for start in range(0, size, lanes):
        stop = start + lanes
        chunk = held_out.sequences(start, stop)
        out = backend.run(chunk.inputs, chunk.targets, chunk.mask, train=False, reset=True)
        taken = backend.take_counts()
        if taken is not None:
            per_sequence[start:stop] = taken[:lanes].sum(axis=1)
            per_step += out.step_counts[:, :lanes].sum(axis=1)
        total_loss += float(out.loss.sum())
        scores.add(out.outputs, chunk)
    loss = total_loss / held_out.loss_steps()
    return loss, scores.finish(held_out.loss_steps()), EvaluationCounts(0, per_sequence, per_step)


def _task_and_run(artifact: Artifact, steps: int | None, batch: int | None
                  ) -> tuple[Task, int, int, int]:
    """The task (from the artifact's task contract) and the run's steps, batch and seed."""
    settings = artifact.program.settings
    run = settings.run
    return (task_from_params(settings.task.params), run.steps if steps is None else steps,
            run.batch if batch is None else batch, run.seed)


def calibration_maxima(artifact: Artifact, sequences: int | None = None,
                       threshold: EventThresholds | float = 0.0, *, steps: int | None = None,
                       batch: int | None = None) -> dict[tuple[str, str, str], float]:
    """Largest magnitude of every format group while training in float64 (native backend).

    ``sequences`` None: the run's own training (``steps`` batches of the training stream, the
    very sequences and updates of the float64 twin of the run). A number: that many
    sequences from a separate random stream (CALIBRATION_STREAM), a short calibration."""
    task, steps_, batch_, seed = _task_and_run(artifact, steps, batch)
    thresholds = EventThresholds.model_validate(threshold).model_dump()
    backend = open_backend("native", artifact, batch_, ExecutionOptions(thresholds=thresholds))
    backend.track_ranges(True)
    if sequences is None:
        rng = np.random.default_rng([seed, TRAIN_STREAM])
        batches = steps_
    else:
        rng = np.random.default_rng([seed, CALIBRATION_STREAM])
        batches = max(1, math.ceil(sequences / batch_))
    for index in range(batches):
        train_batch(backend, task.sample(rng, batch_), reset=index == 0 or not task.carries_state)
    return backend.calibration_maxima()


def formats_from_maxima(artifact: Artifact, maxima: dict[tuple[str, str, str], float]
                        ) -> dict[tuple[str, str, str], FixedFormat]:
    """The range rule of ``hwsim.number_format`` with the artifact's bit widths."""
    bits: dict[tuple[str, str, str], int] = {}
    for core in artifact.program.cores:
        for buf in core.buffers.values():
            key = group_key(core.layer, buf)
            if bits.setdefault(key, buf.bits) != buf.bits:
                raise ValueError(f"format group {key} mixes {bits[key]}- and {buf.bits}-bit "
                                 f"buffers")
    return {key: FixedFormat(width, fractional_bits(width, maxima.get(key, 0.0)))
            for key, width in bits.items()}


def calibrate(artifact: Artifact, sequences: int | None = None,
              threshold: EventThresholds | float = 0.0, **run: int | None
              ) -> dict[tuple[str, str, str], FixedFormat]:
    """Fixed-point formats: ``calibration_maxima`` then ``formats_from_maxima``."""
    return formats_from_maxima(artifact, calibration_maxima(artifact, sequences, threshold, **run))


def simulate(artifact: Artifact, *, backend: str = "native", steps: int | None = None,
             threshold: ThresholdArgument = None, number_format: str = "float64",
             batch: int | None = None, lanes: int | None = None, dense: bool = False,
             eval_lanes: int = 64, calibration_sequences: int | None = None,
             calibration: dict[tuple[str, str, str], float] | None = None,
             spec: NetworkSpec | None = None, run_dir: RunDirectory | None = None,
             on_step: ProgressCallback | None = None, resume: Checkpoint | None = None,
             stop: Callable[[], bool] | None = None,
             checkpoint_info: Mapping[str, Any] | None = None,
             threads: int | None = None) -> SimulationResult:
    """Train the artifact's task on ``backend`` for ``steps`` batches (default: the
    artifact's run), evaluating every ``run.eval_every`` batches and at the end, as
    ``neuropc train`` does.

    ``threshold``: delta-coding thresholds over the program's (``event_thresholds``: a
    number sets activities and errors, a mapping those it names); ``number_format``:
    float64, float32 or fixed; ``batch`` overrides the run's batch; ``lanes``: 1 runs the
    sequences of a batch one after another (update mode sequence), the default runs them in
    lockstep; ``dense``: send every value and count every synapse; ``eval_lanes``: at most
    this many held-out sequences in lockstep (the largest count that divides the held-out
    set). Fixed point: the formats follow from ``calibration`` (largest magnitude per format
    group) if given, else from a float64 calibration run on the native backend
    (``calibration_maxima``: the run's own training, or ``calibration_sequences`` sequences
    of a separate stream). ``spec``: the record kept in the run folder and the result
    (default: the artifact's resolved spec with these overrides). ``threads``: worker
    threads of the native engine (``ExecutionOptions.threads``); no result depends on it, so
    it is not part of the run's settings.

    Checkpoints (``run.checkpoint_every``, the end, an interrupt through ``stop``) hold the
    trainer's parameters, moments and step count, the counts so far and
    ``checkpoint_info``; ``resume`` continues from one, so the finished run's metrics,
    parameters, optimizer state and counters are those of an uninterrupted run.
    """
    if number_format not in NUMBER_FORMATS:
        raise NeuropcError(f"unknown number format {number_format!r}; choose one of "
                           f"{', '.join(NUMBER_FORMATS)}")
    program = artifact.program
    record = spec if spec is not None else recorded_spec(artifact, steps=steps, batch=batch)
    thresholds = event_thresholds(program, threshold)
    task, steps_, batch_, seed = _task_and_run(artifact, steps, batch)
    lanes = lanes_for(program, batch_, lanes, task.carries_state)
    eval_lanes = evaluation_lanes(record.run.eval_sequences, eval_lanes)
    settings = SimulationSettings(backend, number_format, thresholds, dense, batch_, lanes,
                                  eval_lanes, steps_, seed, calibration_sequences)
    formats = None
    if number_format == "fixed":
        if calibration is None and resume is not None and "calibration" in resume.info:
            calibration = {tuple(key): value for key, value in resume.info["calibration"]}
        if calibration is None:
            calibration = calibration_maxima(artifact, calibration_sequences, thresholds,
                                             steps=steps_, batch=batch_)
        formats = formats_from_maxima(artifact, calibration)
    options = ExecutionOptions(number_format=number_format, thresholds=thresholds.model_dump(), dense=dense,
                               formats=formats, threads=threads)
    trainer = open_backend(backend, artifact, lanes, options)
    evaluator = open_backend(backend, artifact, eval_lanes, options)
    held_out = held_out_batch(record)
    test = test_batch(task, record.run.eval_sequences)
    result = SimulationResult(record, settings, formats=formats)
    counts = _RunCounts(trainer, evaluator, resume)
    if resume is not None:
        first, second, optimizer_steps = resume.moments()
        copies: dict[str, dict[str, np.ndarray]] = {}
        for key, value in resume.extra.items():
            if key.startswith("copy/"):
                _, space, name = key.split("/", 2)
                copies.setdefault(space, {})[name] = value
        trainer.restore(resume.params, {"adam_m": first, "adam_v": second}, optimizer_steps, copies)
        result.evaluations = counts.evaluations

    started = [False]  # a streaming task continues its streams after the first batch

    def train_step(data: SequenceBatch) -> float:
        loss, taken = train_batch(trainer, data, reset=not (task.carries_state and started[0]))
        started[0] = True
        counts.training.append(taken)
        return loss

    # deployment rollouts (sysid): on a program compiled for the filter, not counted; a fixed-point
    # run would need formats for that program's own buffers, so it reports none
    deployment = (FilterDeployment(record, task, backend, options)
                  if isinstance(task, SysIdTask) and number_format != "fixed" else None)

    def evaluate_now(step: int) -> tuple[float, dict[str, float]]:
        evaluator.load_shared(trainer)
        loss, values, taken = evaluate(evaluator, held_out, task)
        taken.step = step
        result.evaluations.append(taken)
        if deployment is not None:
            values = {**values, **deployment.errors(trainer, artifact, seed, record.run.eval_sequences)}
        return loss, values

    info = {**(checkpoint_info or {}), "settings": settings.as_json()}
    if calibration is not None:
        info["calibration"] = [[list(key), float(value)] for key, value in sorted(calibration.items())]

    def save(state: LoopState) -> None:
        if run_dir is None:
            return
        moments = trainer.optimizer_state()
        optimizer = {**{f"adam_m/{k}": v for k, v in moments["adam_m"].items()},
                     **{f"adam_v/{k}": v for k, v in moments["adam_v"].items()},
                     "adam_count": np.array(trainer.optimizer_steps)}
        extra = counts.arrays(result.evaluations)
        for space, arrays in feedback_copies(trainer, artifact).items():
            extra.update({f"copy/{space}/{name}": value for name, value in arrays.items()})
        run_dir.write_checkpoint(record, trainer.parameters(), optimizer, state, extra, info)

    result.metrics, result.wall_time = run_loop(
        record, train_step, evaluate_now, run_dir, on_step, save=save if run_dir is not None else None,
        resume=resume.loop if resume is not None else None, stop=stop, command="neuropc simulate",
        advice="lower rule.optimizer.lr, or raise the precision (--format float64) or lower the event "
               "threshold")
    counts.finish(result)
    result.params = trainer.parameters()
    if test is not None:  # once, with the final parameters; its work is not in the run's counts
        evaluator.load_shared(trainer)
        loss, values, _ = evaluate(evaluator, test, task)
        result.test = {"loss": loss, **values}
    if run_dir is not None:
        write_run(run_dir, result, artifact, task.metrics)
    return result


class _RunCounts:
    """The counts of a run so far, carried across a checkpoint: a resumed run adds what its
    backends count to what the checkpoint holds, so counters.json equals an uninterrupted run's."""

    def __init__(self, trainer: Backend, evaluator: Backend, resume: Checkpoint | None) -> None:
        self.trainer, self.evaluator = trainer, evaluator
        extra = resume.extra if resume is not None else {}
        self.training: list[np.ndarray] = [extra["training"]] if "training" in extra else []
        self.offsets = {key: extra[key] for key in ("training_per_core", "inference_per_core",
                                                      "training_by_op", "inference_by_op") if key in extra}
        self.evaluations = [EvaluationCounts(int(step), sequences, time_steps) for step, sequences, time_steps
                            in zip(extra.get("eval_steps", ()), extra.get("eval_sequences", ()),
                                   extra.get("eval_time_steps", ()), strict=True)]

    def _by_op(self, key: str, backend: Backend) -> np.ndarray | None:
        """Work by kind so far (``take_work_counts`` restarts at 0, so it is kept here)."""
        taken = backend.take_work_counts()
        if taken is None:
            return None
        total = self.offsets.get(key, np.zeros_like(taken)) + taken
        self.offsets[key] = total
        return total

    def _per_core(self, key: str, backend: Backend) -> np.ndarray | None:
        totals = backend.core_totals()
        if totals is None:
            return None
        return self.offsets[key] + totals if key in self.offsets else totals

    def arrays(self, evaluations: list[EvaluationCounts]) -> dict[str, np.ndarray]:
        arrays: dict[str, np.ndarray] = {
            "training": np.concatenate(self.training) if self.training else np.zeros((0, len(FIELDS)), np.int64),
            "eval_steps": np.array([e.step for e in evaluations], np.int64),
        }
        if evaluations:
            arrays["eval_sequences"] = np.stack([e.sequences for e in evaluations])
            arrays["eval_time_steps"] = np.stack([e.time_steps for e in evaluations])
        for key, backend in (("training_by_op", self.trainer), ("inference_by_op", self.evaluator)):
            value = self._by_op(key, backend)
            if value is not None:
                arrays[key] = value
        for key, backend in (("training_per_core", self.trainer), ("inference_per_core", self.evaluator)):
            value = self._per_core(key, backend)
            if value is not None:
                arrays[key] = value
        return arrays

    def finish(self, result: SimulationResult) -> None:
        result.training = (np.concatenate(self.training) if self.training
                           else np.zeros((0, len(FIELDS)), np.int64))
        result.training_per_core = self._per_core("training_per_core", self.trainer)
        result.inference_per_core = self._per_core("inference_per_core", self.evaluator)
        result.training_by_op = self._by_op("training_by_op", self.trainer)
        result.inference_by_op = self._by_op("inference_by_op", self.evaluator)


# -- run folder ----------------------------------------------------------------------------

def _fields(row: np.ndarray) -> dict[str, int]:
    return {name: int(v) for name, v in zip(FIELDS, row, strict=True)}


def _columns(rows: np.ndarray) -> dict[str, list[int]]:
    return {name: [int(v) for v in rows[:, k]] for k, name in enumerate(FIELDS)}


def _by_op(table: np.ndarray) -> dict[str, dict[str, int]]:
    return {name: _fields(row) for name, row in zip(WORK_KINDS, table, strict=True) if row.any()}


def counters_document(result: SimulationResult, artifact: Artifact) -> dict[str, Any]:
    """counters.json: totals per core and per op kind, per training sequence, and per
    held-out sequence and time step of every evaluation (definitions: docs/hwsim.md)."""
    program = artifact.program
    steps = program.settings.task.sequence_length
    cores = [{"core": c.core, "layer": c.layer, "slice": c.slice_index, "neurons": c.neurons}
             for c in program.cores]

    def per_core(table: np.ndarray | None) -> list[dict[str, int]]:
        return [] if table is None else [_fields(row) for row in table]

    return {
        "fields": list(FIELDS),
        "backend": result.settings.backend,
        "definitions": "docs/hwsim.md (what each counter counts)",
        "settings": result.settings.as_json(),
        "fixed_point": None if result.formats is None else {
            "rounding": ROUNDING,
            "formats": [{"group": list(key), "bits": f.bits, "frac": f.frac}
                        for key, f in sorted(result.formats.items())]},
        "cores": cores,
        "training": {
            "sequences": int(result.training.shape[0]),
            "time_steps_per_sequence": steps,
            "total": _fields(result.training.sum(axis=0)),
            "per_sequence": _columns(result.training),
            "per_core": per_core(result.training_per_core),
            "by_op": {} if result.training_by_op is None else _by_op(result.training_by_op),
        },
        "inference": {
            "evaluations": [{
                "step": e.step,
                "sequences": int(e.sequences.shape[0]),
                "total": _fields(e.sequences.sum(axis=0)),
                "per_sequence": _columns(e.sequences),
                "per_time_step": _columns(e.time_steps),
            } for e in result.evaluations],
            "per_core": per_core(result.inference_per_core),
            "by_op": {} if result.inference_by_op is None else _by_op(result.inference_by_op),
        },
    }


def write_run(run_dir: RunDirectory, result: SimulationResult, artifact: Artifact,
              metrics: tuple[Metric, ...]) -> None:
    """Curve, summary and counters, like ``neuropc train`` plus counters.json (the run loop
    wrote the checkpoint)."""
    run_dir.write_curve(result.metrics, metrics)
    train_seqs = max(int(result.training.shape[0]), 1)
    summary = {"wall_time_s": round(result.wall_time, 3), **result.final,
               "backend": result.settings.backend, "simulator": result.settings.as_json(),
               "training_per_sequence": result.training_total.per_sequence(train_seqs),
               "task_data": task_from_params(artifact.program.settings.task.params).provenance()}
    if result.evaluations:
        summary["inference_per_sequence"] = result.evaluations[-1].per_sequence()
    if result.test is not None:
        summary["test"] = result.test
    run_dir.write_summary(summary)
    run_dir.write_json("counters.json", counters_document(result, artifact), compact=True)
