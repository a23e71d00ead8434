"""Steps about the rolling update and the traffic that flows through it."""

from __future__ import annotations

from collections.abc import Callable

from pytest_bdd import parsers, then, when

from kubelab.checks import counter_regressions
from kubelab.lab import Lab, Rollout
from kubelab.plugin.ahead import given_ahead


@given_ahead(
    parsers.parse("{count:d} web pods of version 1.0 run under a {controller}"),
    lambda lab, count, controller: lab.start_web_under(controller, replicas=count),
    target_fixture="controller",
)
def _(lab: Lab, count: int, controller: str) -> str:
    lab.start_web_under_and_wait_until_ready(controller, replicas=count)
    return controller


@when(
    "I roll the web pods to version 2.0 while traffic flows on every node", target_fixture="rollout"
)
def _(lab: Lab, controller: str, record_property: Callable[[str, object], None]) -> Rollout:
    return lab.roll_web_to_v2_under_traffic(controller, record=record_property)


@then("no request failed during the update")
def _(rollout: Rollout) -> None:
    failed = rollout.record.failed
    assert failed == [], "\n".join(
        [rollout.record.summary(), *(f"{r.target} at {r.sent:.3f} s: {r.error}" for r in failed)]
    )


@then(
    parsers.parse(
        "there were never more than {most:d} web pods, not counting pods shutting down "
        "or scaled away"
    )
)
def _(rollout: Rollout, most: int) -> None:
    assert rollout.most_running <= most, (
        f"the watch saw {rollout.most_running} web pods at once: {rollout.busiest}"
    )


@then(parsers.parse("there were never fewer than {fewest:d} ready web pods"))
def _(rollout: Rollout, fewest: int) -> None:
    assert rollout.fewest_available >= fewest, (
        f"the watch saw only {rollout.fewest_available} ready"
    )


@then(parsers.parse("all {count:d} web pods run version 2.0"))
def _(lab: Lab, count: int) -> None:
    images = lab.wait_for_web_pod_images(count)
    assert set(images.values()) == {lab.images.web_v2}, images


@then("every answer after the update comes from 2.0 and names its pod's hostname")
def _(lab: Lab, rollout: Rollout) -> None:
    wrong = [
        a
        for a in rollout.after
        if a.version != "2.0" or not a.text.endswith(f"my hostname is {a.hostname}.")
    ]
    assert wrong == [], lab.explain_versions(wrong)


@then("the counter never went backwards")
def _(rollout: Rollout) -> None:
    during = [r.count for r in rollout.record.requests]
    regressions = counter_regressions(during, [a.count for a in rollout.after])
    assert regressions == [], "; ".join(regressions)


@then(parsers.parse("answers after the update come from all {count:d} pods"))
def _(lab: Lab, rollout: Rollout, count: int) -> None:
    assert {a.hostname for a in rollout.after} == set(lab.wait_for_web_pod_images(count))
