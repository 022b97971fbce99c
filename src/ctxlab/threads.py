"""How many threads torch computes with, and how busy the machine was: a slow run explains itself.

Two cores are easily oversubscribed: one extra busy process made an eval 8x slower here. So
the CLI sets torch's intra-op threads to the physical cores this process may use (its CPU
affinity, hyper-threads counted once, shared among `accelerate launch` processes), unless
`OMP_NUM_THREADS` names a count; every eval and training run prints the count with the load
average when it starts and records both in its summary.json.
"""

from __future__ import annotations

import os
from pathlib import Path


def _allowed_cpus() -> set[int]:
    if hasattr(os, "sched_getaffinity"):
        return set(os.sched_getaffinity(0))
    return set(range(os.cpu_count() or 1))


def physical_cores(cpus: set[int]) -> int:
    """Cores among `cpus`, two hyper-threads of one core counted once (Linux topology files;
    elsewhere every CPU counts)."""
    cores = set()
    for cpu in cpus:
        siblings = Path(f"/sys/devices/system/cpu/cpu{cpu}/topology/thread_siblings_list")
        try:
            cores.add(siblings.read_text(encoding="utf-8").strip())
        except OSError:
            cores.add(str(cpu))
    return max(1, len(cores))


def thread_count() -> int:
    """`OMP_NUM_THREADS` when it is a positive count, else the physical cores allowed, shared
    among the processes `accelerate launch` started on this machine."""
    given = os.environ.get("OMP_NUM_THREADS", "")
    if given.isdigit() and int(given) > 0:
        return int(given)
    local = os.environ.get("LOCAL_WORLD_SIZE", "1")
    processes = int(local) if local.isdigit() and int(local) > 0 else 1
    return max(1, physical_cores(_allowed_cpus()) // processes)


def configure_threads() -> dict:
    """Set torch's intra-op threads (see the module docstring); returns what `machine` reports."""
    import torch

    wanted = thread_count()
    if torch.get_num_threads() != wanted:
        torch.set_num_threads(wanted)
    return machine()


def machine() -> dict:
    """The threads torch uses now, the CPUs allowed, and the load average: for summary.json."""
    import torch

    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return {
        "threads": torch.get_num_threads(),
        "cpus_allowed": len(_allowed_cpus()),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "load_average": [round(x, 2) for x in load],
    }


def describe(info: dict) -> str:
    """`2 threads (2 CPUs allowed), load average 0.55 / 1.52 / 2.05`."""
    load = " / ".join(f"{x:.2f}" for x in info["load_average"])
    return f"{info['threads']} threads ({info['cpus_allowed']} CPUs allowed), load average {load}"
