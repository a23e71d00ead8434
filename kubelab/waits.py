"""The one wait helper: a condition, a required timeout, and an error that explains itself."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import TypeVar

import tenacity

from kubelab.errors import EnvironmentProblem, WaitTimeout
from kubelab.transient import is_transient

log = logging.getLogger(__name__)

T = TypeVar("T")

# Named tiers instead of magic numbers: the one home of kubelab's timeouts. A wait takes the tier
# of what it waits for; a module keeps its own constant only for a bound no tier means.
SHORT = 30.0  # one API call or a quick command: it answers at once unless something is wrong
MEDIUM = 120.0  # a pod, a daemon or a node coming up or going away; a small compile
LONG = (
    300.0  # a rollout, a cluster's nodes getting Ready, a run cleaning up; an image push or import
)
BUILD = 900.0  # one build or download step: apt, debootstrap, an image build, a module download
COLD = 3600.0  # compiling a release from cold, or a whole pytest run that may include it
PROGRESS_EVERY = 10.0
# One attempt of a check polled until it passes (a health check, ``ctr version``): an attempt that
# hangs gives way to the next well before the wait around it ends.
ATTEMPT = 5.0
# --change-timeout's default (the README names it): an upgrade script may take minutes. Not a
# tier: it bounds the user's own command, not a wait of kubelab's.
CHANGE = 600.0


def wait_until(
    observe: Callable[[], T],
    done: Callable[[T], bool],
    *,
    timeout: float,
    what: str,
    interval: float = 0.25,
    describe: Callable[[T], str] = repr,
    fatal: Callable[[T], str | None] = lambda _: None,
) -> T:
    """Call ``observe`` until ``done(observation)``; return it, or raise WaitTimeout after ``timeout`` s.

    Only transient errors from ``observe`` (``is_transient``: an API answer 5xx or 429, no
    connection) count as "not yet"; any other exception is a bug or a refusal and ends the wait
    at once. When ``fatal(observation)`` returns a message, waiting longer cannot help either:
    EnvironmentProblem at once. The timeout chains the last transient error, if any.
    """
    if timeout <= 0:
        raise ValueError("wait_until needs a positive timeout")
    last: list[str] = ["nothing observed yet"]
    error: list[BaseException | None] = [None]

    def attempt() -> T:
        try:
            value = observe()
        except Exception as exc:
            if is_transient(exc):
                last[0] = f"{type(exc).__name__}: {exc}".splitlines()[0]
                error[0] = exc
            raise
        last[0] = describe(value)
        error[0] = None
        problem = fatal(value)
        if problem:
            raise EnvironmentProblem(problem)
        return value

    next_report = [PROGRESS_EVERY]

    def report_progress(state: tenacity.RetryCallState) -> None:
        # Long waits say what they wait for, and what they see, every PROGRESS_EVERY seconds.
        waited = state.seconds_since_start or 0.0
        if waited >= next_report[0]:
            next_report[0] += PROGRESS_EVERY
            log.info("still waiting for %s (%.0f s of %.0f s): %s", what, waited, timeout, last[0])

    retrying = tenacity.Retrying(
        stop=tenacity.stop_after_delay(timeout),
        wait=tenacity.wait_fixed(interval),
        retry=tenacity.retry_if_exception(is_transient)
        | tenacity.retry_if_result(lambda value: not done(value)),
        before_sleep=report_progress,
        reraise=False,
    )
    try:
        return retrying(attempt)
    except tenacity.RetryError:
        raise WaitTimeout(
            f"{what}: not reached within {timedelta(seconds=round(timeout))}; last seen: {last[0]}"
        ) from error[0]
