"""A Microsoft Entra stand-in for tests: an OAuth2 client-credentials token endpoint on loopback HTTPS.

azure-identity (through MSAL) talks only to https authorities, so this one serves TLS with a
certificate made for ``127.0.0.1`` at start; a process trusts it through ``REQUESTS_CA_BUNDLE``
(:meth:`SignIn.environment`). It answers MSAL's tenant discovery and the token request, and keeps
what it was sent, so that a test can prove a client secret really went over the wire.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass
class SignIn:
    """A running sign-in endpoint: who may sign in, what it hands out, what it was sent."""

    url: str
    ca_file: Path
    tenant_id: str
    client_id: str
    client_secret: str
    access_token: str
    refresh_token: str
    token_requests: list[dict[str, str]] = field(default_factory=list)
    tokens_issued: int = 0

    def environment(self) -> dict[str, str]:
        """What a process needs for azure-identity's ``EnvironmentCredential`` to sign in here."""
        return {
            "AZURE_AUTHORITY_HOST": self.url,
            "AZURE_TENANT_ID": self.tenant_id,
            "AZURE_CLIENT_ID": self.client_id,
            "AZURE_CLIENT_SECRET": self.client_secret,
            "REQUESTS_CA_BUNDLE": str(self.ca_file),
        }


def _self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "chsm-checks test sign-in")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "sign-in.pem", directory / "sign-in.key"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_file, key_file


def _handler(sign_in: SignIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet
            return

        def _json(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            tenant = f"{sign_in.url}/{sign_in.tenant_id}"
            if self.path.split("?", 1)[0] != f"/{sign_in.tenant_id}/v2.0/.well-known/openid-configuration":
                return self._json(404, {"error": "not_found"})
            self._json(
                200,
                {
                    "issuer": f"{tenant}/v2.0",
                    "authorization_endpoint": f"{tenant}/oauth2/v2.0/authorize",
                    "token_endpoint": f"{tenant}/oauth2/v2.0/token",
                },
            )

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            if self.path.split("?", 1)[0] != f"/{sign_in.tenant_id}/oauth2/v2.0/token":
                return self._json(404, {"error": "not_found"})
            sign_in.token_requests.append(form)
            if (form.get("client_id"), form.get("client_secret")) != (
                sign_in.client_id,
                sign_in.client_secret,
            ):
                return self._json(401, {"error": "invalid_client"})
            sign_in.tokens_issued += 1
            self._json(
                200,
                {
                    "token_type": "Bearer",
                    "expires_in": 3600,
                    "ext_expires_in": 3600,
                    "access_token": sign_in.access_token,
                    "refresh_token": sign_in.refresh_token,
                },
            )

    return Handler


@contextmanager
def sign_in_server(directory: Path, **identity: str) -> Iterator[SignIn]:
    """Serve a token endpoint on ``https://127.0.0.1:<free port>`` for the identity given
    (``tenant_id``, ``client_id``, ``client_secret``, ``access_token``, ``refresh_token``)."""
    cert_file, key_file = _self_signed(directory)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    sign_in = SignIn(url="", ca_file=cert_file, **identity)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(sign_in))
    server.socket = context.wrap_socket(server.socket, server_side=True)
    sign_in.url = f"https://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield sign_in
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
