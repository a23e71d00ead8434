"""kubelab's command-line options and ini settings: declared, refused in one line when wrong,
and read into what the cluster providers are given."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pytest

from kubelab import releases
from kubelab.cluster.select import CHOICES, DEFAULT_IMAGES, Options
from kubelab.errors import KubelabError
from kubelab.images import Images
from kubelab.paths import source_dir
from kubelab.waits import CHANGE, MEDIUM

KEEP_CHOICES = ("never", "on-failure", "always")
SENTINEL_CHOICES = ("auto", "yes", "no")
MIN_WAIT = 10.0  # no pod starts and passes a readiness probe faster than this on any cluster


def dest(name: str) -> str:
    """Where pytest keeps the value of kubelab's ``--NAME``: ``kubelab_NAME``, a name no other
    plugin's or project's option has (pytest refuses a second option of the same dest)."""
    return "kubelab_" + name.replace("-", "_")


def value(config: pytest.Config, name: str) -> Any:
    """The value of kubelab's option ``--NAME`` (also given as ``--kubelab-NAME``)."""
    return config.getoption(dest(name))


def _declared() -> list[tuple[str, dict[str, Any]]]:
    """kubelab's options: each one's NAME (``--NAME``) and its argparse attributes."""
    return [
        (
            "cluster",
            {
                "default": "auto",
                "help": f"where the lab runs: {', '.join(CHOICES)} (default: auto)",
            },
        ),
        # --kubeconfig, --keep-cluster and --cluster-name come from pytest-kind and are shared.
        ("kube-context", {"help": "context in the kubeconfig"}),
        (
            "web-image",
            {"default": DEFAULT_IMAGES.web_v1, "help": "web 1.0 image (existing clusters)"},
        ),
        (
            "web-image-v2",
            {"default": DEFAULT_IMAGES.web_v2, "help": "web 2.0 image (existing clusters)"},
        ),
        (
            "redis-image",
            {"default": DEFAULT_IMAGES.redis, "help": "redis image (existing clusters)"},
        ),
        (
            "workers",
            {"type": int, "default": 3, "help": "worker nodes of a new kind/local cluster"},
        ),
        (
            "k8s-version",
            {
                "help": "Kubernetes release of a new local or kind cluster: "
                f"{releases.supported()}, or a full version of one (default "
                f"{releases.DEFAULT.version})"
            },
        ),
        (
            "proxy-mode",
            {
                "help": "kube-proxy's mode on a new local or kind cluster: "
                f"{' or '.join(releases.PROXY_MODES)} (default {releases.DEFAULT_PROXY_MODE})"
            },
        ),
        (
            "sentinels",
            {
                "default": "auto",
                "help": "plant sentinel objects outside the lab's namespaces and fail the run if "
                f"the lab changes them: {', '.join(SENTINEL_CHOICES)} (default auto: on kubelab's "
                "own local cluster)",
            },
        ),
        (
            "wait-timeout",
            {
                "type": float,
                "default": MEDIUM,
                "help": f"seconds a step may wait for pods and controllers (default {MEDIUM:.0f}, "
                f"at least {MIN_WAIT:.0f})",
            },
        ),
        (
            "reports-dir",
            {"type": Path, "help": "where reports go (default: reports/ in the rootdir)"},
        ),
        (
            "check-report",
            {
                "default": "yes",
                "help": "open lab.html in headless Chromium at the end and fail on console errors "
                "or missing sections: yes, no (default: yes)",
            },
        ),
        (
            "keep-namespace",
            {
                "default": "never",
                "help": "keep each scenario's namespace for debugging: "
                f"{', '.join(KEEP_CHOICES)} (default: never)",
            },
        ),
        (
            "cluster-change",
            {
                "help": "run the change chapter (features/cluster_change.feature) with this change "
                "while traffic flows: command (the --change COMMAND), runtime-restart, proxy-mode "
                "or upgrade (built in, kubelab's local cluster); without it or --change the "
                "chapter is not run"
            },
        ),
        (
            "change",
            {
                "metavar": "COMMAND",
                "help": "a shell command that changes the cluster (KUBECONFIG and "
                "KUBELAB_NAMESPACE set): the change chapter runs it while traffic flows; its exit "
                "status must be 0",
            },
        ),
        (
            "change-timeout",
            {
                "type": float,
                "default": CHANGE,
                "help": "seconds the --change command may take before it is killed (default "
                f"{CHANGE:g})",
            },
        ),
    ]


GROUP = "kubelab"
NAMES = "each also --kubelab-NAME, its only name where a conftest.py or plugin has --NAME"


def add_options(parser: pytest.Parser) -> None:
    """Declare kubelab's options as ``--kubelab-NAME`` (shown in ``--help`` as ``--NAME``, see
    add_short_names) and its ``kubelab_paths`` ini setting."""
    group = parser.getgroup(GROUP, f"kubelab: the cluster the lab runs on ({NAMES})")
    for name, attrs in _declared():
        group.addoption(f"--kubelab-{name}", **{**_common(name, attrs), "help": argparse.SUPPRESS})
    parser.addini(
        "kubelab_paths",
        "paths whose tests run on the cluster; with pytest-xdist the controller sets the cluster "
        "up when the run's arguments reach one of them",
        type="paths",
        # None by default: kubelab acts in no other project's run unless its fixtures are asked for.
        default=[],
    )


def add_short_names(parser: pytest.Parser) -> None:
    """Declare ``--NAME`` for each of kubelab's ``--kubelab-NAME`` that no plugin or conftest.py
    declared itself (pytest refuses a second option of one name). Called once the initial
    conftests have declared theirs: pytest asks every plugin for its options first."""
    group = parser.getgroup(GROUP)
    for name, attrs in _declared():
        try:
            group.addoption(f"--{name}", **_common(name, attrs))
        except argparse.ArgumentError:  # the project's own --NAME: it keeps it
            continue


def _common(name: str, attrs: dict[str, Any]) -> dict[str, Any]:
    """Both names' argparse attributes: one dest (kubelab's own), CLUSTER rather than its dest
    shown as the value."""
    return {"dest": dest(name), "metavar": name.upper().replace("-", "_"), **attrs}


def _typed(config: pytest.Config, name: str) -> str:
    """The name the command line gave kubelab's option by: ``--kubelab-NAME`` where it was
    given so (``--NAME`` may be a project's own), else ``--NAME``."""
    long = f"--kubelab-{name}"
    given = config.invocation_params.args
    return long if any(a == long or a.startswith(f"{long}=") for a in given) else f"--{name}"


def check_options(config: pytest.Config) -> None:
    """Refuse, in one line naming the fix, an option kubelab cannot run with."""
    # Checked here rather than by argparse ``choices`` so the error is one line naming the fix.
    choices = (
        ("cluster", CHOICES),
        ("keep-namespace", KEEP_CHOICES),
        ("sentinels", SENTINEL_CHOICES),
        ("check-report", ("yes", "no")),
    )
    for option, allowed in choices:
        if value(config, option) not in allowed:
            raise pytest.UsageError(
                f"{_typed(config, option)}={value(config, option)} is not one of "
                f"{', '.join(allowed)}"
            )
    reports = value(config, "reports-dir")
    if reports is not None:
        from kubelab.report import refuse_reports_dir

        try:
            refuse_reports_dir(
                reports, "--reports-dir", (config.rootpath, config.invocation_params.dir)
            )
        except KubelabError as exc:
            raise pytest.UsageError(str(exc)) from None
    wait = value(config, "wait-timeout")
    if wait < MIN_WAIT:
        raise pytest.UsageError(
            f"--wait-timeout={wait:g} is shorter than a pod can ever take to start and become ready; "
            f"use at least {MIN_WAIT:.0f} seconds"
        )
    _check_change_options(config)
    version = value(config, "k8s-version")
    try:  # a release or mode kubelab does not offer: refused before anything starts
        # The default release only in a run that reaches the lab's paths: it reaches its end of
        # life one day, and that day must not fail every other project's pytest run (a test that
        # asks for kubelab's cluster has it checked as the cluster is chosen).
        if version is not None or runs_lab(config):
            releases.choose(version)
        releases.choose_proxy_mode(value(config, "proxy-mode"))
    except KubelabError as exc:
        raise pytest.UsageError(str(exc)) from None


def _check_change_options(config: pytest.Config) -> None:
    """--cluster-change names a change kubelab knows; a command change has its command."""
    if value(config, "change-timeout") <= 0:
        raise pytest.UsageError("--change-timeout must be a positive number of seconds")
    kind, command = value(config, "cluster-change"), value(config, "change")
    if kind is None and command is None:
        return  # kubelab.change imports the kubernetes client: not in a run that asks no change
    from kubelab.change import KINDS
    from kubelab.changes import check_command

    if kind is not None and kind not in KINDS:
        raise pytest.UsageError(f"--cluster-change={kind} is not one of {', '.join(KINDS)}")
    if kind == "command" and not command:
        raise pytest.UsageError('--cluster-change=command needs the command: --change "COMMAND"')
    if command is not None and kind not in (None, "command"):
        raise pytest.UsageError(
            f"--change runs the user's command; --cluster-change={kind} is a built-in change: "
            "give one of them"
        )
    if command is not None:
        try:
            check_command(command)
        except KubelabError as exc:
            raise pytest.UsageError(str(exc)) from None


def reports_dir(config: pytest.Config) -> Path:
    """Where the run's reports go: --reports-dir, else reports/ in the rootdir."""
    return value(config, "reports-dir") or config.rootpath / "reports"


def cluster_options(config: pytest.Config) -> Options:
    """What the run's options ask of the cluster, for choosing its provider."""
    # --kubeconfig and --keep-cluster are pytest-kind's, absent without kubelab's test extra.
    kubeconfig = config.getoption("--kubeconfig", None)
    return Options(
        cluster=value(config, "cluster"),
        kubeconfig=Path(kubeconfig) if kubeconfig else None,
        context=value(config, "kube-context"),
        images=Images(
            redis=value(config, "redis-image"),
            web_v1=value(config, "web-image"),
            web_v2=value(config, "web-image-v2"),
        ),
        workers=value(config, "workers"),
        k8s_version=value(config, "k8s-version"),
        proxy_mode=value(config, "proxy-mode"),
        keep_cluster=config.getoption("--keep-cluster", False),
        app_dir=source_dir("app"),
        work_dir=config.rootpath / ".kubelab",
    )


def asked_change(config: pytest.Config) -> str | None:
    """The change the run asks the change chapter for (``--cluster-change``, or ``command``
    when only ``--change`` is given); None: the chapter does not run."""
    kind = value(config, "cluster-change")
    return kind or ("command" if value(config, "change") else None)


def runs_lab(config: pytest.Config) -> bool:
    """The run's paths reach the lab's (the ``kubelab_paths`` ini option)."""
    lab = [(config.rootpath / p).resolve() for p in config.getini("kubelab_paths")]
    lab = [p for p in lab if p.exists()]
    args = [Path(config.invocation_params.dir, a.split("::")[0]).resolve() for a in config.args]
    return any(a.is_relative_to(p) or p.is_relative_to(a) for a in args for p in lab)
