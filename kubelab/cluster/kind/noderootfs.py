"""The root filesystem of kind's node image: what kind's base image holds, from kubelab's builds.

Debian 12 by debootstrap with the packages kind's base Dockerfile installs plus Debian's CNI
plugins; kind's own base-image files (entrypoint, containerd config, kubelet unit,
``11-kind.conf``) copied from the kind module as kind's Dockerfile copies them, two of them
patched; kubelet, kubeadm and kubectl from the same Kubernetes build as the local cluster;
containerd 2.x and runc from kubelab's own build where kind's Dockerfile puts its builds
(/usr/local/bin, /usr/local/sbin); then the steps of kind's base Dockerfile, in a chroot.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from importlib import resources
from pathlib import Path

from kubelab import commands, console
from kubelab.build import KIND_EXTRA_BINARIES, Binaries, Runtime
from kubelab.build.runtime import CONTAINERD_COMMANDS
from kubelab.cluster.kind import tools
from kubelab.errors import EnvironmentProblem
from kubelab.images.rootfs import SUITE, apt_mirror, ensure_debootstrap, trim_rootfs
from kubelab.mounts import unmount_under
from kubelab.waits import BUILD

# What kind's base Dockerfile installs, plus what it builds from git (containerd, runc, CNI).
NODE_PACKAGES = (
    "systemd",
    "conntrack",
    "iptables",
    "nftables",
    "iproute2",
    "ethtool",
    "util-linux",
    "mount",
    "kmod",
    "libseccomp2",
    "pigz",
    "bash",
    "ca-certificates",
    "curl",
    "jq",
    "procps",
    "containernetworking-plugins",
)
# The base of the kube-proxy and kubelab-podnet images (upstream's kube-proxy image is Debian's
# iptables and nftables on distroless: kube-proxy's nftables mode runs `nft`).
TOOLS_PACKAGES = ("iptables", "nftables", "conntrack", "iproute2", "kmod")
# kind's containerd config names a fixed sandbox image; the node image names the one kubeadm of
# the release pins (Release.pause) instead, and holds it.
SANDBOX_IMAGE = re.compile(r'^(\s*sandbox_image\s*=\s*)"[^"\n]*"', re.M)
# The pod network agent's image: the node's default CNI manifest runs it (kubelab-podnet).
PODNET_REF = "kubelab.local/podnet:1"
FILES = resources.files("kubelab.cluster.kind").joinpath("files")


def say(message: str) -> None:
    """One progress line (a cold node image takes a few minutes)."""
    console.say(f"[kind] node image: {message}")


def debootstrap(root: Path, packages: tuple[str, ...], cache: Path, log: Path) -> None:
    """Debian (minbase) with ``packages`` into ``root``, trimmed; its output into ``log``
    (within 15 min, BUILD)."""
    # One .deb cache per root filesystem: the two run side by side and share packages.
    debs = cache / "images" / ("debs" if packages == NODE_PACKAGES else "debs-kind-tools")
    debs.mkdir(parents=True, exist_ok=True)
    say(f"debootstrap {SUITE} + {', '.join(packages[:4])}... into {root.name} (a minute or two)")
    started = time.monotonic()
    try:
        commands.stream(
            [
                ensure_debootstrap(),
                "--variant=minbase",
                f"--cache-dir={debs.absolute()}",
                f"--include={','.join(packages)}",
                SUITE,
                str(root),
                apt_mirror(),
            ],
            timeout=BUILD,
            on_line=lambda line: None,
            log_file=log,
        )
    except commands.CommandTimedOut:
        raise  # it says so itself
    except commands.CommandFailed:
        raise EnvironmentProblem(f"debootstrap of the node image failed (log: {log})") from None
    finally:
        unmount_under(root)
    trim_rootfs(root)
    say(f"debootstrap done in {time.monotonic() - started:.0f} s")


def _chroot(root: Path, script: str) -> str:
    return commands.run(
        ["chroot", root, "/bin/sh", "-euc", script],
        timeout=BUILD,
        what=f"chroot {root.name} /bin/sh",
        env={"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
    ).strip()


def containerd_config(text: str, sandbox: str) -> str:
    """kind's containerd config with ``sandbox`` as the pod sandbox image and a pod's
    oom_score_adj no lower than containerd's own.

    Lowering it needs CAP_SYS_RESOURCE, which root's bounding set may lack (this machine's
    does): runc then fails every pod sandbox ("can't get final child's PID from pipe").
    kubelab's local cluster sets the same; kind sets it itself in a user namespace.
    """
    if "restrict_oom_score_adj = false" not in text:
        raise EnvironmentProblem("kind's containerd config changed: no restrict_oom_score_adj")
    if not SANDBOX_IMAGE.search(text):
        raise EnvironmentProblem("kind's containerd config changed: no sandbox_image")
    text = SANDBOX_IMAGE.sub(lambda m: f'{m.group(1)}"{sandbox}"', text)
    return text.replace("restrict_oom_score_adj = false", "restrict_oom_score_adj = true")


NFT_COUNT = """  num_nft_lines=$( (timeout 5 sh -c "iptables-nft-save; ip6tables-nft-save" || true) 2>/dev/null | grep -c '^-' || true)
"""
LEGACY_COUNT = "  num_legacy_lines=$("
MODE_LOG = 'log_info "setting iptables to detected mode: ${mode}"'
# Docker's embedded-DNS rules (chain DOCKER_OUTPUT, on every user-defined network such as
# kind's), in whichever backend dockerd wrote them.
# Bounded by time (bash's SECONDS), not by a count of looks: each look forks two saves.
WAIT_FOR_DOCKER_RULES = """  local waited=0 deadline=$((SECONDS + 30))
  until (iptables-nft-save -t nat; iptables-legacy-save -t nat) 2>/dev/null | grep -q DOCKER_OUTPUT; do
    if [ "${SECONDS}" -ge "${deadline}" ]; then
      log_error "no Docker DNS rules (chain DOCKER_OUTPUT) after 30 s: this node could not resolve the others' names"
      exit 1
    fi
    sleep 0.05
    waited=$((waited + 1))
  done
"""


def entrypoint(text: str) -> str:
    """kind's entrypoint with an iptables mode detection that counts Docker's rules only once
    they exist.

    kind picks the iptables backend holding more rules when the node starts, ties going to
    legacy; the rules are Docker's embedded-DNS rules, which Debian's dockerd writes with
    nftables. Counted before dockerd has written them, both counts are 0: the node picks
    legacy, its DNS rewrite (``enable_network_magic``) finds no rule to point at the address
    it writes into resolv.conf, and the node cannot resolve the control plane (``lookup
    kubelab-control-plane on 172.17.0.1:53: connection refused``, a failed join). The patched
    detection first waits (up to 30 s) for Docker's DNS chain in either backend, gives the nft
    count 60 s, and logs both counts and the wait; with no such chain after 30 s the node exits
    saying so (its log is kept), rather than fail its join later on a name it cannot resolve.
    """
    if NFT_COUNT not in text or MODE_LOG not in text or LEGACY_COUNT not in text:
        raise EnvironmentProblem("kind's entrypoint changed: no iptables mode detection to patch")
    text = text.replace(LEGACY_COUNT, WAIT_FOR_DOCKER_RULES + LEGACY_COUNT, 1)
    timed = (
        "  local nft_started=$(date +%s%N)\n"
        + NFT_COUNT.replace("timeout 5 ", "timeout 60 ")
        + "  local nft_ms=$(( ($(date +%s%N) - nft_started) / 1000000 ))\n"
    )
    text = text.replace(NFT_COUNT, timed)
    return text.replace(
        MODE_LOG,
        'log_info "setting iptables to detected mode: ${mode}'
        " (rules: ${num_legacy_lines} legacy, ${num_nft_lines} nft, counted in ${nft_ms} ms"
        " after waiting ${waited}x50 ms for Docker's DNS rules)\"",
    )


def install_node_files(
    root: Path,
    kind_files: Path,
    bins: Binaries,
    runtime: Runtime,
    cache: Path,
    pause_ref: str,
    version: str,
) -> None:
    """kind's base-image files and steps, Kubernetes binaries, the runtime, crictl, manifests,
    version."""
    # As kind's Dockerfile copies them: 0644, scripts 0755 (the module cache's copies are 0444).
    for src in sorted(p for p in kind_files.rglob("*") if p.is_file()):
        rel = src.relative_to(kind_files)
        dest = root / rel
        dest.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
        shutil.copyfile(src, dest)
        executable = rel.parts[:3] == ("usr", "local", "bin") or rel.parts[:2] == ("kind", "bin")
        dest.chmod(0o755 if executable else 0o644)
    config = root / "etc/containerd/config.toml"
    config.write_text(containerd_config(config.read_text(), pause_ref))
    script = root / "usr/local/bin/entrypoint"
    script.write_text(entrypoint(script.read_text()))
    for name in ("kubelet", *KIND_EXTRA_BINARIES):
        shutil.copy2(bins.path(name), root / "usr/bin" / name)
    shutil.copy2(tools.crictl(cache), root / "usr/local/bin/crictl")
    for name in CONTAINERD_COMMANDS:
        shutil.copy2(runtime.path(name), root / "usr/local/bin" / name)
    (root / "usr/local/sbin").mkdir(parents=True, exist_ok=True)
    shutil.copy2(runtime.path("runc"), root / "usr/local/sbin/runc")
    (root / "opt/cni").mkdir(parents=True, exist_ok=True)
    (root / "opt/cni/bin").symlink_to("/usr/lib/cni")
    (root / "kind/version").write_text(f"v{version}")
    manifests = root / "kind/manifests"
    manifests.mkdir(parents=True, exist_ok=True)
    cni = FILES.joinpath("default-cni.yaml").read_text().replace("PODNET_IMAGE", PODNET_REF)
    (manifests / "default-cni.yaml").write_text(cni)
    (manifests / "default-storage.yaml").write_text(
        FILES.joinpath("default-storage.yaml").read_text()
    )
    # The steps of kind's base Dockerfile, in a chroot.
    _chroot(
        root,
        "find /lib/systemd/system/sysinit.target.wants/ -name systemd-tmpfiles-setup.service -delete;"
        " rm -f /lib/systemd/system/multi-user.target.wants/* /etc/systemd/system/*.wants/*"
        " /lib/systemd/system/local-fs.target.wants/* /lib/systemd/system/sockets.target.wants/*udev*"
        " /lib/systemd/system/sockets.target.wants/*initctl* /lib/systemd/system/basic.target.wants/*;"
        " echo ReadKMsg=no >> /etc/systemd/journald.conf;"
        " ln -sf /lib/systemd/systemd /sbin/init;"
        " systemctl enable kubelet.service containerd.service undo-mount-hacks.service;"
        " systemctl mask systemd-binfmt.service;"
        " mkdir -p /etc/kubernetes/manifests",
    )
    spec = json.loads(_chroot(root, "ctr oci spec"))
    spec.setdefault("hooks", {}).setdefault("createContainer", []).append(
        {"path": "/kind/bin/mount-product-files.sh"}
    )
    spec["process"].pop("rlimits", None)
    (root / "etc/containerd/cri-base.json").write_text(json.dumps(spec, indent=2))
