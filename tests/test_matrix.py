"""The matrix's table and its reading of a JUnit file."""

from __future__ import annotations

from pathlib import Path

from kubelab import matrix


def test_counts_are_tests_less_failures_errors_and_skips(tmp_path: Path) -> None:
    junit = tmp_path / "junit.xml"
    junit.write_text(
        '<testsuites><testsuite name="pytest" tests="14" failures="1" errors="1" skipped="1">'
        "</testsuite></testsuites>"
    )
    assert matrix.counts(junit) == (11, 14)
    assert matrix.counts(tmp_path / "none.xml") == (0, 0)  # the run never got to write one


def test_the_table_has_a_row_per_cell() -> None:
    cells = [
        matrix.Cell("1.37.2", "iptables", 14, 14, 61.2),
        matrix.Cell("1.37.2", "nftables", 13, 14, 70.0),
    ]
    assert matrix.table(cells).splitlines()[2:] == [
        "| 1.37.2 | iptables | 14 of 14 | 61 s |",
        "| 1.37.2 | nftables | 13 of 14 | 70 s |",
    ]
