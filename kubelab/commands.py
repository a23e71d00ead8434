"""Running commands. One run to its end has check=True and a timeout always: ``run`` returns
its output or raises an error of one line naming the command and the last lines it wrote to
stderr; ``stream`` passes each line on as it comes (long builds) and kills the command's whole
process group on a timeout or Ctrl-C; ``run_child`` runs a lab run, which cleans up when told
to stop. ``spawn`` starts a long-lived one (a daemon, a log follower) and returns at once.
A failure is CommandFailed (CommandTimedOut when it ran out of time) whatever the helper: no
caller needs subprocess's own exceptions. ``running`` tells whether a process still runs."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any, cast

from kubelab import signals
from kubelab.errors import EnvironmentProblem
from kubelab.waits import LONG, SHORT


class CommandFailed(EnvironmentProblem):
    """A command exited non-zero or ran out of time; ``stderr`` is all it wrote there (``stream``:
    the last lines of its output and errors)."""

    def __init__(self, message: str, stderr: str = "") -> None:
        super().__init__(message)
        self.stderr = stderr


class CommandTimedOut(CommandFailed):
    """A command did not finish within its timeout and was stopped."""


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
        raise CommandTimedOut(f"{shown} did not finish within {timeout:g} s") from None
    return done.stdout


def query(argv: Sequence[str | Path], *, timeout: float = SHORT) -> str | None:
    """The stdout of a command whose failure is an answer (an image that is not there): None
    when it exits non-zero. A timeout still raises CommandTimedOut."""
    try:
        return run(argv, timeout=timeout)
    except CommandTimedOut:
        raise
    except CommandFailed:
        return None


def stream(
    cmd: Sequence[str],
    *,
    timeout: float,
    on_line: Callable[[str], None],
    log_file: Path | None = None,
    env: dict[str, str] | None = None,
) -> None:
    """Run ``cmd``, passing each output line to ``on_line``; CommandFailed unless it exits 0.

    Its process group is killed after ``timeout`` seconds (CommandTimedOut).
    """
    proc = subprocess.Popen(
        list(cmd),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        env=env,
        # Its own process group, so a timeout or Ctrl-C kills the whole tree (a shell's children
        # would otherwise keep build mounts busy).
        start_new_session=True,
    )
    timed_out = threading.Event()

    def kill() -> None:
        timed_out.set()
        kill_group(proc)

    timer = threading.Timer(timeout, kill)
    timer.start()
    tail: list[str] = []
    log = log_file.open("w") if log_file else None
    try:
        for raw in cast(IO[str], proc.stdout):  # stdout=PIPE above
            line = raw.rstrip("\n")
            if log:
                log.write(raw)
            tail = [*tail[-19:], line]
            on_line(line)
        code = proc.wait()
    finally:
        timer.cancel()
        if log:
            log.close()
        if proc.poll() is None:
            kill_group(proc)
    shown, said = " ".join(cmd), "\n".join(tail)
    if timed_out.is_set():
        raise CommandTimedOut(f"{shown} did not finish within {timeout:g} s: killed", said)
    if code != 0:
        raise CommandFailed(f"{shown} failed with exit {code}: {last_lines(said)}", said)


def spawn(
    argv: Sequence[str | Path],
    *,
    output: Path | IO[Any] | int,
    env: Mapping[str, str] | None = None,
) -> subprocess.Popen[str]:
    """Start a long-lived command and return at once: in a process group of its own (a Ctrl-C in
    the terminal reaches kubelab alone, which stops it, e.g. with ``kill_group``), reading
    nothing, its output and errors to ``output``: a file appended to, an open file, or
    subprocess.PIPE (read as text)."""
    if isinstance(output, Path):
        with output.open("ab") as out:
            return spawn(argv, output=out, env=env)
    return subprocess.Popen(
        [str(arg) for arg in argv],
        stdin=subprocess.DEVNULL,
        stdout=output,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        env=env,
        start_new_session=True,
    )


def kill_group(proc: subprocess.Popen[Any], grace: float = 30.0, whole_group: bool = False) -> None:
    """SIGTERM the command (``whole_group``: every process of its group; else the command alone,
    so buildah, say, stops its RUN container and removes its working container itself), wait
    ``grace`` seconds, then SIGKILL whatever is left of its process group (also when a second
    Ctrl-C cuts the wait short)."""
    with contextlib.suppress(ProcessLookupError):
        if whole_group:
            os.killpg(proc.pid, signal.SIGTERM)
        else:
            proc.terminate()
    try:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=grace)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=SHORT)


def run_child(
    argv: Sequence[str | Path],
    *,
    timeout: float,
    cwd: Path,
    stdout: IO[Any] | None = None,
    env: Mapping[str, str] | None = None,
) -> int:
    """Run a long child of kubelab's (a pytest run of the lab) to its exit status, in a process
    group of its own: a Ctrl-C in the terminal reaches kubelab alone, which tells the child to
    stop once (``stop_child``) and waits for its cleanup before raising; so does a timeout
    (CommandTimedOut). ``stdout`` takes its output and errors (default: the terminal)."""
    child = subprocess.Popen(
        [str(arg) for arg in argv],
        cwd=cwd,
        stdout=stdout,
        stderr=subprocess.STDOUT if stdout is not None else None,
        env=env,
        process_group=0,
    )
    try:
        return child.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        stop_child(child)
        shown = " ".join(map(str, argv))
        raise CommandTimedOut(f"{shown} did not finish within {timeout:g} s: stopped") from None
    except BaseException:
        stop_child(child)
        raise


def stop_child(child: subprocess.Popen[Any]) -> None:
    """Tell a run to stop (SIGTERM) and wait for it (LONG, then kill it): it cleans up first
    (uncordons a node, deletes its namespaces and the cluster it created). Another Ctrl-C or
    SIGTERM meanwhile only says so."""
    with signals.shielded():
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(timeout=LONG)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait(timeout=SHORT)


def _stat(path: str) -> list[str]:
    """The fields of a /proc stat file after the command's name ([0] the state, [19] the start
    time); [] when the process is gone."""
    try:
        return Path(path).read_text().rsplit(")", 1)[1].split()
    except OSError:
        return []


def process_state(pid: int) -> str | None:
    """The state of ``pid``'s first thread (R, S, D, Z...), None when it is gone."""
    return next(iter(_stat(f"/proc/{pid}/stat")), None)


def start_time(pid: int) -> str | None:
    """When ``pid`` started, in clock ticks since boot (tells it from a later process given the
    same pid); None when it is gone."""
    fields = _stat(f"/proc/{pid}/stat")
    return fields[19] if fields else None


def running(pid: int) -> bool:
    """Whether any thread of ``pid`` still runs. Not the first thread's state alone: when a
    multi-threaded process exits, its first thread is a zombie at once while another thread
    still tears down its memory and only then closes its files (its listening ports are still
    held)."""
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return False
    return any(_stat(f"/proc/{pid}/task/{tid}/stat")[:1] not in ([], ["Z"], ["X"]) for tid in tids)
