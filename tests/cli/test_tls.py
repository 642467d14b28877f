"""``--certfile``/``--keyfile``: HTTPS, and HTTP/2 by ALPN, on both backends."""

from __future__ import annotations

import datetime
import ipaddress
import os
import signal
import ssl
import sys
from pathlib import Path

import httpx
import pytest

from anyio_bridge._cli.app import AppSpec
from anyio_bridge._cli.errors import ServeError
from anyio_bridge._cli.options import Backend, ServeOptions
from anyio_bridge._cli.serve import serve

from .conftest import WAIT, Output, serve_in_this_process

if sys.version_info < (3, 11):  # pragma: no cover - CI runs 3.11
    pass


def make_certificate(directory: Path, name: str) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (its own CA), and its key."""
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "anyio-bridge test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    certfile, keyfile = directory / f"{name}.pem", directory / f"{name}.key"
    certfile.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    keyfile.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return certfile, keyfile


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_https_and_http2(app_dir: Path, backend: Backend) -> None:
    certfile, keyfile = make_certificate(app_dir, "server")
    seen: list[tuple[str, str]] = []

    def client(url: str, output: Output) -> None:
        assert url.startswith("https://127.0.0.1:")
        trust = ssl.create_default_context(cafile=certfile)
        for http2 in (True, False):
            with httpx.Client(verify=trust, http2=http2, timeout=WAIT) as http:
                response = http.get(url + "/client")
                seen.append((response.http_version, response.text))
        os.kill(os.getpid(), signal.SIGINT)
        assert output.next_line().endswith(": SIGINT received, shutting down")

    options = ServeOptions(
        AppSpec("webapp", "app"),
        backend=backend,
        port=0,
        certfile=str(certfile),
        keyfile=str(keyfile),
        access_log="off",
    )
    assert serve_in_this_process(options, client) == 0
    assert seen == [
        ("HTTP/2", "127.0.0.1|https|HTTP/2"),
        ("HTTP/1.1", "127.0.0.1|https|HTTP/1.1"),
    ]


def test_a_certificate_that_cannot_be_loaded(app_dir: Path) -> None:
    certfile, _ = make_certificate(app_dir, "one")
    _, other_key = make_certificate(app_dir, "two")
    cases = {
        (str(app_dir / "missing.pem"), str(other_key)): "No such file or directory",
        (str(certfile), str(other_key)): "KEY_VALUES_MISMATCH|key values mismatch",
    }
    for (cert, key), message in cases.items():
        options = ServeOptions(
            AppSpec("webapp", "app"), port=0, certfile=cert, keyfile=key
        )
        with pytest.raises(
            ServeError, match=f"cannot load the TLS certificate .*({message})"
        ):
            serve(options, Output())
