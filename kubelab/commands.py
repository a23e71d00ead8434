"""Running a command to its end: check=True and a timeout always, and an error of one line
naming the command and the last lines it wrote to stderr."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from kubelab.errors import EnvironmentProblem
from kubelab.waits import SHORT


class CommandFailed(EnvironmentProblem):
    """A command exited non-zero or ran out of time; ``stderr`` is all it wrote there."""

    def __init__(self, message: str, stderr: str = "") -> None:
        super().__init__(message)
        self.stderr = stderr


def last_lines(text: str, count: int = 3) -> str:
    """The last ``count`` non-empty lines of ``text`` joined on one line ("no output": none)."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return " ".join(lines[-count:]) or "no output"


def run(
    argv: Sequence[str | Path],
    *,
    timeout: float = SHORT,
    what: str = "",
    input: str | None = None,
    stdin: IO[Any] | None = None,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    detail: Callable[[str], str] = last_lines,
) -> str:
    """Run ``argv`` to its end (default timeout 30 s); its stdout. Raises CommandFailed naming
    the command (or ``what``) and ``detail`` of its stderr (by default its last lines).
    ``input`` is written to its stdin, or ``stdin`` (a pipe) is its stdin."""
    shown = what or " ".join(map(str, argv))
    try:
        done = subprocess.run(
            [str(arg) for arg in argv],
            check=True,
            timeout=timeout,
            capture_output=True,
            text=True,
            input=input,
            stdin=stdin,
            cwd=cwd,
            env=env,
        )
    except subprocess.CalledProcessError as exc:
        said = exc.stderr or exc.stdout or ""
        raise CommandFailed(
            f"{shown} failed with exit {exc.returncode}: {detail(said)}", said
        ) from None
    except subprocess.TimeoutExpired:
        raise CommandFailed(f"{shown} did not finish within {timeout:g} s") from None
    return done.stdout


def query(argv: Sequence[str | Path], *, timeout: float = SHORT) -> str | None:
    """The stdout of a command whose failure is an answer (an image that is not there): None
    when it exits non-zero. A timeout still raises CommandFailed."""
    try:
        return run(argv, timeout=timeout)
    except CommandFailed as exc:
        if "did not finish within" in str(exc):
            raise
        return None
