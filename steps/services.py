"""Steps about Services: reaching redis by name and the web app on every node."""

from __future__ import annotations

from pytest_bdd import parsers, then, when

from kubelab.checks import counts_step_by_one
from kubelab.http import Answer
from kubelab.lab import Lab, PageSince
from kubelab.plugin.ahead import given_ahead


@given_ahead(parsers.parse("the {name:w} Service exists"), Lab.start_service)
@given_ahead(parsers.parse("the {name:w} NodePort Service exists"), Lab.start_service)
def _(lab: Lab, name: str) -> None:
    lab.start_service_and_wait_until_it_answers(name)


@when(parsers.parse("I create the {name:w} Service"), target_fixture="created")
def _(lab: Lab, name: str) -> float:
    return lab.start_service_and_note_when(name)


@when("I ask the web pod for its page from its node", target_fixture="answers")
def _(lab: Lab) -> list[Answer]:
    return lab.ask_pod_from_its_node("web")


@when(
    parsers.parse("I ask the web pod for its page {times:d} times from its node"),
    target_fixture="answers",
)
def _(lab: Lab, times: int) -> list[Answer]:
    return lab.ask_pod_from_its_node("web", times=times)


@when(
    "I ask the web pod for its page from its node again and again, and it looks up redis each time",
    target_fixture="page",
)
def _(lab: Lab, created: float) -> PageSince:
    return lab.ask_until_page_settles(created)


@when("I ask for the page on every node's address", target_fixture="answers")
def _(lab: Lab) -> list[Answer]:
    return lab.ask_every_node()


@then(parsers.parse('the answer is the error "{text}"'))
def _(lab: Lab, answers: list[Answer], text: str) -> None:
    assert [(a.status, a.text) for a in answers] == [(500, text)], lab.explain(answers)


@then(parsers.parse('the answers are "{first}" then "{second}"'))
def _(lab: Lab, answers: list[Answer], first: str, second: str) -> None:
    expected = [(200, first), (200, second)]
    assert [(a.status, a.text) for a in answers] == expected, lab.explain(answers)


@then(parsers.parse('within {seconds:d} seconds the web pod answers "{text}"'))
def _(page: PageSince, seconds: int, text: str) -> None:
    assert page.matches(text, within=seconds), page.explain(text, seconds)


@then("every visit after it is counted")
def _(page: PageSince) -> None:
    assert counts_step_by_one(page.counts()), page.runs()


@then(
    parsers.parse(
        "within {seconds:d} seconds redis resolves in the web pod to the redis Service's address, "
        "every time after"
    )
)
def _(page: PageSince, seconds: int) -> None:
    assert page.resolves_within(seconds), page.explain_lookups("redis", seconds)


@then("every node answers with the page")
def _(lab: Lab, answers: list[Answer]) -> None:
    wrong = [a for a in answers if a.status != 200 or a.count is None]
    assert wrong == [], lab.explain(wrong)


@then("the counter goes up by exactly one per request")
def _(lab: Lab, answers: list[Answer]) -> None:
    assert counts_step_by_one([a.count for a in answers]), lab.explain(answers)
