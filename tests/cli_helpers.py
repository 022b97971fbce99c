"""Helpers for tests that drive the CLI: the CLI run in process, a NIAH data file, a free
loopback port, an `accelerate launch` command line, and `ctxlab serve`'s app served by uvicorn
in a thread."""

from __future__ import annotations

import contextlib
import io
import os
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from ctxlab.cli.main import main


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


def niah_file(path: Path, num_samples: int, depths: str = "0,50,100", length: int = 256) -> Path:
    """`ctxlab data niah` of niah_single_1 into `path`."""
    argv = [
        "data",
        "niah",
        "--variant",
        "niah_single_1",
        "--context-length",
        str(length),
        "--depths",
        depths,
        "--num-samples",
        str(num_samples),
        "-o",
        str(path),
    ]
    code, _, err = run_cli(argv)
    assert code == 0, err
    return path


def accelerate_launch(processes: int, *args: str) -> list[str]:
    """`accelerate launch` of `processes` local processes (gloo on CPU: `--multi_gpu` is its
    torchrun launcher; `--cpu --num_processes 2` would start one process without MPI)."""
    launcher = os.path.join(os.path.dirname(sys.executable), "accelerate")
    return [
        launcher,
        "launch",
        "--multi_gpu",
        "--num_processes",
        str(processes),
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        "--main_process_port",
        str(free_port()),
        *args,
    ]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serving(
    loaded, name: str, port: int | None = None, batch_size: int = 4
) -> Iterator[tuple[str, object]]:
    """`ctxlab serve`'s app on `loaded` in a thread: (base URL, app); `app.state.stop()` shuts
    the server down early (a server that goes away mid-eval)."""
    import uvicorn

    from ctxlab.serve import make_app

    app = make_app(loaded, name, batch_size=batch_size)
    port = port or free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="critical")
    running = uvicorn.Server(config)
    app.state.stop = lambda: setattr(running, "should_exit", True)
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    for _ in range(400):
        if running.started:
            break
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}/v1", app
    finally:
        running.should_exit = True
        thread.join(timeout=10)
