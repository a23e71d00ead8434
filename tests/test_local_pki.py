"""Certificates, keys and kubeconfigs of the local cluster (no cluster needed)."""

from __future__ import annotations

import base64
import ipaddress
import stat
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from kubelab.cluster.local import pki


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_keys_are_0600_and_certs_are_signed_by_the_ca(tmp_path: Path) -> None:
    ca = pki.new_ca("test-ca")
    crt, key = pki.write_pair(tmp_path, "node", pki.issue(ca, "system:node:w1", ["system:nodes"]))
    assert _mode(key) == 0o600
    cert = x509.load_pem_x509_certificate(crt.read_bytes())
    ca_cert = x509.load_pem_x509_certificate(ca.cert_pem)
    cert.verify_directly_issued_by(ca_cert)
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "system:node:w1"
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "system:nodes"
    usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.CLIENT_AUTH in usages


def test_only_the_ca_signs_certificates() -> None:
    """The CA may sign certificates (critical key usage, as kubeadm's); a node's may not."""
    ca = pki.new_ca()
    leaf = pki.issue(ca, "system:node:w1", ["system:nodes"])
    ca_usage = x509.load_pem_x509_certificate(ca.cert_pem).extensions.get_extension_for_class(
        x509.KeyUsage
    )
    leaf_usage = x509.load_pem_x509_certificate(leaf.cert_pem).extensions.get_extension_for_class(
        x509.KeyUsage
    )
    assert (ca_usage.critical, leaf_usage.critical) == (True, True)
    assert (ca_usage.value.key_cert_sign, ca_usage.value.crl_sign) == (True, True)
    assert (leaf_usage.value.key_cert_sign, leaf_usage.value.crl_sign) == (False, False)
    assert (ca_usage.value.key_encipherment, leaf_usage.value.key_encipherment) == (False, True)


def test_serving_cert_carries_the_node_ip(tmp_path: Path) -> None:
    ca = pki.new_ca()
    pair = pki.issue(ca, "w1", client=False, server=True, dns_names=["w1"], ips=["172.30.0.11"])
    cert = x509.load_pem_x509_certificate(pair.cert_pem)
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ipaddress.ip_address("172.30.0.11") in sans.get_values_for_type(x509.IPAddress)
    usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usages) == [ExtendedKeyUsageOID.SERVER_AUTH]


def test_write_private_tightens_an_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "kubeconfig"
    path.write_text("old")
    path.chmod(0o644)
    pki.write_private(path, "new")
    assert _mode(path) == 0o600
    assert path.read_text() == "new"


def test_kubeconfig_embeds_ca_and_client_cert() -> None:
    ca = pki.new_ca()
    pair = pki.issue(ca, "admin", ["system:masters"])
    doc = yaml.safe_load(
        pki.kubeconfig("c", "https://172.30.0.10:6443", ca.cert_pem, "admin", pair)
    )
    assert doc["clusters"][0]["cluster"]["server"] == "https://172.30.0.10:6443"
    assert base64.b64decode(doc["users"][0]["user"]["client-key-data"]) == pair.key_pem
    assert doc["current-context"] == "c"
