"""Choosing the provider from --cluster and the environment."""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from pathlib import Path

from kubelab import releases
from kubelab.cluster.base import Provider
from kubelab.errors import EnvironmentProblem, UsageError
from kubelab.images import Images
from kubelab.names import REDIS_IMAGE, WEB_V1_IMAGE, WEB_V2_IMAGE

CHOICES = ("auto", "kind", "local", "existing")
DEFAULT_IMAGES = Images(redis=REDIS_IMAGE, web_v1=WEB_V1_IMAGE, web_v2=WEB_V2_IMAGE)


@dataclass(frozen=True)
class Options:
    """What the user asked for, as parsed from the command line."""

    cluster: str = "auto"
    kubeconfig: Path | None = None
    context: str | None = None
    images: Images = DEFAULT_IMAGES
    workers: int = 3
    k8s_version: str | None = None
    proxy_mode: str | None = None
    keep_cluster: bool = False
    app_dir: Path = Path("app")
    work_dir: Path = Path(".kubelab")


def linux_root() -> bool:
    """This is Linux and we are root: what the local provider needs."""
    return platform.system() == "Linux" and os.geteuid() == 0


def kubeconfig_given(options: Options) -> Path | None:
    """The kubeconfig the user named (option, else $KUBECONFIG), if any."""
    if options.kubeconfig is not None:
        return options.kubeconfig
    env = os.environ.get("KUBECONFIG")
    if env:
        return Path(env.split(os.pathsep)[0])
    if options.context is not None:
        return Path.home() / ".kube" / "config"
    return None


def refuse_release_or_mode(options: Options, kubeconfig: Path) -> None:
    """A one-line UsageError when --k8s-version or --proxy-mode is given for an existing
    cluster: it runs what it runs, and kubelab checks neither."""
    asked = [
        f"--{option} {value}"
        for option, value in (
            ("k8s-version", options.k8s_version),
            ("proxy-mode", options.proxy_mode),
        )
        if value
    ]
    if asked:
        raise UsageError(
            f"{' and '.join(asked)}: kubelab runs on the existing cluster of {kubeconfig} as it "
            "is, at the release and kube-proxy mode it runs, and neither sets nor checks them; drop "
            f"{'them' if len(asked) > 1 else 'it'}, or use --cluster=local or --cluster=kind"
        )


def refuse_unoffered(options: Options) -> None:
    """A one-line UsageError for a --k8s-version or --proxy-mode kubelab does not offer, before
    anything starts. The default release is chosen by the kind or local cluster that boots it:
    an existing cluster needs none, also once every release kubelab knows is past its end of life."""
    if options.k8s_version is not None:
        releases.choose(options.k8s_version)
    releases.choose_proxy_mode(options.proxy_mode)


def choose(options: Options) -> Provider:
    """The provider for ``options``; a one-line UsageError/EnvironmentProblem when none fits."""
    from kubelab.cluster.kind.engine import docker_answers

    kind = options.cluster
    if kind not in CHOICES:
        raise UsageError(f"--cluster={kind} is not one of {', '.join(CHOICES)}")
    refuse_unoffered(options)
    given = kubeconfig_given(options)
    if kind == "auto":
        if given is not None:
            kind = "existing"
        elif docker_answers():
            kind = "kind"
        elif linux_root():
            kind = "local"
        else:
            raise EnvironmentProblem(
                "no cluster to run on: no kubeconfig given, no Docker engine answers, and the local "
                "cluster needs Linux and root; pass --kubeconfig, start Docker, or run as root on Linux"
            )
    if kind == "existing":
        if given is None:
            raise UsageError(
                "--cluster=existing needs --kubeconfig (or KUBECONFIG) naming the cluster"
            )
        refuse_release_or_mode(options, given)
        from kubelab.cluster.existing.provider import ExistingCluster

        return ExistingCluster(given, options.images)
    if kind == "kind":
        from kubelab.cluster.kind.provider import KindProvider

        return KindProvider(
            options.app_dir,
            options.work_dir / "kind",
            workers=options.workers,
            k8s_version=options.k8s_version,
            proxy_mode=options.proxy_mode,
            kubeconfig=options.kubeconfig,
            keep=options.keep_cluster,
        )
    if not linux_root():
        raise EnvironmentProblem(
            "--cluster=local runs Kubernetes as processes on this host and needs Linux and root; "
            "run with sudo, or use --cluster=kind or --cluster=existing"
        )
    from kubelab.cluster.local.provider import LocalProvider

    return LocalProvider(
        options.app_dir,
        options.workers,
        options.k8s_version,
        options.proxy_mode,
        keep=options.keep_cluster,
    )
