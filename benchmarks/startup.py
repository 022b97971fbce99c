"""Start-up time of the CLI against a bare interpreter, measured in the same run.

`ctxlab --help` and `ctxlab models` must answer in well under a second (goal: < 1 s wall on a
quiet machine): the CLI imports a command's module only when that command runs, and torch,
transformers, z3 and faiss only inside the handlers that need them. Each command runs `--repeat`
times, interleaved with `python -c pass` so that load from other processes hits all alike; the
median wall time of each is printed, with the load average.

    python benchmarks/startup.py [--repeat 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

BIN = Path(sys.executable).parent
COMMANDS = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "ctxlab --help": [str(BIN / "ctxlab"), "--help"],
    "ctxlab models": [str(BIN / "ctxlab"), "models"],
    "ctxlab presets": [str(BIN / "ctxlab"), "presets"],
}


def wall(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    load = os.getloadavg()[0]
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(args.repeat):
        for name, argv in COMMANDS.items():
            times[name].append(wall(argv))
    base = statistics.median(times["python -c pass"])
    print(f"load average at start {load:.2f}; median of {args.repeat} runs each")
    for name, values in times.items():
        median = statistics.median(values)
        goal = "" if name.startswith("python") else f"  {'ok' if median < 1.0 else 'SLOW'} (< 1 s)"
        print(f"{name:16} {median * 1000:7.0f} ms  ({median / base:4.1f}x python -c pass){goal}")


if __name__ == "__main__":
    main()
