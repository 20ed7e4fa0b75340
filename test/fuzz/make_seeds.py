#!/usr/bin/python3
"""Writes the seeds of fuzz_dns, fuzz_http01 and fuzz_tlsalpn into
test/fuzz/corpus/ (run from the repository root; they are committed, so
this is only needed to remake them).

dns: responses to x.test (first byte: 0 TXT, 1 A, 2 AAAA) built here.
http01: a key authorization and bodies.
tlsalpn: the 15 bytes of issue 10; what an acme-tls/1 responder (Python's
ssl, OpenSSL underneath) sends to `openssl s_client -alpn acme-tls/1`
over TLS 1.2 and over TLS 1.3, recorded through a relay on 127.0.0.1;
and validation certificates for tls.a.test and the key authorization
"token.thumbprint" (one right, one with the extension in BER)."""
import datetime
import hashlib
import os
import socket
import ssl
import struct
import subprocess
import tempfile
import threading

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID, ObjectIdentifier

OUT = "test/fuzz/corpus"
KEYAUTH = b"token.thumbprint"


def name(n, ptr=None):
    out = b""
    for label in n.split("."):
        if label:
            out += bytes([len(label)]) + label.encode()
    return out + b"\x00"


def rr(owner, rtype, rdata):
    return owner + struct.pack(">HHIH", rtype, 1, 60, len(rdata)) + rdata


def msg(qtype, rcode, answers):
    hdr = struct.pack(">HHHHHH", 0x1234, 0x8400 | 0x0100 | 0x0080 | rcode, 1,
                      len(answers), 0, 0)
    return hdr + name("x.test") + struct.pack(">HH", qtype, 1) + b"".join(answers)


def dns_seeds():
    q = b"\xc0\x0c"   # pointer to the question's name
    seeds = {
        "txt": b"\x00" + msg(16, 0, [rr(q, 16, b"\x05hello")]),
        "txt_two_strings": b"\x00" + msg(16, 0, [rr(q, 16, b"\x03abc\x03def"),
                                                 rr(q, 16, b"\x00")]),
        "txt_cname_inside": b"\x00" + msg(16, 0, [rr(q, 5, name("y.test")),
                                                  rr(name("y.test"), 16, b"\x02ok")]),
        "txt_cname_leaves": b"\x00" + msg(16, 0, [rr(q, 5, name("far.example"))]),
        "cname_compressed": b"\x00" + msg(16, 0, [rr(q, 5, b"\x01a\xc0\x0c"),
                                                  rr(b"\x01a\xc0\x0c", 16, b"\x01z")]),
        "nxdomain": b"\x00" + msg(16, 3, []),
        "servfail": b"\x01" + msg(1, 2, []),
        "a": b"\x01" + msg(1, 0, [rr(q, 1, bytes([127, 0, 0, 1])),
                                  rr(q, 1, bytes([192, 0, 2, 7]))]),
        "aaaa": b"\x02" + msg(28, 0, [rr(q, 28, bytes(15) + b"\x01")]),
    }
    for k, v in seeds.items():
        with open(f"{OUT}/dns/{k}", "wb") as f:
            f.write(v)


def http01_seeds():
    ka = b"tok.thumb"
    for k, v in {"match": bytes([len(ka)]) + ka + ka + b"\r\n",
                 "other": bytes([len(ka)]) + ka + b"INTERNAL-ONLY: db_password=x",
                 "empty": b"\x00"}.items():
        with open(f"{OUT}/http01/{k}", "wb") as f:
            f.write(v)


def acme_cert(ber=False):
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.utcnow()
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "acme")])
    digest = hashlib.sha256(KEYAUTH).digest()
    value = (b"\x04\x81\x20" if ber else b"\x04\x20") + digest
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(7)
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("tls.a.test")]),
                           critical=False)
            .add_extension(x509.UnrecognizedExtension(
                ObjectIdentifier("1.3.6.1.5.5.7.1.31"), value), critical=True)
            .sign(key, hashes.SHA256()))
    return cert, key


def record(version_flag):
    """What the server sends back, through a relay."""
    cert, key = acme_cert()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with tempfile.NamedTemporaryFile("wb", delete=False) as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
        f.write(key.private_bytes(serialization.Encoding.PEM,
                                  serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
        path = f.name
    ctx.load_cert_chain(path)
    os.unlink(path)
    ctx.set_alpn_protocols(["acme-tls/1"])
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    relay = socket.socket()
    relay.bind(("127.0.0.1", 0))
    relay.listen(1)
    got = bytearray()

    def serve():
        conn, _ = srv.accept()
        conn.settimeout(5)
        try:
            with ctx.wrap_socket(conn, server_side=True) as tls:
                tls.recv(1)
        except (OSError, ssl.SSLError):
            pass

    def pump(a, b, keep):
        try:
            while True:
                data = a.recv(65536)
                if not data:
                    break
                if keep:
                    got.extend(data)
                b.sendall(data)
        except OSError:
            pass
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    def relay_one():
        c, _ = relay.accept()
        s = socket.create_connection(srv.getsockname())
        t = threading.Thread(target=pump, args=(s, c, True))
        t.start()
        pump(c, s, False)
        t.join()

    threading.Thread(target=serve, daemon=True).start()
    rt = threading.Thread(target=relay_one)
    rt.start()
    host, port = relay.getsockname()
    subprocess.run(["openssl", "s_client", "-connect", f"{host}:{port}",
                    "-servername", "tls.a.test", "-alpn", "acme-tls/1",
                    version_flag], input=b"", capture_output=True, timeout=20,
                   check=False)
    rt.join(timeout=20)
    return bytes(got)


def tlsalpn_seeds():
    with open(f"{OUT}/tlsalpn/issue10_crash", "wb") as f:
        f.write(bytes.fromhex("160303000a0b000006000000ffffff"))
    for flag, fname in (("-tls1_2", "flight_tls12"), ("-tls1_3", "flight_tls13")):
        data = record(flag)
        assert data[:1] == b"\x16", f"{fname}: nothing recorded"
        with open(f"{OUT}/tlsalpn/{fname}", "wb") as f:
            f.write(data)
    for ber, fname in ((False, "cert_good"), (True, "cert_ber")):
        cert, _ = acme_cert(ber)
        with open(f"{OUT}/tlsalpn/{fname}", "wb") as f:
            f.write(cert.public_bytes(serialization.Encoding.DER))


if __name__ == "__main__":
    for d in ("dns", "http01", "tlsalpn"):
        os.makedirs(f"{OUT}/{d}", exist_ok=True)
    dns_seeds()
    http01_seeds()
    tlsalpn_seeds()
