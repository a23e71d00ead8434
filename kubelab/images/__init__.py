"""Container images built without Docker or a registry: OCI archives imported into containerd."""

from __future__ import annotations
