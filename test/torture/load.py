#!/usr/bin/python3
"""The torture test's load: python3-acme workers running full flows while
the proxy is killed and restarted under them.

Usage: load.py DIRECTORY_URL CA_FILE HTTP01_PORT JOURNAL STOP_FILE
               WORKERS SLOW_PERCENT MAX_SECONDS

Each worker has its own account and loops: a new order for one fresh
name under .tt.test (SLOW_PERCENT of them named slow-150.*, which the
stand-in PKI answers after 150 ms), answers http-01 on HTTP01_PORT (one
responder for all), finalizes with a fresh P-256 key and polls until the
order is valid or invalid. Every network error is retried (the server may
be down, or restarted with new nonces); a finalize whose answer was lost
is asked again only while the order is still ready. Workers stop starting
orders once STOP_FILE exists or MAX_SECONDS passed, finish the ones they
have (bounded), and exit.

The journal gets one JSON line per step and order:
  {"ev":"created","order":ID,"name":N,"key":SHA256(SPKI) hex}
  {"ev":"finalized","order":ID}      the server took the finalize
  {"ev":"final","order":ID,"status":S,"serial":HEX or null}
  {"ev":"unfinished","order":ID}     gave up waiting (counted as stuck)
"""
import datetime
import hashlib
import http.server
import json
import os
import random
import sys
import threading
import time

import josepy as jose
import OpenSSL
from acme import challenges, client, messages
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

TOKENS = {}
JOURNAL_LOCK = threading.Lock()
FINISH_SECONDS = 180          # per order once the load stops


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        prefix = "/.well-known/acme-challenge/"
        body = TOKENS.get(self.path[len(prefix):]) if self.path.startswith(prefix) else None
        if body is None:
            self.send_response(404)
            self.end_headers()
            return
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


class Journal:
    def __init__(self, path):
        self.f = open(path, "a", buffering=1)

    def write(self, **kw):
        with JOURNAL_LOCK:
            self.f.write(json.dumps(kw) + "\n")


def retry(fn, deadline, what):
    """fn() until it does not raise, or the deadline passes (then raises)."""
    delay = 0.2
    while True:
        try:
            return fn()
        except Exception as exc:  # noqa: B902 -- the server may be down
            if time.time() > deadline:
                raise RuntimeError(f"{what}: {exc}") from exc
            time.sleep(delay)
            delay = min(delay * 1.5, 2.0)


def order_id(url):
    return url.rstrip("/").rsplit("/", 1)[-1]


class Worker(threading.Thread):
    def __init__(self, wid, args, journal):
        super().__init__(daemon=True)
        self.wid = wid
        self.args = args
        self.journal = journal
        self.n = 0
        self.errors = 0

    def connect(self, deadline):
        key = jose.JWKEC(key=ec.generate_private_key(ec.SECP256R1()))
        net = client.ClientNetwork(key, alg=jose.ES256, user_agent="acmeproxy-torture",
                                   verify_ssl=self.args["ca"], timeout=30)
        directory = retry(lambda: messages.Directory.from_json(
            net.get(self.args["dir"]).json()), deadline, "directory")
        acme = client.ClientV2(directory, net)
        retry(lambda: acme.new_account(messages.NewRegistration.from_data(
            email=f"torture{self.wid}@example.test", terms_of_service_agreed=True)),
            deadline, "new account")
        return acme, key

    def one_order(self, acme, key):
        self.n += 1
        slow = random.randrange(100) < self.args["slow"]
        name = (f"{'slow-150.' if slow else ''}w{self.wid}n{self.n}"
                f"r{random.randrange(1 << 30):x}.tt.test")
        pkey = ec.generate_private_key(ec.SECP256R1())
        spki = pkey.public_key().public_bytes(serialization.Encoding.DER,
                                              serialization.PublicFormat.SubjectPublicKeyInfo)
        csr = (x509.CertificateSigningRequestBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
               .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
               .sign(pkey, hashes.SHA256()))
        pem = csr.public_bytes(serialization.Encoding.PEM)
        deadline = time.time() + FINISH_SECONDS
        orderr = retry(lambda: acme.new_order(pem), deadline, "new order")
        oid = order_id(orderr.uri)
        self.journal.write(ev="created", order=oid, name=name,
                           key=hashlib.sha256(spki).hexdigest())
        for authzr in orderr.authorizations:
            for chall in authzr.body.challenges:
                if isinstance(chall.chall, challenges.HTTP01):
                    response, validation = chall.response_and_validation(key)
                    TOKENS[chall.chall.encode("token")] = validation
                    retry(lambda c=chall, r=response: acme.answer_challenge(c, r),
                          deadline, "challenge")
        orderr = retry(lambda: acme.poll_authorizations(
            orderr, datetime.datetime.now() + datetime.timedelta(seconds=30)),
            deadline, "authorizations")
        req = messages.CertificateRequest(csr=jose.ComparableX509(
            OpenSSL.crypto.load_certificate_request(OpenSSL.crypto.FILETYPE_PEM, pem)))
        finalized = False
        status = "?"
        body = {}
        while time.time() < deadline:
            try:
                body = acme._post_as_get(orderr.uri).json()
                status = body.get("status", "?")
                if status == "ready":
                    body = acme._post(orderr.body.finalize, req).json()
                    status = body.get("status", "?")
                if status in ("processing", "valid") and not finalized:
                    finalized = True
                    self.journal.write(ev="finalized", order=oid)
                if status in ("valid", "invalid"):
                    break
            except Exception:  # noqa: B902 -- down, restarting, badNonce
                self.errors += 1
            time.sleep(0.3)
        if status not in ("valid", "invalid"):
            self.journal.write(ev="unfinished", order=oid, status=status)
            return
        serial = None
        if status == "valid" and body.get("certificate"):
            chain = retry(lambda: acme._post_as_get(body["certificate"]).text,
                          deadline, "certificate")
            leaf = x509.load_pem_x509_certificate(chain.encode())
            serial = f"{leaf.serial_number:x}"
        self.journal.write(ev="final", order=oid, status=status, serial=serial,
                           error=(body.get("error") or {}).get("detail"))

    def run(self):
        end = time.time() + self.args["max"]
        acme, key = self.connect(end + FINISH_SECONDS)
        while time.time() < end and not os.path.exists(self.args["stop"]):
            try:
                self.one_order(acme, key)
            except Exception as exc:  # noqa: B902
                self.errors += 1
                sys.stderr.write(f"worker {self.wid}: {exc}\n")


def main():
    dir_url, ca, port, journal, stop, workers, slow, max_s = sys.argv[1:9]
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", int(port)), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    args = {"dir": dir_url, "ca": ca, "stop": stop, "slow": int(slow), "max": float(max_s)}
    j = Journal(journal)
    threads = [Worker(i, args, j) for i in range(int(workers))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    srv.shutdown()
    print(f"load: {sum(t.n for t in threads)} orders, "
          f"{sum(t.errors for t in threads)} retried errors")
    return 0


if __name__ == "__main__":
    sys.exit(main())
