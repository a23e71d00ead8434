"""Pure checks behind the Then steps."""

from __future__ import annotations

import pytest

from kubelab.checks import counts_step_by_one, parse_version


@pytest.mark.parametrize(
    ("version", "expected"),
    [("v1.34.4", (1, 34)), ("v1.5.1+coreos.0", (1, 5)), ("v1.32.0-rc.1", (1, 32))],
)
def test_parse_version(version, expected):
    assert parse_version(version) == expected


@pytest.mark.parametrize("version", ["v0.0.0-master+$Format:%H$", "1.34", ""])
def test_parse_version_refuses_unreleased_or_garbled(version):
    with pytest.raises(ValueError, match="not a Kubernetes release version"):
        parse_version(version)


@pytest.mark.parametrize(
    ("counts", "ok"),
    [
        ([3, 4, 5], True),
        ([1], True),
        ([3, 5], False),
        ([2, 2], False),
        ([], False),
        ([1, None], False),
    ],
)
def test_counts_step_by_one(counts, ok):
    assert counts_step_by_one(counts) is ok
