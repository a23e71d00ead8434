"""Run kubelab's command line as a user does, from the repository root."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def kubelab_cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """``python -m kubelab.cli ARGS``: its exit code, stdout and stderr (never raises on exit)."""
    return subprocess.run(
        [sys.executable, "-m", "kubelab.cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
