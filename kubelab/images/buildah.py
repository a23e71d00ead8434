"""Images built with buildah (Debian's package): Dockerfile builds, archives and registry pushes.

The builder every provider uses: ``build`` an image from a context directory and its Dockerfile
into kubelab's own image store, ``export`` it as an archive (``oci-archive`` for containerd,
``docker-archive`` for ``docker load`` / kind), ``push`` it to a registry. RUN steps execute in
their own container (runc: mount, PID, network, IPC and UTS namespaces, no network at all), and
nothing is ever pulled (``--pull=never``): a base image must already be in the store.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from kubelab import commands, hostpkgs
from kubelab.errors import EnvironmentProblem, KubelabError, UsageError
from kubelab.images.rootfs import say
from kubelab.names import INPUTS_LABEL
from kubelab.paths import cache_dir
from kubelab.waits import BUILD, LONG, SHORT

# The label naming the architecture the image's binaries are for (also the config's field).
ARCH_LABEL = "org.kubelab.architecture"
ARCHIVE_FORMATS = ("oci-archive", "docker-archive")


def architecture() -> str:
    """This host's architecture as OCI names it (amd64, arm64, ...)."""
    machine = platform.machine().lower()
    return {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm"}.get(machine, machine)


class BuildError(UsageError):
    """A Dockerfile that does not build: the message names the file, line and instruction."""


class Buildah:
    """buildah on kubelab's own image store (never the host's /var/lib/containers)."""

    def __init__(self, cache: Path | None = None) -> None:
        self.root = ((cache or cache_dir()) / "images" / "storage").absolute()
        # The store's run-time state (locks, mounts); one per store, as containers-storage wants.
        digest = hashlib.sha256(str(self.root).encode()).hexdigest()[:12]
        self.runroot = Path("/run/kubelab-buildah") / digest

    # ---- plumbing ---------------------------------------------------------------------------

    def command(self, *args: str) -> list[str]:
        """The argv of ``buildah ARGS...`` on this store."""
        return [
            "buildah",
            "--root",
            str(self.root),
            "--runroot",
            str(self.runroot),
            "--storage-driver",
            "overlay",
            *args,
        ]

    def _run(self, *args: str, timeout: float = SHORT, what: str = "") -> str:
        """``buildah ARGS...`` on this store to its end; its stdout (CommandFailed: its error)."""
        return commands.run(
            self.command(*args),
            timeout=timeout,
            what=what or f"buildah {args[0]}",
            detail=last_error,
        )

    @staticmethod
    def ensure() -> None:
        """Install buildah (and runc, which runs RUN steps) from Debian's packages when missing."""
        if os.geteuid() != 0:
            raise EnvironmentProblem("building images needs root (buildah with runc)")
        hostpkgs.ensure_programs({"buildah": "buildah", "runc": "runc"}, "building images")

    # ---- queries ----------------------------------------------------------------------------

    def image_id(self, ref: str) -> str | None:
        """The id of image ``ref`` in the store, or None when it is not there."""
        found = commands.query(
            self.command("inspect", "--type", "image", "--format", "{{.FromImageID}}", ref)
        )
        return (found or "").strip() or None

    def label(self, ref: str, name: str) -> str | None:
        """The value of label ``name`` on image ``ref``; None when the image or label is missing."""
        fmt = "{{index .OCIv1.Config.Labels " + f'"{name}"' + "}}"
        value = (
            commands.query(self.command("inspect", "--type", "image", "--format", fmt, ref)) or ""
        ).strip()
        return value if value and value != "<no value>" else None

    @staticmethod
    def inputs(context: Path, build_args: Mapping[str, str], dockerfile: Path | None = None) -> str:
        """The hash ``build`` labels an image with for these inputs (see ``inputs_key``)."""
        return inputs_key(context, dockerfile or context / "Dockerfile", build_args)

    def inspect(self, ref: str) -> dict[str, Any]:
        """The OCI image config of ``ref`` (architecture, config: Env, Cmd, User, Labels...)."""
        out = self._run("inspect", "--type", "image", ref, what=f"inspecting {ref}")
        config: dict[str, Any] = json.loads(out)["OCIv1"]
        return config

    def is_current(self, ref: str, inputs: str) -> bool:
        """True when ``ref`` is in the store and was built from inputs hashing to ``inputs``."""
        return self.label(ref, INPUTS_LABEL) == inputs

    # ---- build ------------------------------------------------------------------------------

    def build(
        self,
        context: Path,
        tag: str,
        *,
        dockerfile: Path | None = None,
        build_args: Mapping[str, str] | None = None,
        labels: Mapping[str, str] | None = None,
        volumes: Sequence[str] = (),
        timeout: float = BUILD,
    ) -> str:
        """Build ``context`` (with its Dockerfile) into image ``tag``; return the image id.

        Labels the image with the hash of its inputs (``inputs_key``) and its architecture.
        RUN steps get no network; ``volumes`` (``host:container:ro``) are mounted for RUN only
        and are not part of the image. Timeout 900 s.
        """
        dockerfile = dockerfile or context / "Dockerfile"
        if not dockerfile.is_file():
            raise UsageError(f"{dockerfile} does not exist")
        args = dict(build_args or {})
        all_labels = {
            INPUTS_LABEL: inputs_key(context, dockerfile, args),
            ARCH_LABEL: architecture(),
            **(labels or {}),
        }
        argv = self.command(
            "bud",
            "--pull=never",
            "--isolation=oci",
            "--network=none",
            "--format=oci",
            "--layers=false",
            "--identity-label=false",
            "--file",
            str(dockerfile),
            "--tag",
            tag,
        )
        for key, value in sorted(args.items()):
            argv += ["--build-arg", f"{key}={value}"]
        for key, value in sorted(all_labels.items()):
            argv += ["--label", f"{key}={value}"]
        for volume in volumes:
            argv += ["--volume", volume]
        argv.append(str(context))
        started = time.monotonic()
        say(f"{tag}: buildah bud {dockerfile}")
        lines: list[str] = []

        def on_line(line: str) -> None:
            lines.append(line)
            if line.startswith("STEP "):
                say(f"  {tag}: {line} ({time.monotonic() - started:.0f} s)")

        try:
            commands.stream(argv, timeout=timeout, on_line=on_line)
        except commands.CommandTimedOut:
            raise BuildError(
                f"{dockerfile}: building {tag} did not finish within {timeout:.0f} s"
            ) from None
        except commands.CommandFailed:
            raise BuildError(build_failure(dockerfile, lines)) from None
        image = self.image_id(tag)
        if image is None:
            raise KubelabError(f"buildah built {tag} but the store does not have it")
        say(f"{tag}: built in {time.monotonic() - started:.1f} s ({image[:12]})")
        return image

    def from_scratch(
        self,
        tag: str,
        files: Sequence[tuple[Path, str]],
        *,
        env: Sequence[str] = (),
        entrypoint: Sequence[str] | None = None,
        user: str = "",
        labels: Mapping[str, str] | None = None,
    ) -> str:
        """Make image ``tag`` FROM scratch with one layer holding ``files`` (source, destination).

        A tar source is unpacked at its destination (owners and modes kept), as Docker's ADD does.
        Returns the image id.
        """
        container = self._run("from", "--pull=never", "scratch").strip()
        try:
            for source, destination in files:
                self._run("add", container, str(source), destination, timeout=BUILD)
            config = ["config", "--os", "linux", "--arch", architecture()]
            for item in env:
                config += ["--env", item]
            if entrypoint is not None:
                config += ["--entrypoint", json.dumps(list(entrypoint))]
            if user:
                config += ["--user", user]
            for key, value in {ARCH_LABEL: architecture(), **(labels or {})}.items():
                config += ["--label", f"{key}={value}"]
            self._run(*config, container)
            self._run("commit", "--quiet", "--format=oci", "--rm", container, tag, timeout=BUILD)
        except BaseException:
            commands.query(self.command("rm", container))  # gone already is fine
            raise
        image = self.image_id(tag)
        if image is None:
            raise KubelabError(f"buildah committed {tag} but the store does not have it")
        return image

    # ---- out of the store -------------------------------------------------------------------

    def export(self, ref: str, dest: Path, fmt: str = "oci-archive") -> Path:
        """Write image ``ref`` to the archive ``dest`` (``oci-archive`` or ``docker-archive``)."""
        if fmt not in ARCHIVE_FORMATS:
            raise UsageError(f"archive format {fmt!r} is not one of {', '.join(ARCHIVE_FORMATS)}")
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(dest.name + ".tmp")
        tmp.unlink(missing_ok=True)
        self._run(
            "push",
            "--quiet",
            ref,
            f"{fmt}:{tmp}:{ref}",
            timeout=LONG,
            what=f"writing {ref} to {dest}",
        )
        tmp.replace(dest)
        return dest

    def push(self, ref: str, dest: str, *, tls_verify: bool = True) -> None:
        """Push image ``ref`` to a registry as ``dest`` (``host:port/name:tag``); timeout 300 s."""
        registry = dest.split("/", 1)[0]
        try:
            self._push(ref, dest, tls_verify)
        except EnvironmentProblem as exc:
            text = re.sub(r'pushing image "[^"]*" to "[^"]*": ', "", str(exc))
            if "HTTP response to HTTPS client" in text:
                text = f"registry {registry} serves plain HTTP, not HTTPS: pass --plain-http"
            elif "pinging container registry" in text:
                cause = text.rsplit(": ", 1)[-1]
                text = (
                    f"registry {registry} does not answer ({cause}); is it running"
                    + ("" if tls_verify else " and serving plain HTTP")
                    + "?"
                )
            raise EnvironmentProblem(text) from None

    def _push(self, ref: str, dest: str, tls_verify: bool) -> None:
        self._run(
            "push",
            "--quiet",
            f"--tls-verify={'true' if tls_verify else 'false'}",
            "--retry=0",
            ref,
            f"docker://{dest}",
            timeout=LONG,
            what=f"pushing {ref} to {dest}",
        )


def inputs_key(context: Path, dockerfile: Path, build_args: Mapping[str, str]) -> str:
    """A hash of a build's inputs: the Dockerfile, every file in the context, the build args."""
    h = hashlib.sha256()
    h.update(dockerfile.read_bytes())
    for path in sorted(p for p in context.rglob("*") if p.is_file() and not _ignored(p)):
        h.update(b"\0" + str(path.relative_to(context)).encode() + b"\0")
        h.update(oct(path.stat().st_mode & 0o777).encode())
        h.update(path.read_bytes())
    for key, value in sorted(build_args.items()):
        h.update(f"\0{key}={value}".encode())
    return h.hexdigest()[:16]


def _ignored(path: Path) -> bool:
    return "__pycache__" in path.parts or path.suffix == ".pyc"


def last_error(stderr: str) -> str:
    """The one line of buildah's stderr that says what went wrong."""
    lines = [line.strip() for line in stderr.strip().splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith(("Error:", "error"))]
    line = (errors or lines or ["no output"])[-1]
    return re.sub(r"^(Error:\s*|error:?\s*)", "", line)


_STEP = re.compile(r"^STEP (\d+)/\d+: (.*)$")


def build_failure(dockerfile: Path, lines: Sequence[str]) -> str:
    """One line for a failed build: the Dockerfile, line and instruction, and what went wrong."""
    reason = re.sub(r'^building at STEP "[^"]*": ', "", last_error("\n".join(lines)))
    reason = reason.split(" &imagebuilder.", 1)[0]  # buildah appends its parser's Go struct
    steps = [i for i, line in enumerate(lines) if _STEP.match(line)]
    where = str(dockerfile)
    located = re.search(r"Dockerfile[^:]*:(\d+)", reason)
    if located:
        where += f" line {located.group(1)}"
    elif steps:
        instruction = _STEP.match(lines[steps[-1]]).group(2)  # type: ignore[union-attr]
        number = find_line(dockerfile, instruction)
        where += f" line {number}" if number else ""
        where += f" ({instruction})"
        # What the failed step printed last before buildah's own error says why it failed.
        output = [
            line.strip()
            for line in lines[steps[-1] + 1 :]
            if line.strip() and not line.startswith(("Error:", "error", "time="))
        ]
        errors = [line for line in output if line.upper().startswith(("ERROR", "E:"))]
        if errors or output:
            reason += f": {(errors or output)[-1]}"
    return f"{where}: {reason}"


def find_line(dockerfile: Path, instruction: str) -> int | None:
    """The line number where ``instruction`` (as buildah prints it) starts in ``dockerfile``."""
    try:
        text = dockerfile.read_text()
    except OSError:
        return None
    keyword, _, rest = instruction.partition(" ")
    first = rest.split()[0] if rest.split() else ""
    for number, line in enumerate(text.splitlines(), start=1):
        words = line.split()
        if words and words[0].upper() == keyword.upper() and (not first or first in line):
            return number
    return None
