"""The host's mounts: one reading of /proc/self/mountinfo, and unmounting below a path."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from kubelab import commands


def _unescape(field: str) -> str:
    return (
        field.replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
    )


def mounts() -> list[tuple[str, str]]:
    """(mount point, fs type) of every mount in our mount namespace, in mount order."""
    out = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        left, right = line.split(" - ", 1)
        out.append((_unescape(left.split()[4]), right.split()[0]))
    return out


def umount(point: str | Path) -> None:
    """Unmount one mount point; fall back to a lazy unmount when it is busy."""
    try:
        commands.run(["umount", point])
    except commands.CommandFailed:
        commands.run(["umount", "-l", point])


def unmount_under(roots: Path | Iterable[Path]) -> None:
    """Unmount every mount at or below ``roots``, deepest first, stacked mounts included."""
    prefixes = [os.path.realpath(r) for r in ([roots] if isinstance(roots, Path) else roots)]

    def below(point: str) -> bool:
        return any(point == p or point.startswith(p.rstrip("/") + "/") for p in prefixes)

    for _ in range(5):  # a mount can be stacked several times on one point
        targets = sorted({mp for mp, _ in mounts() if below(mp)}, key=len, reverse=True)
        if not targets:
            return
        for point in targets:
            umount(point)
