"""Every step of every feature is bound to a step definition (checked by pytest-bdd itself)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def missing_steps(root: Path) -> str:
    """pytest-bdd's --generate-missing output for root/features: code for every unbound step."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--generate-missing",
            "--feature",
            "features",
            "steps",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(root),
        ],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode in (0, 5), result.stdout + result.stderr
    assert "is not bound to any test" not in result.stdout, result.stdout
    return "\n".join(
        line for line in result.stdout.splitlines() if line.startswith(("@given", "@when", "@then"))
    )


def test_every_step_in_every_feature_is_bound():
    assert missing_steps(ROOT) == ""


def test_an_unbound_step_is_reported(tmp_path: Path):
    shutil.copytree(
        ROOT / "steps", tmp_path / "steps", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copy(ROOT / "conftest.py", tmp_path)
    (tmp_path / "features").mkdir()
    (tmp_path / "features" / "x.feature").write_text(
        "Feature: X\n  Scenario: Y\n    Given the lab cluster\n    Then the moon is made of cheese\n"
    )
    assert "the moon is made of cheese" in missing_steps(tmp_path)
