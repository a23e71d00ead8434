"""A namespace per scenario: made ahead in the background when the next scenarios are known,
else when the scenario asks; deleted after it (or kept, --keep-namespace), and all of the
run's waited for at its end."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING

import pytest

from kubelab.console import say
from kubelab.plugin.options import value

if TYPE_CHECKING:
    from kubelab.client import Kube
    from kubelab.namespace import LabNamespace

CREATED = pytest.StashKey[list[str]]()  # namespaces to delete at the end of the run
PREPARED = pytest.StashKey[dict[str, "Future[LabNamespace]"]]()  # by the scenario's node id
PREPARER = pytest.StashKey[ThreadPoolExecutor]()
# Threads making scenarios' namespaces ahead (kubelab.plugin.ahead): one namespace waits for its
# default ServiceAccount while the next is made.
PREPARERS = 2
FAILED = pytest.StashKey[bool]()  # on a test item: it failed (for --keep-namespace=on-failure)

log = logging.getLogger("kubelab")


def _new_namespace(config: pytest.Config, kube: Kube) -> LabNamespace:
    """Create a scenario's namespace, listed for deletion at the end of the run first."""
    from kubelab.namespace import LabNamespace, namespace_name

    name = namespace_name()
    # Listed before it exists: a Ctrl-C at any point leaves nothing behind.
    config.stash.setdefault(CREATED, []).append(name)
    return LabNamespace.new(kube, name, timeout=value(config, "wait-timeout"))


def prepare_namespace(
    config: pytest.Config, nodeid: str, kube: Kube, then: Callable[[LabNamespace], object]
) -> None:
    """Create the namespace of the scenario ``nodeid`` (one of the next to run) in the
    background and call ``then`` with it (what ``then`` raises is logged: the scenario meets it
    again); the scenario's ``namespace`` fixture takes it over."""

    def work() -> LabNamespace:
        ns = _new_namespace(config, kube)
        try:
            then(ns)
        except Exception as exc:  # noqa: BLE001  (the scenario's own steps fail with diagnostics)
            log.warning("preparing %s stopped: %s", ns.name, exc)
        return ns

    prepared = config.stash.setdefault(PREPARED, {})
    if nodeid in prepared:  # asked for again by the scenario before it: made once
        return
    if PREPARER not in config.stash:
        config.stash[PREPARER] = ThreadPoolExecutor(PREPARERS, thread_name_prefix="kubelab-prepare")
    prepared[nodeid] = config.stash[PREPARER].submit(work)


def scenario_namespace(request: pytest.FixtureRequest, kube: Kube) -> Iterator[LabNamespace]:
    """The scenario's namespace (the one made ahead for it, else a new one) while it runs; then
    its deletion requested, unless --keep-namespace keeps it."""
    prepared = request.config.stash.get(PREPARED, {}).pop(request.node.nodeid, None)
    ns = prepared.result() if prepared else _new_namespace(request.config, kube)
    name = ns.name
    created = request.config.stash[CREATED]
    yield ns
    keep = value(request.config, "keep-namespace")
    if keep == "always" or (keep == "on-failure" and request.node.stash.get(FAILED, False)):
        _say_past_capture(
            request.config, f"kubelab: keeping namespace {name} (--keep-namespace={keep})"
        )
        created.remove(name)
        return
    # Deleted in the background while the next scenario runs; the run waits for all of them
    # at its end, and fails if any is left.
    ns.request_deletion()


def _say_past_capture(config: pytest.Config, line: str) -> None:
    """say() ``line`` on stderr now, past pytest's capture of the test's output (shown only when
    the test fails): it is meant for a passing run too."""
    capture = config.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        say(line, sys.stderr)


def created(config: pytest.Config) -> list[str]:
    """The run's namespaces not deleted yet (a new list when none was made)."""
    return config.stash.get(CREATED, [])


def delete_namespaces(config: pytest.Config, kube: Kube, names: list[str]) -> None:
    """Once none is still being made ahead, delete ``names`` and wait until they are gone
    (--wait-timeout)."""
    from kubelab.namespace import wait_until_deleted

    if PREPARER in config.stash:  # none is still being prepared
        config.stash[PREPARER].shutdown(wait=True)
    for name in names:  # those whose scenario was cut short are not deleted yet
        kube.delete("Namespace", name)
    if names:
        wait_until_deleted(kube, names, value(config, "wait-timeout"))
