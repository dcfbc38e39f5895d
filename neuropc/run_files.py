"""What a training run leaves on disk, in one folder the user can read without neuropc.

    spec.yaml        the resolved spec (defaults filled in); `neuropc train` accepts it again
    metrics.jsonl    one JSON object per evaluation
    curve.png        learning curve (loss and the task's headline metric)
    checkpoint.npz   parameters, optimizer state, step, the spec text and the loop's state
                     (random stream, pending losses): everything `--resume` needs
    summary.json     final metrics and wall time

Every file is written to a temporary file in the folder and renamed over the old one
(``os.replace`` is atomic), so a crash or a kill never leaves a half-written file: a reader
sees the previous version or the new one.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from neuropc.atomic_files import atomic_write
from neuropc.errors import NeuropcError
from neuropc.reference.network import Params
from neuropc.spec.loading import dump_spec, parse_spec
from neuropc.spec.schema import NetworkSpec
from neuropc.tasks.base import Metric, headline_metric

#: the files neuropc writes into a run folder; ``--force`` replaces these and nothing else
RUN_FILES = frozenset({"spec.yaml", "metrics.jsonl", "curve.png", "checkpoint.npz", "summary.json",
                       "counters.json", "energy.json", "energy.png"})


def default_run_path(spec: NetworkSpec, root: Path = Path("runs")) -> Path:
    return root / f"{spec.name}-{spec.rule.name}-{time.strftime('%Y%m%d-%H%M%S')}"



@dataclass
class LoopState:
    """Where the training loop is: all of it goes into a checkpoint, so a resumed run takes
    exactly the batches, evaluations and updates the uninterrupted one would have."""

    step: int = 0
    rng: dict[str, Any] | None = None  # the training stream's bit generator state
    interval_losses: list[float] = field(default_factory=list)  # since the last evaluation
    guard: dict[str, Any] = field(default_factory=dict)  # the divergence guard's memory
    elapsed: float = 0.0  # seconds of training before this process
    metrics: list[dict] = field(default_factory=list)  # rows so far

    def to_json(self) -> dict[str, Any]:
        return {"step": self.step, "rng": self.rng, "interval_losses": self.interval_losses,
                "guard": self.guard, "elapsed": self.elapsed}


@dataclass
class Checkpoint:
    """A checkpoint.npz as read back: spec, parameters, optimizer state and loop state, plus
    what a backend run keeps besides (``extra`` arrays, ``info`` JSON)."""

    spec: NetworkSpec
    params: Params
    optimizer: dict[str, np.ndarray]  # Optimizer.state_arrays() layout
    loop: LoopState
    extra: dict[str, np.ndarray] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def step(self) -> int:
        return self.loop.step

    def moments(self) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], int]:
        """(Adam first moments, second moments, optimizer steps) by parameter name."""
        first = {k[len("adam_m/"):]: v for k, v in self.optimizer.items() if k.startswith("adam_m/")}
        second = {k[len("adam_v/"):]: v for k, v in self.optimizer.items() if k.startswith("adam_v/")}
        return first, second, int(self.optimizer.get("adam_count", 0))


class RunDirectory:
    """A run folder. A folder that exists and is not empty is reused only with ``force``, and
    only if everything in it is a run file neuropc writes (``RUN_FILES``): a user's own files
    are never replaced. ``resume`` opens a run folder to continue it, keeping its files."""

    def __init__(self, path: Path, force: bool = False, resume: bool = False) -> None:
        self.path = path
        self.rows: list[dict] = []
        if resume:
            if not (path / "checkpoint.npz").is_file():
                raise NeuropcError(f"{path}: no checkpoint.npz to resume from (is it a run folder? "
                                   "set run.checkpoint_every to checkpoint during a run)")
            return
        check_run_folder(path, force)
        path.mkdir(parents=True, exist_ok=True)
        self.write_metrics([])

    def write_spec(self, spec: NetworkSpec) -> None:
        atomic_write(self.path / "spec.yaml", dump_spec(spec))

    def write_metrics(self, rows: list[dict]) -> None:
        """metrics.jsonl with exactly these rows (rewritten whole, atomically)."""
        self.rows = list(rows)
        atomic_write(self.path / "metrics.jsonl", "".join(json.dumps(row) + "\n" for row in self.rows))

    def append_metrics(self, row: dict) -> None:
        self.write_metrics([*self.rows, row])

    def write_summary(self, summary: dict) -> None:
        atomic_write(self.path / "summary.json", json.dumps(summary, indent=2) + "\n")

    def write_json(self, name: str, document: Mapping[str, Any], compact: bool = False) -> None:
        text = json.dumps(document, separators=(",", ":")) if compact else json.dumps(document, indent=2)
        atomic_write(self.path / name, text + "\n")

    def write_checkpoint(self, spec: NetworkSpec, params: Params, optimizer: Mapping[str, np.ndarray],
                         loop: LoopState, extra: Mapping[str, np.ndarray] | None = None,
                         info: Mapping[str, Any] | None = None) -> None:
        """checkpoint.npz: parameters, optimizer arrays (``Optimizer.state_arrays``), step,
        spec text, and the loop's state as JSON; ``extra``/``info``: what a backend run adds."""
        arrays = {f"param/{name}": value for name, value in params.items()}
        arrays.update({f"optimizer/{k}": v for k, v in optimizer.items()})
        arrays.update({f"extra/{k}": v for k, v in (extra or {}).items()})
        arrays["step"] = np.array(loop.step)
        arrays["spec_yaml"] = np.array(dump_spec(spec))
        arrays["loop_json"] = np.array(json.dumps(loop.to_json()))
        arrays["info_json"] = np.array(json.dumps(dict(info or {})))
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        atomic_write(self.path / "checkpoint.npz", buffer.getvalue())

    def write_curve(self, rows: list[dict], metrics: Sequence[Metric] = ()) -> None:
        """Loss on the left; on the right the task's headline metric (its label on the axis,
        its chance level as a dotted line), or nothing if the task has no metric."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        steps = [row["step"] for row in rows]
        fig, (loss_ax, metric_ax) = plt.subplots(1, 2, figsize=(10, 3.6))
        train = [(row["step"], row["train_loss"]) for row in rows if row["train_loss"] is not None]
        if train:
            loss_ax.plot(*zip(*train, strict=True), label="train (interval mean)")
        loss_ax.plot(steps, [row["eval_loss"] for row in rows], label="held-out")
        loss_ax.set_xlabel("training step")
        loss_ax.set_ylabel("loss")
        loss_ax.legend()
        headline = headline_metric(metrics)
        if headline is not None and rows and rows[0].get(headline.column) is not None:
            metric_ax.plot(steps, [row[headline.column] for row in rows], label="held-out")
            if headline.chance is not None:
                metric_ax.axhline(headline.chance, color="grey", linestyle=":", label="chance")
            if headline.unit == "fraction":
                metric_ax.set_ylim(0, 1.02)
            metric_ax.legend()
        metric_ax.set_xlabel("training step")
        if headline is not None:
            unit = "" if headline.unit == "fraction" else f" ({headline.unit})"
            metric_ax.set_ylabel(headline.label + unit)
        fig.tight_layout()
        buffer = io.BytesIO()
        fig.savefig(buffer, dpi=110, format="png", metadata={"Software": "neuropc"})
        plt.close(fig)
        atomic_write(self.path / "curve.png", buffer.getvalue())


def check_run_folder(path: Path, force: bool) -> None:
    """Refuse a run folder that would replace anything of the user's (see ``RunDirectory``);
    creates nothing, so commands call it before their work starts."""
    if not str(path).strip():
        raise NeuropcError("--out is empty; give a folder name")
    if path.exists() and not path.is_dir():
        raise NeuropcError(f"{path}: exists and is not a folder; choose another --out")
    if not path.is_dir():
        return
    entries = sorted(p.name for p in path.iterdir())
    if not entries:
        return
    foreign = [name for name in entries if name not in RUN_FILES and not name.endswith(".tmp")]
    if foreign:
        raise NeuropcError(f"{path}: folder holds {foreign[0]!r}, which neuropc did not write; "
                           "refusing to write a run into it (choose another --out)")
    if not force:
        raise NeuropcError(f"{path}: folder is not empty; pass --force to overwrite its run files "
                           "or choose another --out")


def read_checkpoint(path: Path) -> Checkpoint:
    """Everything a checkpoint holds; a file that is not one is a NeuropcError naming it."""
    if path.is_dir():
        raise NeuropcError(f"{path}: is a folder, expected a checkpoint.npz")
    try:
        with np.load(path, allow_pickle=False) as data:
            files = set(data.files)
            params = {k.split("/", 1)[1]: data[k] for k in files if k.startswith("param/")}
            optimizer = {k.split("/", 1)[1]: data[k] for k in files if k.startswith("optimizer/")}
            extra = {k.split("/", 1)[1]: data[k] for k in files if k.startswith("extra/")}
            spec = parse_spec(str(data["spec_yaml"]), f"{path}:spec_yaml")
            loop_json = json.loads(str(data["loop_json"])) if "loop_json" in files else {}
            info = json.loads(str(data["info_json"])) if "info_json" in files else {}
            step = int(data["step"])
    except NeuropcError:
        raise
    except (OSError, ValueError, KeyError, TypeError, EOFError) as exc:
        raise NeuropcError(f"{path}: not a readable neuropc checkpoint ({exc})") from None
    loop = LoopState(step=step, rng=loop_json.get("rng"),
                     interval_losses=[float(x) for x in loop_json.get("interval_losses", [])],
                     guard=dict(loop_json.get("guard", {})), elapsed=float(loop_json.get("elapsed", 0.0)))
    return Checkpoint(spec, params, optimizer, loop, extra, info)


def load_checkpoint(path: Path) -> tuple[NetworkSpec, Params, int]:
    """Spec, parameters and step of a checkpoint written by a training run."""
    checkpoint = read_checkpoint(path)
    return checkpoint.spec, checkpoint.params, checkpoint.step


def load_metrics(path: Path) -> list[dict]:
    """The rows of a run folder's metrics.jsonl."""
    try:
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    except (OSError, ValueError) as exc:
        raise NeuropcError(f"{path}: cannot read the run's metrics ({exc})") from None
