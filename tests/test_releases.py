"""The releases kubelab offers: a minor or a full version of a supported one, nothing else."""

from __future__ import annotations

import pytest

from kubelab import releases
from kubelab.errors import UsageError


def test_the_default_is_the_newest_supported_release() -> None:
    assert releases.choose(None).version == releases.RELEASES[-1].version
    assert [r.minor for r in releases.RELEASES] == [35, 36, 37]


@pytest.mark.parametrize(
    ("given", "version"),
    [("1.36", "1.36.3"), ("v1.36", "1.36.3"), ("1.36.1", "1.36.1"), ("v1.35.4", "1.35.4")],
)
def test_a_minor_means_its_newest_known_patch(given: str, version: str) -> None:
    chosen = releases.choose(given)
    assert (chosen.version, chosen.release.minor) == (version, int(version.split(".")[1]))


def test_each_release_names_what_its_kubeadm_pins() -> None:
    pinned = {r.minor: (r.etcd, r.coredns, r.pause) for r in releases.RELEASES}
    assert pinned == {
        35: ("3.6.6", "1.13.1", "3.10.1"),
        36: ("3.6.8", "1.14.2", "3.10.2"),
        37: ("3.7.0", "1.14.6", "3.10.2"),
    }


@pytest.mark.parametrize(
    ("given", "said"),
    [
        (
            "1.34",
            "--k8s-version 1.34: Kubernetes 1.34 reached end of life on 2026-10-27; give 1.35, 1.36 or 1.37",
        ),
        ("1.34.4", "Kubernetes 1.34 reached end of life on 2026-10-27"),
        ("1.20", "Kubernetes 1.20 is past its end of life"),
        ("1.38", "Kubernetes 1.38 is not a release kubelab knows yet"),
        ("banana", "--k8s-version 'banana' is not a Kubernetes version: give 1.35, 1.36 or 1.37"),
        ("2.0.0", "is not a Kubernetes version"),
    ],
)
def test_other_versions_are_refused_in_one_line(given: str, said: str) -> None:
    with pytest.raises(UsageError) as err:
        releases.choose(given)
    assert said in str(err.value)
    assert "\n" not in str(err.value)


def test_proxy_modes() -> None:
    assert releases.choose_proxy_mode(None) == "iptables"
    assert releases.choose_proxy_mode("nftables") == "nftables"
    with pytest.raises(UsageError, match=r"ipvs mode is deprecated since Kubernetes 1\.35"):
        releases.choose_proxy_mode("ipvs")
    with pytest.raises(UsageError, match="give iptables or nftables"):
        releases.choose_proxy_mode("userspace")
