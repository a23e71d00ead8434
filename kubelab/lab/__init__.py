"""The lab, on one scenario's namespace: ``Lab`` (facade.py) and one module per concern.

objects (manifests applied, controllers' pods, clearing), asking (the app over HTTP: a pod from
its node, the NodePort on every node), dns (reaching a Service by name, and why not), page (the
page watch after a change), placement (where a pod runs), rolling (the rolling update under
traffic), tables (kubectl-style evidence).
"""

from __future__ import annotations

from kubelab.lab.dns import Lookup
from kubelab.lab.facade import Lab
from kubelab.lab.page import PageSince
from kubelab.lab.placement import Placement
from kubelab.lab.rolling import Rollout

__all__ = ["Lab", "Lookup", "PageSince", "Placement", "Rollout"]
