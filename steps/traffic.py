"""Steps about the rolling update and the traffic that flows through it."""

from __future__ import annotations

from pytest_bdd import given, parsers, then, when

from kubelab.checks import counter_regressions
from steps.ahead import ahead

WEB_UNDER = ahead(
    parsers.parse("{count:d} web pods of version 1.0 run under a {controller}"),
    lambda lab, count, controller: lab.start_web_under(controller, replicas=count),
)


@given(WEB_UNDER, target_fixture="controller")
def _(lab, count, controller):
    lab.run_web_under(controller, replicas=count)
    return controller


@when(
    "I roll the web pods to version 2.0 while traffic flows on every node", target_fixture="rollout"
)
def _(lab, controller, record_property):
    rollout = lab.roll_web_to_v2_under_traffic(controller)
    record_property("timeline", str(rollout.picture))
    record_property("traffic", f"{controller}: {rollout.summary()}")
    return rollout


@then("no request failed during the update")
def _(rollout):
    assert rollout.record.failed == [], rollout.record.summary()


@then(
    parsers.parse("there were never more than {most:d} web pods, not counting pods shutting down")
)
def _(rollout, most):
    assert rollout.most_running <= most, f"the watch saw {rollout.most_running} web pods at once"


@then(parsers.parse("there were never fewer than {fewest:d} ready web pods"))
def _(rollout, fewest):
    assert rollout.fewest_available >= fewest, (
        f"the watch saw only {rollout.fewest_available} ready"
    )


@then(parsers.parse("all {count:d} web pods run version 2.0"))
def _(lab, count):
    assert set(lab.web_pod_images(count).values()) == {lab.images.web_v2}


@then(
    "every answer after the update comes from 2.0 and names its pod's hostname",
    target_fixture="after",
)
def _(lab):
    after = lab.sample_answers()
    assert [
        a
        for a in after
        if a.version != "2.0" or not a.text.endswith(f"my hostname is {a.hostname}.")
    ] == []
    return after


@then("the counter never went backwards")
def _(rollout, after):
    assert (
        counter_regressions([r.count for r in rollout.record.requests], [a.count for a in after])
        == []
    )


@then(parsers.parse("answers after the update come from all {count:d} pods"))
def _(lab, after, count):
    assert {a.hostname for a in after} == set(lab.web_pod_images(count))
