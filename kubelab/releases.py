"""The Kubernetes releases kubelab runs, with what kubeadm of each release pins, and the
kube-proxy modes it offers. Supporting a new release is one row in RELEASES."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import date

from kubelab.errors import UsageError


@dataclass(frozen=True)
class Release:
    """One Kubernetes release: the patch kubelab builds of it, the versions kubeadm of that
    release pins (``cmd/kubeadm/app/constants``: DefaultEtcdVersion, CoreDNSVersion,
    PauseVersion), the day its support ends, and kind's upstream node image of it."""

    # The newest patch the Go module proxy serves (`go list -m -versions k8s.io/kubernetes`),
    # which the local cluster and kind's offline node image build; a newer one is refused.
    version: str
    etcd: str
    coredns: str
    pause: str
    end_of_life: date  # from this day on the release is refused
    # The kindest/node image kind (tools.KIND_VERSION) publishes for this minor, pinned by digest,
    # for kind on a user's own Docker engine: kind builds it at a patch of its choosing, which
    # may differ from ``version``. None while kind publishes none: kind on a user's own Docker
    # then refuses the release; kubelab's offline node image is built from ``version`` alone.
    kind_node: str | None = None

    @property
    def minor(self) -> int:
        """Y of 1.Y.Z."""
        return int(self.version.split(".")[1])

    @property
    def kind_version(self) -> str | None:
        """The Kubernetes version kind_node runs ("1.37.0"); None without a kind_node."""
        if self.kind_node is None:
            return None
        return self.kind_node.split(":v", 1)[1].split("@", 1)[0]


# Oldest first; the last row is the default. A row past its end of life is refused (see
# choose); remove it when convenient.
_KINDEST = "kindest/node"
RELEASES = (
    Release(
        "1.35.4",
        etcd="3.6.6",
        coredns="1.13.1",
        pause="3.10.1",
        end_of_life=date(2027, 2, 28),
        kind_node=f"{_KINDEST}:v1.35.8@sha256:07b2536e30b803ed61d1677a79df6115f798ce64c80f9e22f6ed45afd09323c0",
    ),
    Release(
        "1.36.3",
        etcd="3.6.8",
        coredns="1.14.2",
        pause="3.10.2",
        end_of_life=date(2027, 6, 28),
        kind_node=f"{_KINDEST}:v1.36.4@sha256:099e049362a1526b2db71494e1947aae99bd16290d7c895f2b7ea312e3cbfaed",
    ),
    Release(
        "1.37.2",
        etcd="3.7.0",
        coredns="1.14.6",
        pause="3.10.2",
        end_of_life=date(2027, 10, 28),
        kind_node=f"{_KINDEST}:v1.37.0@sha256:a1ed56cfb0e7b93589bdf97c8cd566405a265939e3620fc4f5de89adff580ae5",
    ),
)
DEFAULT = RELEASES[-1]

# kube-proxy's modes: iptables is what kubeadm writes; nftables is GA since 1.33.
PROXY_MODES = ("iptables", "nftables")
DEFAULT_PROXY_MODE = "iptables"

_VERSION_RE = re.compile(r"^v?1\.(\d+)(?:\.(\d+))?$")


@dataclass(frozen=True)
class Chosen:
    """A release at one patch: ``release`` gives the pinned add-ons, ``version`` what is built."""

    release: Release
    version: str  # "1.36.3"
    patch_asked: bool = False  # --k8s-version named the patch, not only the minor

    def kindest_node(self) -> str:
        """The upstream kindest/node image kind runs for this release on a user's own Docker
        engine: the row's (its patch is kind's); UsageError in one line when the row has none,
        or another patch was asked (kubelab pins one image per minor, by digest; an unpinned
        tag may not exist, or be built for another kind)."""
        minor = f"1.{self.release.minor}"
        if self.release.kind_node is None:
            with_image = [f"1.{r.minor}" for r in live() if r.kind_node is not None]
            instead = f"give --k8s-version {with_image[-1]}, or " if with_image else ""
            raise UsageError(
                f"Kubernetes {minor}: kind on your own Docker engine runs kind's node image of the "
                f"release (kindest/node), and kind had published none of {minor} when kubelab's "
                f"release table (kubelab/releases.py) was written; {instead}use --cluster=local"
            )
        if self.patch_asked and self.version != self.release.kind_version:
            raise UsageError(
                f"--k8s-version {self.version}: kind on your own Docker engine runs kind's node "
                f"image of Kubernetes {minor}, kindest/node v{self.release.kind_version} (pinned "
                f"in kubelab/releases.py), and kubelab pins none of {self.version}; give "
                f"--k8s-version {minor}"
            )
        return self.release.kind_node


# A test hook, not a setting: kubelab's unit tests (tests/conftest.py) set it to an ISO date, so
# that they, and the commands they start, judge end of life on a day derived from RELEASES
# rather than on the calendar's.
TEST_TODAY = "KUBELAB_TEST_TODAY"


def today() -> date:
    """Today's date, by which a release's end of life has come or not."""
    pinned = os.environ.get(TEST_TODAY)
    return date.fromisoformat(pinned) if pinned else date.today()


def live() -> list[Release]:
    """The releases of RELEASES not past their end of life today, oldest first."""
    return [r for r in RELEASES if today() < r.end_of_life]


def supported() -> str:
    """'1.35, 1.36 or 1.37' (for messages)."""
    minors = [f"1.{r.minor}" for r in live()]
    if not minors:
        return "none (kubelab's release table is out of date: upgrade kubelab)"
    return f"{', '.join(minors[:-1])} or {minors[-1]}" if len(minors) > 1 else minors[0]


def choose(text: str | None) -> Chosen:
    """The release a ``--k8s-version`` names: a minor (``1.36``: its newest known patch) or a full
    version (``1.36.3``, up to the newest known); None (not given): the newest supported.
    UsageError in one line otherwise (an empty one too), or when the release is past its end of
    life (once every release is, the line says to upgrade kubelab)."""
    given = text is not None
    text = DEFAULT.version if text is None else text.strip()
    asked = f"--k8s-version {text}: " if given and text else ""
    match = _VERSION_RE.match(text)
    if not match:
        raise UsageError(
            f"--k8s-version {text!r} is not a Kubernetes version: give {supported()} "
            f"(a minor, or a full version such as {DEFAULT.version})"
        )
    minor, patch = int(match.group(1)), match.group(2)
    release = next((r for r in RELEASES if r.minor == minor), None)
    if release is None:
        known = (
            f"reached end of life (it is older than 1.{RELEASES[0].minor}, the oldest release "
            "kubelab knows)"
            if minor < RELEASES[0].minor
            else "is not a release kubelab knows yet"
        )
        raise UsageError(f"{asked}Kubernetes 1.{minor} {known}; give {supported()}")
    if not today() < release.end_of_life:
        ended = f"{asked}Kubernetes 1.{minor} reached end of life on {release.end_of_life}"
        if not live():
            raise UsageError(
                f"{ended}, and so has every release kubelab knows (1.{RELEASES[0].minor} to "
                f"1.{DEFAULT.minor}): kubelab's release table is out of date; upgrade kubelab"
            )
        raise UsageError(f"{ended}; give {supported()}")
    if patch is None or not given:
        return Chosen(release, release.version)
    if int(patch) > int(release.version.split(".")[2]):
        raise UsageError(
            f"{asked}the newest 1.{minor} patch kubelab knows is {release.version}; give 1.{minor} "
            f"or a patch up to {release.version}, or raise the 1.{minor} row's version in "
            "kubelab/releases.py once the Go module proxy serves the newer patch"
        )
    return Chosen(release, f"1.{minor}.{patch}", patch_asked=True)


def choose_proxy_mode(text: str | None) -> str:
    """kube-proxy's mode: iptables (None: not given) or nftables; UsageError in one line otherwise
    (an empty one too)."""
    mode = DEFAULT_PROXY_MODE if text is None else text.strip().lower()
    if mode == "ipvs":
        raise UsageError(
            "--proxy-mode ipvs: kube-proxy's ipvs mode is deprecated since Kubernetes 1.35 and "
            "kubelab does not offer it; give iptables or nftables"
        )
    if mode not in PROXY_MODES:
        raise UsageError(f"--proxy-mode {text!r}: give iptables or nftables")
    return mode
