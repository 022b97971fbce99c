"""What several command modules share: quiet libraries, task flags, printing a run's summary."""

from __future__ import annotations

import argparse

from ctxlab.cli.flags import add_flags


def quiet_libraries() -> None:
    """Before a command runs a model: no library progress bars or warnings in normal output
    (ctxlab prints its own), and torch's threads set to the cores this process may use."""
    import warnings

    from transformers.utils import logging as hf_logging

    from ctxlab.threads import configure_threads

    configure_threads()

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    warnings.filterwarnings("ignore", category=FutureWarning, module="transformers")


def peek(argv: list[str], flag: str) -> str | None:
    """The value given to `flag` in `argv` (`--task x` or `--task=x`), before parsing."""
    for i, arg in enumerate(argv):
        if arg == flag and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith(flag + "="):
            return arg.split("=", 1)[1]
    return None


def task_flags(
    parser: argparse.ArgumentParser, name: str, skip: tuple[str, ...] = ()
) -> dict[str, str]:
    """The flags of one task's config fields (so two tasks' flags never collide); `skip` leaves
    out fields whose flag the command uses for something else."""
    from ctxlab.tasks.base import get_task_class

    cls = get_task_class(name)
    group = parser.add_argument_group(f"--task {name} (see `--task NAME --help` for another)")
    return add_flags(group, cls.config_class, "task.", skip=("name", *skip))


def preset_task(argv: list[str], default: str = "niah") -> str:
    """The task a command line is about: `--task`, else its preset's, else `default`."""
    name = peek(argv, "--task")
    preset = peek(argv, "--config")
    if name is None and preset is not None:
        from ctxlab.config import load_preset

        name = (load_preset(preset).get("task") or {}).get("name")
    return name or default


def print_summary(summary) -> None:
    if summary.run_dir is None:  # another process of a data-parallel run writes and reports it
        return
    print(summary.headline)
    print(f"run directory: {summary.run_dir}")
    if (summary.run_dir / "report.md").is_file():
        print(f"report: {summary.run_dir / 'report.md'}")
