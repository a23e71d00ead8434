"""The planning of ``kubelab gate``: its options checked (one-line UsageError) and turned into a
GatePlan, what the gate will do (which cluster, from which release to which, or the user's
command), said in one line; nothing starts (an existing cluster is only reached).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from kubelab import releases
from kubelab.changes import check_command
from kubelab.errors import UsageError

PHASES = ("before", "change", "after")
KIND_ISSUE = "kind#1972"  # kubernetes-sigs/kind: no in-place upgrade of a cluster's Kubernetes


@dataclass(frozen=True)
class GatePlan:
    """What a gate does: on which cluster, from which release to which, or which command."""

    cluster: str  # "local", "kind" or "existing"
    source: releases.Chosen | None = None  # local, kind: the release the lab runs on first
    target: releases.Chosen | None = None  # local: upgraded to; kind: the second cluster's
    kubeconfig: Path | None = None  # existing
    change: str | None = None  # existing: the user's command
    change_timeout: float | None = None  # existing: its --change-timeout (None: the default)

    @property
    def phases(self) -> tuple[str, ...]:
        """The pytest runs, in order: on kind no change (the upgrade is not performed there)."""
        return ("before", "after") if self.cluster == "kind" else PHASES

    def versions(self) -> tuple[releases.Chosen, releases.Chosen]:
        """A local or kind gate's (source, target)."""
        if self.source is None or self.target is None:
            raise UsageError(
                f"the {self.cluster} gate goes from one release to the next: give --from and --to"
            )
        return self.source, self.target


def plan(
    cluster: str,
    source: str | None,
    target: str | None,
    kubeconfig: Path | None,
    change: str | None,
    extra: Sequence[str] = (),
    change_timeout: float | None = None,
) -> GatePlan:
    """Check the gate's options and ``extra`` pytest options (one-line UsageError) and say what
    it will do; nothing starts (an existing cluster is reached, as its first phase would)."""
    if change_timeout is not None and change_timeout <= 0:
        raise UsageError("--change-timeout must be a positive number of seconds")
    if cluster == "existing":
        return _plan_existing(source or target, kubeconfig, change, change_timeout, extra)
    if change_timeout is not None and not change:
        raise UsageError(
            "--change-timeout bounds the --change command of --cluster=existing; the "
            f"{cluster} gate runs none"
        )
    if cluster not in ("local", "kind"):
        raise UsageError(f"--cluster={cluster}: the gate runs on local, kind or existing")
    if change and cluster == "kind":
        raise UsageError(
            f"--change is for --cluster=existing; kind has no in-place upgrade ({KIND_ISSUE}): "
            "on kind the gate runs the lab on a cluster at --from and on a new one at --to"
        )
    if change:
        raise UsageError(
            "--change is for --cluster=existing; on the local cluster the gate upgrades "
            "--from one release --to the next"
        )
    if cluster == "kind" and "--keep-cluster" in extra:
        raise UsageError(
            "--keep-cluster: the kind gate creates a cluster at each release and deletes it; a "
            "kept --from cluster would stand in the way of the --to one"
        )
    old, new = _releases(source, target)
    return GatePlan(cluster, source=old, target=new)


def _reach(kubeconfig: Path, extra: Sequence[str]) -> None:
    """Reach the cluster of ``kubeconfig`` (and of any --kube-context in ``extra``) with the
    rights the lab needs; one-line KubelabError otherwise. Else the gate's first phase would
    stop on it, and the gate go on to a summary of reports never written."""
    from kubelab.client import Kube

    context = None
    for at, arg in enumerate(extra):
        if arg == "--kube-context" and at + 1 < len(extra):
            context = extra[at + 1]
        elif arg.startswith("--kube-context="):
            context = arg.split("=", 1)[1]
    Kube.from_kubeconfig(kubeconfig, context).check_access()


def describe(gate: GatePlan) -> str:
    """What the gate does, in one line: said as it starts and under gate.md's heading."""
    if gate.cluster == "existing":
        return f"{gate.kubeconfig}: the change {gate.change!r}"
    source, target = gate.versions()
    if gate.cluster == "kind":
        return (
            f"kind has no in-place upgrade ({KIND_ISSUE}): the upgrade itself is not performed "
            f"on kind; instead the lab runs on a new kind cluster at Kubernetes "
            f"{source.version}, then on another at {target.version}"
        )
    return f"Kubernetes {source.version} upgraded in place to {target.version}"


def _plan_existing(
    releases_given: str | None,
    kubeconfig: Path | None,
    change: str | None,
    change_timeout: float | None,
    extra: Sequence[str],
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
    _reach(kubeconfig, extra)
    return GatePlan("existing", kubeconfig=kubeconfig, change=change, change_timeout=change_timeout)


def _releases(source: str | None, target: str | None) -> tuple[releases.Chosen, releases.Chosen]:
    """--from and --to: one minor release and the next (local upgrades, kind runs on each). One
    not given is a minor away from the other; neither: the second-newest release in the table
    and the newest (a new row moves them). One given empty is refused, as any other bad one."""
    if source is None:
        previous = (
            _choose(target, "--to").release.minor - 1
            if target is not None
            else releases.RELEASES[-2].minor
        )
        source = f"1.{previous}"
    if target is None:
        target = f"1.{_choose(source, '--from').release.minor + 1}"
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
    return old, new


def _choose(text: str, option: str) -> releases.Chosen:
    try:
        return releases.choose(text)
    except UsageError as exc:
        raise UsageError(str(exc).replace("--k8s-version", option, 1)) from None
