"""Steps about changing the cluster while traffic flows (the change chapter)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from pytest_bdd import parsers, then, when

from kubelab import change, changes, containers, upgrade
from kubelab.change import ChangeRun
from kubelab.checks import counter_regressions
from kubelab.cluster.base import Provider
from kubelab.lab import Lab
from kubelab.plugin.ahead import given_ahead
from kubelab.plugin.options import value

Record = Callable[[str, object], None]  # pytest's record_property


@given_ahead(
    parsers.parse(
        "{count:d} web pods run under a Deployment spread over the workers, "
        "at least {least:d} always available"
    ),
    lambda lab, count, least: change.start_web_spread(lab, replicas=count, min_available=least),
)
def _(lab: Lab, count: int, least: int) -> None:
    change.run_web_spread(lab, replicas=count, min_available=least)


@when(change.WHEN["command"], target_fixture="change_run")
def _(
    lab: Lab, request: pytest.FixtureRequest, provider: Provider, record_property: Record
) -> ChangeRun:
    command = changes.CommandChange(
        value(request.config, "change"),
        provider.kubeconfig,
        lab.ns.name,
        timeout=value(request.config, "change-timeout"),
    )
    return change.run_under_traffic(lab, command, record=record_property)


@when(change.WHEN["runtime-restart"], target_fixture="change_run")
def _(lab: Lab, provider: Provider, record_property: Record) -> ChangeRun:
    restart = changes.RuntimeRestart(
        changes.local_cluster(provider, "runtime-restart"), lab.ns.kube
    )
    return change.run_under_traffic(lab, restart, record=record_property)


@when(change.WHEN["upgrade"], target_fixture="change_run")
def _(lab: Lab, provider: Provider, record_property: Record) -> ChangeRun:
    return change.run_under_traffic(
        lab, upgrade.in_place(provider, lab.ns.kube), record=record_property
    )


@when(change.WHEN["proxy-mode"], target_fixture="change_run")
def _(lab: Lab, provider: Provider, record_property: Record) -> ChangeRun:
    switch = changes.ProxyModeSwitch(changes.local_cluster(provider, "proxy-mode"))
    return change.run_under_traffic(lab, switch, record=record_property)


@then(parsers.parse("the traffic asked at least {rate:d} times a second"))
def _(change_run: ChangeRun, rate: int) -> None:
    assert change_run.asked_rate() >= rate, change_run.summary()


@then("no request failed during the change")
def _(change_run: ChangeRun) -> None:
    failed = change_run.failures()
    assert failed == [], "\n".join([change_run.summary(), *failed])


@then(parsers.parse("there were never fewer than {fewest:d} ready web pods during the change"))
def _(change_run: ChangeRun, fewest: int) -> None:
    assert change_run.fewest_available >= fewest, change_run.fewest_ready()


@then("the counter never went backwards during the change")
def _(change_run: ChangeRun) -> None:
    during = [r.count for r in change_run.record.requests]
    regressions = counter_regressions(during, [a.count for a in change_run.after])
    assert regressions == [], "; ".join(regressions)


@then("every web pod that went away was shut down gracefully")
def _(change_run: ChangeRun) -> None:
    killed = change_run.killed()
    assert killed == [], "; ".join(killed)


@then("the change itself succeeded")
def _(change_run: ChangeRun) -> None:
    assert change_run.error == "", change_run.error


@then("every pod kept its container, with no restart")
def _(lab: Lab, change_run: ChangeRun) -> None:
    changed = containers.kept_containers(lab, change_run)
    assert changed == [], "; ".join(changed)


@then("no kubelet was ever newer than the API server")
def _(change_run: ChangeRun) -> None:
    skewed = upgrade.of(change_run).skew_seen
    assert skewed == [], "; ".join(skewed)


@then("the API server and every kubelet report the new release")
def _(lab: Lab, change_run: ChangeRun) -> None:
    wrong = upgrade.releases_reported(lab.ns.kube, upgrade.of(change_run).target.version)
    assert wrong == [], "; ".join(wrong)


@then("cluster DNS runs the new release's CoreDNS")
def _(lab: Lab, change_run: ChangeRun) -> None:
    wrong = upgrade.coredns_reported(lab.ns.kube, upgrade.of(change_run).target)
    assert wrong == [], "; ".join(wrong)


@then("the redis pod kept its container, with no restart, while its node's kubelet was upgraded")
def _(lab: Lab, change_run: ChangeRun) -> None:
    changed = containers.kept_containers(lab, change_run, ["redis"], never_restarted=True)
    assert changed == [], "; ".join(changed)


@then("every node's kube-proxy serves from nftables, no rule of it left in iptables")
def _(change_run: ChangeRun) -> None:
    left = changes.switched(change_run).leftovers()
    assert left == [], "; ".join(left)
