"""Certificates and keys the way kubeadm makes them (phases/certs, util/pkiutil).

RSA-2048 keys (kubeadm's default), a 10-year CA, 1-year leaf certificates,
PEM files named as kubeadm names them. Uses python3-cryptography, which the
boards' root gets with the fake's packages.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_VALIDITY = timedelta(days=3650)
"""kubeadm's CA certificates last ten years."""
LEAF_VALIDITY = timedelta(days=365)
"""Leaf certificates last one year."""
BACKDATE = timedelta(minutes=5)
"""Certificates start a little in the past, for clock skew (as kubeadm's NotBefore)."""


@dataclass
class CertSpec:
    """What a leaf certificate says."""

    common_name: str
    """Subject CN (the user name, for client certificates)."""
    organizations: list[str] = field(default_factory=list)
    """Subject O (the groups, for client certificates)."""
    dns_names: list[str] = field(default_factory=list)
    """DNS subject alternative names."""
    ip_addresses: list[str] = field(default_factory=list)
    """IP subject alternative names."""
    server: bool = False
    """Server auth usage."""
    client: bool = False
    """Client auth usage."""


@dataclass
class KeyPair:
    """A certificate with its private key."""

    cert: x509.Certificate
    """The certificate."""
    key: rsa.RSAPrivateKey
    """Its private key."""

    def cert_pem(self) -> bytes:
        """The certificate in PEM."""
        return cert_pem(self.cert)

    def key_pem(self) -> bytes:
        """The key in PEM (PKCS#1 "RSA PRIVATE KEY", as kubeadm writes it)."""
        return key_pem(self.key)


def new_key() -> rsa.RSAPrivateKey:
    """A fresh RSA-2048 key."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def cert_pem(cert: x509.Certificate) -> bytes:
    """A certificate in PEM."""
    return cert.public_bytes(serialization.Encoding.PEM)


def key_pem(key: rsa.RSAPrivateKey) -> bytes:
    """An RSA key in PKCS#1 PEM."""
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                             serialization.NoEncryption())


def public_key_pem(key: rsa.RSAPrivateKey) -> bytes:
    """The public half in PEM (sa.pub)."""
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)


def load_pair(cert: bytes, key: bytes) -> KeyPair:
    """A KeyPair from PEM bytes."""
    private = serialization.load_pem_private_key(key, password=None)
    if not isinstance(private, rsa.RSAPrivateKey):
        raise ValueError("only RSA keys are supported by the simulated kubeadm")
    return KeyPair(x509.load_pem_x509_certificate(cert), private)


def _name(common_name: str, organizations: list[str] | None = None) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in organizations or []]
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attributes)


def new_ca(common_name: str, now: datetime) -> KeyPair:
    """A self-signed CA (kubeadm: CN=kubernetes, etcd-ca, front-proxy-ca)."""
    key = new_key()
    name = _name(common_name)
    builder = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE).not_valid_after(now + CA_VALIDITY)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                     key_encipherment=True, data_encipherment=False, key_agreement=False,
                                     key_cert_sign=True, crl_sign=False, encipher_only=False,
                                     decipher_only=False), critical=True)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(common_name)]), critical=False)
    )
    return KeyPair(builder.sign(key, hashes.SHA256()), key)


def issue(ca: KeyPair, spec: CertSpec, public_key: rsa.RSAPublicKey, now: datetime,
          validity: timedelta = LEAF_VALIDITY) -> x509.Certificate:
    """A leaf certificate for `public_key`, signed by `ca`."""
    usages = []
    if spec.server:
        usages.append(ExtendedKeyUsageOID.SERVER_AUTH)
    if spec.client:
        usages.append(ExtendedKeyUsageOID.CLIENT_AUTH)
    builder = (
        x509.CertificateBuilder().subject_name(_name(spec.common_name, spec.organizations))
        .issuer_name(ca.cert.subject).public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE).not_valid_after(now + validity)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                     key_encipherment=True, data_encipherment=False, key_agreement=False,
                                     key_cert_sign=False, crl_sign=False, encipher_only=False,
                                     decipher_only=False), critical=True)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False)
    )
    if usages:
        builder = builder.add_extension(x509.ExtendedKeyUsage(usages), critical=False)
    alt_names: list[x509.GeneralName] = [x509.DNSName(d) for d in spec.dns_names]
    alt_names += [x509.IPAddress(ipaddress.ip_address(i)) for i in spec.ip_addresses]
    if alt_names:
        builder = builder.add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
    return builder.sign(ca.key, hashes.SHA256())


def new_leaf(ca: KeyPair, spec: CertSpec, now: datetime) -> KeyPair:
    """A fresh key and a certificate for it."""
    key = new_key()
    return KeyPair(issue(ca, spec, key.public_key(), now), key)


def subject_identity(cert: x509.Certificate) -> tuple[str, list[str]]:
    """(CN, [O...]) of a certificate: the user and groups of a client certificate."""
    cn = [a.value for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    orgs = [a.value for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
    return (str(cn[0]) if cn else "", [str(o) for o in orgs])


def csr_for(key: rsa.RSAPrivateKey, common_name: str, organizations: list[str]) -> bytes:
    """A PEM certificate signing request (the kubelet's TLS bootstrap)."""
    csr = x509.CertificateSigningRequestBuilder().subject_name(_name(common_name, organizations))
    return csr.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)
