"""Helpers for tests that talk to a real `ctxlab serve` app: the CLI run in process, a free
loopback port, and the app served by uvicorn in a thread."""

from __future__ import annotations

import contextlib
import io
import socket
import threading
import time
from collections.abc import Iterator

from ctxlab.cli.main import main


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


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
