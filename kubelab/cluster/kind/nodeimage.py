"""kind's node image, built offline from kubelab's Kubernetes build and Debian packages.

kind's contract for a node image (images/base/Dockerfile and pkg/build/nodeimage in the kind
module): systemd as PID 1 behind kind's entrypoint, containerd, runc, CNI plugins, crictl,
kubeadm/kubelet/kubectl in /usr/bin, ``/kind/version``, the default CNI and storage manifests
under ``/kind/manifests``, and the control-plane images already in containerd. Here:

- the root filesystem is Debian 12 (debootstrap) with the packages kind's base Dockerfile
  installs, plus Debian's CNI plugins; containerd 2.x and runc are kubelab's own build (where
  kind's Dockerfile puts its builds: /usr/local/bin, /usr/local/sbin), as on the local cluster;
- kind's own base-image files (entrypoint, containerd config, kubelet unit, ``11-kind.conf``)
  are copied from the kind module, as kind's Dockerfile copies them;
- kubelet, kubeadm and kubectl come from the same Kubernetes build as the local cluster;
- the component images (kube-apiserver, controller-manager, scheduler, kube-proxy, etcd,
  CoreDNS, pause, and kubelab-podnet, the pod network agent) are built with buildah from those
  binaries and imported into the image's containerd with ``ctr images import --no-unpack``, as
  kind's own node-image build does, by a containerd run on the host for the purpose;
- the result goes into Docker with ``docker import`` under ``kubelab.local/kind-node:v<version>``,
  labelled with a hash of its inputs: a warm run builds nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from kubelab import commands, console
from kubelab.build import (
    KIND_EXTRA_BINARIES,
    Binaries,
    Runtime,
    ensure_binaries,
    ensure_runtime,
)
from kubelab.build.runtime import CONTAINERD_COMMANDS
from kubelab.cluster.kind import tools
from kubelab.errors import EnvironmentProblem
from kubelab.images.buildah import Buildah
from kubelab.images.pause import pause_binary
from kubelab.images.rootfs import (
    SUITE,
    apt_mirror,
    ensure_debootstrap,
    trim_rootfs,
    write_layer_tar,
)
from kubelab.mounts import unmount_under
from kubelab.names import INPUTS_LABEL
from kubelab.releases import Chosen
from kubelab.waits import BUILD, MEDIUM, SHORT

NODE_REPO = "kubelab.local/kind-node"
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
RECIPE_VERSION = "5"
REGISTRY = "registry.k8s.io"
# kind's containerd config names a fixed sandbox image; the node image names the one kubeadm of
# the release pins (Release.pause) instead, and holds it.
SANDBOX_IMAGE = re.compile(r'^(\s*sandbox_image\s*=\s*)"[^"\n]*"', re.M)
PODNET_REF = "kubelab.local/podnet:1"
FILES = resources.files("kubelab.cluster.kind").joinpath("files")


def say(message: str) -> None:
    """One progress line (a cold node image takes a few minutes)."""
    console.say(f"[kind] node image: {message}")


@dataclass(frozen=True)
class NodeImage:
    """A node image in Docker and the kubeadm settings its component images need."""

    ref: str
    etcd_tag: str
    coredns_tag: str
    pause_ref: str  # the pod sandbox image: the node's containerd config names it

    @classmethod
    def of(cls, ref: str, chosen: Chosen) -> NodeImage:
        """The image ``ref`` of the release ``chosen``: its tags state the versions really
        inside (kubeadm derives etcd's flags from its tag)."""
        release = chosen.release
        return cls(
            ref, f"{release.etcd}-0", f"v{release.coredns}", f"{REGISTRY}/pause:{release.pause}"
        )


def inputs_key(node: NodeImage, bins: Binaries, runtime: Runtime, kind_files: Path) -> str:
    """A hash of everything that goes into the node image."""
    h = hashlib.sha256(f"kubelab-kind-node-{RECIPE_VERSION}\0{node.ref}\0{SUITE}\0".encode())
    tags = [node.etcd_tag, node.coredns_tag, node.pause_ref]
    h.update(json.dumps([NODE_PACKAGES, TOOLS_PACKAGES, *tags]).encode())
    h.update(f"{tools.KIND_VERSION}\0{tools.CRICTL_VERSION}\0".encode())
    # The binaries, not the build's bookkeeping (.versions.json is rewritten on every run).
    for bin_dir in (bins.bin_dir, runtime.bin_dir):
        for path in sorted(p for p in bin_dir.iterdir() if not p.name.startswith(".")):
            st = path.stat()
            h.update(f"{path.name}\0{st.st_size}\0{st.st_mtime_ns}\0".encode())
    for base in (kind_files, Path(str(FILES))):
        for path in sorted(p for p in base.rglob("*") if p.is_file()):
            h.update(str(path.relative_to(base)).encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:16]


def _docker_image_key(ref: str) -> str | None:
    found = commands.query(
        [
            "docker",
            "image",
            "inspect",
            "--format",
            f'{{{{index .Config.Labels "{INPUTS_LABEL}"}}}}',
            ref,
        ]
    )
    return None if found is None else found.strip()


def ensure_node_image(cache: Path, chosen: Chosen) -> NodeImage:
    """The node image for the release ``chosen`` in Docker; built when its inputs changed."""
    version = chosen.version
    node = NodeImage.of(f"{NODE_REPO}:v{version}", chosen)
    bins = ensure_binaries(cache, chosen, extra=KIND_EXTRA_BINARIES)
    runtime = ensure_runtime(cache)
    kind_files = tools.kind_module_dir(cache) / "images" / "base" / "files"
    key = inputs_key(node, bins, runtime, kind_files)
    if _docker_image_key(node.ref) == key:
        say(f"cached: {node.ref} ({key})")
        return node
    if os.geteuid() != 0:
        raise EnvironmentProblem("building kind's node image needs root (debootstrap, chroot)")
    started = time.monotonic()
    work = cache / "kind" / "build"
    if work.exists():
        unmount_under(work)
        shutil.rmtree(work)
    work.mkdir(parents=True)
    try:
        root, tools_root = work / "rootfs", work / "tools-rootfs"
        # Two debootstraps, mostly waiting on downloads and dpkg: side by side.
        with ThreadPoolExecutor(max_workers=2) as pool:
            node_fs = pool.submit(_debootstrap, root, NODE_PACKAGES, cache, work / "node.log")
            tools_fs = pool.submit(
                _debootstrap, tools_root, TOOLS_PACKAGES, cache, work / "tools.log"
            )
            node_fs.result()
            tools_fs.result()
        _install_node_files(root, kind_files, bins, runtime, cache, node, version)
        archives = _component_images(work, tools_root, bins, cache, node, version)
        _preload(root, runtime, archives)
        _docker_import(root, node.ref, key)
    finally:
        unmount_under(work)
        shutil.rmtree(work, ignore_errors=True)
    say(f"{node.ref} built in {time.monotonic() - started:.0f} s")
    return node


def _debootstrap(root: Path, packages: tuple[str, ...], cache: Path, log: Path) -> None:
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
    except subprocess.CalledProcessError:
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
WAIT_FOR_DOCKER_RULES = """  local waited=0
  until (iptables-nft-save -t nat; iptables-legacy-save -t nat) 2>/dev/null | grep -q DOCKER_OUTPUT; do
    [ "${waited}" -ge 600 ] && break
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
    count 60 s, and logs both counts and the wait.
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


def _install_node_files(
    root: Path,
    kind_files: Path,
    bins: Binaries,
    runtime: Runtime,
    cache: Path,
    node: NodeImage,
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
    config.write_text(containerd_config(config.read_text(), node.pause_ref))
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


def _buildah_image(
    builder: Buildah,
    ref: str,
    dest: Path,
    files: list[tuple[Path, str]],
    entrypoint: list[str],
    user: str = "",
) -> Path:
    """A FROM-scratch image (a tar source is unpacked, e.g. a root filesystem) as an OCI archive."""
    builder.from_scratch(
        ref,
        files,
        env=["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
        entrypoint=entrypoint,
        user=user,
    )
    return builder.export(ref, dest, "oci-archive")


def _component_images(
    work: Path, tools_root: Path, bins: Binaries, cache: Path, node: NodeImage, version: str
) -> list[Path]:
    """The control-plane images, kube-proxy, CoreDNS, pause and podnet, as OCI archives."""
    out = work / "images"
    out.mkdir()
    builder = Buildah(cache)
    builder.ensure()
    tag = f"v{version}"
    archives = []
    for name in ("kube-apiserver", "kube-controller-manager", "kube-scheduler"):
        say(f"{REGISTRY}/{name}:{tag}")
        binary = [(bins.path(name), f"/usr/local/bin/{name}")]
        archives.append(
            _buildah_image(
                builder, f"{REGISTRY}/{name}:{tag}", out / f"{name}.tar", binary, [binary[0][1]]
            )
        )
    etcd_ref = f"{REGISTRY}/etcd:{node.etcd_tag}"
    say(f"{etcd_ref}, {REGISTRY}/coredns/coredns:{node.coredns_tag}, {node.pause_ref}")
    etcd = [(bins.path("etcd"), "/usr/local/bin/etcd")]
    archives.append(_buildah_image(builder, etcd_ref, out / "etcd.tar", etcd, [etcd[0][1]]))
    coredns = [(bins.path("coredns"), "/coredns")]
    ref = f"{REGISTRY}/coredns/coredns:{node.coredns_tag}"
    archives.append(_buildah_image(builder, ref, out / "coredns.tar", coredns, ["/coredns"]))
    pause = [(pause_binary(cache), "/pause")]
    archives.append(
        _buildah_image(builder, node.pause_ref, out / "pause.tar", pause, ["/pause"], "65535:65535")
    )
    say(f"{REGISTRY}/kube-proxy:{tag}, {PODNET_REF}")
    base = write_layer_tar(tools_root, work / "tools-rootfs.tar")
    proxy = [(base, "/"), (bins.path("kube-proxy"), "/usr/local/bin/kube-proxy")]
    ref = f"{REGISTRY}/kube-proxy:{tag}"
    archives.append(_buildah_image(builder, ref, out / "kube-proxy.tar", proxy, [proxy[1][1]]))
    podnet = [
        (base, "/"),
        (Path(str(FILES.joinpath("kubelab-podnet"))), "/usr/local/bin/kubelab-podnet"),
        (bins.path("kubectl"), "/usr/local/bin/kubectl"),
    ]
    archives.append(_buildah_image(builder, PODNET_REF, out / "podnet.tar", podnet, [podnet[1][1]]))
    return archives


def _preload(root: Path, runtime: Runtime, archives: list[Path]) -> None:
    """Import the archives into the node's containerd store (root/var/lib/containerd)."""
    say(f"preloading {len(archives)} images into the node's containerd")
    with tempfile.TemporaryDirectory(prefix="kubelab-ctrd-") as tmp:
        sock = f"{tmp}/c.sock"
        config = Path(tmp) / "config.toml"
        config.write_text(
            "version = 3\n"
            f'root = "{root}/var/lib/containerd"\n'
            f'state = "{tmp}/state"\n'
            'disabled_plugins = ["io.containerd.grpc.v1.cri"]\n'
            f'[grpc]\n  address = "{sock}"\n'
        )
        log = Path(tmp) / "log"
        proc = commands.spawn([runtime.path("containerd"), "--config", config], output=log)
        try:
            deadline = time.monotonic() + 30
            while not Path(sock).exists():
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise EnvironmentProblem(
                        f"containerd for the node image did not start: {log.read_text()[-300:]}"
                    )
                time.sleep(0.2)
            ctr = [str(runtime.path("ctr")), "--address", sock, "--namespace", "k8s.io"]
            for archive in archives:
                commands.run(
                    [*ctr, "images", "import", "--no-unpack", "--snapshotter=overlayfs", archive],
                    timeout=BUILD,
                )
            names = commands.run([*ctr, "images", "ls", "-q"]).split()
            say("preloaded: " + ", ".join(n for n in names if not n.startswith("sha256:")))
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=SHORT)


def _docker_import(root: Path, ref: str, key: str) -> None:
    """The root filesystem into Docker as ``ref``, with kind's entrypoint; the old one removed."""
    old = (commands.query(["docker", "image", "inspect", "--format", "{{.Id}}", ref]) or "").strip()
    say(f"docker import -> {ref}")
    changes = [
        "ENV container=docker",
        'ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]',
        f"LABEL {INPUTS_LABEL}={key}",
    ]
    # tar piped straight into `docker import` (no copy of the root filesystem on disk): Popen's
    # own plumbing, which neither commands.run nor commands.spawn offers.
    tar = subprocess.Popen(
        ["tar", "-C", str(root), "--numeric-owner", "--xattrs", "-cf", "-", "."],
        stdout=subprocess.PIPE,
    )
    try:
        argv = ["docker", "import"]
        for change in changes:
            argv += ["--change", change]
        commands.run(
            [*argv, "-", ref], timeout=BUILD, what=f"docker import {ref}", stdin=tar.stdout
        )
    finally:
        if tar.stdout is not None:
            tar.stdout.close()
        tar.wait(timeout=MEDIUM)
    if old:
        commands.query(["docker", "rmi", old], timeout=MEDIUM)  # still in use is fine
