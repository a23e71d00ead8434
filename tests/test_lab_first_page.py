"""The page after a change: when it answers for good, and a message that names the delay."""

from __future__ import annotations

from kubelab.http import Answer
from kubelab.lab import PageSince

ERROR = Answer(500, "Error -2 connecting to redis:6379. Name or service not known.\n")


def page(n: int) -> Answer:
    return Answer(200, f"Hello Container World! I have been seen {n} times.\n")


FIRST = page(1).text


def test_the_page_for_good_within_the_bound_matches():
    seen = PageSince(((0.1, ERROR), (0.9, page(1)), (2.0, page(2)), (5.1, page(3))))
    assert seen.settled(5)
    assert seen.matches(FIRST, within=5)


def test_watching_goes_on_until_the_bound():
    assert not PageSince(((0.1, ERROR), (0.9, page(1)))).settled(5)


def test_a_page_that_comes_and_goes_is_not_for_good_and_the_delay_is_named():
    # two DNS replicas, one caching the earlier NXDOMAIN: the name resolves only now and then
    answers = [(0.1, ERROR), (0.6, page(1)), (0.9, ERROR), (3.0, page(2)), (4.0, ERROR)]
    answers += [(29.4 + i, page(3 + i)) for i in range(6)]
    seen = PageSince(tuple(answers))
    assert not PageSince(tuple(answers[:8])).settled(5)  # 29.4 .. 31.4: not 5 s on end yet
    assert seen.settled(5)
    assert seen.settled_after == 29.4
    assert not seen.matches(FIRST, within=5)
    message = seen.explain(FIRST, 5)
    assert message.startswith(
        "the pod answered its page 0.6 s after the Service was created, then errors again "
        "until 4.0 s, its page for good only from 29.4 s"
    )
    assert "within 5 s" in message
    assert "NXDOMAIN" in message


def test_another_first_page_does_not_match():
    seen = PageSince(((0.5, page(7)), (5.0, page(8))))
    assert not seen.matches(FIRST, within=5)
    assert "was 'Hello Container World! I have been seen 7 times.'" in seen.explain(FIRST, 5)


def test_runs_collapse_repeats():
    seen = PageSince(((0.1, ERROR), (0.2, ERROR), (0.3, page(1))))
    assert seen.runs() == (
        "0.1 s 'Error -2 connecting to redis:6379. Name or service not known.' x2, "
        "0.3 s 'Hello Container World! I have been seen 1 times.'"
    )


def test_counts_from_the_first_page_on():
    seen = PageSince(((0.1, ERROR), (0.3, page(1)), (0.5, ERROR), (0.7, page(2))))
    assert seen.counts() == [1, None, 2]
    assert PageSince(((0.1, ERROR),)).counts() == []


def test_a_page_then_the_dns_error_again_does_not_match_and_names_when():
    # what a denial-caching DNS replica behind kube-dns did on the local cluster
    answers = [(0.1, Answer(500, "Error 111 connecting to redis:6379. Connection refused.\n"))]
    answers += [(1.0, ERROR), (1.2, page(1)), (1.5, ERROR), (1.8, ERROR)]
    answers += [(2.1 + i * 0.3, page(2 + i)) for i in range(11)]
    seen = PageSince(tuple(answers))
    assert seen.settled(5)
    assert not seen.matches(FIRST, within=5)
    message = seen.explain(FIRST, 5)
    assert message.startswith(
        "the pod answered its page 1.2 s after the Service was created, then errors again "
        "until 1.8 s, its page for good only from 2.1 s"
    )
    assert "NXDOMAIN" in message


def test_a_pod_that_never_answers_its_page_says_so_with_the_cluster_dns():
    # what the When hands on when the namespace's timeout passed: the Then judges it
    seen = PageSince(
        tuple((0.3 * i, ERROR) for i in range(1, 400)),
        dns="the kube-dns Service's endpoints: none",
    )
    assert not seen.settled(5)
    assert not seen.matches(FIRST, within=5)
    message = seen.explain(FIRST, 5)
    assert message.startswith(
        "the pod never answered its page in the 119.7 s it was asked after the Service was "
        "created; a kubeadm or kind cluster does within 5 s. Answers since the Service was "
        "created: 0.3 s 'Error -2 connecting to redis:6379. Name or service not known.' x399"
    )
    assert "NXDOMAIN" in message
    assert message.endswith("; the kube-dns Service's endpoints: none")


def test_a_page_that_went_away_for_good_says_never_for_good():
    seen = PageSince(((0.2, ERROR), (0.5, page(1)), (0.8, ERROR), (60.0, ERROR)))
    assert seen.explain(FIRST, 5).startswith(
        "the pod answered its page 0.5 s after the Service was created, then errors again until "
        "60.0 s, its page never for good in the 60.0 s it was asked;"
    )


SERVICE = "10.96.0.42"


def looked_up(*seen: tuple[float, str]) -> PageSince:
    lookups = tuple((t, (SERVICE,) if ok == "ok" else ("error:", ok)) for t, ok in seen)
    answers = ((0.2, ERROR), (0.8, page(1)), (6.0, page(2)))
    return PageSince(answers, lookups=lookups, service_address=SERVICE)


def test_a_name_that_resolves_within_the_bound_and_every_time_after_matches():
    seen = looked_up((0.3, "[Errno -2] Name or service not known"), (0.9, "ok"), (6.1, "ok"))
    assert seen.settled(5)
    assert seen.resolves_within(5)


def test_a_name_that_resolves_now_and_then_names_when_it_held():
    # two DNS replicas behind kube-dns, one answering from its cached NXDOMAIN for 30 s: the page
    # holds (the app keeps its connection), the lookups show the cache
    nx = "[Errno -2] Name or service not known"
    seen = looked_up((0.9, "ok"), (1.5, nx), (2.1, "ok"), (28.7, nx), (29.3, "ok"), (34.5, "ok"))
    assert seen.settled(5)
    assert not looked_up((0.9, "ok"), (1.5, nx), (2.1, "ok"), (6.0, "ok")).settled(5)
    assert not seen.resolves_within(5)
    message = seen.explain_lookups("redis", 5)
    assert message.startswith(
        "redis resolved to its Service's address at 0.9 s, then failed again, for good only "
        "from 29.3 s after the Service was created; a kubeadm or kind cluster does within 5 s"
    )
    assert "NXDOMAIN" in message
    assert f"Service redis: {SERVICE}" in message
    assert f"0.9 s '{SERVICE}', 1.5 s 'error: {nx}'" in message


def test_a_name_that_resolves_too_late_or_never_says_so():
    nx = "[Errno -2] Name or service not known"
    late = looked_up((0.5, nx), (7.5, "ok"), (13.0, "ok"))
    assert not late.resolves_within(5)
    assert late.explain_lookups("redis", 5).startswith(
        "redis resolved to its Service's address only from 7.5 s after the Service was created"
    )
    never = looked_up((0.5, nx), (7.5, nx))
    assert not never.settled(5)
    assert not never.resolves_within(5)
    assert never.explain_lookups("redis", 5).startswith(
        "redis never resolved to its Service's address (2 lookups in 7.5 s) after the Service"
    )
