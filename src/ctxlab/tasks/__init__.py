"""Tasks register by name; importing this package registers the built-in ones."""

from ctxlab.tasks import folio, kv, multidoc, niah, prontoqa, qa  # noqa: F401
from ctxlab.tasks.base import (
    TASKS,
    Example,
    Task,
    TaskConfig,
    get_task_class,
    read_jsonl,
    write_jsonl,
)

__all__ = ["TASKS", "Example", "Task", "TaskConfig", "get_task_class", "read_jsonl", "write_jsonl"]
