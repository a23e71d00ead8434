"""The matrix's table and its reading of a JUnit file."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import ClassVar

import pytest

from kubelab import bench, matrix, releases
from tests.cli import refused


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


@pytest.mark.parametrize(
    ("option", "said"),
    [
        ("--k8s-version=1.34", "kubelab matrix: --k8s-version 1.34: Kubernetes 1.34 reached end"),
        ("--proxy-mode=ipvs", "kubelab matrix: --proxy-mode ipvs: kube-proxy's ipvs mode is"),
    ],
)
def test_bad_input_is_one_line_before_anything_starts(option: str, said: str, tmp_path: Path):
    result = refused("kubelab.matrix", option, state=tmp_path / "state")
    assert result.returncode == 2
    assert result.stderr.startswith(said), result.stderr
    assert result.stdout == ""


class StandInCluster:
    """A stand-in for the local cluster a killed run left up: records that it was taken down."""

    downs: ClassVar[list[str]] = []

    def has_processes(self) -> bool:
        return True

    def down(self) -> None:
        self.downs.append("down")


def test_a_cell_that_times_out_is_failed_and_its_cluster_taken_down(monkeypatch) -> None:
    def no_end(argv: list[str], **kwargs: object) -> None:  # a stand-in run that never ends
        raise matrix.commands.CommandTimedOut(f"{argv} did not finish")

    monkeypatch.setattr(matrix.commands, "run_child", no_end)
    monkeypatch.setattr(matrix, "LocalCluster", StandInCluster)
    StandInCluster.downs = []
    cell = matrix.run_cell("1.37.2", "nftables", [])
    assert (cell.timed_out, cell.ok) == (True, False)
    assert StandInCluster.downs == ["down"]
    assert matrix.table([cell]).splitlines()[2] == (
        f"| 1.37.2 | nftables | failed: timed out after {matrix.COLD:.0f} s | 0 s |"
    )


def test_the_matrix_goes_on_after_a_timed_out_cell_and_writes_its_section(
    monkeypatch, tmp_path: Path
) -> None:
    measurements = tmp_path / "measurements.md"
    measurements.write_text(EARLIER)
    monkeypatch.setattr(matrix, "MEASUREMENTS", measurements)
    readme = tmp_path / "README.md"
    readme.write_text("# kubelab\n\n## Releases\n\nthe matrix:\n")
    monkeypatch.setattr(matrix, "README", readme)
    monkeypatch.setattr(matrix.LocalCluster, "has_processes", lambda self: False)
    ran: list[tuple[str, str]] = []

    def stand_in_cell(version: str, mode: str, pytest_args: list[str]) -> matrix.Cell:
        ran.append((version, mode))
        return matrix.Cell(version, mode, 0, 0, 3600.0, timed_out=len(ran) == 1)

    monkeypatch.setattr(matrix, "run_cell", stand_in_cell)
    assert matrix.main([]) == 1
    every = [(r.version, m) for r in releases.live() for m in releases.PROXY_MODES]
    assert ran == every
    text = measurements.read_text()
    assert text.startswith(EARLIER.rstrip())
    written = text.split(matrix.SECTION_START)[1]
    assert f"| {every[0][0]} | {every[0][1]} | failed: timed out after" in written
    assert written.count("\n| 1.") == len(every)
    assert written.endswith(f"{matrix.SECTION_END}\n")
    shown = readme.read_text()  # the README shows the same table
    assert shown.startswith("# kubelab\n\n## Releases\n\nthe matrix:\n")
    assert shown.split(matrix.SECTION_START)[1] == written


EARLIER = "# Measurements\n\nbench's figures\n\n## Measured by other means\n\nfresh tox: 18 min\n"


def test_the_matrix_section_replaces_only_itself_and_bench_keeps_it() -> None:
    cells = [matrix.Cell("1.37.2", "iptables", 14, 14, 61.2)]
    first = matrix.with_section(EARLIER, matrix.section(cells, datetime.date(2026, 12, 6), 2))
    assert first.startswith(EARLIER)
    assert "## `tox -e matrix` on 2026-12-06 (2 cores)" in first
    later = [matrix.Cell("1.37.2", "iptables", 13, 14, 70.0)]
    second = matrix.with_section(first, matrix.section(later, datetime.date(2026, 12, 7), 2))
    assert second.startswith(EARLIER)
    assert "61 s" not in second
    assert second.count(matrix.SECTION_START) == 1
    assert "| 1.37.2 | iptables | 13 of 14 | 70 s |" in second
    # a bench run rewrites the rest of the file and keeps the matrix's section
    rewritten = bench.measurements(_bench_run(), second)
    assert (
        second.partition(matrix.SECTION_START)[1:] == rewritten.partition(matrix.SECTION_START)[1:]
    )
    # text after the section is kept as well
    tail = second + "\nlater notes\n"
    assert matrix.with_section(tail, matrix.section(cells, datetime.date(2026, 12, 8), 2)).endswith(
        "\nlater notes\n"
    )


def _bench_run() -> bench.Run:
    return bench.Run(
        figures={"boot": 7.1, "script": 50.0, "serial": 45.5, "parallel": 41.0, "ratio": 0.91},
        boots=[7.1],
        busy={"script": 40.0, "serial": 46.0, "parallel": 60.0},
        workers="2",
        cores=2,
    )
