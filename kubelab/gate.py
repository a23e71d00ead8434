"""``kubelab gate``: the lab before a change of the cluster, the change under traffic (the change
chapter), the lab after it; non-zero on any failure.

Local: boots kubelab's local cluster at ``--from``, upgrades it in place to ``--to`` (one minor)
and tears it down at the end. kind: kind has no in-place upgrade (kubernetes-sigs/kind#1972), so
the upgrade itself is not performed; the lab runs on a new kind cluster at ``--from``, then on
another at ``--to``, each created and deleted by its run. Existing: the cluster of
``--kubeconfig``, around the user's ``--change`` command. Each run is a pytest run of the lab's
steps with reports of its own (``before/``, ``change/``, ``after/`` under ``--reports-dir``);
``gate.md`` puts their scenarios side by side, named as the features name them. The plan
(the options checked, what the gate does) is ``kubelab.gateplan``'s; this module runs it.
"""

from __future__ import annotations

import codecs
import contextlib
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kubelab import commands, signals
from kubelab.change import WHEN, stopped
from kubelab.console import say
from kubelab.errors import EnvironmentProblem, KubelabError, UsageError
from kubelab.gateplan import PHASES, GatePlan, describe
from kubelab.gatereport import (
    PhaseResult,
    change_found,
    change_section,
    failures,
    html,
    outcomes,
    side_by_side,
)
from kubelab.names import CLUSTER_NAME
from kubelab.paths import source_dir

# The plugin's shield for the end of a run, reused (the same message, the same handling).
from kubelab.report import refuse_reports_dir, set_aside_earlier_run
from kubelab.soak import first_failure
from kubelab.waits import COLD

# Once a phase's run has ended, how long the rest of its output may take to arrive; a process it
# left behind holding its output open is not waited for.
OUTPUT_DRAIN = 5.0


def pytest_argv(gate: GatePlan, phase: str, reports: Path, extra: list[str]) -> list[str]:
    """The pytest run of one phase: the lab (before, after) or the change chapter (change)."""
    out = reports / phase
    argv = [
        sys.executable,
        "-u",  # its output on the terminal as it comes, through the gate's copy of it
        "-m",
        "pytest",
        str(source_dir("steps")),
        f"--rootdir={source_dir('steps').parent}",
        f"--reports-dir={out}",
        f"--junitxml={out / 'junit.xml'}",
        f"--cucumberjson={out / 'cucumber.json'}",
        "-p",
        "no:cacheprovider",
        "-q",
    ]
    if phase not in gate.phases:
        raise UsageError(f"the {gate.cluster} gate has no {phase} phase")
    if gate.cluster in ("local", "kind"):
        source, target = gate.versions()
        chosen = target if phase == "after" else source
        # kind on a user's own Docker runs kind's node image of a minor, whose patch is kind's:
        # a patch is named only when one other than the release's own was asked for.
        version = chosen.version
        if gate.cluster == "kind" and version == chosen.release.version:
            version = f"1.{chosen.release.minor}"
        argv += [f"--cluster={gate.cluster}", f"--k8s-version={version}"]
        if phase == "change":
            argv += ["-m", "change", f"--cluster-change={gate.change_kind}"]
    else:
        argv += ["--cluster=existing", f"--kubeconfig={gate.kubeconfig}"]
        if phase == "change":
            argv += ["-m", "change", f"--change={gate.change}"]
            if gate.change_timeout is not None:
                argv.append(f"--change-timeout={gate.change_timeout:g}")
    return [*argv, *extra]


def run_phase(gate: GatePlan, phase: str, reports: Path, extra: list[str]) -> PhaseResult:
    """Run one phase as a pytest process, its output on the terminal and in ``PHASE.log`` beside
    its reports; on Ctrl-C or SIGTERM tell it to stop (it cleans up, e.g. uncordons a node it was
    draining, deletes its kind cluster) and wait for it (300 s) before raising."""
    argv = pytest_argv(gate, phase, reports, extra)
    say(f"[gate] {phase}: {' '.join(argv[3:])}")
    started = time.monotonic()
    log = reports / f"{phase}.log"
    try:
        status = _run_logged(argv, log)
    except commands.CommandTimedOut:
        raise EnvironmentProblem(
            f"the {phase} phase did not finish within {COLD:g} s: stopped (reports in "
            f"{reports / phase})"
        ) from None
    result = phase_result(phase, status, time.monotonic() - started, reports, log.read_text())
    say(f"[gate] {phase}: exit {status} in {result.seconds:.0f} s")
    return result


def phase_result(
    phase: str, status: int, seconds: float, reports: Path, output: str | None = None
) -> PhaseResult:
    """A phase's result from what its run wrote: each scenario's outcome; its first failure when
    it failed (``output``: its output, None when it was stopped); its change scenario."""
    out = reports / phase
    failure = (
        first_failure(out / "junit.xml", output).shown() if status and output is not None else ""
    )
    return PhaseResult(phase, status, seconds, outcomes(out), failure, change_found(out))


def _run_logged(argv: list[str], log: Path) -> int:
    """Run a phase (commands.run_child) to its exit status, its output (and errors) copied to
    the terminal as they come and into ``log``."""
    read, write = os.pipe()
    copier = threading.Thread(target=_copy, args=(read, log), name="kubelab-gate-output")
    copier.daemon = True  # a process the run left behind may hold the pipe open
    copier.start()
    try:
        with os.fdopen(write, "wb", buffering=0) as into:
            return commands.run_child(
                argv, timeout=COLD, cwd=source_dir("steps").parent, stdout=into
            )
    finally:
        copier.join(timeout=OUTPUT_DRAIN)


def _copy(fd: int, log: Path) -> None:
    """Copy what arrives on ``fd`` to ``log`` and to the terminal (which may be gone) until its
    end."""
    text = codecs.getincrementaldecoder("utf-8")(errors="replace")
    with os.fdopen(fd, "rb", buffering=0) as output, log.open("w") as kept:
        while True:
            chunk = output.read(1 << 16)
            piece = text.decode(chunk, final=not chunk)
            kept.write(piece)
            kept.flush()
            with contextlib.suppress(OSError, ValueError):
                sys.stdout.write(piece)
                sys.stdout.flush()
            if not chunk:
                return


@dataclass(frozen=True)
class Host:
    """What the gate itself starts before the phases and ends after them (the local cluster;
    kind's Docker engine); ``down`` returns what it found wrong, each in one line."""

    up: Callable[[], object] = lambda: None
    down: Callable[[], list[str]] = lambda: []


def run(gate: GatePlan, reports: Path, extra: list[str]) -> int:
    """Run the gate; write gate.md; 0 only when every phase passed and nothing was left behind.
    A local cluster is booted at --from first (the binaries and CoreDNS image of --to built
    too) and torn down at the end; on kind each phase creates and deletes its cluster, and a
    cluster a phase left behind is deleted at the end; also on Ctrl-C. A ``reports`` that holds
    the project (or the home directory) is refused in one line first."""
    refuse_reports_dir(
        reports, "--reports-dir", (source_dir("steps").parent, Path.cwd()), "reports/gate"
    )
    reports.mkdir(parents=True, exist_ok=True)
    # This run's files only, as a lab run does: gate.html links and shows what is there.
    for directory in (reports, *(reports / phase for phase in PHASES)):
        set_aside_earlier_run(directory)
    say(f"[gate] {describe(gate)}")
    host = Host()  # an existing cluster: the gate starts nothing of its own
    if gate.cluster == "local":
        host = _local_host(gate)
    elif gate.cluster == "kind":
        host = _kind_host(gate)
    results: list[PhaseResult] = []
    problems: list[str] = []
    started = time.monotonic()
    try:
        host.up()
        for phase in gate.phases:
            phase_started = time.monotonic()
            try:
                results.append(run_phase(gate, phase, reports, extra))
            except (KeyboardInterrupt, KubelabError) as exc:
                interrupted = isinstance(exc, KeyboardInterrupt)
                problems.append(
                    f"interrupted during the {phase} phase (reports in {reports / phase})"
                    if interrupted
                    else str(exc)
                )
                # What the stopped run wrote before it stopped, as far as it got.
                seconds = time.monotonic() - phase_started
                status = 130 if interrupted else 1
                results.append(phase_result(phase, status, seconds, reports))
                raise
            finally:
                # How a change that stopped left the cluster: a node it uncordoned, a node
                # between releases (the phase's run printed it, under its own output).
                problems += stopped(reports / phase)
            if results[-1].status != 0:
                say(f"[gate] {phase} failed: the gate stops here (reports in {reports / phase})")
                break
    finally:
        # Another Ctrl-C or SIGTERM would cut the teardown short: it only says so meanwhile.
        with signals.shielded():
            try:
                problems += host.down()
            finally:
                summary = _summary(gate, results, problems, time.monotonic() - started)
                ran = [r.phase for r in results]
                (reports / "gate.md").write_text(summary + "\n")
                (reports / "gate.html").write_text(html(summary, reports, ran))
                say(summary)
                pages = [f"{p}/lab.html" for p in ran if (reports / p / "lab.html").is_file()]
                say(
                    f"[gate] reports: {reports}/gate.html (gate.md)"
                    + (f" and each phase's own: {', '.join(pages)}" if pages else "")
                )
    ok = passed(gate, results, problems)
    if not ok and not results:
        raise EnvironmentProblem("the gate ran nothing")
    return 0 if ok else 1


def passed(gate: GatePlan, results: list[PhaseResult], problems: list[str]) -> bool:
    """Every phase ran and passed, each ran scenarios and the change phase's show its change
    scenario passed, and the gate's own end found nothing wrong."""
    ran = len(results) == len(gate.phases) and all(r.status == 0 for r in results)
    return ran and not problems and not unproven(gate, results)


def unproven(gate: GatePlan, results: list[PhaseResult]) -> list[str]:
    """Why phases that exited 0 do not show what they were run for, one line each: a phase that
    ran no scenario; a change phase that ran no change scenario, or whose change scenario did
    not pass. A phase can exit 0 having run nothing (an option given after --, a conftest.py)."""
    lines = [
        f"the {r.phase} phase ran no scenario: nothing was gated there"
        for r in results
        if r.status == 0 and not r.outcomes
    ]
    ran = next((r for r in results if r.phase == "change" and r.outcomes), None)
    if gate.change_kind is None or ran is None:
        return lines
    if ran.change is None:
        lines.append(
            f"the change phase ran no change scenario (none whose When is "
            f"{WHEN[gate.change_kind]!r}): the change was not gated"
        )
    elif ran.change.outcome != "passed":
        lines.append(f"the change scenario {ran.change.scenario!r} {ran.change.outcome}")
    return lines


def _local_host(gate: GatePlan) -> Host:
    """kubelab's local cluster at --from, none up before it, --to's binaries and CoreDNS image
    built first."""
    from kubelab.cluster.local import LocalCluster
    from kubelab.upgrade import build

    source, target = gate.versions()
    cluster = LocalCluster(k8s_version=source.version)
    if cluster.has_processes():
        raise UsageError(
            "a local cluster is up: the gate boots and upgrades its own; run "
            "`kubelab local down` first"
        )
    build(target)  # binaries and CoreDNS image, before anything runs, not mid-upgrade

    def down() -> list[str]:
        cluster.down()
        return []

    return Host(cluster.up, down)


def _kind_host(gate: GatePlan) -> Host:
    """A Docker engine for both kind clusters (kubelab's own dockerd, once, where none answers),
    no kind cluster of kubelab's name in the way, and (offline) both releases' node images
    built before anything runs. At the end: a cluster a phase left behind (killed before its
    cleanup) is deleted, as is kind's network if it was not there before, and a dockerd the
    gate started is stopped."""
    from kubelab.cluster.kind import nodes, tools
    from kubelab.cluster.kind.engine import DockerEngine
    from kubelab.cluster.kind.nodeimage import ensure_node_image
    from kubelab.paths import cache_dir

    engine = DockerEngine()
    engine.ensure()
    try:
        kind = tools.kind_cli(cache_dir())
        nodes.refuse_any(kind, "the gate creates its own at each release")
        network_before = nodes.network_exists()
        if engine.kubelabs() is not None:  # offline: the node images are kubelab's own build
            for chosen in gate.versions():
                ensure_node_image(cache_dir(), chosen)
    except BaseException:
        if engine.started_here:
            engine.stop()
        raise

    def down() -> list[str]:
        try:
            left = nodes.delete_left_behind(kind)
            if not network_before and nodes.network_exists():
                nodes.remove_network()
        finally:
            if engine.started_here:
                engine.stop()
        return (
            [f"kind cluster {CLUSTER_NAME} was left behind ({', '.join(left)}): deleted"]
            if left
            else []
        )

    return Host(down=down)


def _summary(
    gate: GatePlan, results: list[PhaseResult], problems: list[str], seconds: float
) -> str:
    ok = passed(gate, results, problems)
    head = (
        f"# kubelab gate: {'passed' if ok else 'FAILED'} in {seconds:.0f} s\n\n{describe(gate)}\n"
    )
    head += "".join(f"\n{p}\n" for p in [*problems, *unproven(gate, results)])
    sections = [side_by_side(results) if results else "(no phase ran)", failures(results)]
    sections += [change_section(r.change) for r in results if r.change is not None]
    return head + "\n" + "\n\n".join(s for s in sections if s)
