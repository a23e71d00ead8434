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

# Extra pytest options (after --) the gate refuses, and why: each is one the gate gives every
# phase itself (pytest takes the last one given: the user's would win) or would change what a
# phase runs, e.g. `-m services` after the change phase's `-m change` leaves the change unrun.
_SELECTS = (
    "the gate chooses what each phase runs (the lab, then the change chapter alone); an option "
    "that selects tests could leave the change unrun"
)
_REPORTS = (
    "the gate puts each phase's reports under its own --reports-dir (before/, change/, after/); "
    "give --reports-dir before --"
)
_CLUSTER = "the gate sets each phase's cluster: give --cluster (and --kubeconfig) before --"
_RUNS_NOTHING = "pytest would list or show rather than run: a phase would pass having run nothing"
# pytest's options that make a run list or show instead of running its tests (and exit 0).
RUNS_NOTHING = (
    "--co",
    "--collect-only",
    "--collectonly",
    "--setup-plan",
    "--setup-only",
    "--fixtures",
    "--funcargs",
    "--fixtures-per-test",
    "--markers",
    "--help",
    "--version",
    "-h",
    "-V",
)
REFUSED_OPTIONS = {
    **dict.fromkeys(("-m", "-k", "--deselect", "--ignore", "--ignore-glob"), _SELECTS),
    **dict.fromkeys(("--reports-dir", "--junitxml", "--junit-xml"), _REPORTS),
    **dict.fromkeys(("--cucumberjson", "--cucumber-json", "--rootdir"), _REPORTS),
    **dict.fromkeys(RUNS_NOTHING, _RUNS_NOTHING),
    "--kubeconfig": _CLUSTER,
    "--cluster-change": "the gate chooses the change: the upgrade on the local cluster, the "
    "--change command on an existing one",
    "--k8s-version": "the gate sets each phase's release: give --from and --to before --",
    "--proxy-mode": "the gate's clusters run kube-proxy in its default mode (an existing one: in "
    "the mode it runs); every phase runs on the same",
    "--keep-cluster": "the gate takes down the cluster it created and leaves an existing one as "
    "it is",
    "@": "pytest would read more options from the file, which the gate cannot check; give them "
    "on the command line",
}
# Options of the families the gate sets (--cluster=..., --change=...), whatever their suffix.
REFUSED_PREFIXES = {
    "--cluster": _CLUSTER,
    "--change": "the gate runs the change: give --change (and --change-timeout) before --",
}
LOCAL_REFUSED = {
    "--workers": "the local gate boots its cluster, with kubelab's default workers, before the "
    "first phase; every phase runs on it",
}
FLAGS = frozenset({"--keep-cluster", "@", *RUNS_NOTHING})  # refused options that take no value
# pytest's short options that take a value (-k EXPR, -mEXPR, -n 4, -rA, -W error, ...): in a
# cluster of short options (-xvk EXPR) the rest of the word after one is its value.
SHORT_WITH_VALUE = frozenset("kmpcorWn")


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

    @property
    def change_kind(self) -> str | None:
        """The change its change phase runs (``--cluster-change``): None on kind (none runs)."""
        return {"local": "upgrade", "existing": "command"}.get(self.cluster)

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
        refuse_extra(cluster, extra)
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
    refuse_extra(cluster, extra)
    old, new = _releases(source, target)
    if cluster == "local":  # before the gate builds --to's binaries (minutes) and boots
        from kubelab.cluster.local import hostdeps

        hostdeps.check_platform()
    return GatePlan(cluster, source=old, target=new)


def refuse_extra(cluster: str, extra: Sequence[str]) -> None:
    """A one-line UsageError for the first of ``extra`` (the pytest options after --) that the
    gate sets itself or that would change what a phase runs (REFUSED_OPTIONS), in any of
    pytest's spellings: ``--opt=v``, ``--opt v``, ``-m v``, ``-mv``, ``-xm v``, ``@file``, and
    kubelab's ``--kubelab-opt``."""
    refused = {**REFUSED_OPTIONS, **(LOCAL_REFUSED if cluster == "local" else {})}
    for at, word in enumerate(extra):
        name = _option_name(word)
        if name is None:
            continue
        prefix = next((p for p in REFUSED_PREFIXES if name.startswith(p)), None)
        why = refused.get(name) or (REFUSED_PREFIXES[prefix] if prefix else None)
        if not why:
            continue
        # Shown as given, with its value when that is the next word (-m services, -xk redis).
        inline = "=" in word if word.startswith("--") else not word.endswith(name[-1])
        value = extra[at + 1] if at + 1 < len(extra) else "-"
        apart = not (inline or name in FLAGS or value.startswith("-"))
        given = f"{word} {value}" if apart else word
        raise UsageError(f"{given} after --: {why}")


def _option_name(word: str) -> str | None:
    """The option ``word`` names, as REFUSED_OPTIONS knows it: ``--opt`` for ``--opt=v``, ``-m``
    for ``-mv`` or ``-xm`` (the first short option that takes a value or runs nothing, or
    None), ``@`` for an argument file; None for a value or a path."""
    if word.startswith("@"):
        return "@"
    if word.startswith("--"):  # kubelab's --kubelab-NAME is its --NAME (kubelab.plugin.options)
        return "--" + word.split("=", 1)[0][2:].removeprefix("kubelab-")
    if not word.startswith("-") or word[1:2].isdigit():
        return None
    taking = next((c for c in word[1:] if c in SHORT_WITH_VALUE or f"-{c}" in RUNS_NOTHING), None)
    return f"-{taking}" if taking else None


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
