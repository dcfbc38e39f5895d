"""A sweep's results, gathered from its run folders: results.csv, results.md and one plot per
swept path.

Everything is read back from the run folders (summary.json, energy.json), never from the
workers' return values, so a resumed sweep's tables include the trials an earlier run
finished, and a table always says what is on disk.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from neuropc.atomic_files import atomic_write
from neuropc.sweep.folder import SweepFolder
from neuropc.sweep.naming import value_text
from neuropc.sweep.trial import TrialOutcome
from neuropc.tasks import task_from_spec
from neuropc.tasks.base import headline_metric

#: per training sequence (summary.json ``training_per_sequence``) -> results column
SIMULATE_COLUMNS = {"synaptic_ops_effective": "train_synaptic_ops", "synaptic_ops_dense": "train_dense_synaptic_ops",
                    "messages": "train_messages"}
#: columns results.md shows (when present), after the settings
SHOWN = ("status", "eval_loss", "train_synaptic_ops", "effective_over_dense", "energy_ratio", "wall_time_s")


@dataclass
class SweepResults:
    """The rows of results.csv (one per trial, in sweep order), the sweep folder (a row's
    ``folder`` is its run folder relative to it) and the files written."""

    rows: list[dict[str, Any]]
    path: Path
    files: list[Path]

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [row for row in self.rows if row["status"] == "failed"]


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def trial_row(folder: SweepFolder, index: int, outcome: TrialOutcome | None) -> dict[str, Any]:
    """One trial's row: its settings, status (done, failed, not run), final held-out metrics,
    counts per training sequence and energy (simulate), wall time and error."""
    trial, job = folder.sweep.trials[index], folder.jobs[index]
    row: dict[str, Any] = {"trial": trial.name, **{path: value_text(value) for path, value in trial.settings}}
    summary = _read_json(job.folder / "summary.json") if job.name in folder.finished or (
        outcome is not None and outcome.status == "done") else None
    row["status"] = "done" if summary is not None else (outcome.status if outcome is not None else "not run")
    if summary is not None:
        row.update({key: value for key, value in summary.items()
                    if key.startswith(("eval_", "train_loss")) and not isinstance(value, dict | list)})
        per_sequence = summary.get("training_per_sequence") or {}
        row.update({column: per_sequence[key] for key, column in SIMULATE_COLUMNS.items() if key in per_sequence})
        if per_sequence.get("synaptic_ops_dense"):
            row["effective_over_dense"] = per_sequence["synaptic_ops_effective"] / per_sequence["synaptic_ops_dense"]
        energy = _read_json(job.folder / "energy.json")
        if energy is not None:
            training = energy.get("training", {})
            ratio = training.get("ratio", {})
            row["energy_chip_J"] = training.get("chip", {}).get("joules")
            row["energy_conventional_J"] = training.get("conventional", {}).get("joules")
            row["energy_ratio"] = ratio.get("value")
            row["energy_ratio_low"] = ratio.get("low")
            row["energy_ratio_high"] = ratio.get("high")
        row["wall_time_s"] = summary.get("wall_time_s")
    row["trial_seconds"] = round(outcome.seconds, 3) if outcome is not None else None  # incl. compiling
    row["worker"] = outcome.worker if outcome is not None else ""  # host:pid of this run's attempt
    row["folder"] = str(job.folder.relative_to(folder.path))
    row["error"] = outcome.error if outcome is not None and row["status"] == "failed" else ""
    return row


def _columns(rows: Sequence[dict[str, Any]]) -> list[str]:
    columns: dict[str, None] = {}
    for row in rows:
        columns.update(dict.fromkeys(row))
    last = ("trial_seconds", "worker", "folder", "error")
    return [*(c for c in columns if c not in last), *last]


def _csv(rows: Sequence[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=_columns(rows), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def _cell(value: Any) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        return f"{value:,.0f}" if abs(value) >= 1e4 else f"{value:.4g}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value).replace("|", "\\|")


def _markdown(folder: SweepFolder, rows: Sequence[dict[str, Any]], command: str) -> str:
    sweep = folder.sweep
    metrics = [c for c in _columns(rows) if c.startswith("eval_") and c != "eval_loss"]
    shown = [*sweep.varying, "status", "eval_loss", *metrics, *[c for c in SHOWN[2:] if any(c in r for r in rows)]]
    done = sum(row["status"] == "done" for row in rows)
    lines = [f"# Sweep {Path(sweep.source).name}", "",
             f"`{command}`: {len(rows)} trials of `neuropc {sweep.command}"
             f"{' --energy-report' if sweep.energy_report else ''}`, {done} done. "
             "Final held-out values of each run (`runs/TRIAL/summary.json`); ops and messages per training "
             "sequence; energy ratio: BPTT on the conventional profile over the chip, per training sequence; "
             "wall time of the trial's run, measured on its worker.", "",
             "| " + " | ".join(shown) + " |", "|" + "---|" * len(shown)]
    lines += ["| " + " | ".join(_cell(row.get(column)) for column in shown) + " |" for row in rows]
    failed = [row for row in rows if row["status"] == "failed"]
    if failed:
        lines += ["", "Failed trials:", ""]
        lines += [f"- {row['trial']}: {row['error'].splitlines()[0] if row['error'] else ''}" for row in failed]
    return "\n".join(lines) + "\n"


def _numeric(values: Sequence[str]) -> list[float] | None:
    try:
        return [float(value) for value in values]
    except ValueError:
        return None


def _plot(folder: SweepFolder, rows: Sequence[dict[str, Any]], path: str, panels: Sequence[tuple[str, str]]) -> Path:
    """``panels`` (column, label) against the values of ``path``, one line per combination of
    the other swept paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    others = [p for p in folder.sweep.varying if p != path]
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        if row["status"] == "done" and path in row:
            label = ", ".join(f"{p}={row[p]}" for p in others if p in row) or "all"
            groups.setdefault(label, []).append(row)
    order = list(dict.fromkeys(row[path] for row in rows if path in row))
    numeric = _numeric(order)
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 3.8), squeeze=False)
    for ax, (column, label) in zip(axes[0], panels, strict=True):
        for group, members in groups.items():
            points = [(row[path], row[column]) for row in members if row.get(column) is not None]
            if numeric is not None:
                points.sort(key=lambda point: float(point[0]))
                xs: list[Any] = [float(x) for x, _ in points]
            else:
                points.sort(key=lambda point: order.index(point[0]))
                xs = [x for x, _ in points]
            ax.plot(xs, [y for _, y in points], marker="o", label=group)
        ax.set_xlabel(path)
        ax.set_ylabel(label)
        if len(groups) > 1:
            ax.legend(fontsize="small")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, dpi=110, format="png", metadata={"Software": "neuropc"})
    plt.close(fig)
    out = folder.path / f"{path}.png"
    atomic_write(out, buffer.getvalue())
    return out


def write_results(folder: SweepFolder, outcomes: dict[str, TrialOutcome], command: str) -> SweepResults:
    """results.csv, results.md and a plot per swept path with more than one value."""
    rows = [trial_row(folder, index, outcomes.get(trial.name)) for index, trial in enumerate(folder.sweep.trials)]
    atomic_write(folder.path / "results.csv", _csv(rows))
    atomic_write(folder.path / "results.md", _markdown(folder, rows, command))
    files = [folder.path / "results.csv", folder.path / "results.md"]
    headline = headline_metric(task_from_spec(folder.sweep.trials[0].spec.task).metrics)
    panels = [(headline.column, f"held-out {headline.label}")] if headline is not None else []
    panels.append(("train_synaptic_ops", "synaptic ops per training sequence") if folder.sweep.command == "simulate"
                  else ("eval_loss", "held-out loss"))
    for path in folder.sweep.varying:
        if len({row[path] for row in rows if path in row}) > 1 and any(row["status"] == "done" for row in rows):
            files.append(_plot(folder, rows, path, panels))
    return SweepResults(rows, folder.path, files)
