"""This repository's own run: the lab's step definitions (kubelab's plugin does the rest)."""

pytest_plugins = [
    "steps.cluster",
    "steps.pods",
    "steps.services",
    "steps.replication",
    "steps.traffic",
    "steps.clearing",
    "steps.change",
]
