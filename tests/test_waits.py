"""The wait helper: bounded, and its timeout says what, how long, and what was seen last."""

from __future__ import annotations

import itertools

import pytest
from kubernetes.client.rest import ApiException

from kubelab.errors import EnvironmentProblem, WaitTimeout
from kubelab.waits import wait_until


def test_returns_the_first_observation_that_is_done():
    counter = itertools.count()
    assert (
        wait_until(lambda: next(counter), lambda n: n >= 3, timeout=5, what="three", interval=0.01)
        == 3
    )


def test_timeout_names_what_how_long_and_the_last_state():
    with pytest.raises(WaitTimeout) as caught:
        wait_until(
            lambda: "2 ready, 1 ImagePullBackOff",
            lambda s: False,
            timeout=0.3,
            what="3 ready pods",
            interval=0.05,
        )
    message = str(caught.value)
    assert message.startswith("3 ready pods: not reached within 0:00:00")
    assert message.endswith("last seen: '2 ready, 1 ImagePullBackOff'")


def test_exceptions_count_as_not_yet_and_are_reported():
    def boom() -> int:
        raise ConnectionRefusedError("connection refused")

    with pytest.raises(WaitTimeout, match="last seen: ConnectionRefusedError: connection refused"):
        wait_until(boom, lambda n: True, timeout=0.2, what="an answer", interval=0.05)


@pytest.mark.parametrize("timeout", [0, -1])
def test_refuses_to_wait_without_a_positive_timeout(timeout):
    with pytest.raises(ValueError, match="positive timeout"):
        wait_until(lambda: 1, lambda n: True, timeout=timeout, what="x")


def test_a_fatal_observation_ends_the_wait_at_once():
    calls = itertools.count(1)
    with pytest.raises(EnvironmentProblem, match="image gone"):
        wait_until(
            lambda: next(calls), lambda n: False, timeout=30, what="x", fatal=lambda n: "image gone"
        )
    assert next(calls) == 2  # observed once, not retried


def test_a_long_wait_says_what_it_waits_for(monkeypatch, caplog):
    monkeypatch.setattr("kubelab.waits.PROGRESS_EVERY", 0.1)
    with caplog.at_level("INFO", logger="kubelab.waits"), pytest.raises(WaitTimeout):
        wait_until(
            lambda: "1 ready", lambda s: False, timeout=0.35, what="3 ready pods", interval=0.05
        )
    assert "still waiting for 3 ready pods" in caplog.text
    assert "'1 ready'" in caplog.text


def test_a_bug_ends_the_wait_at_once_with_its_traceback():
    calls = itertools.count(1)

    def broken() -> int:
        next(calls)
        return None.count  # type: ignore[attr-defined]

    with pytest.raises(AttributeError):
        wait_until(broken, lambda n: True, timeout=30, what="x", interval=0.01)
    assert next(calls) == 2  # observed once, not retried


@pytest.mark.parametrize("status", [400, 403, 404, 422])
def test_an_api_refusal_ends_the_wait_at_once(status):
    def refused() -> int:
        raise ApiException(status=status, reason="Refused")

    with pytest.raises(ApiException):
        wait_until(refused, lambda n: True, timeout=30, what="x", interval=0.01)


@pytest.mark.parametrize("status", [429, 500, 503])
def test_a_transient_api_error_is_waited_out(status):
    answers = iter([ApiException(status=status, reason="Busy"), 7])

    def flaky() -> int:
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert wait_until(flaky, lambda n: True, timeout=5, what="x", interval=0.01) == 7


def test_a_timeout_chains_the_last_transient_error():
    def down() -> int:
        raise ConnectionRefusedError("connection refused")

    with pytest.raises(WaitTimeout) as caught:
        wait_until(down, lambda n: True, timeout=0.2, what="an answer", interval=0.05)
    assert isinstance(caught.value.__cause__, ConnectionRefusedError)
