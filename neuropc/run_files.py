"""What a training run leaves on disk, in one folder the user can read without neuropc.

    spec.yaml        the resolved spec (defaults filled in); `neuropc train` accepts it again
    metrics.jsonl    one JSON object per evaluation
    curve.png        learning curve (loss and the task's headline metric)
    checkpoint.npz   final parameters, optimizer state, step and the spec text
    summary.json     final metrics and wall time
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from neuropc.errors import NeuropcError
from neuropc.reference.network import Params
from neuropc.reference.optim import Optimizer
from neuropc.spec.loading import dump_spec, parse_spec
from neuropc.spec.schema import NetworkSpec
from neuropc.tasks.base import Metric, headline_metric


def default_run_path(spec: NetworkSpec, root: Path = Path("runs")) -> Path:
    return root / f"{spec.name}-{spec.rule.name}-{time.strftime('%Y%m%d-%H%M%S')}"


class RunDirectory:
    """A run folder; refuses to reuse a non-empty folder unless told to (``force``)."""

    def __init__(self, path: Path, force: bool = False) -> None:
        if path.exists() and not path.is_dir():
            raise NeuropcError(f"{path}: exists and is not a folder; choose another --out")
        if path.is_dir() and any(path.iterdir()) and not force:
            raise NeuropcError(
                f"{path}: folder is not empty; pass --force to overwrite its run files "
                "or choose another --out"
            )
        path.mkdir(parents=True, exist_ok=True)
        self.path = path
        (path / "metrics.jsonl").write_text("")

    def write_spec(self, spec: NetworkSpec) -> None:
        (self.path / "spec.yaml").write_text(dump_spec(spec))

    def append_metrics(self, row: dict) -> None:
        with open(self.path / "metrics.jsonl", "a") as handle:
            handle.write(json.dumps(row) + "\n")

    def write_summary(self, summary: dict) -> None:
        (self.path / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")

    def write_checkpoint(self, spec: NetworkSpec, params: Params, optimizer: Optimizer,
                         step: int) -> None:
        arrays = {f"param/{name}": value for name, value in params.items()}
        arrays.update({f"optimizer/{k}": v for k, v in optimizer.state_arrays().items()})
        arrays["step"] = np.array(step)
        arrays["spec_yaml"] = np.array(dump_spec(spec))
        np.savez(self.path / "checkpoint.npz", **arrays)

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
        fig.savefig(self.path / "curve.png", dpi=110)
        plt.close(fig)


def load_checkpoint(path: Path) -> tuple[NetworkSpec, Params, int]:
    """Spec, parameters and step of a checkpoint written by a training run."""
    try:
        with np.load(path) as data:
            params = {k.split("/", 1)[1]: data[k] for k in data.files if k.startswith("param/")}
            spec = parse_spec(str(data["spec_yaml"]), f"{path}:spec_yaml")
            return spec, params, int(data["step"])
    except (OSError, ValueError, KeyError) as exc:
        raise NeuropcError(f"{path}: not a readable neuropc checkpoint ({exc})") from None
