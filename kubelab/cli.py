"""The ``kubelab`` command: ``kubelab local up|down|status|kubeconfig``."""

from __future__ import annotations

import argparse
import signal
import sys
from types import FrameType

from kubelab.errors import KubelabError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kubelab", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    local = sub.add_parser(
        "local", help="a real upstream Kubernetes as local processes (root, Linux)"
    )
    actions = local.add_subparsers(dest="action", required=True)
    up = actions.add_parser("up", help="build if needed, start, wait until all nodes are Ready")
    up.add_argument("--workers", type=int, default=3, help="worker nodes (default 3)")
    up.add_argument("--k8s-version", default=None, help="1.32.x to 1.34.x (default 1.34.4)")
    for name, text in (
        ("down", "stop everything and remove what up created"),
        ("status", "processes, API server and nodes"),
        ("kubeconfig", "print the admin kubeconfig path"),
    ):
        actions.add_parser(name, help=text)
    for p in actions.choices.values():
        p.add_argument("--name", default="kubelab", help="cluster name (default kubelab)")
    return parser


def _sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # so that `up` cleans up as on Ctrl-C


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the exit status."""
    args = _parser().parse_args(argv)
    from kubelab.cluster.local import DEFAULT_K8S_VERSION, LocalCluster

    try:
        if args.action == "up":
            signal.signal(signal.SIGTERM, _sigterm)
            signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started ignoring it
            version = args.k8s_version or DEFAULT_K8S_VERSION
            LocalCluster(args.name, workers=args.workers, k8s_version=version).up()
        else:
            cluster = LocalCluster(args.name)
            if args.action == "down":
                cluster.down()
            elif args.action == "status":
                print(cluster.status())
                return 0 if cluster.is_running() else 3
            else:
                print(cluster.kubeconfig)
    except KubelabError as exc:
        print(f"kubelab: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("kubelab: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
