"""Tasks produce time-major batches; each spec task name maps to one generator here."""

from __future__ import annotations

from neuropc.spec.schema import TaskSpec
from neuropc.tasks.base import SequenceBatch
from neuropc.tasks.copy import CopyTask

Task = CopyTask


def task_from_spec(spec: TaskSpec) -> Task:
    if spec.name == "copy":
        return CopyTask(spec)
    raise ValueError(f"no generator for task {spec.name!r}")


__all__ = ["CopyTask", "SequenceBatch", "Task", "task_from_spec"]
