"""kind: a multi-node cluster in Docker containers, created and deleted through pytest-kind.

Where a Docker engine answers of its own (a laptop), kind runs as users run it: the pinned
upstream node image, ``docker build app/``, upstream redis. Where none answers (root on Linux,
e.g. CI), kubelab starts Debian's docker.io for the run (kubelab.cluster.kind.engine), builds
the kind CLI from its Go module when it is not on PATH (tools), builds the node image offline
(nodeimage), and loads the lab's images from kubelab's own builder with ``kind load``.
"""

from __future__ import annotations

from kubelab.cluster.kind.engine import docker_answers
from kubelab.cluster.kind.provider import KindProvider

__all__ = ["KindProvider", "docker_answers"]
