#!/usr/bin/python3
"""Wire-level RFC 8555 checks against a running ACME server.

Usage: /usr/bin/python3 wire_test.py DIRECTORY_URL CA_FILE HTTP01_PORT

Requests are built by hand (josepy JWKs and JWA signatures, acme.jws for one
account, `requests` for HTTP) so that each check can send exactly the bytes
it wants.  Every check prints "ok - name" or "not ok - name: reason"; the last
line is "wire: N passed, N failed".  Exit status 0 only if all passed.

CA_FILE must hold the server's TLS trust anchor and the root of the issued
chains (for acmeproxy both are <data_dir>/ca.pem).  HTTP01_PORT is where the
server's validator connects for http-01; this script answers there itself.
The names used are below a.test, which the test DNS resolves to 127.0.0.1.
"""
import base64
import http.server
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time

import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from josepy import b64, jwa, jwk

from acme import jws as acme_jws

PROBLEM = "urn:ietf:params:acme:error:"
JOSE = "application/jose+json"
TIMEOUT = 10            # seconds per HTTP request
POLL_LIMIT = 30         # seconds for any polling loop

COUNTS = {"passed": 0, "failed": 0}
SEEN = []               # (method, url, response) of every request made
NONCES = []             # unused nonces handed out by the server
STATE = {}              # results shared between dependent checks
TOKENS = {}             # http-01 token -> key authorization
CTX = {}                # directory, ca file, session, http-01 port


class Failure(Exception):
    """A failed expectation; the message is the reason printed."""


def expect(cond, reason):
    if not cond:
        raise Failure(reason)


def run_check(name, func):
    try:
        func()
    except Failure as exc:
        COUNTS["failed"] += 1
        print(f"not ok - {name}: {exc}", flush=True)
        return
    except Exception as exc:  # a crash in a check is a failure of that check
        COUNTS["failed"] += 1
        print(f"not ok - {name}: {type(exc).__name__}: {exc}", flush=True)
        return
    COUNTS["passed"] += 1
    print(f"ok - {name}", flush=True)


# ------------------------------------------------------------------ HTTP

def short(resp):
    """One-line description of a response for failure messages."""
    body = resp.text[:200].replace("\n", " ")
    return f"HTTP {resp.status_code} {resp.headers.get('Content-Type', '-')} {body}"


def record(method, url, resp):
    SEEN.append((method, url, resp))
    nonce = resp.headers.get("Replay-Nonce")
    if nonce:
        NONCES.append(nonce)
    return resp


def send(method, url, **kwargs):
    kwargs.setdefault("timeout", TIMEOUT)
    kwargs["verify"] = CTX["ca"]      # else REQUESTS_CA_BUNDLE would win
    resp = CTX["session"].request(method, url, **kwargs)
    return record(method, url, resp)


def directory(field):
    return CTX["directory"][field]


def fresh_nonce():
    """A nonce never used before: one the server handed out, or a new one."""
    if NONCES:
        return NONCES.pop()
    resp = send("HEAD", directory("newNonce"))
    NONCES.clear()
    nonce = resp.headers.get("Replay-Nonce")
    expect(nonce, f"HEAD newNonce gave no Replay-Nonce ({short(resp)})")
    return nonce


def post_raw(url, body, content_type=JOSE):
    headers = {}
    if content_type is not None:
        headers["Content-Type"] = content_type
    if isinstance(body, str):
        body = body.encode()
    return send("POST", url, data=body, headers=headers)


# ------------------------------------------------------------------ JWS

def enc(data):
    if isinstance(data, str):
        data = data.encode()
    return b64.b64encode(data).decode()


def json_b64(obj):
    return enc(json.dumps(obj))


class Account:
    """An account key (and, once registered, its URL)."""

    def __init__(self, kind="ES256"):
        self.kind = kind
        if kind == "ES256":
            self.key = jwk.JWKEC(key=ec.generate_private_key(ec.SECP256R1()))
            self.alg = jwa.ES256
        elif kind == "ES384":
            self.key = jwk.JWKEC(key=ec.generate_private_key(ec.SECP384R1()))
            self.alg = jwa.ES384
        else:
            self.key = jwk.JWKRSA(key=rsa.generate_private_key(65537, 2048))
            self.alg = jwa.RS256
        self.kid = None

    def public_jwk(self):
        return self.key.public_key().to_partial_json()

    def sign(self, signing_input):
        return self.alg.sign(self.key.key, signing_input.encode())

    def key_authorization(self, token):
        return token + "." + enc(self.key.thumbprint())


def make_jws(acct, url, payload, nonce="auto", use_jwk=None, header=None,
             protected_b64=None, payload_b64=None, signer=None):
    """Flattened JWS JSON text.  payload None means POST-as-GET (empty).
    header: extra/overriding protected fields (value None deletes one)."""
    prot = {"alg": acct.alg.name, "url": url}
    if nonce == "auto":
        nonce = fresh_nonce()
    if nonce is not None:
        prot["nonce"] = nonce
    if use_jwk is None:
        use_jwk = acct.kid is None
    if use_jwk:
        prot["jwk"] = acct.public_jwk()
    else:
        prot["kid"] = acct.kid
    for name, value in (header or {}).items():
        if value is None:
            prot.pop(name, None)
        else:
            prot[name] = value
    if protected_b64 is None:
        protected_b64 = json_b64(prot)
    if payload_b64 is None:
        payload_b64 = "" if payload is None else json_b64(payload)
    signer = signer or acct
    sig = signer.sign(protected_b64 + "." + payload_b64)
    return json.dumps({"protected": protected_b64, "payload": payload_b64,
                       "signature": enc(sig)})


def signed_post(acct, url, payload, **kwargs):
    content_type = kwargs.pop("content_type", JOSE)
    return post_raw(url, make_jws(acct, url, payload, **kwargs), content_type)


def post_as_get(acct, url):
    return signed_post(acct, url, None)


def new_account(acct, contact="mailto:wire@example.test", **extra):
    payload = {"termsOfServiceAgreed": True}
    if contact:
        payload["contact"] = [contact]
    payload.update(extra)
    resp = signed_post(acct, directory("newAccount"), payload, use_jwk=True)
    if resp.status_code in (200, 201) and resp.headers.get("Location"):
        acct.kid = resp.headers["Location"]
    return resp


def registered(kind="ES256"):
    acct = Account(kind)
    resp = new_account(acct)
    expect(resp.status_code == 201 and acct.kid,
           f"newAccount for a helper account failed: {short(resp)}")
    return acct


def new_order(acct, identifiers):
    return signed_post(acct, directory("newOrder"), {"identifiers": identifiers})


def expect_problem(resp, status, types):
    """Assert an RFC 7807 problem: HTTP status, content type, type, status."""
    if isinstance(types, str):
        types = (types,)
    wanted = " or ".join(types)
    expect(resp.status_code == status,
           f"want {status} {wanted}, got {short(resp)}")
    ctype = resp.headers.get("Content-Type", "").split(";")[0].strip()
    expect(ctype == "application/problem+json",
           f"Content-Type {ctype!r}, want application/problem+json")
    try:
        doc = resp.json()
    except ValueError:
        raise Failure(f"problem body is not JSON: {resp.text[:100]!r}")
    expect(doc.get("type") in [PROBLEM + t for t in types],
           f"type {doc.get('type')!r}, want {wanted}")
    expect(doc.get("status") == status,
           f"problem status {doc.get('status')!r}, want {status}")
    return doc


def expect_status(resp, status, what):
    expect(resp.status_code == status, f"{what}: want {status}, got {short(resp)}")


def retry_after(resp, default=0.5):
    value = resp.headers.get("Retry-After", "")
    if value.isdigit():
        return max(0.1, min(float(value), 5.0))
    return default


def poll(acct, url, done):
    """POST-as-GET url until its status is in done (or invalid), <= 30 s."""
    deadline = time.time() + POLL_LIMIT
    while True:
        resp = post_as_get(acct, url)
        if resp.status_code != 200:
            return resp
        status = resp.json().get("status")
        if status in done or status == "invalid" or time.time() >= deadline:
            return resp
        time.sleep(min(retry_after(resp), max(0.1, deadline - time.time())))


# ------------------------------------------------------------------ crypto helpers

def make_csr(names):
    key = ec.generate_private_key(ec.SECP256R1())
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
    builder = builder.add_extension(
        x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
    csr = builder.sign(key, hashes.SHA256())
    return enc(csr.public_bytes(serialization.Encoding.DER))


def pem_blocks(text):
    return re.findall(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----",
                      text, re.S)


def openssl_verify(chain_pem):
    """Verify leaf (first block) with the rest as untrusted, against CA_FILE."""
    blocks = pem_blocks(chain_pem)
    with tempfile.TemporaryDirectory() as tmp:
        leaf = os.path.join(tmp, "leaf.pem")
        rest = os.path.join(tmp, "chain.pem")
        with open(leaf, "w") as f:
            f.write(blocks[0] + "\n")
        with open(rest, "w") as f:
            f.write("\n".join(blocks[1:]) + "\n")
        proc = subprocess.run(["openssl", "verify", "-CAfile", CTX["ca"],
                               "-untrusted", rest, leaf],
                              capture_output=True, text=True, timeout=20)
        return proc.returncode == 0, (proc.stdout + proc.stderr).strip()


# ------------------------------------------------------------------ http-01 responder

class ChallengeHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        prefix = "/.well-known/acme-challenge/"
        token = self.path[len(prefix):] if self.path.startswith(prefix) else None
        body = TOKENS.get(token)
        if body is None:
            self.send_response(404)
            self.end_headers()
            return
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, fmt, *args):
        STATE.setdefault("http01_requests", []).append(self.path)


def start_http01(port):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), ChallengeHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server


# ------------------------------------------------------------------ checks: discovery

def check_directory():
    resp = send("GET", CTX["url"])
    expect_status(resp, 200, "GET directory")
    expect(resp.headers.get("Content-Type", "").startswith("application/json"),
           f"Content-Type {resp.headers.get('Content-Type')!r}")
    doc = resp.json()
    for field in ("newNonce", "newAccount", "newOrder", "revokeCert", "meta"):
        expect(field in doc, f"directory lacks {field}: {sorted(doc)}")
    for field in ("newNonce", "newAccount", "newOrder", "revokeCert"):
        expect(str(doc[field]).startswith("https://"), f"{field} is {doc[field]!r}")
    expect(isinstance(doc["meta"], dict), "meta is not an object")
    CTX["directory"] = doc


def check_nonce(method, status):
    resp = send(method, directory("newNonce"))
    expect_status(resp, status, f"{method} newNonce")
    nonce = resp.headers.get("Replay-Nonce", "")
    expect(nonce, "no Replay-Nonce header")
    expect(re.fullmatch(r"[A-Za-z0-9_-]+", nonce), f"nonce {nonce!r} is not base64url")
    expect("no-store" in resp.headers.get("Cache-Control", ""),
           f"Cache-Control {resp.headers.get('Cache-Control')!r}, want no-store")
    expect(link_index_ok(resp), f"Link {resp.headers.get('Link')!r} lacks rel=index")


def link_index_ok(resp):
    for target, rel in re.findall(r'<([^>]*)>\s*;\s*rel="?([^",;]+)"?',
                                  resp.headers.get("Link", "")):
        if rel == "index" and target == CTX["url"]:
            return True
    return False


# ------------------------------------------------------------------ checks: accounts

def check_new_account_es256():
    acct = Account("ES256")
    resp = new_account(acct)
    expect_status(resp, 201, "newAccount")
    expect(resp.headers.get("Location"), "201 without Location")
    expect(resp.json().get("status") == "valid", f"account body {resp.text[:200]}")
    STATE["acct"] = acct


def check_new_account_again():
    acct = STATE.get("acct")
    expect(acct, "no account from the first newAccount")
    first = acct.kid
    resp = new_account(acct)
    expect_status(resp, 200, "newAccount with a known key")
    expect(resp.headers.get("Location") == first,
           f"Location {resp.headers.get('Location')!r}, want {first!r}")


def check_only_return_existing():
    acct = Account("ES256")
    resp = signed_post(acct, directory("newAccount"), {"onlyReturnExisting": True},
                       use_jwk=True)
    expect_problem(resp, 400, "accountDoesNotExist")


def check_new_account_rs256_acme_jws():
    """RS256 account, the JWS made by python3-acme's acme.jws."""
    acct = Account("RS256")
    url = directory("newAccount")
    payload = json.dumps({"termsOfServiceAgreed": True,
                          "contact": ["mailto:rsa@example.test"]}).encode()
    jws = acme_jws.JWS.sign(payload, key=acct.key, alg=jwa.RS256,
                            nonce=b64.b64decode(fresh_nonce()), url=url)
    resp = post_raw(url, jws.json_dumps())
    expect_status(resp, 201, "RS256 newAccount")
    expect(resp.headers.get("Location"), "201 without Location")
    acct.kid = resp.headers["Location"]
    resp = signed_post(acct, directory("newOrder"),
                       {"identifiers": [{"type": "dns", "value": "rsa.a.test"}]})
    expect_status(resp, 201, "newOrder signed RS256 with kid")


def check_new_account_es384():
    acct = Account("ES384")
    resp = new_account(acct)
    expect_status(resp, 201, "ES384 newAccount")
    resp = post_as_get(acct, acct.kid)
    expect_status(resp, 200, "POST-as-GET own account signed ES384")


def check_contact_update():
    acct = STATE.get("acct")
    expect(acct, "no account")
    resp = signed_post(acct, acct.kid, {"contact": ["mailto:new@example.test"]})
    expect_status(resp, 200, "account update")
    expect(resp.json().get("contact") == ["mailto:new@example.test"],
           f"contact now {resp.json().get('contact')!r}")
    resp = post_as_get(acct, acct.kid)
    expect_status(resp, 200, "POST-as-GET account")
    expect(resp.json().get("contact") == ["mailto:new@example.test"],
           f"stored contact {resp.json().get('contact')!r}")


def check_contact_tel():
    acct = STATE.get("acct")
    expect(acct, "no account")
    resp = signed_post(acct, acct.kid, {"contact": ["tel:123"]})
    expect_problem(resp, 400, ("unsupportedContact", "invalidContact"))


# ------------------------------------------------------------------ checks: nonces, url, kid/jwk

def check_replayed_nonce():
    acct = STATE.get("acct")
    expect(acct, "no account")
    nonce = fresh_nonce()
    first = signed_post(acct, acct.kid, None, nonce=nonce)
    expect_status(first, 200, "POST-as-GET account with a fresh nonce")
    resp = signed_post(acct, acct.kid, None, nonce=nonce)
    expect_problem(resp, 400, "badNonce")
    expect(resp.headers.get("Replay-Nonce"), "badNonce answer without Replay-Nonce")
    expect(resp.headers.get("Replay-Nonce") != nonce, "badNonce answer repeats the old nonce")
    # The fresh nonce from the error must work (clients retry with it).
    NONCES.clear()
    retry = signed_post(acct, acct.kid, None, nonce=resp.headers["Replay-Nonce"])
    expect_status(retry, 200, "retry with the nonce from the badNonce answer")


def check_made_up_nonce():
    acct = STATE.get("acct")
    expect(acct, "no account")
    resp = signed_post(acct, acct.kid, None, nonce=enc(os.urandom(16)))
    expect_problem(resp, 400, "badNonce")


def check_missing_nonce():
    acct = STATE.get("acct")
    expect(acct, "no account")
    resp = signed_post(acct, acct.kid, None, nonce=None)
    expect_problem(resp, 400, "badNonce")


def check_url_mismatch():
    acct = STATE.get("acct")
    expect(acct, "no account")
    body = make_jws(acct, directory("newOrder"), None)
    resp = post_raw(acct.kid, body)
    expect_problem(resp, 403, "unauthorized")


def check_unknown_kid():
    acct = STATE.get("acct")
    expect(acct, "no account")
    unknown = acct.kid.rsplit("/", 1)[0] + "/doesnotexist"
    resp = signed_post(acct, directory("newOrder"),
                       {"identifiers": [{"type": "dns", "value": "x.a.test"}]},
                       header={"kid": unknown})
    expect_problem(resp, 400, "accountDoesNotExist")


def check_jwk_and_kid():
    acct = STATE.get("acct")
    expect(acct, "no account")
    resp = signed_post(acct, acct.kid, None, header={"jwk": acct.public_jwk()})
    expect_problem(resp, 400, "malformed")


def check_neither_jwk_nor_kid():
    acct = STATE.get("acct")
    expect(acct, "no account")
    resp = signed_post(acct, acct.kid, None, header={"kid": None})
    expect_problem(resp, 400, "malformed")


def check_bad_alg(alg):
    acct = Account("ES256")
    body = make_jws(acct, directory("newAccount"), {"termsOfServiceAgreed": True},
                    use_jwk=True, header={"alg": alg})
    if alg == "none":   # an unsecured JWS has an empty signature
        doc = json.loads(body)
        doc["signature"] = ""
        body = json.dumps(doc)
    resp = post_raw(directory("newAccount"), body)
    doc = expect_problem(resp, 400, "badSignatureAlgorithm")
    algs = doc.get("algorithms")
    expect(isinstance(algs, list), f"no algorithms array: {doc}")
    expect("ES256" in algs and "RS256" in algs, f"algorithms {algs!r}")


# ------------------------------------------------------------------ checks: malformed requests

def check_body_not_json():
    resp = post_raw(directory("newAccount"), "this is { not json")
    expect_problem(resp, 400, "malformed")


def check_protected_not_base64url():
    acct = Account("ES256")
    url = directory("newAccount")
    prot = {"alg": "ES256", "nonce": fresh_nonce(), "url": url,
            "jwk": acct.public_jwk(), "pad": ""}
    # Standard base64 with padding: same bytes, wrong alphabet/padding.
    for _ in range(64):
        std = base64.b64encode(json.dumps(prot).encode()).decode()
        if "=" in std or "+" in std:
            break
        prot["pad"] += "x"
    expect("=" in std or "+" in std, "could not build a non-base64url header")
    body = make_jws(acct, url, {"termsOfServiceAgreed": True}, nonce=None,
                    protected_b64=std)
    resp = post_raw(url, body)
    expect_problem(resp, 400, "malformed")


def check_payload_not_base64url():
    acct = Account("ES256")
    url = directory("newAccount")
    body = make_jws(acct, url, None, use_jwk=True, payload_b64="e30*!not~base64")
    resp = post_raw(url, body)
    expect_problem(resp, 400, "malformed")


def check_signature_other_key():
    acct = Account("ES256")
    other = Account("ES256")
    url = directory("newAccount")
    body = make_jws(acct, url, {"termsOfServiceAgreed": True}, use_jwk=True, signer=other)
    resp = post_raw(url, body)
    expect(400 <= resp.status_code < 500, f"want 4xx, got {short(resp)}")
    expect_problem(resp, resp.status_code, ("malformed", "unauthorized"))
    # And nothing was created for that key.
    resp = signed_post(acct, url, {"onlyReturnExisting": True}, use_jwk=True)
    expect_problem(resp, 400, "accountDoesNotExist")


def check_content_type(content_type):
    acct = STATE.get("acct")
    expect(acct, "no account")
    resp = signed_post(acct, acct.kid, None, content_type=content_type)
    expect_problem(resp, 415, "malformed")


def check_body_too_large():
    acct = STATE.get("acct")
    expect(acct, "no account")
    big = {"contact": ["mailto:x@example.test"], "padding": "A" * (100 * 1024)}
    body = make_jws(acct, acct.kid, big)
    expect(len(body) > 100 * 1024, "request body is not large")
    try:
        resp = post_raw(acct.kid, body)
    except requests.RequestException as exc:
        raise Failure(f"connection failed instead of 413: {exc}")
    expect_problem(resp, 413, "malformed")


def check_alive_after_large_body():
    acct = STATE.get("acct")
    expect(acct, "no account")
    resp = post_as_get(acct, acct.kid)
    expect_status(resp, 200, "POST-as-GET account after the large body")


def check_get_not_allowed():
    acct = STATE.get("acct")
    expect(acct, "no account")
    for url in (directory("newOrder"), directory("newAccount"),
                directory("revokeCert"), acct.kid):
        resp = send("GET", url)
        expect(resp.status_code == 405, f"GET {url}: want 405, got {short(resp)}")
        expect(resp.headers.get("Allow"), f"GET {url}: 405 without Allow header")
        expect("POST" in resp.headers["Allow"], f"Allow {resp.headers['Allow']!r}")


# ------------------------------------------------------------------ checks: orders

def check_identifier_type_foo():
    acct = STATE.get("acct")
    expect(acct, "no account")
    resp = new_order(acct, [{"type": "foo", "value": "x.a.test"}])
    expect_problem(resp, 400, "unsupportedIdentifier")


def check_bad_dns_name(name):
    acct = STATE.get("acct")
    expect(acct, "no account")
    resp = new_order(acct, [{"type": "dns", "value": name}])
    expect_problem(resp, 400, "rejectedIdentifier")


def check_identifier_nul():
    """An escaped NUL must not cut the name: "x\\u0000.evil" is malformed,
    never an order for "x"."""
    acct = STATE.get("acct")
    expect(acct, "no account")
    resp = new_order(acct, [{"type": "dns", "value": "nul\u0000.evil.a.test"}])
    expect_problem(resp, 400, "malformed")


def check_url_too_long():
    """A URL longer than the server compares is refused whole (414), not cut
    and then compared with the JWS url."""
    acct = STATE.get("acct")
    expect(acct, "no account")
    url = directory("newOrder") + "?" + "a" * 600
    resp = signed_post(acct, url, {"identifiers": [{"type": "dns", "value": "x.a.test"}]})
    expect_problem(resp, 414, "malformed")


def check_finalize_pending():
    acct = STATE.get("acct")
    expect(acct, "no account")
    resp = new_order(acct, [{"type": "dns", "value": "pending.a.test"}])
    expect_status(resp, 201, "newOrder")
    order = resp.json()
    STATE["pending_order"] = resp.headers.get("Location")
    expect(order.get("status") == "pending", f"order status {order.get('status')!r}")
    resp = signed_post(acct, order["finalize"], {"csr": make_csr(["pending.a.test"])})
    expect_problem(resp, 403, "orderNotReady")


def check_other_accounts_order():
    owner_order = STATE.get("pending_order")
    expect(owner_order, "no order from the finalize-on-pending check")
    stranger = registered("ES256")
    resp = post_as_get(stranger, owner_order)
    expect_problem(resp, 403, "unauthorized")


def check_challenge_post_refused():
    """POST {} to a challenge that is another account's, that does not
    exist, or whose authorization does not exist: 403 / 404, and the
    owner's challenge is still pending (the refusals start nothing)."""
    owner = STATE.get("acct")
    order_url = STATE.get("pending_order")
    expect(owner and order_url, "no pending order from the finalize check")
    resp = post_as_get(owner, order_url)
    expect_status(resp, 200, "POST-as-GET of the pending order")
    authz_url = resp.json()["authorizations"][0]
    resp = post_as_get(owner, authz_url)
    expect_status(resp, 200, "POST-as-GET of its authorization")
    chall = [c for c in resp.json()["challenges"] if c.get("type") == "http-01"]
    expect(chall, "no http-01 challenge")
    url = chall[0]["url"]
    stranger = registered("ES256")
    resp = signed_post(stranger, url, {})
    expect_problem(resp, 403, "unauthorized")
    base, authz_id, _index = url.rsplit("/", 2)
    resp = signed_post(owner, f"{base}/{authz_id}/9", {})
    expect_problem(resp, 404, "malformed")
    other_id = authz_id[:-1] + ("A" if authz_id[-1] != "A" else "B")
    resp = signed_post(owner, f"{base}/{other_id}/0", {})
    expect_problem(resp, 404, "malformed")
    resp = post_as_get(owner, authz_url)
    expect_status(resp, 200, "POST-as-GET of the authorization again")
    status = [c.get("status") for c in resp.json()["challenges"] if c.get("url") == url]
    expect(status == ["pending"], f"challenge after the refusals: {status!r}")


# ------------------------------------------------------------------ checks: full issuance flow

FLOW_NAME = "wire.a.test"


def need(key):
    value = STATE.get(key)
    expect(value, f"an earlier step failed (no {key})")
    return value


def flow_new_order():
    acct = need("acct")
    resp = new_order(acct, [{"type": "dns", "value": FLOW_NAME}])
    expect_status(resp, 201, "newOrder")
    expect(resp.headers.get("Location"), "201 without Location")
    order = resp.json()
    expect(order.get("status") == "pending", f"status {order.get('status')!r}")
    expect(order.get("identifiers") == [{"type": "dns", "value": FLOW_NAME}],
           f"identifiers {order.get('identifiers')!r}")
    expect(len(order.get("authorizations", [])) == 1, f"authorizations {order.get('authorizations')!r}")
    expect(order.get("finalize"), "no finalize URL")
    STATE["flow_order_url"] = resp.headers["Location"]
    STATE["flow_order"] = order


def flow_authz():
    acct, order = need("acct"), need("flow_order")
    resp = post_as_get(acct, order["authorizations"][0])
    expect_status(resp, 200, "POST-as-GET authorization")
    authz = resp.json()
    expect(authz.get("status") == "pending", f"authz status {authz.get('status')!r}")
    expect(authz.get("identifier") == {"type": "dns", "value": FLOW_NAME},
           f"identifier {authz.get('identifier')!r}")
    chall = [c for c in authz.get("challenges", []) if c.get("type") == "http-01"]
    expect(chall, f"no http-01 challenge in {authz.get('challenges')!r}")
    expect(re.fullmatch(r"[A-Za-z0-9_-]{22,}", chall[0].get("token", "")),
           f"token {chall[0].get('token')!r}")
    STATE["flow_authz_url"] = order["authorizations"][0]
    STATE["flow_chall"] = chall[0]


def flow_challenge():
    acct, chall = need("acct"), need("flow_chall")
    TOKENS[chall["token"]] = acct.key_authorization(chall["token"])
    resp = signed_post(acct, chall["url"], {})
    expect_status(resp, 200, "POST {} to the challenge")
    expect(resp.json().get("status") in ("pending", "processing", "valid"),
           f"challenge status {resp.json().get('status')!r}")
    resp = poll(acct, STATE["flow_authz_url"], ("valid",))
    expect_status(resp, 200, "poll authorization")
    expect(resp.json().get("status") == "valid",
           f"authorization ended {resp.json().get('status')!r}: {resp.text[:300]}")


def flow_order_ready():
    acct, url = need("acct"), need("flow_order_url")
    resp = poll(acct, url, ("ready",))
    expect_status(resp, 200, "poll order")
    expect(resp.json().get("status") == "ready", f"order status {resp.json().get('status')!r}")
    STATE["flow_ready"] = True


def flow_finalize_wrong_names():
    acct, order = need("acct"), need("flow_order")
    need("flow_ready")
    resp = signed_post(acct, order["finalize"],
                       {"csr": make_csr([FLOW_NAME, "extra.a.test"])})
    expect_problem(resp, 400, "badCSR")


def flow_finalize_garbage():
    acct, order = need("acct"), need("flow_order")
    need("flow_ready")
    resp = signed_post(acct, order["finalize"], {"csr": enc(os.urandom(200))})
    expect_problem(resp, 400, "badCSR")


def flow_finalize():
    acct, order = need("acct"), need("flow_order")
    need("flow_ready")
    resp = signed_post(acct, order["finalize"], {"csr": make_csr([FLOW_NAME])})
    expect_status(resp, 200, "finalize")
    expect(resp.json().get("status") in ("processing", "valid"),
           f"order status after finalize {resp.json().get('status')!r}")
    STATE["flow_finalized"] = True


def flow_order_valid():
    acct, url = need("acct"), need("flow_order_url")
    need("flow_finalized")
    resp = poll(acct, url, ("valid",))
    expect_status(resp, 200, "poll order")
    expect(resp.json().get("status") == "valid",
           f"order ended {resp.json().get('status')!r}: {resp.text[:300]}")
    expect(resp.json().get("certificate"), "valid order without certificate URL")
    STATE["flow_cert_url"] = resp.json()["certificate"]


def flow_download():
    acct, url = need("acct"), need("flow_cert_url")
    resp = post_as_get(acct, url)
    expect_status(resp, 200, "POST-as-GET certificate")
    ctype = resp.headers.get("Content-Type", "").split(";")[0].strip()
    expect(ctype == "application/pem-certificate-chain", f"Content-Type {ctype!r}")
    blocks = pem_blocks(resp.text)
    expect(len(blocks) == 2, f"{len(blocks)} PEM blocks, want leaf + intermediate")
    good, out = openssl_verify(resp.text)
    expect(good, f"openssl verify: {out}")
    leaf = x509.load_pem_x509_certificate(blocks[0].encode())
    sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    expect(sans.value.get_values_for_type(x509.DNSName) == [FLOW_NAME],
           f"SANs {sans.value.get_values_for_type(x509.DNSName)!r}")
    STATE["flow_cert_der"] = leaf.public_bytes(serialization.Encoding.DER)


# ------------------------------------------------------------------ checks: revocation

def revoke(acct, der, reason=None):
    payload = {"certificate": enc(der)}
    if reason is not None:
        payload["reason"] = reason
    return signed_post(acct, directory("revokeCert"), payload)


def check_revoke_bad_reason():
    acct, der = need("acct"), need("flow_cert_der")
    resp = revoke(acct, der, reason=7)
    expect_problem(resp, 400, "badRevocationReason")


def check_revoke():
    acct, der = need("acct"), need("flow_cert_der")
    resp = revoke(acct, der, reason=4)
    expect_status(resp, 200, "revokeCert")
    STATE["revoked"] = True


def check_revoke_again():
    acct, der = need("acct"), need("flow_cert_der")
    need("revoked")
    resp = revoke(acct, der)
    expect_problem(resp, 400, "alreadyRevoked")


# ------------------------------------------------------------------ checks: headers on everything

def check_headers_everywhere():
    """Every POST and newNonce answer (errors too) has Replay-Nonce; every
    answer except the directory itself has Link rel=index to the directory."""
    missing_nonce, missing_link = [], []
    for method, url, resp in SEEN:
        where = f"{method} {url.split('//', 1)[-1].split('/', 1)[-1]} -> {resp.status_code}"
        wants_nonce = method in ("POST", "HEAD") or url == directory("newNonce")
        if wants_nonce and not resp.headers.get("Replay-Nonce"):
            missing_nonce.append(where)
        if url != CTX["url"] and not link_index_ok(resp):
            missing_link.append(where)
    expect(len(SEEN) > 20, f"only {len(SEEN)} responses seen")
    expect(not missing_nonce,
           f"{len(missing_nonce)} without Replay-Nonce, e.g. {sorted(set(missing_nonce))[:4]}")
    expect(not missing_link,
           f"{len(missing_link)} without Link rel=index, e.g. {sorted(set(missing_link))[:4]}")


# ------------------------------------------------------------------ main

CHECKS = [
    ("directory", check_directory),
    ("new_nonce_head_200", lambda: check_nonce("HEAD", 200)),
    ("new_nonce_get_204", lambda: check_nonce("GET", 204)),
    ("new_account_es256_201", check_new_account_es256),
    ("new_account_same_key_200_same_location", check_new_account_again),
    ("only_return_existing_unknown_key", check_only_return_existing),
    ("new_account_rs256_via_acme_jws", check_new_account_rs256_acme_jws),
    ("new_account_es384", check_new_account_es384),
    ("replayed_nonce_bad_nonce_with_fresh_nonce", check_replayed_nonce),
    ("made_up_nonce_bad_nonce", check_made_up_nonce),
    ("missing_nonce_bad_nonce", check_missing_nonce),
    ("url_mismatch_unauthorized", check_url_mismatch),
    ("unknown_kid_account_does_not_exist", check_unknown_kid),
    ("jwk_and_kid_malformed", check_jwk_and_kid),
    ("neither_jwk_nor_kid_malformed", check_neither_jwk_nor_kid),
    ("alg_hs256_bad_signature_algorithm", lambda: check_bad_alg("HS256")),
    ("alg_none_bad_signature_algorithm", lambda: check_bad_alg("none")),
    ("body_not_json_malformed", check_body_not_json),
    ("protected_not_base64url_malformed", check_protected_not_base64url),
    ("payload_not_base64url_malformed", check_payload_not_base64url),
    ("signature_by_other_key_rejected", check_signature_other_key),
    ("content_type_text_plain_415", lambda: check_content_type("text/plain")),
    ("content_type_missing_415", lambda: check_content_type(None)),
    ("body_over_64k_413", check_body_too_large),
    ("server_answers_after_large_body", check_alive_after_large_body),
    ("get_on_post_only_resources_405_allow", check_get_not_allowed),
    ("identifier_type_foo_unsupported", check_identifier_type_foo),
    ("dns_name_leading_hyphen_rejected", lambda: check_bad_dns_name("-bad-.a.test")),
    ("dns_name_empty_label_rejected", lambda: check_bad_dns_name("a..test")),
    ("dns_name_trailing_dot_rejected", lambda: check_bad_dns_name("x.a.test.")),
    ("identifier_escaped_nul_malformed", check_identifier_nul),
    ("url_over_512_bytes_414", check_url_too_long),
    ("finalize_pending_order_not_ready", check_finalize_pending),
    ("order_of_other_account_unauthorized", check_other_accounts_order),
    ("challenge_post_other_account_or_missing_refused", check_challenge_post_refused),
    ("flow_new_order", flow_new_order),
    ("flow_authz_post_as_get", flow_authz),
    ("flow_http01_challenge_valid", flow_challenge),
    ("flow_order_ready", flow_order_ready),
    ("flow_finalize_wrong_names_bad_csr", flow_finalize_wrong_names),
    ("flow_finalize_garbage_csr_bad_csr", flow_finalize_garbage),
    ("flow_finalize", flow_finalize),
    ("flow_order_valid", flow_order_valid),
    ("flow_certificate_download_verifies", flow_download),
    ("account_contact_update", check_contact_update),
    ("account_contact_tel_rejected", check_contact_tel),
    ("revoke_reason_7_bad_revocation_reason", check_revoke_bad_reason),
    ("revoke_with_account_key", check_revoke),
    ("revoke_again_already_revoked", check_revoke_again),
    ("replay_nonce_and_link_on_every_response", check_headers_everywhere),
]


def no_directory():
    raise Failure("the directory could not be read")


def main():
    if len(sys.argv) != 4:
        sys.exit("usage: wire_test.py DIRECTORY_URL CA_FILE HTTP01_PORT")
    CTX["url"], CTX["ca"], port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    session = requests.Session()
    session.verify = CTX["ca"]
    session.trust_env = False       # no proxies or CA bundles from the environment
    session.headers["User-Agent"] = "acmeproxy-wire-test"
    CTX["session"] = session
    server = start_http01(port)
    try:
        for name, func in CHECKS:
            if name != "directory" and "directory" not in CTX:
                run_check(name, no_directory)
                continue
            run_check(name, func)
    finally:
        server.shutdown()
        server.server_close()
    print(f"wire: {COUNTS['passed']} passed, {COUNTS['failed']} failed", flush=True)
    sys.exit(0 if COUNTS["failed"] == 0 and COUNTS["passed"] > 0 else 1)


if __name__ == "__main__":
    main()
