"""Names kubelab gives, and recognises, on every cluster: each defined here once."""

from __future__ import annotations

# The cluster kubelab creates, local or kind, unless given another name (its nodes are named after
# it: kubelab-control-plane, kubelab-worker1, ...).
CLUSTER_NAME = "kubelab"

# The label on everything kubelab creates (namespaces, the local cluster's bootstrap objects).
MANAGED_BY_KEY = "app.kubernetes.io/managed-by"
MANAGED_BY = {MANAGED_BY_KEY: "kubelab"}

# The role label (and taint) of control-plane nodes; "master" is what clusters before 1.24 used.
CONTROL_PLANE_LABEL = "node-role.kubernetes.io/control-plane"
CONTROL_PLANE_KEYS = (CONTROL_PLANE_LABEL, "node-role.kubernetes.io/master")

# The label carrying the hash of an image's inputs (buildah's images, kind's node image): same
# inputs, same label, no rebuild.
INPUTS_LABEL = "org.kubelab.inputs"

# The images kubelab builds for the local cluster (and names by default elsewhere). The pause
# image is tagged with the pause version kubeadm of the cluster's release pins (Release.pause).
# Their host, kubelab.local, is no registry's: a node has them only if they were loaded on it.
LOCAL_REGISTRY = "kubelab.local"
PAUSE_REPO = f"{LOCAL_REGISTRY}/pause"
REDIS_IMAGE = f"{LOCAL_REGISTRY}/redis:7"
WEB_V1_IMAGE = f"{LOCAL_REGISTRY}/web:1.0"
WEB_V2_IMAGE = f"{LOCAL_REGISTRY}/web:2.0"
