"""Redis over TLS the way Memorystore serves it: a per-instance CA, and a server
certificate that names the instance's IP only in its subject CN (no
subjectAltName). redis-py (6+) checks hostnames by default, and for an IP address
that check reads only iPAddress SANs, so `rediss://<IP>` fails out of the box;
`clients.redis_client` connects, and still verifies the chain against the CA.

A CA and such a server certificate are generated here (cryptography), and a
private `redis-server --tls-port` on loopback serves it."""

from __future__ import annotations

import datetime as dt
import shutil
import socket
import ssl
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass(frozen=True)
class TlsRedis:
    port: int
    ca: Path  # the CA that signed the server certificate
    other_ca: Path  # a CA that did not


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _ca(tmp: Path, stem: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(f"tickcast test {stem}"))
        .issuer_name(_name(f"tickcast test {stem}"))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    (tmp / f"{stem}.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key, cert


def _server_cert(tmp: Path, ca_key: ec.EllipticCurvePrivateKey, ca: x509.Certificate) -> None:
    """CN=127.0.0.1 and no subjectAltName, as Memorystore's server certificate."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("127.0.0.1"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    assert not any(e.oid == x509.OID_SUBJECT_ALTERNATIVE_NAME for e in cert.extensions)
    (tmp / "server.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp / "server.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def _tls_ping(port: int) -> bool:
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE  # readiness only
    try:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=0.5) as raw,
            ctx.wrap_socket(raw) as s,
        ):
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@pytest.fixture(scope="module")
def tls_redis() -> Iterator[TlsRedis]:
    from tickcast.local.processes import Proc, free_port

    server = shutil.which("redis-server")
    if server is None:
        pytest.skip("redis-server not installed")
    with tempfile.TemporaryDirectory(prefix="tickcast-tls-") as name:
        tmp = Path(name)
        ca_key, ca = _ca(tmp, "ca")
        _ca(tmp, "other-ca")
        _server_cert(tmp, ca_key, ca)
        port = free_port()
        argv = [server, "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1"]
        argv += ["--tls-cert-file", str(tmp / "server.crt")]
        argv += ["--tls-key-file", str(tmp / "server.key")]
        argv += ["--tls-ca-cert-file", str(tmp / "ca.crt"), "--tls-auth-clients", "no"]
        argv += ["--save", "", "--appendonly", "no", "--dir", str(tmp)]
        proc = Proc("redis-tls", argv, tmp / "redis.log", cwd=tmp)
        proc.start()
        try:
            deadline = time.monotonic() + 20
            while not _tls_ping(port):
                if not proc.alive():
                    log = proc.log_tail()
                    if "tls" in log.lower() and "support" in log.lower():
                        pytest.skip(f"redis-server built without TLS: {log}")
                    raise AssertionError(f"redis-server with TLS did not start:\n{log}")
                assert time.monotonic() < deadline, "redis-server TLS port never answered"
                time.sleep(0.1)
            yield TlsRedis(port, tmp / "ca.crt", tmp / "other-ca.crt")
        finally:
            proc.stop()


def _url(t: TlsRedis, ca: Path) -> str:
    return f"rediss://127.0.0.1:{t.port}/0?ssl_ca_certs={ca}"


def test_redis_client_connects_with_the_instance_ca(tls_redis: TlsRedis) -> None:
    from tickcast import clients

    clients.redis_client.cache_clear()
    try:
        r = clients.redis_client(_url(tls_redis, tls_redis.ca))
        assert r.ping()
        r.set("tickcast:test:tls", b"ok", ex=60)
        assert r.get("tickcast:test:tls") == b"ok"
        kwargs = r.connection_pool.connection_kwargs
        assert kwargs["ssl_cert_reqs"] == "required" and kwargs["ssl_check_hostname"] is False
        r.close()
    finally:
        clients.redis_client.cache_clear()


def test_the_url_terraform_writes_connects_with_the_ca_inline(tls_redis: TlsRedis) -> None:
    """infra/terraform/secrets.tf writes `rediss://:AUTH@IP:PORT/0?ssl_ca_data=<urlencoded PEM>`:
    the secret alone must be enough, with no CA file on the function's disk."""
    from urllib.parse import quote

    from tickcast import clients

    pem = quote(tls_redis.ca.read_text(), safe="")  # what Terraform's urlencode() gives
    clients.redis_client.cache_clear()
    try:
        r = clients.redis_client(f"rediss://127.0.0.1:{tls_redis.port}/0?ssl_ca_data={pem}")
        assert r.ping()
        r.close()
    finally:
        clients.redis_client.cache_clear()


def test_redis_py_defaults_refuse_an_ip_named_only_in_the_cn(tls_redis: TlsRedis) -> None:
    """Why the fix matters: the same URL with redis-py's defaults fails the handshake."""
    r = redis.Redis.from_url(_url(tls_redis, tls_redis.ca), socket_connect_timeout=2)
    with pytest.raises(redis.ConnectionError, match=r"(?i)mismatch|hostname"):
        r.ping()
    r.close()


def test_the_chain_is_still_verified(tls_redis: TlsRedis) -> None:
    """Only the name check is off: a certificate the given CA did not sign is refused."""
    from tickcast import clients

    clients.redis_client.cache_clear()
    try:
        for url in (
            _url(tls_redis, tls_redis.other_ca),
            f"rediss://127.0.0.1:{tls_redis.port}/0",  # the system's CAs
        ):
            r = clients.redis_client(url)
            with pytest.raises(redis.ConnectionError, match=r"(?i)certificate verify failed"):
                r.ping()
            r.close()
    finally:
        clients.redis_client.cache_clear()
