"""``kubelab gate``: the lab before a change of the cluster, the change under traffic (the change
chapter), the lab after it; non-zero on any failure.

Local: boots kubelab's local cluster at ``--from``, upgrades it in place to ``--to`` (one minor)
and tears it down at the end. Existing: the cluster of ``--kubeconfig``, around the user's
``--change`` command. Each run is a pytest run of the lab's steps with reports of its own
(``before/``, ``change/``, ``after/`` under ``--reports-dir``); ``gate.md`` puts their scenarios
side by side, named as the features name them.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from kubelab import releases
from kubelab.changes import check_command
from kubelab.console import say
from kubelab.errors import EnvironmentProblem, UsageError
from kubelab.gatereport import PhaseResult, outcomes, side_by_side
from kubelab.paths import source_dir

RUN_TIMEOUT = 1800.0  # one pytest run: the lab, or the change with its settling
STOP_TIMEOUT = 300.0  # a run told to stop cleans up first (uncordons, deletes its namespaces)
PHASES = ("before", "change", "after")


@dataclass(frozen=True)
class GatePlan:
    """What a gate does: on which cluster, from which release to which, or which command."""

    cluster: str  # "local" or "existing"
    source: releases.Chosen | None = None  # local: the release booted
    target: releases.Chosen | None = None  # local: the release upgraded to
    kubeconfig: Path | None = None  # existing
    change: str | None = None  # existing: the user's command

    def versions(self) -> tuple[releases.Chosen, releases.Chosen]:
        """A local gate's (source, target)."""
        if self.source is None or self.target is None:
            raise UsageError("the local gate upgrades a release to the next: give --from and --to")
        return self.source, self.target


def plan(
    cluster: str,
    source: str | None,
    target: str | None,
    kubeconfig: Path | None,
    change: str | None,
) -> GatePlan:
    """Check the gate's options (one-line UsageError) and say what it will do; nothing starts."""
    if cluster == "existing":
        return _plan_existing(source or target, kubeconfig, change)
    if cluster != "local":
        raise UsageError(f"--cluster={cluster}: the gate runs on local or existing")
    if change:
        raise UsageError(
            "--change is for --cluster=existing; on the local cluster the gate upgrades "
            "--from one release --to the next"
        )
    return _plan_local(source, target)


def _plan_existing(
    releases_given: str | None, kubeconfig: Path | None, change: str | None
) -> GatePlan:
    if releases_given:
        raise UsageError(
            "--from/--to upgrade kubelab's local cluster; on an existing cluster give the "
            'change that upgrades it: --change "COMMAND"'
        )
    if kubeconfig is None or not kubeconfig.is_file():
        raise UsageError(f"--cluster=existing needs --kubeconfig FILE (given: {kubeconfig})")
    if not change:
        raise UsageError('--cluster=existing needs the change to gate: --change "COMMAND"')
    check_command(change)
    return GatePlan("existing", kubeconfig=kubeconfig, change=change)


def _plan_local(source: str | None, target: str | None) -> GatePlan:
    if not source or not target:
        raise UsageError("the local gate upgrades a release to the next: give --from and --to")
    old = _choose(source, "--from")
    new = _choose(target, "--to")
    if new.release.minor < old.release.minor or new.version == old.version:
        raise UsageError(
            f"--from {source} is not older than --to {target}: the gate upgrades, from an older "
            "release to a newer one"
        )
    if new.release.minor - old.release.minor > 1:
        raise UsageError(
            f"--from {source} --to {target} skips a minor release: Kubernetes upgrades one minor "
            f"at a time (1.{old.release.minor} to 1.{old.release.minor + 1})"
        )
    if new.release.minor == old.release.minor:
        raise UsageError(
            f"--from {source} --to {target}: a patch upgrade within 1.{old.release.minor}; the "
            "gate upgrades one minor release to the next"
        )
    return GatePlan("local", source=old, target=new)


def _choose(text: str, option: str) -> releases.Chosen:
    try:
        return releases.choose(text)
    except UsageError as exc:
        raise UsageError(str(exc).replace("--k8s-version", option, 1)) from None


def pytest_argv(gate: GatePlan, phase: str, reports: Path, extra: list[str]) -> list[str]:
    """The pytest run of one phase: the lab (before, after) or the change chapter (change)."""
    out = reports / phase
    argv = [
        sys.executable,
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
    if gate.cluster == "local":
        source, target = gate.versions()
        version = target.version if phase == "after" else source.version
        argv += ["--cluster=local", f"--k8s-version={version}"]
        if phase == "change":
            argv += ["-m", "change", "--cluster-change=upgrade"]
    else:
        argv += ["--cluster=existing", f"--kubeconfig={gate.kubeconfig}"]
        if phase == "change":
            argv += ["-m", "change", f"--change={gate.change}"]
    return [*argv, *extra]


def run_phase(gate: GatePlan, phase: str, reports: Path, extra: list[str]) -> PhaseResult:
    """Run one phase as a pytest process; on Ctrl-C or SIGTERM tell it to stop (it cleans up,
    e.g. uncordons a node it was draining) and wait for it before raising."""
    argv = pytest_argv(gate, phase, reports, extra)
    say(f"[gate] {phase}: {' '.join(argv[2:])}")
    started = time.monotonic()
    child = subprocess.Popen(argv, cwd=source_dir("steps").parent)
    try:
        status = child.wait(timeout=RUN_TIMEOUT)
    except BaseException:
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait(timeout=30)
        raise
    result = PhaseResult(phase, status, time.monotonic() - started, outcomes(reports / phase))
    say(f"[gate] {phase}: exit {status} in {result.seconds:.0f} s")
    return result


def run(gate: GatePlan, reports: Path, extra: list[str]) -> int:
    """Run the gate; write gate.md; 0 only when every phase passed. A local cluster is booted
    at --from first (the binaries and CoreDNS image of --to built too) and torn down at the
    end, also on Ctrl-C."""
    reports.mkdir(parents=True, exist_ok=True)
    cluster = None
    if gate.cluster == "local":
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
    results: list[PhaseResult] = []
    started = time.monotonic()
    try:
        if cluster is not None:
            cluster.up()
        for phase in PHASES:
            results.append(run_phase(gate, phase, reports, extra))
            if results[-1].status != 0:
                say(f"[gate] {phase} failed: the gate stops here (reports in {reports / phase})")
                break
    finally:
        if cluster is not None:
            cluster.down()
        summary = _summary(gate, results, time.monotonic() - started)
        (reports / "gate.md").write_text(summary + "\n")
        say(summary)
        say(f"[gate] reports: {reports}/gate.md and {', '.join(p + '/' for p in PHASES)}")
    ok = len(results) == len(PHASES) and all(r.status == 0 for r in results)
    if not ok and not results:
        raise EnvironmentProblem("the gate ran nothing")
    return 0 if ok else 1


def _summary(gate: GatePlan, results: list[PhaseResult], seconds: float) -> str:
    if gate.cluster == "local":
        source, target = gate.versions()
        what = f"Kubernetes {source.version} upgraded in place to {target.version}"
    else:
        what = f"{gate.kubeconfig}: the change {gate.change!r}"
    ok = len(results) == len(PHASES) and all(r.status == 0 for r in results)
    head = f"# kubelab gate: {'passed' if ok else 'FAILED'} in {seconds:.0f} s\n\n{what}\n"
    return head + "\n" + (side_by_side(results) if results else "(no phase ran)")
