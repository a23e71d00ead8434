"""Splitting the lab into xdist workers' shares."""

from __future__ import annotations

from kubelab.shares import split


def test_the_heaviest_go_first_each_to_the_lightest_share() -> None:
    # the lab's scenarios by When and Then steps: the two rolling updates (8) apart
    weights = [2, 1, 2, 2, 3, 3, 2, 6, 2, 3, 4, 8, 8, 2]
    shares = split(weights, 2)
    loads = [sum(w for w, s in zip(weights, shares, strict=True) if s == k) for k in (0, 1)]
    assert loads == [24, 24]
    assert shares[11] != shares[12]


def test_more_workers_than_scenarios_leaves_shares_empty() -> None:
    assert sorted(split([5, 1], 4)) == [0, 1]
    assert split([], 3) == []
