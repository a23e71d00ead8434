"""The lab's images, built by buildah from app/Dockerfile on kubelab's Debian base (shared cache).

The first run on a machine bootstraps the base (about a minute); later runs reuse it.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from kubelab.images import lab
from kubelab.images.buildah import ARCH_LABEL, Buildah, architecture
from kubelab.paths import cache_dir

APP = Path(__file__).resolve().parents[1] / "app"


@pytest.fixture(scope="module")
def built() -> Buildah:
    builder = Buildah(cache_dir())
    lab.build_lab_images(APP, cache_dir(), builder)
    return builder


def test_a_warm_build_builds_nothing_within_two_seconds(built: Buildah) -> None:
    before = {ref: built.image_id(ref) for ref in (lab.REDIS, lab.WEB_V1, lab.WEB_V2)}
    started = time.monotonic()
    lab.build_lab_images(APP, cache_dir(), built)
    elapsed = time.monotonic() - started
    assert {ref: built.image_id(ref) for ref in before} == before
    assert elapsed < 2, f"a warm build took {elapsed:.1f} s"


@pytest.mark.parametrize("ref", [lab.REDIS, lab.WEB_V1, lab.WEB_V2])
def test_each_image_is_labelled_with_its_architecture(built: Buildah, ref: str) -> None:
    oci = built.inspect(ref)
    assert (oci["architecture"], oci["config"]["Labels"][ARCH_LABEL]) == (architecture(),) * 2


def test_the_web_image_runs_gunicorn_as_a_non_root_user(built: Buildah) -> None:
    oci = built.inspect(lab.WEB_V2)["config"]
    assert (oci["User"], oci["Cmd"][0]) == ("10001", "gunicorn")
    assert "APP_VERSION=2.0" in oci["Env"]


def test_the_build_time_pip_settings_and_wheels_stay_out_of_the_image(built: Buildah) -> None:
    container = subprocess.run(
        built.command("from", "--pull=never", lab.WEB_V1),
        check=True,
        timeout=60,
        capture_output=True,
        text=True,
    ).stdout.strip()
    try:
        root = Path(
            subprocess.run(
                built.command("mount", container),
                check=True,
                timeout=60,
                capture_output=True,
                text=True,
            ).stdout.strip()
        )
        left = sorted(p.name for p in (root / lab.PIP_MOUNT.lstrip("/")).iterdir())
        gunicorn = (root / "usr/local/bin/gunicorn").exists()
        marker = list((root / "usr/lib").glob("python3*/EXTERNALLY-MANAGED"))
    finally:
        subprocess.run(built.command("rm", container), check=True, timeout=60, capture_output=True)
    assert (left, gunicorn, marker) == ([], True, [])
