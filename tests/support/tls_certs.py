"""A test certificate authority made at test time (trustme) and server certificates in the
key formats the server reads: SEC1 EC, PKCS#1 RSA and PKCS#8."""
from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

import trustme
from cryptography.hazmat.primitives import serialization


@dataclass
class ServerCert:
    ca: trustme.CA
    cert_pem: bytes  # leaf + chain
    key_pem: bytes

    def write(self, directory: Path, stem: str = "server") -> "tuple[Path, Path]":
        cert, key = directory / f"{stem}-cert.pem", directory / f"{stem}-key.pem"
        cert.write_bytes(self.cert_pem)
        key.write_bytes(self.key_pem)
        return cert, key

    def client_context(self, alpn: "list[str] | None" = None) -> ssl.SSLContext:
        ctx = ssl.create_default_context()
        self.ca.configure_trust(ctx)
        if alpn:
            ctx.set_alpn_protocols(alpn)
        return ctx

    def ca_file(self, directory: Path) -> Path:
        path = directory / "ca.pem"
        path.write_bytes(self.ca.cert_pem.bytes())
        return path


def make_cert(key_format: str = "sec1") -> ServerCert:
    """A CA and a certificate for localhost / 127.0.0.1 whose key PEM is `sec1` (EC PRIVATE
    KEY), `pkcs1` (RSA PRIVATE KEY) or `pkcs8` (PRIVATE KEY, from an RSA key)."""
    key_type = trustme.KeyType.ECDSA if key_format == "sec1" else trustme.KeyType.RSA
    ca = trustme.CA(key_type=key_type)
    leaf = ca.issue_cert("localhost", "127.0.0.1", key_type=key_type)
    chain = b"".join(blob.bytes() for blob in leaf.cert_chain_pems)
    key_pem = leaf.private_key_pem.bytes()
    key = serialization.load_pem_private_key(key_pem, password=None)
    if key_format == "pkcs8":
        key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
    elif key_format in ("pkcs1", "sec1"):
        key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                    serialization.NoEncryption())
    return ServerCert(ca, chain, key_pem)
