"""The one file lock: processes (test sessions, `kubelab local`) take turns on shared state."""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path

from kubelab.errors import EnvironmentProblem


@contextlib.contextmanager
def file_lock(path: Path, *, wait: bool = True, busy: str = "") -> Iterator[None]:
    """Hold an exclusive lock on ``path``; without ``wait``, EnvironmentProblem(busy) if held."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            raise EnvironmentProblem(busy or f"lock {path} is held by another process") from None
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
