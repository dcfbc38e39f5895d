"""A terminal progress bar for training, showing the running loss and the last evaluation."""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from neuropc.tasks.base import Metric, metric_text


class TrainingProgress:
    """``metrics``: the task's metrics, shown by label after the held-out loss."""

    def __init__(self, total: int, description: str = "training", metrics: Sequence[Metric] = (),
                 start: int = 0) -> None:
        self._metrics = tuple(metrics)
        self._progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]}"), TextColumn("{task.fields[evaluation]}"),
            TimeRemainingColumn(),
        )
        self._task = self._progress.add_task(description, total=total, completed=start, loss="-",
                                             evaluation="")
        self._running: float | None = None

    def __enter__(self) -> TrainingProgress:
        self._progress.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._progress.stop()

    def update(self, step: int, loss: float, evaluation: dict | None) -> None:
        """Exponential running mean of the batch loss; the latest held-out numbers."""
        fields: dict[str, str] = {}
        if loss == loss:  # not NaN
            self._running = loss if self._running is None else 0.95 * self._running + 0.05 * loss
            fields["loss"] = f"{self._running:.4f}"
        if evaluation is not None:
            text = f"held-out loss {evaluation['eval_loss']:.3f}"
            fields["evaluation"] = text + metric_text(self._metrics, evaluation, digits=3)
        self._progress.update(self._task, completed=step, **fields)
