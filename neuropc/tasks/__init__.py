"""Tasks produce time-major batches and score the network's outputs; every task is registered
in ``neuropc.tasks.registry`` by importing its module here."""

from __future__ import annotations

from neuropc.tasks.base import EVAL_STREAM, Metric, ScoreTotals, SequenceBatch, Task, TaskSpecBase
from neuropc.tasks.charlm import CharLMSpec, CharLMTask
from neuropc.tasks.copy import CopyTask, CopyTaskSpec
from neuropc.tasks.registry import (
    register_task,
    task_entries,
    task_from_params,
    task_from_spec,
    task_names,
    unregister_task,
)
from neuropc.tasks.sysid import SysIdSpec, SysIdTask

__all__ = [
    "EVAL_STREAM", "CharLMSpec", "CharLMTask", "CopyTask", "CopyTaskSpec", "Metric", "ScoreTotals",
    "SequenceBatch", "SysIdSpec", "SysIdTask", "Task",
    "TaskSpecBase", "register_task", "task_entries", "task_from_params", "task_from_spec", "task_names",
    "unregister_task",
]
