"""Train and evaluate a compiled network on hwsim, the way ``neuropc train`` does with numpy.

    result = simulate("net.npc", steps=200, threshold=0.02, number_format="fixed")
    result.metrics                  # the rows of metrics.jsonl (same keys as neuropc train)
    result.training_counts()        # [WorkCounts] one per training sequence
    result.evaluations[-1].sequence_counts()   # [WorkCounts] one per held-out sequence
    result.evaluations[-1].time_step_counts()  # [WorkCounts] per time step, summed over them

The task generator, the seeds and random streams and the held-out set are those of
``neuropc.training`` (TRAIN_STREAM, EVAL_STREAM), so a hwsim run and a reference run of the
same spec see the same sequences. Training follows ``neuropc.reference.rules.train_on_batch``:
a batch of B sequences either runs in B lanes in lockstep, or (``lanes=1``, update mode
``sequence``) one sequence after another into the same accumulators, as a chip does; both
apply once per batch with the same normalisation. Evaluation is inference only (predict and
advance phases) on a separate engine holding the same weights, counted separately.

Counters are attributed per sequence: every lane's own work goes to its sequence, and work
shared by the lanes (the apply phase) goes to the last sequence of its batch, which is when a
chip running the sequences one after another would do it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from compiler.artifact import Artifact, is_artifact, load_artifact
from compiler.program import FORMAT_VERSION
from hwsim.counters import WorkCounts
from hwsim.engine import FIELDS, OP_NAMES, Engine, work_counts
from hwsim.number_format import NUMBER_FORMATS, ROUNDING, FixedFormat, fractional_bits, group_key
from neuropc.errors import NeuropcError
from neuropc.reference.optim import Optimizer
from neuropc.run_files import RunDirectory
from neuropc.spec.loading import load_spec, parse_spec
from neuropc.spec.schema import EventThresholds, NetworkSpec
from neuropc.tasks import task_from_spec
from neuropc.tasks.base import Metric, ScoreTotals, SequenceBatch, Task
from neuropc.training import TRAIN_STREAM, ProgressCallback, held_out_batch, run_loop

CALIBRATION_STREAM = 3  # random stream of the fixed-point calibration sequences



# -- inputs ------------------------------------------------------------------------------

def artifact_from_spec(spec: NetworkSpec, spec_text: str = "") -> Artifact:
    """Compile a spec in memory into the same Artifact a .npc file would load as."""
    from compiler.pipeline import artifact_contents, compile_spec

    contents = artifact_contents(compile_spec(spec), spec_text)
    contents["manifest"] = {**contents["manifest"], "format_version": FORMAT_VERSION}
    return Artifact(**contents)


def load_source(path: str | Path) -> Artifact:
    """An artifact file, or a spec file compiled on the fly (NeuropcError for anything
    the user can fix: missing file, damaged artifact, invalid spec, bptt, no fit)."""
    path = Path(path)
    if not path.exists():
        raise NeuropcError(f"{path}: no such file (expected a .npc artifact or a .yaml spec)")
    if path.is_dir():
        raise NeuropcError(f"{path}: is a folder, expected a .npc artifact or a .yaml spec")
    if path.suffix == ".npc" or is_artifact(path):
        return load_artifact(path)
    spec = load_spec(path)
    return artifact_from_spec(spec, path.read_text(encoding="utf-8"))


def artifact_spec(artifact: Artifact) -> NetworkSpec:
    return parse_spec(artifact.resolved_spec_text, "artifact spec.resolved.yaml")


def resolved_spec(artifact: Artifact, steps: int | None = None,
                  batch: int | None = None) -> NetworkSpec:
    """The artifact's spec with the run overrides of a simulation applied."""
    spec = artifact_spec(artifact)
    overrides: dict[str, Any] = {}
    if steps is not None:
        overrides["run.steps"] = steps
    if batch is not None:
        overrides["run.batch"] = batch
    return spec.with_overrides(overrides) if overrides else spec


# -- settings and results ------------------------------------------------------------------

ThresholdArgument = EventThresholds | float | Mapping[str, float] | None


def event_thresholds(spec: NetworkSpec, given: ThresholdArgument = None) -> EventThresholds:
    """The spec's delta-coding thresholds with ``given`` laid over them: a number sets both
    populations, a mapping only those it names (``--threshold activity=0.05``)."""
    base = spec.hardware.event_threshold if spec.hardware is not None else EventThresholds()
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
    training_by_op: np.ndarray | None = None  # (len(OP_NAMES), 9)
    inference_by_op: np.ndarray | None = None
    params: dict[str, np.ndarray] = field(default_factory=dict)
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

def lanes_for(spec: NetworkSpec, batch: int, lanes: int | None) -> int:
    """Training lanes: the batch (lockstep) by default, or 1 (one sequence after another,
    update mode 'sequence' only)."""
    if lanes is None:
        return batch
    if lanes not in (1, batch):
        raise NeuropcError(f"lanes must be 1 (one sequence after another) or the batch size "
                           f"{batch} (lockstep), got {lanes}")
    if lanes != batch and spec.rule.update == "online":
        raise NeuropcError("update mode 'online' applies after every step of the whole batch, "
                           "so its sequences must run in lockstep (lanes = batch)")
    return lanes


def _sequences(batch: SequenceBatch, start: int, stop: int) -> SequenceBatch:
    """Sequences [start, stop) of a batch."""
    return SequenceBatch(batch.inputs[:, start:stop], batch.targets[:, start:stop],
                         batch.mask[:, start:stop])


def evaluation_lanes(sequences: int, most: int) -> int:
    """The largest lane count <= ``most`` that divides the held-out set, so every chunk is
    full and no padding lane's work mixes into the totals."""
    return max(k for k in range(1, max(1, min(most, sequences)) + 1) if sequences % k == 0)


def train_batch(engine: Engine, spec: NetworkSpec, batch: SequenceBatch) -> tuple[float, np.ndarray]:
    """One batch in the rule's update mode. Returns (mean training loss as the reference
    reports it, per-sequence counts (B, 9) with the shared work charged to the last)."""
    scale = 1.0 / batch.loss_steps()
    online = spec.rule.update == "online"
    size = batch.size
    counts = np.zeros((size, len(FIELDS)), np.int64)
    loss = 0.0
    if engine.lanes == size:
        out = engine.run(batch.inputs, batch.targets, batch.mask, train=True, reset=True,
                         online=online, apply_end=not online, scale=scale)
        loss = float(out.loss.sum())
        taken = engine.take_counts()
        counts[:] = taken[:size].sum(axis=1)
        counts[-1] += taken[size:].sum(axis=(0, 1))
    else:
        if online or engine.lanes != 1:
            raise ValueError("sequential training needs update 'sequence' and one lane")
        for k in range(size):
            one = _sequences(batch, k, k + 1)
            out = engine.run(one.inputs, one.targets, one.mask, train=True, reset=True,
                             apply_end=k == size - 1, scale=scale)
            loss += float(out.loss.sum())
            counts[k] = engine.take_counts().sum(axis=(0, 1))
    return loss * scale, counts


def evaluate(engine: Engine, held_out: SequenceBatch,
             task: Task) -> tuple[float, dict[str, float], EvaluationCounts]:
    """Inference over the held-out set (chunks of ``engine.lanes``, which must divide it):
    loss and the task's metrics as ``neuropc.reference.forward.evaluate`` computes them, and
    the work per sequence and per time step."""
    size, steps = held_out.size, held_out.length
    if size % engine.lanes:
        raise ValueError(f"{engine.lanes} lanes do not divide {size} held-out sequences")
    per_sequence = np.zeros((size, len(FIELDS)), np.int64)
    per_step = np.zeros((steps, len(FIELDS)), np.int64)
    total_loss = 0.0
    scores = ScoreTotals(task)
    for start in range(0, size, engine.lanes):
        stop = start + engine.lanes
        chunk = _sequences(held_out, start, stop)
        out = engine.run(chunk.inputs, chunk.targets, chunk.mask, train=False, reset=True)
        per_sequence[start:stop] = engine.take_counts()[:engine.lanes].sum(axis=1)
        per_step += out.step_counts[:, :engine.lanes].sum(axis=1)
        total_loss += float(out.loss.sum())
        scores.add(out.logits, chunk)
    loss = total_loss / held_out.loss_steps()
    return loss, scores.finish(held_out.loss_steps()), EvaluationCounts(0, per_sequence, per_step)


def calibration_maxima(artifact: Artifact, spec: NetworkSpec, sequences: int | None = None,
                       threshold: EventThresholds | float = 0.0) -> dict[tuple[str, str, str], float]:
    """Largest magnitude of every format group while training in float64.

    ``sequences`` None: the run's own training (``run.steps`` batches of the training stream,
    the very sequences and updates of the float64 twin of the run). A number: that many
    sequences from a separate random stream (CALIBRATION_STREAM), a short calibration."""
    batch = spec.run.batch
    engine = Engine(artifact, batch, threshold=threshold)
    engine.track = True
    task = task_from_spec(spec.task)
    if sequences is None:
        rng = np.random.default_rng([spec.run.seed, TRAIN_STREAM])
        batches = spec.run.steps
    else:
        rng = np.random.default_rng([spec.run.seed, CALIBRATION_STREAM])
        batches = max(1, math.ceil(sequences / batch))
    for _ in range(batches):
        train_batch(engine, spec, task.sample(rng, batch))
    return engine.calibration_maxima()


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


def calibrate(artifact: Artifact, spec: NetworkSpec, sequences: int | None = None,
              threshold: EventThresholds | float = 0.0) -> dict[tuple[str, str, str], FixedFormat]:
    """Fixed-point formats: ``calibration_maxima`` then ``formats_from_maxima``."""
    return formats_from_maxima(artifact, calibration_maxima(artifact, spec, sequences, threshold))


def simulate(source: Artifact | NetworkSpec | str | Path, *, steps: int | None = None,
             threshold: ThresholdArgument = None, number_format: str = "float64",
             batch: int | None = None, lanes: int | None = None, dense: bool = False,
             eval_lanes: int = 64, calibration_sequences: int | None = None,
             calibration: dict[tuple[str, str, str], float] | None = None,
             run_dir: RunDirectory | None = None,
             on_step: ProgressCallback | None = None) -> SimulationResult:
    """Train the spec's task on hwsim for ``steps`` batches (default ``run.steps``),
    evaluating every ``run.eval_every`` batches and at the end, as ``neuropc train`` does.

    ``threshold``: delta-coding thresholds over the spec's ``hardware.event_threshold``
    (``event_thresholds``: a number sets activities and errors, a mapping those it names);
    ``number_format``: float64, float32 or fixed; ``batch`` overrides ``run.batch``;
    ``lanes``: 1 runs the sequences of a batch one after another (update mode sequence), the
    default runs them in lockstep; ``dense``: send every value and count every synapse;
    ``eval_lanes``: at most this many held-out sequences in lockstep (the largest count that
    divides the held-out set).
    Fixed point: the formats follow from ``calibration`` (largest magnitude per format
    group) if given, else from a float64 calibration run (``calibration_maxima``: the run's
    own training, or ``calibration_sequences`` sequences of a separate stream).
    """
    if number_format not in NUMBER_FORMATS:
        raise NeuropcError(f"unknown number format {number_format!r}; choose one of "
                           f"{', '.join(NUMBER_FORMATS)}")
    if isinstance(source, Artifact):
        artifact = source
    elif isinstance(source, NetworkSpec):
        artifact = artifact_from_spec(source)
    else:
        artifact = load_source(source)
    spec = resolved_spec(artifact, steps=steps, batch=batch)
    threshold = event_thresholds(spec, threshold)
    run = spec.run
    lanes = lanes_for(spec, run.batch, lanes)
    eval_lanes = evaluation_lanes(run.eval_sequences, eval_lanes)
    settings = SimulationSettings(number_format, threshold, dense, run.batch, lanes,
                                  eval_lanes, run.steps, run.seed, calibration_sequences)
    formats = None
    if number_format == "fixed":
        if calibration is None:
            calibration = calibration_maxima(artifact, spec, calibration_sequences, threshold)
        formats = formats_from_maxima(artifact, calibration)
    options = {"number_format": number_format, "threshold": threshold, "dense": dense,
               "formats": formats}
    engine = Engine(artifact, lanes, **options)
    evaluator = Engine(artifact, eval_lanes, **options)
    task = task_from_spec(spec.task)
    held_out = held_out_batch(spec)
    result = SimulationResult(spec, settings, formats=formats)
    per_sequence: list[np.ndarray] = []

    def train_step(data: SequenceBatch) -> float:
        loss, counts = train_batch(engine, spec, data)
        per_sequence.append(counts)
        return loss

    def evaluate_now(step: int) -> tuple[float, dict[str, float]]:
        evaluator.load_shared(engine)
        loss, values, counts = evaluate(evaluator, held_out, task)
        counts.step = step
        result.evaluations.append(counts)
        return loss, values

    result.metrics, result.wall_time = run_loop(spec, train_step, evaluate_now, run_dir, on_step)
    result.training = (np.concatenate(per_sequence) if per_sequence
                       else np.zeros((0, len(FIELDS)), np.int64))
    result.training_per_core = engine.core_totals.copy()
    result.inference_per_core = evaluator.core_totals.copy()
    result.training_by_op = engine.take_op_counts()
    result.inference_by_op = evaluator.take_op_counts()
    result.params = engine.parameters()
    if run_dir is not None:
        write_run(run_dir, result, engine, artifact, task.metrics)
    return result


# -- run folder ----------------------------------------------------------------------------

def _fields(row: np.ndarray) -> dict[str, int]:
    return {name: int(v) for name, v in zip(FIELDS, row, strict=True)}


def _columns(rows: np.ndarray) -> dict[str, list[int]]:
    return {name: [int(v) for v in rows[:, k]] for k, name in enumerate(FIELDS)}


def _by_op(table: np.ndarray) -> dict[str, dict[str, int]]:
    return {name: _fields(row) for name, row in zip(OP_NAMES, table, strict=True) if row.any()}


def counters_document(result: SimulationResult, artifact: Artifact) -> dict[str, Any]:
    """counters.json: totals per core and per op kind, per training sequence, and per
    held-out sequence and time step of every evaluation (definitions: docs/hwsim.md)."""
    program = artifact.program
    steps = task_from_spec(result.spec.task).sequence_length
    cores = [{"core": c.core, "layer": c.layer, "slice": c.slice_index, "neurons": c.neurons}
             for c in program.cores]

    def per_core(table: np.ndarray | None) -> list[dict[str, int]]:
        return [] if table is None else [_fields(row) for row in table]

    return {
        "fields": list(FIELDS),
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


def write_run(run_dir: RunDirectory, result: SimulationResult, engine: Engine,
              artifact: Artifact, metrics: tuple[Metric, ...]) -> None:
    """Checkpoint, curve, summary and counters, like ``neuropc train`` plus counters.json."""
    optimizer = Optimizer(result.spec.rule.optimizer)
    moments = engine.optimizer_state()
    optimizer.first, optimizer.second = moments["adam_m"], moments["adam_v"]
    optimizer.count = engine.count
    run_dir.write_checkpoint(result.spec, result.params, optimizer, result.settings.steps)
    run_dir.write_curve(result.metrics, metrics)
    train_seqs = max(int(result.training.shape[0]), 1)
    summary = {"wall_time_s": round(result.wall_time, 3), **result.final,
               "simulator": result.settings.as_json(),
               "training_per_sequence": result.training_total.per_sequence(train_seqs)}
    if result.evaluations:
        summary["inference_per_sequence"] = result.evaluations[-1].per_sequence()
    run_dir.write_summary(summary)
    text = json.dumps(counters_document(result, artifact), separators=(",", ":"))
    (run_dir.path / "counters.json").write_text(text + "\n")
