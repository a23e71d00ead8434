"""Steps about clearing the environment."""

from __future__ import annotations

from pytest_bdd import then, when


@when("I delete the services, the ReplicationController and the pods")
def _(lab):
    lab.clear()


@then("nothing of the lab is left")
def _(lab):
    assert lab.wait_until_empty() == []
