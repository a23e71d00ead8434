"""kubelab under pytest-xdist: the controller sets the cluster up once and hands every worker
its kubeconfig and images; ``-n N`` on the lab sends each worker its whole share of the
scenarios (kubelab.shares)."""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest

from kubelab.plugin.bdd import weight
from kubelab.plugin.cluster import CLUSTER

SHARES = pytest.StashKey[Path]()  # under xdist: where the workers write their shares


def plan_shares(config: pytest.Config) -> None:
    """On the lab with xdist's default distribution (``-n N`` alone): hand out shares instead."""
    chosen = any(a.startswith(("--dist", "--tx", "-d")) for a in config.invocation_params.args)
    if config.getoption("dist", "no") == "load" and not chosen:
        config.stash[SHARES] = Path(tempfile.mkdtemp(prefix="kubelab-shares-")) / "shares.json"


def split_shares(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On an xdist worker of a run with shares, split the collection (kubelab.shares) for the
    controller's scheduler, which reads the split once every worker has reported, and for what
    the worker makes ahead."""
    worker = getattr(config, "workerinput", {})
    path = worker.get("kubelab_shares")
    if path is None:
        return
    from kubelab import shares

    split = shares.split([weight(item) for item in items], worker["workercount"])
    for item, share in zip(items, split, strict=True):
        item.stash[shares.SHARE] = share
    shares.write(Path(path), dict(zip((item.nodeid for item in items), split, strict=True)))


def scheduler(config: pytest.Config, log: Any) -> Any:
    """The scheduler that sends each worker its share; None: xdist's own."""
    path = config.stash.get(SHARES, None)
    if path is None:
        return None
    from kubelab import shares

    return shares.ShareScheduling(config, log, path)


def configure_node(node: Any) -> None:
    """Hand an xdist worker the shares' file and the cluster's kubeconfig and images (names
    never collide: every scenario has its own random namespace, and NodePorts are allocated by
    the API server)."""
    path = node.config.stash.get(SHARES, None)
    if path is not None:
        node.workerinput["kubelab_shares"] = str(path)
    cluster = node.config.stash.get(CLUSTER, None)
    if cluster is not None:
        node.workerinput["kubelab"] = {
            "kubeconfig": str(cluster.provider.kubeconfig),
            "images": dataclasses.asdict(cluster.images),
        }


def remove_shares(config: pytest.Config) -> None:
    """Remove the directory the workers wrote their shares in, if the run had one."""
    if SHARES in config.stash:
        shutil.rmtree(config.stash[SHARES].parent, ignore_errors=True)
