"""Tasks by name: `get_task_class` finds the modules of this package and the `ctxlab.tasks`
entry points (see `ctxlab.tasks.base`)."""

from ctxlab.io import write_jsonl
from ctxlab.tasks.base import (
    TASKS,
    Example,
    Task,
    TaskConfig,
    all_tasks,
    get_task_class,
    read_jsonl,
    register,
    task_names,
)

__all__ = [
    "TASKS",
    "Example",
    "Task",
    "TaskConfig",
    "all_tasks",
    "get_task_class",
    "read_jsonl",
    "register",
    "task_names",
    "write_jsonl",
]
