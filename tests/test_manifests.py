"""The lab's manifests: valid Kubernetes 1.34 objects, namespace-less, with the seed's labels."""

from __future__ import annotations

from pathlib import Path

import kubernetes_validate
import pytest

from kubelab import manifests
from kubelab.errors import UsageError
from kubelab.images import Images

IMAGES = Images(redis="r:1", web_v1="w:1", web_v2="w:2", pull_policy="Never")
NAMES = sorted(p.stem for p in manifests.manifests_dir().glob("*.yml"))


def test_the_seeds_files_and_the_deployment_are_all_here():
    assert NAMES == [
        "db-pod",
        "db-svc",
        "web-deployment",
        "web-pdb",
        "web-pod",
        "web-rc",
        "web-svc",
    ]


@pytest.mark.parametrize("name", NAMES)
def test_manifest_is_valid_against_the_openapi_schema(name):
    kubernetes_validate.validate(manifests.render(name, IMAGES), "1.34.0", strict=True)


def test_a_broken_manifest_fails_schema_validation():
    broken = manifests.render("web-pod", IMAGES)
    broken["spec"]["containers"][0]["ports"][0]["containerPort"] = "five thousand"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, "1.34.0", strict=True)


def test_images_and_pull_policy_are_injected():
    v1 = manifests.render("web-rc", IMAGES)["spec"]["template"]["spec"]["containers"][0]
    v2 = manifests.render("web-rc", IMAGES, web_version="2.0")["spec"]["template"]["spec"][
        "containers"
    ][0]
    redis = manifests.render("db-pod", IMAGES)["spec"]["containers"][0]
    assert (v1["image"], v2["image"], redis["image"]) == ("w:1", "w:2", "r:1")
    assert {v1["imagePullPolicy"], redis["imagePullPolicy"]} == {"Never"}


def test_the_rc_template_carries_the_web_pods_labels_so_it_adopts_it():
    pod = manifests.read("web-pod")["metadata"]["labels"]
    rc = manifests.read("web-rc")["spec"]
    assert rc["selector"] == pod == rc["template"]["metadata"]["labels"]


def test_services_select_their_pods():
    assert (
        manifests.read("db-svc")["spec"]["selector"]
        == manifests.read("db-pod")["metadata"]["labels"]
    )
    assert (
        manifests.read("web-svc")["spec"]["selector"]
        == manifests.read("web-pod")["metadata"]["labels"]
    )


def test_web_pods_have_a_readiness_probe():
    for name in ("web-pod", "web-rc", "web-deployment"):
        data = manifests.read(name)
        spec = data["spec"]["template"]["spec"] if "template" in data["spec"] else data["spec"]
        assert spec["containers"][0]["readinessProbe"]["httpGet"]["path"] == "/healthz", name


def test_malformed_yaml_is_a_one_line_error(tmp_path: Path):
    (tmp_path / "bad.yml").write_text("kind: Pod\nmetadata: [unclosed\n")
    with pytest.raises(UsageError, match=r"bad.yml line \d+: does not parse") as caught:
        manifests.read("bad", tmp_path)
    assert "\n" not in str(caught.value)


def test_a_manifest_naming_a_namespace_is_refused(tmp_path: Path):
    (tmp_path / "ns.yml").write_text("kind: Pod\nmetadata:\n  name: x\n  namespace: default\n")
    with pytest.raises(UsageError, match="must not name a namespace"):
        manifests.read("ns", tmp_path)
