"""The Kubernetes releases kubelab runs, with what kubeadm of each release pins, and the
kube-proxy modes it offers. Supporting a new release is one row in RELEASES."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from kubelab.errors import UsageError


@dataclass(frozen=True)
class Release:
    """One Kubernetes release: its newest patch kubelab knows, and the versions kubeadm of that
    release pins (``cmd/kubeadm/app/constants``: DefaultEtcdVersion, CoreDNSVersion,
    PauseVersion)."""

    version: str  # the newest patch kubelab knows, e.g. "1.37.2"
    etcd: str
    coredns: str
    pause: str
    end_of_life: date
    kind_node: str  # the upstream kindest/node image kind (tools.KIND_VERSION) publishes for it

    @property
    def minor(self) -> int:
        """Y of 1.Y.Z."""
        return int(self.version.split(".")[1])


# Oldest first; the last row is the default.
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
# Releases past their end of life, named in the refusal.
ENDED = {34: date(2026, 10, 27), 33: date(2026, 6, 28), 32: date(2026, 2, 28)}
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


def supported() -> str:
    """'1.35, 1.36 or 1.37' (for messages)."""
    minors = [f"1.{r.minor}" for r in RELEASES]
    return f"{', '.join(minors[:-1])} or {minors[-1]}"


def choose(text: str | None) -> Chosen:
    """The release a ``--k8s-version`` names: a minor (``1.36``: its newest known patch) or a full
    version (``1.36.3``); none: the newest supported. UsageError in one line otherwise."""
    if text is None or not text.strip():
        return Chosen(DEFAULT, DEFAULT.version)
    match = _VERSION_RE.match(text.strip())
    if not match:
        raise UsageError(
            f"--k8s-version {text!r} is not a Kubernetes version: give {supported()} "
            f"(a minor, or a full version such as {DEFAULT.version})"
        )
    minor = int(match.group(1))
    for release in RELEASES:
        if release.minor == minor:
            patch = match.group(2)
            return Chosen(release, f"1.{minor}.{patch}" if patch else release.version)
    if minor in ENDED:
        reason = f"reached end of life on {ENDED[minor].isoformat()}"
    elif minor < RELEASES[0].minor:
        reason = "is past its end of life"
    else:
        reason = "is not a release kubelab knows yet"
    raise UsageError(f"--k8s-version {text}: Kubernetes 1.{minor} {reason}; give {supported()}")


def choose_proxy_mode(text: str | None) -> str:
    """kube-proxy's mode: iptables (default) or nftables; UsageError in one line otherwise."""
    mode = (text or DEFAULT_PROXY_MODE).strip().lower()
    if mode == "ipvs":
        raise UsageError(
            "--proxy-mode ipvs: kube-proxy's ipvs mode is deprecated since Kubernetes 1.35 and "
            "kubelab does not offer it; give iptables or nftables"
        )
    if mode not in PROXY_MODES:
        raise UsageError(f"--proxy-mode {text!r}: give iptables or nftables")
    return mode
