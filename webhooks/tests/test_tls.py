"""https:// endpoints: the connection goes to the checked address, and TLS checks the
certificate against the URL's host name, sent as the server name (SNI)."""

import datetime
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from webhooks import transport


def _certificate(name: str, issuer_key, issuer_name, key, *, ca: bool):
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False
        )
    return builder.sign(issuer_key, hashes.SHA256())


@pytest.fixture
def tls_receiver(tmp_path, monkeypatch):
    """An https receiver on loopback whose certificate names hooks.example.com, signed by a
    test CA that the transport is told to trust. Records the server name each client sent."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test CA")])
    ca = _certificate("Test CA", ca_key, ca_name, ca_key, ca=True)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _certificate("hooks.example.com", ca_key, ca_name, key, ca=False)
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server_names: list[str | None] = []
    hosts: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            hosts.append(self.headers["Host"])
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    context.sni_callback = lambda sock, name, ctx: server_names.append(name)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    trusting = ssl.create_default_context(
        cadata=ca.public_bytes(serialization.Encoding.PEM).decode()
    )
    monkeypatch.setattr(transport, "ssl_context", trusting)
    yield server.server_address[1], server_names, hosts
    server.shutdown()
    server.server_close()


def test_https_goes_to_the_checked_address_with_the_name_as_sni_and_host(
    settings,
    resolver,
    tls_receiver,
):
    settings.WEBHOOK_ALLOW_HTTP = False
    settings.WEBHOOK_ALLOW_PRIVATE = True  # the receiver is on loopback
    port, server_names, hosts = tls_receiver
    resolver.table["hooks.example.com"] = ["127.0.0.1"]

    answer = transport.post(f"https://hooks.example.com:{port}/in", {}, b"{}")

    assert (answer.status, answer.error) == (204, "")
    assert server_names == ["hooks.example.com"]
    assert hosts == [f"hooks.example.com:{port}"]


def test_a_certificate_for_another_name_is_refused(
    settings,
    resolver,
    tls_receiver,
):
    settings.WEBHOOK_ALLOW_PRIVATE = True
    port, _, hosts = tls_receiver
    resolver.table["other.example.com"] = ["127.0.0.1"]

    answer = transport.post(f"https://other.example.com:{port}/in", {}, b"{}")

    assert answer.status is None
    assert answer.error.startswith("TLS failed")
    assert hosts == []
