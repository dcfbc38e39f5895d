"""The one table from task names to spec models and task classes.

A task module registers its spec model (a ``TaskSpecBase`` subclass whose ``name`` is a single
literal) together with a factory that builds the ``Task`` from a validated spec. The spec's
``task:`` union is built from this table, and ``task_from_spec`` is the only lookup, so adding
a task is adding a module and one ``register_task`` call. Code that holds a model built from
the table (``NetworkSpec``) subscribes with ``on_change`` and rebuilds itself when it changes.

This module imports nothing from ``neuropc.spec``: the spec imports the tasks, not the
other way round.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args, get_origin

from neuropc.tasks.base import Task, TaskSpecBase


@dataclass(frozen=True)
class TaskEntry:
    """A registered task: its name, spec model and the factory that builds it from a spec."""

    name: str
    spec_type: type[TaskSpecBase]
    factory: Callable[[Any], Task]


_ENTRIES: dict[str, TaskEntry] = {}
_LISTENERS: list[Callable[[], None]] = []


def _literal_name(spec_type: type[TaskSpecBase]) -> str:
    """The single literal a spec model's ``name`` field allows: the union's discriminator."""
    field = spec_type.model_fields.get("name")
    annotation = field.annotation if field is not None else None
    values = get_args(annotation) if get_origin(annotation) is Literal else ()
    if len(values) != 1 or not isinstance(values[0], str):
        raise TypeError(f"{spec_type.__name__}.name must be a Literal of one string, got {annotation!r}")
    return values[0]


def register_task(spec_type: type[TaskSpecBase], factory: Callable[[Any], Task]) -> TaskEntry:
    """Add a task; its name comes from ``spec_type.name``. A name can be registered once."""
    if not (isinstance(spec_type, type) and issubclass(spec_type, TaskSpecBase)):
        raise TypeError(f"a task spec must subclass TaskSpecBase, got {spec_type!r}")
    name = _literal_name(spec_type)
    if name in _ENTRIES:
        raise ValueError(f"task {name!r} is already registered ({_ENTRIES[name].spec_type.__name__})")
    entry = TaskEntry(name, spec_type, factory)
    _ENTRIES[name] = entry
    _notify()
    return entry


def unregister_task(name: str) -> None:
    """Remove a task (tests that register a task of their own clean up with this)."""
    if name not in _ENTRIES:
        raise KeyError(f"task {name!r} is not registered")
    del _ENTRIES[name]
    _notify()


def task_entries() -> tuple[TaskEntry, ...]:
    """The registered tasks in registration order."""
    return tuple(_ENTRIES.values())


def task_names() -> tuple[str, ...]:
    return tuple(_ENTRIES)


def task_from_spec(spec: TaskSpecBase) -> Task:
    """The task a validated spec section describes (the registry's one lookup)."""
    entry = _ENTRIES.get(getattr(spec, "name", None))
    if entry is None or not isinstance(spec, entry.spec_type):
        known = ", ".join(_ENTRIES) or "none"
        raise ValueError(f"no task registered for {spec!r} (known tasks: {known})")
    return entry.factory(spec)


def task_from_params(params: Mapping[str, Any]) -> Task:
    """The task of a task section given as plain data (an artifact's task contract): the
    registered spec model of ``params["name"]`` validates it, then ``task_from_spec``."""
    entry = _ENTRIES.get(params.get("name"))
    if entry is None:
        known = ", ".join(_ENTRIES) or "none"
        raise ValueError(f"no task registered for name {params.get('name')!r} (known tasks: {known})")
    return task_from_spec(entry.spec_type.model_validate(dict(params)))


def on_change(listener: Callable[[], None]) -> None:
    """Call ``listener()`` after every registration change (models built from the table rebuild)."""
    _LISTENERS.append(listener)


def _notify() -> None:
    for listener in _LISTENERS:
        listener()
