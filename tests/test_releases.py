"""The releases kubelab offers: a minor or a full version of a supported one, nothing else."""

from __future__ import annotations

import dataclasses
import re
from datetime import date, timedelta
from pathlib import Path

import pytest

from kubelab import gateplan, releases
from kubelab.cluster import select
from kubelab.cluster.existing import ExistingCluster
from kubelab.cluster.local import LocalCluster
from kubelab.errors import UsageError

ROWS = releases.RELEASES
NEWEST = ROWS[-1]
LIVE = releases.live()  # on the day tests/conftest.py judges end of life on
KINDS_NEWEST = [r for r in LIVE if r.kind_node is not None][-1]  # kind has an image of it


def test_the_default_is_the_newest_supported_release() -> None:
    assert releases.choose(None) == releases.Chosen(NEWEST, NEWEST.version)
    assert releases.choose_proxy_mode(None) == releases.DEFAULT_PROXY_MODE


EMPTY = (
    f"--k8s-version '' is not a Kubernetes version: give {releases.supported()} (a minor, or a "
    f"full version such as {NEWEST.version})"
)


@pytest.mark.parametrize("given", ["", " "])
def test_a_version_given_empty_is_refused_not_taken_for_the_default(given: str) -> None:
    with pytest.raises(UsageError) as err:
        releases.choose(given)
    assert str(err.value) == EMPTY
    with pytest.raises(UsageError) as err:
        releases.choose_proxy_mode(given)
    assert str(err.value) == f"--proxy-mode {given!r}: give iptables or nftables"


@pytest.mark.parametrize(
    ("source", "target", "said"),
    [
        ("", None, EMPTY.replace("--k8s-version", "--from")),
        (None, "", EMPTY.replace("--k8s-version", "--to")),
    ],
)
def test_the_gate_refuses_an_empty_from_or_to(
    source: str | None, target: str | None, said: str
) -> None:
    with pytest.raises(UsageError) as err:
        gateplan.plan("kind", source, target, None, None)
    assert str(err.value) == said


def test_pytest_refuses_an_empty_k8s_version_as_it_starts(pytester: pytest.Pytester) -> None:
    # An existing cluster that is not there: were the option let through, nothing could start.
    given = ("--cluster=existing", "--kubeconfig=/nonexistent", "--k8s-version=")
    with pytest.raises(pytest.UsageError) as err:
        pytester.parseconfigure(*given)
    assert str(err.value) == EMPTY


def test_the_table_is_one_row_per_minor_oldest_first() -> None:
    minors = [r.minor for r in ROWS]
    assert minors == list(range(minors[0], minors[0] + len(ROWS))), minors
    ends = [r.end_of_life for r in ROWS]
    assert ends == sorted(ends), ends
    for row in ROWS:
        # kind's image of a minor is of that minor, whatever its patch
        if row.kind_node is not None:
            assert (row.kind_version or "").startswith(f"1.{row.minor}."), row.kind_node
            assert re.fullmatch(r"kindest/node:v[\d.]+@sha256:[0-9a-f]{64}", row.kind_node), row
        pinned = (row.version, row.etcd, row.coredns, row.pause)
        assert all(re.fullmatch(r"\d+\.\d+\.\d+", v) for v in pinned), pinned


@pytest.mark.parametrize("row", LIVE, ids=lambda r: f"1.{r.minor}")
def test_a_minor_means_its_newest_known_patch(row: releases.Release) -> None:
    for given in (f"1.{row.minor}", f"v1.{row.minor}", row.version, f"v{row.version}"):
        chosen = releases.choose(given)
        assert (chosen.release, chosen.version) == (row, row.version), given


def test_an_older_patch_of_a_supported_minor_is_accepted() -> None:
    chosen = releases.choose(f"1.{NEWEST.minor}.0")
    assert (chosen.release, chosen.version, chosen.patch_asked) == (
        NEWEST,
        f"1.{NEWEST.minor}.0",
        True,
    )


def test_a_patch_newer_than_the_known_one_is_refused_naming_it() -> None:
    newer = f"1.{NEWEST.minor}.{int(NEWEST.version.split('.')[2]) + 1}"
    with pytest.raises(UsageError) as err:
        releases.choose(newer)
    assert str(err.value) == (
        f"--k8s-version {newer}: the newest 1.{NEWEST.minor} patch kubelab knows is "
        f"{NEWEST.version}; give 1.{NEWEST.minor} or a patch up to {NEWEST.version}, or raise "
        f"the 1.{NEWEST.minor} row's version in kubelab/releases.py once the Go module proxy "
        "serves the newer patch"
    )


def test_a_release_is_refused_from_the_day_its_end_of_life_comes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    oldest = ROWS[0]
    monkeypatch.setattr(releases, "today", lambda: oldest.end_of_life - timedelta(days=1))
    assert releases.choose(f"1.{oldest.minor}").release == oldest
    assert releases.supported().startswith(f"1.{oldest.minor}, ")
    monkeypatch.setattr(releases, "today", lambda: oldest.end_of_life)
    with pytest.raises(UsageError) as err:
        releases.choose(f"1.{oldest.minor}")
    rest = ", ".join(f"1.{r.minor}" for r in ROWS[1:-1])
    assert str(err.value) == (
        f"--k8s-version 1.{oldest.minor}: Kubernetes 1.{oldest.minor} reached end of life on "
        f"{oldest.end_of_life.isoformat()}; give {rest} or 1.{NEWEST.minor}"
    )


def test_the_unit_tests_hook_sets_the_day_end_of_life_is_judged_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    oldest = ROWS[0]
    monkeypatch.setenv(releases.TEST_TODAY, oldest.end_of_life.isoformat())
    with pytest.raises(
        UsageError, match=rf"^--k8s-version 1\.{oldest.minor}: .* reached end of life"
    ):
        releases.choose(f"1.{oldest.minor}")
    monkeypatch.delenv(releases.TEST_TODAY)
    assert releases.today() == date.today()


@pytest.mark.parametrize(
    ("given", "said"),
    [
        (
            f"1.{ROWS[0].minor - 1}",
            (
                f"--k8s-version 1.{ROWS[0].minor - 1}: Kubernetes 1.{ROWS[0].minor - 1} reached end "
                f"of life (it is older than 1.{ROWS[0].minor}, the oldest release kubelab knows); "
                f"give {releases.supported()}"
            ),
        ),
        (f"1.{ROWS[0].minor - 1}.4", f"Kubernetes 1.{ROWS[0].minor - 1} reached end of life ("),
        ("1.20", "Kubernetes 1.20 reached end of life ("),
        (
            f"1.{NEWEST.minor + 1}",
            f"Kubernetes 1.{NEWEST.minor + 1} is not a release kubelab knows",
        ),
        (
            "banana",
            f"--k8s-version 'banana' is not a Kubernetes version: give {releases.supported()}",
        ),
        ("2.0.0", "is not a Kubernetes version"),
    ],
)
def test_other_versions_are_refused_in_one_line(given: str, said: str) -> None:
    with pytest.raises(UsageError) as err:
        releases.choose(given)
    assert said in str(err.value)
    assert "\n" not in str(err.value)


def test_kind_on_a_users_docker_runs_the_kind_image_of_the_minor_or_the_patch_asked() -> None:
    row = KINDS_NEWEST
    kind_version = str(row.kind_version)
    assert releases.choose(f"1.{row.minor}").kindest_node() == row.kind_node
    asked = releases.Chosen(row, kind_version, patch_asked=True)
    assert asked.kindest_node() == row.kind_node
    other = f"1.{row.minor}.{int(kind_version.split('.')[2]) + 1}"
    with pytest.raises(UsageError) as err:
        releases.Chosen(row, other, patch_asked=True).kindest_node()
    assert str(err.value) == (
        f"--k8s-version {other}: kind on your own Docker engine runs kind's node image of "
        f"Kubernetes 1.{row.minor}, kindest/node v{kind_version} (pinned in "
        f"kubelab/releases.py), and kubelab pins none of {other}; give --k8s-version "
        f"1.{row.minor}"
    )


def test_a_release_kind_has_no_image_of_is_refused_on_a_users_docker_in_one_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The next minor, in the table before kind publishes a node image of it.
    newer = dataclasses.replace(NEWEST, version=f"1.{NEWEST.minor + 1}.0", kind_node=None)
    monkeypatch.setattr(releases, "RELEASES", (*ROWS, newer))
    monkeypatch.setattr(releases, "DEFAULT", newer)
    chosen = releases.choose(None)
    assert (chosen.release, chosen.release.kind_version) == (newer, None)
    with pytest.raises(UsageError) as err:
        chosen.kindest_node()
    assert str(err.value) == (
        f"Kubernetes 1.{newer.minor}: kind on your own Docker engine runs kind's node image of "
        f"the release (kindest/node), and kind had published none of 1.{newer.minor} when "
        "kubelab's release table (kubelab/releases.py) was written; give --k8s-version "
        f"1.{KINDS_NEWEST.minor}, or use --cluster=local"
    )
    monkeypatch.setattr(releases, "RELEASES", (newer,))  # no release kind has an image of
    with pytest.raises(UsageError, match=r"was written; use --cluster=local$"):
        chosen.kindest_node()


def test_proxy_modes() -> None:
    assert releases.choose_proxy_mode(None) == "iptables"
    assert releases.choose_proxy_mode("nftables") == "nftables"
    with pytest.raises(UsageError, match=r"ipvs mode is deprecated since Kubernetes 1\.35"):
        releases.choose_proxy_mode("ipvs")
    with pytest.raises(UsageError, match="give iptables or nftables"):
        releases.choose_proxy_mode("userspace")


@pytest.fixture
def past_every_end_of_life(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """The day the newest release in the table reaches its end of life; the refusal then."""
    monkeypatch.setattr(releases, "today", lambda: NEWEST.end_of_life)
    monkeypatch.setenv("KUBELAB_STATE_DIR", str(tmp_path / "state"))
    return (
        f"Kubernetes 1.{NEWEST.minor} reached end of life on {NEWEST.end_of_life.isoformat()}, and "
        f"so has every release kubelab knows (1.{ROWS[0].minor} to 1.{NEWEST.minor}): kubelab's "
        "release table is out of date; upgrade kubelab"
    )


def test_past_every_end_of_life_a_release_is_refused_saying_to_upgrade_kubelab(
    past_every_end_of_life: str,
) -> None:
    with pytest.raises(UsageError) as err:
        releases.choose(None)
    assert str(err.value) == past_every_end_of_life
    with pytest.raises(UsageError) as err:
        releases.choose(f"1.{NEWEST.minor}")
    assert str(err.value) == f"--k8s-version 1.{NEWEST.minor}: {past_every_end_of_life}"
    oldest = ROWS[0]
    with pytest.raises(UsageError) as err:
        releases.choose(f"1.{oldest.minor}")
    assert str(err.value).startswith(
        f"--k8s-version 1.{oldest.minor}: Kubernetes 1.{oldest.minor} reached end of life on "
        f"{oldest.end_of_life.isoformat()}, and so has every release kubelab knows ("
    )
    stale = "none (kubelab's release table is out of date: upgrade kubelab)"
    assert releases.supported() == stale
    with pytest.raises(UsageError, match=rf"give {re.escape(stale)}$"):
        releases.choose(f"1.{NEWEST.minor + 1}")


def test_past_every_end_of_life_a_local_cluster_is_still_looked_at_not_booted(
    past_every_end_of_life: str, tmp_path: Path
) -> None:
    # What `kubelab local status`, `kubeconfig` and `down` construct; and bench, soak, matrix.
    cluster = LocalCluster()
    assert cluster.kubeconfig.is_relative_to(tmp_path / "state")
    assert cluster.status().startswith("cluster kubelab: not created (no state in ")
    assert not cluster.has_processes()
    with pytest.raises(UsageError) as err:
        _ = cluster.release  # what a boot chooses first
    assert str(err.value) == past_every_end_of_life
    with pytest.raises(UsageError, match=r"release table is out of date; upgrade kubelab$"):
        LocalCluster(k8s_version=f"1.{NEWEST.minor}")


def test_past_every_end_of_life_an_existing_cluster_is_still_chosen_and_kind_refused(
    past_every_end_of_life: str, tmp_path: Path
) -> None:
    config = tmp_path / "config"
    assert isinstance(select.choose(select.Options(kubeconfig=config)), ExistingCluster)
    with pytest.raises(UsageError) as err:
        select.choose(select.Options(cluster="kind", work_dir=tmp_path))
    assert str(err.value) == past_every_end_of_life
