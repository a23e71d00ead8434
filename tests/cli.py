"""Run kubelab's command line as a user does, from the repository root."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def kubelab_cli(
    *args: str,
    timeout: float = 600,
    module: str = "kubelab.cli",
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """``python -m kubelab.cli ARGS`` (or another of kubelab's commands, ``module``), with
    ``env`` added to the environment: its exit code, stdout and stderr (never raises on exit)."""
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, **(env or {})},
    )


def refused(module: str, *args: str, state: Path) -> subprocess.CompletedProcess[str]:
    """``python -m MODULE ARGS`` refusing before it starts anything: its result, checked to
    have said one line on stderr and made nothing in its state directory ``state``."""
    result = kubelab_cli(*args, module=module, timeout=60, env={"KUBELAB_STATE_DIR": str(state)})
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not state.exists()  # no cluster looked for or started, not even a lock
    return result
