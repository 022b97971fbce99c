"""Run directories: `RUNS/NAME/YYYYmmdd_HHMMSS/` plus a `RUNS/NAME/latest` link.

A run is written under a hidden temporary name and renamed into place only when it finishes,
so a crash or a bad input leaves no half-written run, and a run never overwrites another. A run
that sets `keep_on_error` (training with checkpoints worth resuming, an evaluation with the
predictions it has made) is left where it is, under its temporary name, when it fails; a later
run can take that directory over (`adopt`, found by `find_incomplete`) and finish it.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from pathlib import Path


class RunDir:
    """A run being written. Use as a context manager: finished on success, removed on error."""

    def __init__(self, runs_dir: str | Path, name: str, adopt: Path | None = None):
        if not name or "/" in name or name.startswith("."):
            raise ValueError(f"run name {name!r} must be a plain directory name")
        self.base = Path(runs_dir) / name
        self.base.mkdir(parents=True, exist_ok=True)
        if adopt is not None:  # a failed run's directory, finished under its own stamp
            self.stamp = adopt.name.split("-")[1]
            self.path = adopt
        else:
            self.stamp = time.strftime("%Y%m%d_%H%M%S")
            self.path = self.base / f".incomplete-{self.stamp}-{os.getpid()}"
            self.path.mkdir()
        self.keep_on_error = False
        self.logger = logging.getLogger(f"ctxlab.run.{id(self)}")
        self.logger.setLevel(logging.INFO)
        self._handler = logging.FileHandler(self.path / "run.log", encoding="utf-8")
        self._handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        self.logger.addHandler(self._handler)

    @property
    def adopted(self) -> bool:
        return not self.path.name.endswith(f"-{os.getpid()}")

    def log(self, message: str) -> None:
        self.logger.info(message)

    def finish(self) -> Path:
        """Rename into `RUNS/NAME/<stamp>` (suffixed if taken) and point `latest` at it."""
        self._close_log()
        final, k = self.base / self.stamp, 1
        while final.exists():
            final, k = self.base / f"{self.stamp}_{k}", k + 1
        os.replace(self.path, final)
        link_tmp = self.base / f".latest-{os.getpid()}"
        if link_tmp.is_symlink() or link_tmp.exists():
            link_tmp.unlink()
        link_tmp.symlink_to(final.name)
        os.replace(link_tmp, self.base / "latest")
        self.path = final
        return final

    def abort(self) -> None:
        self._close_log()
        shutil.rmtree(self.path, ignore_errors=True)
        if self.base.is_dir() and not any(self.base.iterdir()):
            self.base.rmdir()

    def _close_log(self) -> None:
        self.logger.removeHandler(self._handler)
        self._handler.close()

    def __enter__(self) -> RunDir:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.finish()
        elif self.keep_on_error:
            self._close_log()
        else:
            self.abort()


def _alive(pid: int) -> bool:
    """Whether another process with this id runs (this one's failed runs are over)."""
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def find_incomplete(runs_dir: str | Path, name: str, marker: str, config_text: str) -> Path | None:
    """The newest incomplete run of `name` left by a process that is gone, holding `marker` and
    written with exactly `config_text` as its config.yaml: what a rerun can continue."""
    found = []
    for path in (Path(runs_dir) / name).glob(".incomplete-*"):
        pid = path.name.rsplit("-", 1)[-1]
        config = path / "config.yaml"
        if not (path / marker).is_file() or not config.is_file() or not pid.isdigit():
            continue
        if not _alive(int(pid)) and config.read_text(encoding="utf-8") == config_text:
            found.append(path)
    return max(found, key=lambda p: p.stat().st_mtime) if found else None
