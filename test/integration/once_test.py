#!/usr/bin/python3
"""python3-acme drivers of test/integration/once.sh (exactly once, crash
loops, limits counted in the transaction, concurrent key changes).

  once_test.py crashloop DIR_URL CA HTTP01_PORT NAME KIND TIMEOUT
      One order for NAME: answers http-01 (KIND validate: polls the
      authorization; KIND issue: validates, finalizes, polls the order)
      while the server may be dying and restarting under it; prints one
      JSON object {"status": ..., "error": {...}} of what it ended as.
  once_test.py inflight DIR_URL CA HTTP01_PORT N PREFIX
      N ready orders of one account, then N finalize requests at the same
      moment; prints {"accepted": A, "limited": L, "other": [...]}.
  once_test.py keychange DIR_URL CA ROUNDS
      ROUNDS times two keyChange requests for one account at the same
      moment (different new keys); prints {"ok": .., "conflict": ..,
      "stale": .., "server_error": .., "rounds_without_one_winner": ..}.
"""
import datetime
import http.server
import json
import sys
import threading
import time

import josepy as jose
import OpenSSL
import requests
from acme import challenges, client, jws, messages
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

TOKENS = {}


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


def responder(port):
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", int(port)), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def retry(fn, deadline):
    while True:
        try:
            return fn()
        except Exception:  # noqa: B902 -- the server may be restarting
            if time.time() > deadline:
                raise
            time.sleep(0.3)


def account(dir_url, ca, deadline):
    key = jose.JWKEC(key=ec.generate_private_key(ec.SECP256R1()))
    net = client.ClientNetwork(key, alg=jose.ES256, user_agent="acmeproxy-once-test",
                               verify_ssl=ca, timeout=20)
    directory = retry(lambda: messages.Directory.from_json(net.get(dir_url).json()), deadline)
    acme = client.ClientV2(directory, net)
    regr = retry(lambda: acme.new_account(messages.NewRegistration.from_data(
        email="once@example.test", terms_of_service_agreed=True)), deadline)
    return acme, key, net, regr


def csr_for(name):
    pkey = ec.generate_private_key(ec.SECP256R1())
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
           .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
           .sign(pkey, hashes.SHA256()))
    return csr.public_bytes(serialization.Encoding.PEM)


def answer_http01(acme, key, orderr, deadline):
    for authzr in orderr.authorizations:
        for chall in authzr.body.challenges:
            if isinstance(chall.chall, challenges.HTTP01):
                response, validation = chall.response_and_validation(key)
                TOKENS[chall.chall.encode("token")] = validation
                retry(lambda c=chall, r=response: acme.answer_challenge(c, r), deadline)


def finalize_request(pem):
    return messages.CertificateRequest(csr=jose.ComparableX509(
        OpenSSL.crypto.load_certificate_request(OpenSSL.crypto.FILETYPE_PEM, pem)))


def crashloop(dir_url, ca, port, name, kind, timeout):
    deadline = time.time() + float(timeout)
    responder(port)
    acme, key, _, _ = account(dir_url, ca, deadline)
    pem = csr_for(name)
    orderr = retry(lambda: acme.new_order(pem), deadline)
    answer_http01(acme, key, orderr, deadline)
    url = orderr.authorizations[0].uri if kind == "validate" else orderr.uri
    body = {}
    finalized = False
    while time.time() < deadline:
        try:
            body = acme._post_as_get(url).json()
            status = body.get("status")
            if kind == "validate" and status in ("valid", "invalid"):
                # The challenge carries the error; the authorization only
                # its status.
                errs = [c.get("error") for c in body.get("challenges", []) if c.get("error")]
                body["error"] = errs[0] if errs else None
                break
            if kind == "issue" and status == "ready" and not finalized:
                acme._post(orderr.body.finalize, finalize_request(pem))
                finalized = True
            if kind == "issue" and status in ("valid", "invalid"):
                break
        except Exception:  # noqa: B902
            pass
        time.sleep(0.3)
    print(json.dumps({"status": body.get("status"), "error": body.get("error")}))
    return 0


def inflight(dir_url, ca, port, n, prefix):
    deadline = time.time() + 60
    responder(port)
    acme, key, _, _ = account(dir_url, ca, deadline)
    ready = []
    for i in range(int(n)):
        pem = csr_for(f"{prefix}{i}.a.test")
        orderr = acme.new_order(pem)
        answer_http01(acme, key, orderr, deadline)
        orderr = acme.poll_authorizations(
            orderr, datetime.datetime.now() + datetime.timedelta(seconds=30))
        ready.append((orderr, pem))
    barrier = threading.Barrier(len(ready))
    results = []
    lock = threading.Lock()

    def fin(orderr, pem):
        barrier.wait()
        try:
            resp = acme._post(orderr.body.finalize, finalize_request(pem))
            res = ("accepted", resp.status_code)
        except messages.Error as err:
            res = ("limited" if err.code == "rateLimited" else "other", str(err))
        except Exception as exc:  # noqa: B902
            res = ("other", str(exc))
        with lock:
            results.append(res)

    threads = [threading.Thread(target=fin, args=r) for r in ready]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(json.dumps({"accepted": sum(1 for r in results if r[0] == "accepted"),
                      "limited": sum(1 for r in results if r[0] == "limited"),
                      "other": [r[1] for r in results if r[0] == "other"]}))
    return 0


def keychange(dir_url, ca, rounds):
    deadline = time.time() + 60
    acme, key, net, regr = account(dir_url, ca, deadline)
    directory = acme.directory
    kc_url = directory["keyChange"]
    counts = {"ok": 0, "conflict": 0, "stale": 0, "server_error": 0, "other": 0,
              "rounds_without_one_winner": 0}
    session = requests.Session()

    def nonce():
        # verify per request: a REQUESTS_CA_BUNDLE in the environment would
        # override a session's.
        return jose.decode_b64jose(session.head(directory["newNonce"], verify=ca)
                                   .headers["Replay-Nonce"])

    for _ in range(int(rounds)):
        news = [jose.JWKEC(key=ec.generate_private_key(ec.SECP256R1())) for _ in range(2)]
        bodies = []
        for new in news:
            inner = jws.JWS.sign(json.dumps({"account": regr.uri,
                                             "oldKey": key.public_key().to_partial_json()}).encode(),
                                 key=new, alg=jose.ES256, nonce=None, url=kc_url)
            outer = jws.JWS.sign(inner.json_dumps().encode(), key=key, alg=jose.ES256,
                                 nonce=nonce(), url=kc_url, kid=regr.uri)
            bodies.append(outer.json_dumps())
        barrier = threading.Barrier(2)
        codes = [None, None]

        def post(i):
            barrier.wait()
            r = session.post(kc_url, data=bodies[i], verify=ca,
                             headers={"Content-Type": "application/jose+json"})
            codes[i] = r.status_code
            if r.status_code not in (200, 409):
                sys.stderr.write(f"keyChange {r.status_code}: {r.text[:300]}\n")

        threads = [threading.Thread(target=post, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        winners = [i for i in range(2) if codes[i] == 200]
        for c in codes:
            if c == 200:
                counts["ok"] += 1
            elif c == 409:
                counts["conflict"] += 1
            elif c in (400, 401, 403):  # signed with the key just replaced
                counts["stale"] += 1
            elif c >= 500:
                counts["server_error"] += 1
            else:
                counts["other"] += 1
                counts.setdefault("other_codes", []).append(c)
        if len(winners) != 1:
            counts["rounds_without_one_winner"] += 1
            if not winners:
                break
        key = news[winners[0]]
    print(json.dumps(counts))
    return 0


def main():
    cmd = sys.argv[1]
    if cmd == "crashloop":
        return crashloop(*sys.argv[2:8])
    if cmd == "inflight":
        return inflight(*sys.argv[2:7])
    if cmd == "keychange":
        return keychange(*sys.argv[2:5])
    return 2


if __name__ == "__main__":
    sys.exit(main())
