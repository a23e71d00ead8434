"""kubelab.commands with real processes: stream's lines as they come and its process group
killed on a timeout, run_child's lab run let clean up, spawn's long-lived one."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kubelab import commands
from kubelab.waits import wait_until


def test_stream_passes_lines_and_kills_the_whole_tree_on_timeout(tmp_path: Path) -> None:
    lines: list[str] = []
    commands.stream(["sh", "-c", "echo one; echo two"], timeout=10, on_line=lines.append)
    assert lines == ["one", "two"]
    marker = tmp_path / "child.pid"
    with pytest.raises(commands.CommandTimedOut, match=r"did not finish within 0\.5 s"):
        commands.stream(
            ["sh", "-c", f"sleep 30 & echo $! > {marker}; wait"], timeout=0.5, on_line=print
        )
    stat = Path(f"/proc/{int(marker.read_text())}/stat")

    def dead() -> bool:  # gone, or a zombie until init reaps it
        try:
            return stat.read_text().split(") ")[1].startswith(("Z", "X"))
        except (FileNotFoundError, ProcessLookupError):
            return True

    # SIGKILL is delivered asynchronously: on a loaded machine the child may still be on its way out.
    assert wait_until(dead, bool, timeout=5, what="the killed child to die", interval=0.05)


def test_stream_raises_command_failed_with_its_exit_status_and_last_lines() -> None:
    with pytest.raises(commands.CommandFailed, match="failed with exit 3: bad") as info:
        commands.stream(["sh", "-c", "echo bad; exit 3"], timeout=10, on_line=lambda _: None)
    assert not isinstance(info.value, commands.CommandTimedOut)
    assert info.value.stderr == "bad"


def test_run_child_on_a_timeout_lets_the_child_clean_up_first(tmp_path: Path) -> None:
    """A timeout (as a Ctrl-C) tells the child to stop with SIGTERM and waits for its cleanup."""
    cleaned = tmp_path / "cleaned"
    script = f"trap 'sleep 0.3; touch {cleaned}; exit 3' TERM; echo started; sleep 30 & wait"
    log = tmp_path / "log"
    with log.open("w") as out, pytest.raises(commands.CommandTimedOut, match="within 1 s"):
        commands.run_child(["sh", "-c", script], timeout=1, cwd=tmp_path, stdout=out)
    assert cleaned.exists()  # it was not killed before its trap ran
    assert log.read_text() == "started\n"


def test_run_child_returns_the_exit_status(tmp_path: Path) -> None:
    assert commands.run_child(["sh", "-c", "exit 4"], timeout=10, cwd=tmp_path) == 4


def test_run_child_passes_its_environment(tmp_path: Path) -> None:
    env = {**os.environ, "STATUS": "5"}
    assert commands.run_child(["sh", "-c", "exit $STATUS"], timeout=10, cwd=tmp_path, env=env) == 5


def test_spawn_returns_at_once_its_command_in_a_group_of_its_own(tmp_path: Path) -> None:
    log = tmp_path / "log"
    log.write_text("earlier\n")
    script = "echo out; echo err >&2; exec sleep 30"
    child = commands.spawn(["sh", "-c", script], output=log)
    try:
        assert child.poll() is None
        assert os.getpgid(child.pid) == child.pid != os.getpgid(0)
        wait_until(log.read_text, lambda text: "err" in text, timeout=5, what="its output")
        assert log.read_text() == "earlier\nout\nerr\n"  # appended
    finally:
        commands.kill_group(child, grace=1, whole_group=True)


def test_run_raises_command_failed_with_its_exit_status_or_command_timed_out() -> None:
    with pytest.raises(commands.CommandFailed, match="sh failed with exit 4: gone") as info:
        commands.run(["sh", "-c", "echo gone >&2; exit 4"], what="sh", timeout=10)
    assert info.value.stderr == "gone\n"
    assert not isinstance(info.value, commands.CommandTimedOut)
    with pytest.raises(commands.CommandTimedOut, match=r"sleep 5 did not finish within 0\.2 s"):
        commands.run(["sleep", "5"], timeout=0.2)


def test_query_answers_none_on_a_failure_but_raises_on_a_timeout() -> None:
    assert commands.query(["sh", "-c", "exit 1"], timeout=10) is None
    with pytest.raises(commands.CommandTimedOut):
        commands.query(["sleep", "5"], timeout=0.2)
