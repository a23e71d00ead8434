"""The components kubelab starts for one cluster: each in its node's network namespace, with
its log and pid record; waits that fail at once when one of them has died."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from kubelab.cluster.local import proc
from kubelab.cluster.local.components import Layout
from kubelab.cluster.local.plan import LocalNode
from kubelab.console import say
from kubelab.errors import EnvironmentProblem
from kubelab.waits import wait_until

T = TypeVar("T")
# How often a wait looks again: each look is one plain-JSON request or one UDP question.
POLL = 0.1
# Every node's kubelet binds the same hardcoded /var/lib/kubelet/device-plugins/kubelet.sock
# (upstream runs one kubelet per host): two starting at one instant race for it and the loser
# exits. Not a fault of the cluster: that kubelet is started again, at most this many times.
SOCKET_RACE = "device-plugins/kubelet.sock: bind: address already in use"
SOCKET_RACE_RESTARTS = 3


class Supervisor:
    """The processes of the cluster laid out in ``layout``: started, looked up, watched."""

    def __init__(self, layout: Layout) -> None:
        self.layout = layout

    def spawn(
        self, node: LocalNode, component: str, argv: list[str], env: dict[str, str] | None = None
    ) -> None:
        """Start ``component`` on ``node`` (in its network namespace), logging to its log; ``env``
        is added to kubelab's environment."""
        proc.start(
            f"{node.short}-{component}",
            proc.in_netns(node.netns, argv),
            self.layout.log_of(node, component),
            self.layout.pids,
            env,
        )

    def record(self, node: LocalNode, component: str) -> proc.Record | None:
        """The pid record of ``component`` on ``node`` (None: kubelab did not start it)."""
        return proc.records(self.layout.pids).get(f"{node.short}-{component}")

    def wait(
        self, observe: Callable[[], T], done: Callable[[T], bool], timeout: float, what: str
    ) -> T:
        """wait_until, but fail at once (naming the log) when a process kubelab started has died."""

        def watched() -> tuple[list[str], T | None]:
            dead = [d for d in proc.dead(self.layout.pids) if not self.restart_race_loser(d)]
            return (dead, None) if dead else ([], observe())

        def finished(seen: tuple[list[str], T | None]) -> bool:
            return bool(seen[0]) or done(seen[1])  # type: ignore[arg-type]

        def describe(seen: tuple[list[str], T | None]) -> str:
            return f"exited: {', '.join(seen[0])}" if seen[0] else repr(seen[1])[:300]

        dead, value = wait_until(
            watched, finished, timeout=timeout, what=what, interval=POLL, describe=describe
        )
        if dead:
            logs = ", ".join(str(self.layout.logs / f"{d}.log") for d in dead)
            raise EnvironmentProblem(
                f"{', '.join(dead)} exited while waiting for {what}: see {logs}"
            )
        return value  # type: ignore[return-value]

    def restart_race_loser(self, name: str) -> bool:
        """Start a kubelet again that exited having lost the device-plugin socket race."""
        record = proc.records(self.layout.pids).get(name)
        if record is None or not name.endswith("-kubelet"):
            return False
        log = Path(record["log"])
        text = log.read_text(errors="replace") if log.exists() else ""
        last_lines = "\n".join(text.splitlines()[-30:])
        if SOCKET_RACE not in last_lines or text.count(SOCKET_RACE) > SOCKET_RACE_RESTARTS:
            return False
        say(f"[up] {name} lost the race for the kubelet's device-plugin socket; starting it again")
        proc.start(name, record["argv"], log, self.layout.pids)
        return True
