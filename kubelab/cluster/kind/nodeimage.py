"""kind's node image, built offline from kubelab's Kubernetes build and Debian packages.

kind's contract for a node image (images/base/Dockerfile and pkg/build/nodeimage in the kind
module): systemd as PID 1 behind kind's entrypoint, containerd, runc, CNI plugins, crictl,
kubeadm/kubelet/kubectl in /usr/bin, ``/kind/version``, the default CNI and storage manifests
under ``/kind/manifests``, and the control-plane images already in containerd. Here:

- the root filesystem is what kind's base image holds, from kubelab's builds and Debian's
  packages (kubelab.cluster.kind.noderootfs);
- the component images (kube-apiserver, controller-manager, scheduler, kube-proxy, etcd,
  CoreDNS, pause, and kubelab-podnet, the pod network agent) are built with buildah from the
  same Kubernetes build as the local cluster's and imported into the image's containerd with
  ``ctr images import --no-unpack``, as kind's own node-image build does, by a containerd run
  on the host for the purpose;
- the result goes into Docker with ``docker import`` under ``kubelab.local/kind-node:v<version>``,
  labelled with a hash of its inputs: a warm run builds nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from kubelab import commands
from kubelab.build import KIND_EXTRA_BINARIES, Binaries, Runtime, ensure_binaries, ensure_runtime
from kubelab.cluster.kind import noderootfs, tools
from kubelab.cluster.kind.noderootfs import (
    FILES,
    NODE_PACKAGES,
    PODNET_REF,
    TOOLS_PACKAGES,
    debootstrap,
    install_node_files,
    say,
)
from kubelab.errors import EnvironmentProblem
from kubelab.images.buildah import Buildah
from kubelab.images.pause import pause_binary
from kubelab.images.rootfs import SUITE, write_layer_tar
from kubelab.mounts import unmount_under
from kubelab.names import INPUTS_LABEL
from kubelab.releases import Chosen
from kubelab.waits import BUILD, MEDIUM, SHORT

NODE_REPO = "kubelab.local/kind-node"
# How the image is made, in the key: a change to the recipe (this module, the patches to kind's
# files) makes a new image without anyone remembering to say so.
RECIPE_SOURCES = (Path(__file__), Path(noderootfs.__file__))
REGISTRY = "registry.k8s.io"


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
    h = hashlib.sha256(f"kubelab-kind-node\0{node.ref}\0{SUITE}\0".encode())
    for recipe in RECIPE_SOURCES:
        h.update(recipe.read_bytes())
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
            node_fs = pool.submit(debootstrap, root, NODE_PACKAGES, cache, work / "node.log")
            tools_fs = pool.submit(
                debootstrap, tools_root, TOOLS_PACKAGES, cache, work / "tools.log"
            )
            node_fs.result()
            tools_fs.result()
        install_node_files(root, kind_files, bins, runtime, cache, node.pause_ref, version)
        archives = _component_images(work, tools_root, bins, cache, node, version)
        _preload(root, runtime, archives)
        _docker_import(root, node.ref, key)
    finally:
        unmount_under(work)
        shutil.rmtree(work, ignore_errors=True)
    say(f"{node.ref} built in {time.monotonic() - started:.0f} s")
    return node


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
