"""The ``kubelab`` command: ``kubelab local up|down|status|kubeconfig``, ``kubelab images build|push``,
``kubelab gate``.

A print() to stdout here is a command's result, for a script to read (image references, the lab's
image options, the cluster's status, the kubeconfig path); progress and errors go through
kubelab.console.say, errors to stderr."""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from kubelab.console import say
from kubelab.errors import KubelabError
from kubelab.names import CLUSTER_NAME
from kubelab.releases import DEFAULT, DEFAULT_PROXY_MODE, PROXY_MODES, supported
from kubelab.signals import sigterm_as_interrupt
from kubelab.waits import CHANGE


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kubelab", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    local = sub.add_parser(
        "local", help="a real upstream Kubernetes as local processes (root, Linux)"
    )
    actions = local.add_subparsers(dest="action", required=True)
    up = actions.add_parser("up", help="build if needed, start, wait until all nodes are Ready")
    up.add_argument("--workers", type=int, default=3, help="worker nodes (default 3)")
    up.add_argument(
        "--k8s-version",
        default=None,
        help=f"a supported release, {supported()}, or a full version of one (default "
        f"{DEFAULT.version})",
    )
    up.add_argument(
        "--proxy-mode",
        default=None,
        help=f"kube-proxy's mode: {' or '.join(PROXY_MODES)} (default {DEFAULT_PROXY_MODE})",
    )
    for name, text in (
        ("down", "stop everything and remove what up created"),
        ("status", "processes, API server and nodes"),
        ("kubeconfig", "print the admin kubeconfig path"),
    ):
        actions.add_parser(name, help=text)
    for p in actions.choices.values():
        p.add_argument(
            "--name", default=CLUSTER_NAME, help=f"cluster name (default {CLUSTER_NAME})"
        )
    images = sub.add_parser("images", help="the lab's images, built by buildah (root, Linux)")
    image_actions = images.add_subparsers(dest="action", required=True)
    image_actions.add_parser("build", help="build redis and web 1.0/2.0 (only what changed)")
    push = image_actions.add_parser(
        "push", help="build if needed and push to REGISTRY; print the lab's image options"
    )
    push.add_argument("registry", metavar="REGISTRY", help="HOST[:PORT][/PATH], e.g. 10.0.0.1:5000")
    push.add_argument(
        "--plain-http",
        action="store_true",
        help="the registry speaks HTTP, not HTTPS (a registry on a private network)",
    )
    for p in image_actions.choices.values():
        p.add_argument(
            "--app-dir",
            type=Path,
            default=None,
            help="the web app's directory (default: app/ of kubelab's source tree, $KUBELAB_APP)",
        )
    gate = sub.add_parser(
        "gate",
        help="the lab, a change of the cluster under traffic, the lab again: non-zero on any failure",
    )
    gate.add_argument(
        "--cluster",
        default="local",
        help="local (boot --from, upgrade in place to --to, tear down), kind (the lab on a new "
        "kind cluster at --from, then at --to: kind has no in-place upgrade) or existing "
        "(default local)",
    )
    gate.add_argument(
        "--from",
        dest="source",
        help=f"local, kind: the release the lab runs on first ({supported()}; default one "
        "minor before --to, or the second-newest)",
    )
    gate.add_argument(
        "--to",
        dest="target",
        help="local: the release upgraded to; kind: the second cluster's (the next minor, "
        "and the default)",
    )
    gate.add_argument("--kubeconfig", type=Path, help="existing: the cluster's kubeconfig")
    gate.add_argument("--change", help="existing: the shell command that changes the cluster")
    gate.add_argument(
        "--change-timeout",
        type=float,
        metavar="SECONDS",
        help="existing: seconds the --change command may take before it is killed (default "
        f"{CHANGE:g}, the change chapter's)",
    )
    gate.add_argument(
        "--reports-dir",
        type=Path,
        default=Path("reports/gate"),
        help="where gate.md and each phase's reports go (default reports/gate)",
    )
    gate.add_argument(
        "pytest_args",
        nargs=argparse.REMAINDER,
        help="after --: more options for every pytest run (e.g. --web-image on an existing cluster)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "images":
            return _images(args)
        if args.command == "gate":
            return _gate(args)
        return _local(args)
    except KubelabError as exc:
        say(f"kubelab: {exc}", sys.stderr)
        return 1
    except KeyboardInterrupt:
        say("kubelab: interrupted", sys.stderr)
        return 130


def _images(args: argparse.Namespace) -> int:
    from kubelab.errors import UsageError
    from kubelab.images import lab
    from kubelab.paths import cache_dir, source_dir

    signal.signal(signal.SIGTERM, sigterm_as_interrupt)
    app_dir = (args.app_dir or source_dir("app")).absolute()
    if not (app_dir / "Dockerfile").is_file():
        raise UsageError(f"{app_dir / 'Dockerfile'} does not exist: pass --app-dir")
    if args.action == "build":
        for ref in lab.build_lab_images(app_dir, cache_dir()):
            print(ref)
    else:
        images = lab.push_lab_images(
            app_dir, cache_dir(), args.registry, tls_verify=not args.plain_http
        )
        print(
            f"--web-image {images.web_v1} --web-image-v2 {images.web_v2} "
            f"--redis-image {images.redis}"
        )
    return 0


def _gate(args: argparse.Namespace) -> int:
    from kubelab import gate, gateplan

    extra = [a for a in args.pytest_args if a != "--"]
    chosen = gateplan.plan(
        args.cluster,
        args.source,
        args.target,
        args.kubeconfig,
        args.change,
        extra,
        change_timeout=args.change_timeout,
    )
    signal.signal(signal.SIGTERM, sigterm_as_interrupt)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    return gate.run(chosen, args.reports_dir.absolute(), extra)


def _local(args: argparse.Namespace) -> int:
    from kubelab.cluster.local import LocalCluster

    if args.action == "up":
        signal.signal(signal.SIGTERM, sigterm_as_interrupt)
        signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started ignoring it
        LocalCluster(
            args.name,
            workers=args.workers,
            k8s_version=args.k8s_version,
            proxy_mode=args.proxy_mode,
        ).up()
    else:
        cluster = LocalCluster(args.name)
        if args.action == "down":
            cluster.down()
        elif args.action == "status":
            print(cluster.status())
            return 0 if cluster.is_running() else 3
        else:
            print(cluster.kubeconfig)
    return 0


if __name__ == "__main__":
    sys.exit(main())
