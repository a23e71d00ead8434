"""Steps about clearing the environment."""

from __future__ import annotations

from pytest_bdd import then, when

from kubelab.lab import Lab


@when("I delete the services, the ReplicationController and the pods")
def _(lab: Lab) -> None:
    lab.delete_services_rc_and_pods()


@then("nothing of the lab is left")
def _(lab: Lab) -> None:
    lab.wait_until_empty()
