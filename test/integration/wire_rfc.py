#!/usr/bin/python3
"""RFC 8555 beyond issuance, RFC 9773 and ACME profiles, on the wire.

Usage: /usr/bin/python3 wire_rfc.py DIRECTORY_URL CA_FILE HTTP01_PORT DATA_DIR

Reuses wire_test.py's request building (josepy keys, hand-made JWS). The
server must be configured as protocol.sh does: orders_per_page = 2, profiles
"tlsserver" (default, 90 days) and "shortlived" (7 days), an explanation URL.
Every refused request is also checked to have left the store unchanged: the
LMDB environment in DATA_DIR/db is dumped (mdb_dump) before and after.
Prints "ok - name" / "not ok - name: reason" and "rfc: N passed, N failed".
"""
import datetime
import hashlib
import json
import os
import subprocess
import sys
import time

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from acme import crypto_util
from josepy import jwa, jwk

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wire_test as w  # noqa: E402  (shares its CTX, nonce pool, responder)
from wire_test import Failure, expect, expect_problem, expect_status  # noqa: E402

PROFILES = {"tlsserver": "TLS server certificates, 90 days",
            "shortlived": "Short-lived TLS server certificates, 7 days"}
EXPLANATION = "https://pki.example.test/renewals"
STATE = {}
COUNTER = [0]


def fresh_name(prefix="r"):
    COUNTER[0] += 1
    return f"{prefix}{COUNTER[0]}-{os.getpid()}.a.test"


def dns(*names):
    return [{"type": "dns", "value": n} for n in names]


# ------------------------------------------------------------------ store snapshots

def raw_dump():
    proc = subprocess.run(["mdb_dump", "-a", "-p", os.path.join(STATE["data"], "db")],
                          capture_output=True, text=True, timeout=30)
    expect(proc.returncode == 0, f"mdb_dump failed: {proc.stderr[:200]}")
    return proc.stdout


def outbox_pending(dump):
    """True when the audit outbox (database "audit") holds events: the
    proxy writes them to the file and deletes them after the commit."""
    section = dump.split("database=audit\n", 1)
    if len(section) < 2:
        return False
    body = section[1].split("HEADER=END\n", 1)[-1]
    return not body.startswith("DATA=END")


def store_dump():
    """A settled dump: what earlier requests left running in the background
    (the audit outbox being drained after their commit) is waited out, for
    up to 5 s, so only the request under test can change the store."""
    deadline = time.time() + 5
    last = None
    while True:
        cur = raw_dump()
        if (cur == last and not outbox_pending(cur)) or time.time() > deadline:
            return cur
        last = cur
        time.sleep(0.05)


def refused_unchanged(request, status, types):
    """request() must be refused with the problem and change nothing stored."""
    before = store_dump()
    resp = request()
    doc = expect_problem(resp, status, types)
    expect(resp.headers.get("Replay-Nonce"), "problem without Replay-Nonce")
    after = store_dump()
    expect(before == after, "the refused request changed the store")
    return resp, doc


def stored_record(table, key):
    """The JSON record key of an LMDB table, read with mdb_dump -p."""
    proc = subprocess.run(["mdb_dump", "-p", "-s", table,
                           os.path.join(STATE["data"], "db")],
                          capture_output=True, text=True, timeout=30)
    lines = proc.stdout.splitlines()
    for i, line in enumerate(lines):
        if line.strip() == key and i + 1 < len(lines):
            raw = lines[i + 1].strip()
            return json.loads(raw.encode().decode("unicode_escape"))
    raise Failure(f"no record {key} in {table}")


# ------------------------------------------------------------------ helpers

class KeyAccount(w.Account):
    """An Account around an existing private key (certificate keys)."""

    def __init__(self, private_key):
        self.kind = "key"
        if isinstance(private_key, ec.EllipticCurvePrivateKey):
            self.key = jwk.JWKEC(key=private_key)
            self.alg = {256: jwa.ES256, 384: jwa.ES384, 521: jwa.ES512}[
                private_key.curve.key_size]
        else:
            self.key = jwk.JWKRSA(key=private_key)
            self.alg = jwa.RS256
        self.kid = None


def account(kind="ES256"):
    acct = w.Account(kind) if kind in ("ES256", "ES384", "RS256") else kind
    resp = w.new_account(acct)
    expect(resp.status_code == 201 and acct.kid, f"newAccount: {w.short(resp)}")
    return acct


def csr_for(names, key=None, cn=None, extensions=()):
    """base64url DER CSR for names (CN = cn or the first name), and its key.
    extensions: (ExtensionType, critical) pairs to request besides the SAN."""
    key = key or ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn or names[0])])
    builder = (x509.CertificateSigningRequestBuilder().subject_name(subject)
               .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]),
                              critical=False))
    for ext, critical in extensions:
        builder = builder.add_extension(ext, critical=critical)
    csr = builder.sign(key, hashes.SHA256())
    return w.enc(csr.public_bytes(serialization.Encoding.DER)), key


def validate_all(acct, order):
    for authz_url in order["authorizations"]:
        resp = w.post_as_get(acct, authz_url)
        expect_status(resp, 200, "authorization")
        authz = resp.json()
        if authz["status"] == "valid":
            continue
        chall = [c for c in authz["challenges"] if c["type"] == "http-01"][0]
        w.TOKENS[chall["token"]] = acct.key_authorization(chall["token"])
        expect_status(w.signed_post(acct, chall["url"], {}), 200, "challenge")
        resp = w.poll(acct, authz_url, ("valid",))
        expect(resp.json().get("status") == "valid", f"authz ended {resp.text[:200]}")


def issue(acct, names, csr=None, **order_fields):
    """A complete issuance; returns dict with order/cert URLs, DER, chain, key.
    csr: (base64url DER, key) to send instead of a fresh csr_for(names)."""
    payload = {"identifiers": dns(*names)}
    payload.update(order_fields)
    resp = w.signed_post(acct, w.directory("newOrder"), payload)
    expect_status(resp, 201, "newOrder")
    order, order_url = resp.json(), resp.headers["Location"]
    validate_all(acct, order)
    resp = w.poll(acct, order_url, ("ready",))
    expect(resp.json().get("status") == "ready", f"order not ready: {resp.text[:200]}")
    csr, key = csr or csr_for(names)
    expect_status(w.signed_post(acct, order["finalize"], {"csr": csr}), 200, "finalize")
    resp = w.poll(acct, order_url, ("valid",))
    final = resp.json()
    expect(final.get("status") == "valid", f"order ended {resp.text[:200]}")
    resp = w.post_as_get(acct, final["certificate"])
    expect_status(resp, 200, "certificate")
    blocks = w.pem_blocks(resp.text)
    leaf = x509.load_pem_x509_certificate(blocks[0].encode())
    return {"order_url": order_url, "order": final, "cert_url": final["certificate"],
            "chain": resp.text, "leaf": leaf, "key": key, "resp": resp,
            "der": leaf.public_bytes(serialization.Encoding.DER)}


def cert_id(leaf):
    """RFC 9773 §4.1: base64url(AKI keyIdentifier) "." base64url(serial)."""
    aki = leaf.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier)
    serial = leaf.serial_number
    octets = serial.to_bytes((serial.bit_length() + 8) // 8, "big")  # DER INTEGER content
    return w.enc(aki.value.key_identifier) + "." + w.enc(octets)


def renewal_info(certid):
    return w.send("GET", w.directory("renewalInfo") + "/" + certid)


def need(key):
    value = STATE.get(key)
    expect(value, f"an earlier step failed (no {key})")
    return value


def key_change_body(acct, new, account_url=None, old_jwk=None, inner_nonce=None,
                    inner_url=None, inner_signer=None):
    url = w.directory("keyChange")
    inner_payload = {"account": account_url or acct.kid,
                     "oldKey": old_jwk or acct.public_jwk()}
    header = {"nonce": inner_nonce} if inner_nonce else {}
    if inner_url:
        header["url"] = inner_url
    inner = w.make_jws(new, url, inner_payload, nonce=None, use_jwk=True,
                       header=header, signer=inner_signer)
    return json.loads(inner)


def key_change(acct, new, **kw):
    return w.signed_post(acct, w.directory("keyChange"), key_change_body(acct, new, **kw))


# ------------------------------------------------------------------ directory

def check_directory_fields():
    d = w.CTX["directory"]
    for field in ("keyChange", "renewalInfo", "newNonce", "newAccount", "newOrder",
                  "revokeCert"):
        expect(d.get(field, "").startswith("https://"), f"directory lacks {field}: {d}")
    expect(d.get("meta", {}).get("profiles") == PROFILES,
           f"meta.profiles {d.get('meta', {}).get('profiles')!r}")


def check_algorithms():
    for kind in ("PS256", "ES512"):
        acct = w.Account("ES256")
        if kind == "PS256":
            acct.key = jwk.JWKRSA(key=rsa.generate_private_key(65537, 2048))
            acct.alg = jwa.PS256
        else:
            acct.key = jwk.JWKEC(key=ec.generate_private_key(ec.SECP521R1()))
            acct.alg = jwa.ES512
        resp = w.new_account(acct)
        expect(resp.status_code == 201, f"{kind} account: {w.short(resp)}")
        expect_status(w.post_as_get(acct, acct.kid), 200, f"{kind} POST-as-GET")


def check_eddsa_refused():
    acct = w.Account("ES256")
    body = w.make_jws(acct, w.directory("newAccount"), {"termsOfServiceAgreed": True},
                      use_jwk=True, header={"alg": "EdDSA"})
    resp, doc = refused_unchanged(lambda: w.post_raw(w.directory("newAccount"), body),
                                  400, "badSignatureAlgorithm")
    expect("ES256" in doc.get("algorithms", []) and "PS256" in doc["algorithms"],
           f"algorithms {doc.get('algorithms')!r}")


# ------------------------------------------------------------------ key rollover

def check_key_change():
    acct = account()
    old = w.Account("ES256")
    old.key, old.alg, old.kid = acct.key, acct.alg, acct.kid
    new = w.Account("RS256")
    resp = key_change(acct, new)
    expect_status(resp, 200, "keyChange")
    # The account now answers to the new key and not to the old one.
    new.kid = acct.kid
    expect_status(w.post_as_get(new, new.kid), 200, "POST-as-GET with the new key")
    resp = w.post_as_get(old, old.kid)
    expect(resp.status_code in (400, 403), f"old key still accepted: {w.short(resp)}")
    probe = w.Account("RS256")
    probe.key, probe.alg = new.key, new.alg
    resp = w.new_account(probe, onlyReturnExisting=True)
    expect(resp.status_code == 200 and resp.headers.get("Location") == acct.kid,
           f"onlyReturnExisting with the new key: {w.short(resp)}")
    STATE["rolled"] = new


def check_key_change_negatives():
    acct = account()
    other = account()
    new = w.Account("ES256")
    url = w.directory("keyChange")
    cases = [
        ("inner nonce", dict(inner_nonce=w.fresh_nonce()), 400, "malformed"),
        ("inner url", dict(inner_url=url + "x"), 400, "malformed"),
        ("inner account", dict(account_url=other.kid), 400, "malformed"),
        ("oldKey", dict(old_jwk=w.Account("ES256").public_jwk()), 403, "unauthorized"),
        ("inner signer", dict(inner_signer=w.Account("ES256")), 400, "malformed"),
    ]
    for label, kw, status, ptype in cases:
        try:
            refused_unchanged(lambda: key_change(acct, new, **kw), status, ptype)
        except Failure as exc:
            raise Failure(f"{label}: {exc}")
    # The new key is another account's: 409 with that account's Location.
    taken = w.Account("ES256")
    taken.key, taken.alg = other.key, other.alg
    resp, _ = refused_unchanged(lambda: key_change(acct, taken), 409, "malformed")
    expect(resp.headers.get("Location") == other.kid,
           f"409 Location {resp.headers.get('Location')!r}, want {other.kid}")


# ------------------------------------------------------------------ deactivation

def check_account_deactivation():
    acct = account()
    resp = w.new_order(acct, dns(fresh_name("deact")))
    expect_status(resp, 201, "newOrder")
    order, order_url = resp.json(), resp.headers["Location"]
    authz_id = order["authorizations"][0].rsplit("/", 1)[1]
    order_id = order_url.rsplit("/", 1)[1]
    resp = w.signed_post(acct, acct.kid, {"status": "deactivated"})
    expect_status(resp, 200, "deactivate")
    expect(resp.json().get("status") == "deactivated", f"status {resp.text[:200]}")
    resp = w.post_as_get(acct, acct.kid)
    expect_problem(resp, 403, "unauthorized")
    resp = w.new_order(acct, dns(fresh_name("deact")))
    expect_problem(resp, 403, "unauthorized")
    # the compact stored form (version 3, proxy/rec_authz.c): "s" is the
    # status's letter
    expect(stored_record("authzs", authz_id).get("s") == "d",
           "the pending authorization was not deactivated")
    expect(stored_record("orders", order_id).get("status") == "invalid",
           "the pending order was not cancelled")


def check_account_status_refused():
    acct = account()
    refused_unchanged(lambda: w.signed_post(acct, acct.kid, {"status": "revoked"}),
                      400, "malformed")


def check_authz_deactivation():
    acct = account()
    resp = w.new_order(acct, dns(fresh_name("authzd")))
    order, order_url = resp.json(), resp.headers["Location"]
    authz_url = order["authorizations"][0]
    refused_unchanged(lambda: w.signed_post(acct, authz_url, {"status": "valid"}),
                      400, "malformed")
    resp = w.signed_post(acct, authz_url, {"status": "deactivated"})
    expect_status(resp, 200, "deactivate authz")
    expect(resp.json().get("status") == "deactivated", resp.text[:200])
    resp = w.post_as_get(acct, order_url)
    expect(resp.json().get("status") == "invalid", f"order {resp.text[:200]}")
    refused_unchanged(lambda: w.signed_post(acct, authz_url, {"status": "deactivated"}),
                      400, "malformed")


# ------------------------------------------------------------------ orders list

def link(resp, rel):
    """The URL of the Link header with rel, or None."""
    for value in resp.raw.headers.getlist("Link"):
        if f'rel="{rel}"' in value:
            return value.split(">")[0].strip().lstrip("<")
    return None


def list_orders(acct, orders_url):
    """Every URL of the paginated list, and the number of pages."""
    seen, page_url, pages = [], orders_url, 0
    while page_url and pages < 10:
        resp = w.post_as_get(acct, page_url)
        expect_status(resp, 200, "orders page")
        seen += resp.json()["orders"]
        pages += 1
        page_url = link(resp, "next")
    return seen, pages


def check_orders_list():
    acct = account()
    urls = []
    for _ in range(3):
        resp = w.new_order(acct, dns(fresh_name("list")))
        expect_status(resp, 201, "newOrder")
        urls.append(resp.headers["Location"])
    orders_url = w.post_as_get(acct, acct.kid).json()["orders"]
    seen, pages = list_orders(acct, orders_url)
    expect(pages == 2, f"{pages} pages for 3 orders at 2 per page")
    expect(sorted(seen) == sorted(urls), f"listed {seen}, created {urls}")
    # An invalid order is not listed.
    first = w.post_as_get(acct, urls[0]).json()
    w.signed_post(acct, first["authorizations"][0], {"status": "deactivated"})
    seen, _ = list_orders(acct, orders_url)
    expect(sorted(seen) == sorted(urls[1:]), f"listed {seen} after invalidating one")
    STATE["orders_acct"] = acct


def check_orders_list_negatives():
    acct = need("orders_acct")
    other = account()
    orders_url = w.post_as_get(acct, acct.kid).json()["orders"]
    refused_unchanged(lambda: w.post_as_get(other, orders_url), 403, "unauthorized")
    refused_unchanged(lambda: w.post_as_get(acct, orders_url + "?cursor=%25%27"),
                      400, "malformed")
    refused_unchanged(lambda: w.send("GET", orders_url), 405, "malformed")


# ------------------------------------------------------------------ identifiers

def check_identifier_dedup():
    acct = account()
    name = fresh_name("dup")
    resp = w.new_order(acct, dns(name.upper(), name))
    expect_status(resp, 201, "newOrder")
    expect(resp.json()["identifiers"] == dns(name), f"identifiers {resp.json()['identifiers']}")
    # A trailing dot is refused, never rewritten into the name without it.
    _, doc = refused_unchanged(lambda: w.new_order(acct, dns(name, name + ".")),
                               400, "rejectedIdentifier")
    subs = doc.get("subproblems", [])
    expect([s["identifier"]["value"] for s in subs] == [name + "."], f"subproblems {subs}")


def check_rejected_subproblems():
    acct = account()
    resp, doc = refused_unchanged(
        lambda: w.new_order(acct, dns("ok.a.test", "-x.a.test", "a..a.test")),
        400, "rejectedIdentifier")
    subs = doc.get("subproblems", [])
    expect(len(subs) == 2, f"subproblems {subs}")
    expect({s["identifier"]["value"] for s in subs} == {"-x.a.test", "a..a.test"},
           f"subproblem identifiers {subs}")
    expect(all(s["type"] == w.PROBLEM + "rejectedIdentifier" for s in subs), f"{subs}")


def check_unsupported_identifier():
    acct = account()
    refused_unchanged(lambda: w.new_order(acct, [{"type": "email", "value": "a@a.test"}]),
                      400, "unsupportedIdentifier")


# ------------------------------------------------------------------ finalize rules

def check_finalize_rules():
    acct = account()
    name = fresh_name("fin")
    resp = w.new_order(acct, dns(name))
    order, order_url = resp.json(), resp.headers["Location"]
    validate_all(acct, order)
    w.poll(acct, order_url, ("ready",))
    weak = rsa.generate_private_key(65537, 1024)
    p521 = ec.generate_private_key(ec.SECP521R1())
    # RFC 8555 §7.4: a CSR the CA will not sign is badCSR, whatever the
    # reason; badPublicKey (§6.7) is for the key that signed the JWS.
    cases = [
        ("rsa1024", csr_for([name], key=weak)[0], "badCSR", "bits"),
        ("p521", csr_for([name], key=p521)[0], "badCSR", "curve"),
        ("cn not a san", csr_for([name], cn="other.a.test")[0], "badCSR", None),
        ("not base64url", "a+b/c=", "badCSR", None),
        # The account key as the certificate key (Boulder refuses it too).
        ("account key", csr_for([name], key=acct.key.key._wrapped)[0], "badCSR",
         "account key"),
    ]
    failures = []
    for label, csr, ptype, detail in cases:
        try:
            _, doc = refused_unchanged(
                lambda: w.signed_post(acct, order["finalize"], {"csr": csr}), 400, ptype)
            expect(detail is None or detail in doc.get("detail", ""),
                   f"detail {doc.get('detail')!r} lacks {detail!r}")
        except Failure as exc:
            failures.append(f"{label}: {str(exc)[:160]}")
        if w.poll(acct, order_url, ("ready",)).json().get("status") != "ready":
            break  # a wrongly accepted CSR used the order up
    expect(not failures, "; ".join(failures))


def check_csr_extensions():
    """Extensions a PKI could honour are refused by name (common/csr.h);
    the order stays ready for a good CSR."""
    acct = account()
    name = fresh_name("ext")
    resp = w.new_order(acct, dns(name))
    order, order_url = resp.json(), resp.headers["Location"]
    validate_all(acct, order)
    w.poll(acct, order_url, ("ready",))
    cases = [
        ("sub-CA", (x509.BasicConstraints(ca=True, path_length=None), True),
         "basicConstraints"),
        ("keyCertSign", (x509.KeyUsage(True, False, False, False, False, True, False,
                                       False, False), True), "keyCertSign"),
        ("codeSigning", (x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.CODE_SIGNING]),
                         False), "codeSigning"),
        ("certificatePolicies",
         (x509.CertificatePolicies([x509.PolicyInformation(
             x509.ObjectIdentifier("1.2.3.4"), None)]), False), "certificatePolicies"),
    ]
    failures = []
    for label, ext, named in cases:
        try:
            _, doc = refused_unchanged(
                lambda: w.signed_post(acct, order["finalize"],
                                      {"csr": csr_for([name], extensions=[ext])[0]}),
                400, "badCSR")
            expect(named in doc.get("detail", ""),
                   f"detail {doc.get('detail')!r} does not name {named}")
        except Failure as exc:
            failures.append(f"{label}: {str(exc)[:160]}")
        if w.poll(acct, order_url, ("ready",)).json().get("status") != "ready":
            failures.append(f"{label}: the order left ready")
            break  # a wrongly accepted CSR used the order up
    expect(not failures, "; ".join(failures))
    # Allowed ones: a TLS server certificate's usual set.
    ok = csr_for([name], extensions=[
        (x509.BasicConstraints(ca=False, path_length=None), True),
        (x509.KeyUsage(True, False, False, False, True, False, False, False, False), True),
        (x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), False)])[0]
    expect_status(w.signed_post(acct, order["finalize"], {"csr": ok}), 200, "finalize")
    resp = w.poll(acct, order_url, ("valid",))
    expect(resp.json().get("status") == "valid", f"order ended {resp.text[:200]}")


def check_must_staple_python_acme():
    """python3-acme's own CSR with must-staple (certbot --must-staple)."""
    acct = account()
    name = fresh_name("staple")
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    csr = x509.load_pem_x509_csr(crypto_util.make_csr(pem, [name], must_staple=True))
    issue(acct, [name], csr=(w.enc(csr.public_bytes(serialization.Encoding.DER)), key))


def check_not_after():
    acct = account()
    name = fresh_name("na")
    too_late = (datetime.datetime.now(datetime.timezone.utc)
                + datetime.timedelta(days=400)).strftime("%Y-%m-%dT%H:%M:%SZ")
    refused_unchanged(lambda: w.signed_post(acct, w.directory("newOrder"),
                                            {"identifiers": dns(name), "notAfter": too_late}),
                      400, "malformed")
    refused_unchanged(lambda: w.signed_post(acct, w.directory("newOrder"),
                                            {"identifiers": dns(name), "notAfter": "tomorrow"}),
                      400, "malformed")
    want = (datetime.datetime.now(datetime.timezone.utc)
            + datetime.timedelta(days=30)).replace(microsecond=0)
    got = issue(acct, [name], notAfter=want.strftime("%Y-%m-%dT%H:%M:%SZ"))
    expect(abs((got["leaf"].not_valid_after.replace(tzinfo=datetime.timezone.utc)
                - want).total_seconds()) <= 2,
           f"notAfter {got['leaf'].not_valid_after}, asked {want}")


# ------------------------------------------------------------------ authorization reuse

def check_authz_reuse():
    acct = account()
    name = fresh_name("reuse")
    first = issue(acct, [name])
    resp = w.new_order(acct, dns(name))
    expect_status(resp, 201, "second newOrder")
    expect(resp.json()["status"] == "ready", f"second order {resp.json()['status']}")
    expect(resp.json()["authorizations"] == first["order"]["authorizations"],
           "the valid authorization was not reused")
    other = account()
    resp = w.new_order(other, dns(name))
    expect(resp.json()["status"] == "pending", "another account reused an authorization")
    STATE["reuse"] = (acct, name, first)


# ------------------------------------------------------------------ certificates

def check_cert_formats():
    acct, _, first = need("reuse")
    resp = first["resp"]
    issuer_url = link(resp, "up")
    expect(issuer_url, f"no Link rel=up: {resp.headers.get('Link')}")
    resp = w.post_as_get(acct, issuer_url)
    expect_status(resp, 200, "issuer")
    issuer = x509.load_pem_x509_certificate(w.pem_blocks(resp.text)[0].encode())
    expect(issuer.subject == first["leaf"].issuer, "rel=up is not the leaf's issuer")
    resp = post_as_get_accept(acct, first["cert_url"], "application/pkix-cert")
    expect_status(resp, 200, "POST-as-GET DER")
    expect(resp.headers.get("Content-Type") == "application/pkix-cert", resp.headers.get("Content-Type"))
    expect(resp.content == first["der"], "DER differs from the PEM leaf")
    refused_unchanged(lambda: post_as_get_accept(acct, first["cert_url"], "text/html"),
                      406, "malformed")


def check_cert_plain_get_refused():
    """Certificates name internal hosts: no plain GET without an account
    unless [acme] certificate_get = yes (RFC 8555 §7.4.2: POST-as-GET)."""
    _, _, first = need("reuse")
    for url in (first["cert_url"], link(first["resp"], "up")):
        resp, _ = refused_unchanged(lambda: w.send("GET", url), 405, "malformed")
        expect(resp.headers.get("Allow") == "POST", f"Allow {resp.headers.get('Allow')}")
        expect(b"BEGIN CERTIFICATE" not in resp.content, "GET served a certificate")


def post_as_get_accept(acct, url, accept):
    return w.send("POST", url, data=w.make_jws(acct, url, None).encode(),
                  headers={"Content-Type": w.JOSE, "Accept": accept})


# ------------------------------------------------------------------ revocation

def check_revoke_by_cert_key():
    acct = account()
    got = issue(acct, [fresh_name("rk")])
    stranger = KeyAccount(ec.generate_private_key(ec.SECP256R1()))
    refused_unchanged(lambda: w.signed_post(stranger, w.directory("revokeCert"),
                                            {"certificate": w.enc(got["der"])}, use_jwk=True),
                      403, "unauthorized")
    holder = KeyAccount(got["key"])
    resp = w.signed_post(holder, w.directory("revokeCert"),
                         {"certificate": w.enc(got["der"]), "reason": 1}, use_jwk=True)
    expect_status(resp, 200, "revoke with the certificate key")
    STATE["revoked_leaf"] = got["leaf"]


def check_revoke_by_authorization():
    acct = account()
    name = fresh_name("ra")
    got = issue(acct, [name])
    stranger = account()
    refused_unchanged(lambda: w.signed_post(stranger, w.directory("revokeCert"),
                                            {"certificate": w.enc(got["der"])}),
                      403, "unauthorized")
    holder = account()
    resp = w.new_order(holder, dns(name))
    validate_all(holder, resp.json())
    resp = w.signed_post(holder, w.directory("revokeCert"), {"certificate": w.enc(got["der"])})
    expect_status(resp, 200, "revoke by an account with valid authorizations")


def check_revoke_forged():
    acct, _, first = need("reuse")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "forged")])
    now = datetime.datetime.now(datetime.timezone.utc)
    forged = (x509.CertificateBuilder().subject_name(name).issuer_name(first["leaf"].issuer)
              .public_key(key.public_key()).serial_number(first["leaf"].serial_number)
              .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
              .sign(key, hashes.SHA256()))
    der = forged.public_bytes(serialization.Encoding.DER)
    refused_unchanged(lambda: w.signed_post(KeyAccount(key), w.directory("revokeCert"),
                                            {"certificate": w.enc(der)}, use_jwk=True),
                      404, "malformed")


# ------------------------------------------------------------------ renewal information

def check_renewal_info():
    acct, _, first = need("reuse")
    resp = renewal_info(cert_id(first["leaf"]))
    expect_status(resp, 200, "renewalInfo")
    expect(resp.headers.get("Retry-After", "").isdigit(), "renewalInfo without Retry-After")
    body = resp.json()
    win = body["suggestedWindow"]
    start = datetime.datetime.strptime(win["start"], "%Y-%m-%dT%H:%M:%SZ")
    end = datetime.datetime.strptime(win["end"], "%Y-%m-%dT%H:%M:%SZ")
    leaf = first["leaf"]
    expect(leaf.not_valid_before < start < end <= leaf.not_valid_after,
           f"window {win} outside {leaf.not_valid_before}..{leaf.not_valid_after}")
    expect(body.get("explanationURL") == EXPLANATION, f"explanationURL {body.get('explanationURL')}")
    other = issue(acct, [fresh_name("ari")])
    resp2 = renewal_info(cert_id(other["leaf"]))
    expect(resp2.json()["suggestedWindow"]["start"] != win["start"],
           "two certificates issued together got the same window start")


def check_renewal_info_revoked():
    leaf = need("revoked_leaf")
    resp = renewal_info(cert_id(leaf))
    expect_status(resp, 200, "renewalInfo of a revoked certificate")
    end = datetime.datetime.strptime(resp.json()["suggestedWindow"]["end"], "%Y-%m-%dT%H:%M:%SZ")
    expect(end < datetime.datetime.utcnow(), f"revoked certificate's window ends {end}")


def check_renewal_info_negatives():
    acct, _, first = need("reuse")
    aki = cert_id(first["leaf"]).split(".")[0]
    resp = renewal_info(aki + "." + w.enc(b"\x01\x02\x03"))
    expect_problem(resp, 404, "malformed")
    resp = renewal_info("not-a-cert-id")
    expect_problem(resp, 400, "malformed")
    resp = renewal_info(w.enc(b"\x00" * 20) + "." + cert_id(first["leaf"]).split(".")[1])
    expect_problem(resp, 404, "malformed")


def check_replaces():
    acct, name, first = need("reuse")
    certid = cert_id(first["leaf"])
    other = account()
    refused_unchanged(lambda: w.signed_post(other, w.directory("newOrder"),
                                            {"identifiers": dns(name), "replaces": certid}),
                      403, "unauthorized")
    refused_unchanged(lambda: w.signed_post(acct, w.directory("newOrder"),
                                            {"identifiers": dns(fresh_name("nx")),
                                             "replaces": certid}),
                      400, "malformed")
    refused_unchanged(lambda: w.signed_post(acct, w.directory("newOrder"),
                                            {"identifiers": dns(name), "replaces": "x.y"}),
                      400, "malformed")
    renewed = issue(acct, [name], replaces=certid)
    expect(renewed["order"].get("replaces") == certid, f"order replaces {renewed['order'].get('replaces')}")
    refused_unchanged(lambda: w.signed_post(acct, w.directory("newOrder"),
                                            {"identifiers": dns(name), "replaces": certid}),
                      409, "alreadyReplaced")


# ------------------------------------------------------------------ profiles

def check_profiles():
    acct = account()
    got = issue(acct, [fresh_name("prof")], profile="shortlived")
    expect(got["order"].get("profile") == "shortlived", f"order profile {got['order'].get('profile')}")
    life = got["leaf"].not_valid_after - got["leaf"].not_valid_before
    expect(datetime.timedelta(days=6) < life <= datetime.timedelta(days=7, minutes=5),
           f"shortlived lifetime {life}")
    resp = w.new_order(acct, dns(fresh_name("prof")))
    expect(resp.json().get("profile") == "tlsserver", f"default profile {resp.json().get('profile')}")


def check_profile_negatives():
    acct = account()
    refused_unchanged(lambda: w.signed_post(acct, w.directory("newOrder"),
                                            {"identifiers": dns(fresh_name("p")),
                                             "profile": "nosuch"}),
                      400, "invalidProfile")
    refused_unchanged(lambda: w.signed_post(acct, w.directory("newOrder"),
                                            {"identifiers": dns(fresh_name("p")),
                                             "profile": 7}),
                      400, "malformed")


# ------------------------------------------------------------------ methods and polling hints

def check_methods():
    refused_unchanged(lambda: w.send("GET", w.directory("keyChange")), 405, "malformed")
    resp = w.send("POST", w.directory("renewalInfo") + "/x.y",
                  data=b"{}", headers={"Content-Type": w.JOSE})
    expect_problem(resp, 405, "malformed")
    expect("GET" in resp.headers.get("Allow", ""), f"Allow {resp.headers.get('Allow')}")


def check_retry_after_pending_authz():
    acct = account()
    resp = w.new_order(acct, dns(fresh_name("ra")))
    resp = w.post_as_get(acct, resp.json()["authorizations"][0])
    expect(resp.headers.get("Retry-After", "").isdigit(), "pending authz without Retry-After")


def check_decided_authz_keeps_one_challenge():
    """RFC 8555 §7.1.4: a valid authorization lists the challenge that was
    validated, an invalid one the challenge that was attempted; each at the
    URL the client was given; the others are gone (404) and not stored."""
    acct = account()
    resp = w.new_order(acct, dns(fresh_name("one"), fresh_name("fail")))
    expect_status(resp, 201, "newOrder")
    ok_url, fail_url = resp.json()["authorizations"]
    pending = w.post_as_get(acct, ok_url).json()
    types = [c["type"] for c in pending["challenges"]]
    expect(types == ["http-01", "dns-01", "tls-alpn-01"], f"pending offers {types}")
    urls = {c["type"]: c["url"] for c in pending["challenges"]}
    chall = pending["challenges"][0]
    w.TOKENS[chall["token"]] = acct.key_authorization(chall["token"])
    expect_status(w.signed_post(acct, chall["url"], {}), 200, "challenge")
    valid = w.poll(acct, ok_url, ("valid",)).json()
    expect(valid.get("status") == "valid", f"authz ended {valid}")
    kept = valid["challenges"]
    expect(len(kept) == 1 and kept[0]["type"] == "http-01" and
           kept[0]["status"] == "valid" and kept[0]["url"] == urls["http-01"] and
           kept[0]["token"] == chall["token"],
           f"valid authorization lists {kept}")
    for gone in ("dns-01", "tls-alpn-01"):
        expect_problem(w.post_as_get(acct, urls[gone]), 404, "malformed")
    stored = stored_record("authzs", ok_url.rsplit("/", 1)[1])
    # version 3: per challenge URL index its type's letter and status's
    # (none: pending), x for the ones dropped
    expect(stored.get("v") == 3 and stored.get("c") == "hvxx" and
           "_" not in stored and "challenges" not in stored,
           f"stored {stored}")
    # invalid: dns-01 (the second) is attempted and fails (no TXT record)
    pending = w.post_as_get(acct, fail_url).json()
    dns01 = [c for c in pending["challenges"] if c["type"] == "dns-01"][0]
    expect_status(w.signed_post(acct, dns01["url"], {}), 200, "challenge")
    invalid = w.poll(acct, fail_url, ("invalid",)).json()
    kept = invalid["challenges"]
    expect(invalid.get("status") == "invalid" and len(kept) == 1 and
           kept[0]["type"] == "dns-01" and kept[0]["url"] == dns01["url"] and
           kept[0]["status"] == "invalid" and "error" in kept[0],
           f"invalid authorization {invalid}")
    resp = w.post_as_get(acct, dns01["url"])
    expect_status(resp, 200, "the attempted challenge")
    expect(resp.json().get("status") == "invalid", f"attempted {resp.text[:200]}")
    stored = stored_record("authzs", fail_url.rsplit("/", 1)[1])
    expect(stored.get("v") == 3 and stored.get("c") == "xdix" and
           "er" in stored, f"stored {stored}")


CHECKS = [
    ("directory_fields", check_directory_fields),
    ("algorithms_ps256_es512", check_algorithms),
    ("eddsa_refused", check_eddsa_refused),
    ("key_change", check_key_change),
    ("key_change_negatives", check_key_change_negatives),
    ("account_deactivation", check_account_deactivation),
    ("account_status_refused", check_account_status_refused),
    ("authz_deactivation", check_authz_deactivation),
    ("orders_list_paginated", check_orders_list),
    ("orders_list_negatives", check_orders_list_negatives),
    ("identifier_dedup", check_identifier_dedup),
    ("rejected_identifier_subproblems", check_rejected_subproblems),
    ("unsupported_identifier", check_unsupported_identifier),
    ("finalize_key_and_csr_rules", check_finalize_rules),
    ("finalize_csr_extension_policy", check_csr_extensions),
    ("finalize_must_staple_python_acme", check_must_staple_python_acme),
    ("not_after", check_not_after),
    ("authz_reuse", check_authz_reuse),
    ("certificate_formats_and_up_link", check_cert_formats),
    ("certificate_plain_get_405_allow_post", check_cert_plain_get_refused),
    ("revoke_by_certificate_key", check_revoke_by_cert_key),
    ("revoke_by_authorization", check_revoke_by_authorization),
    ("revoke_forged_certificate", check_revoke_forged),
    ("renewal_info", check_renewal_info),
    ("renewal_info_revoked", check_renewal_info_revoked),
    ("renewal_info_negatives", check_renewal_info_negatives),
    ("replaces", check_replaces),
    ("profiles", check_profiles),
    ("profile_negatives", check_profile_negatives),
    ("methods", check_methods),
    ("retry_after_pending_authz", check_retry_after_pending_authz),
    ("decided_authz_keeps_one_challenge", check_decided_authz_keeps_one_challenge),
]


def main():
    if len(sys.argv) != 5:
        sys.exit("usage: wire_rfc.py DIRECTORY_URL CA_FILE HTTP01_PORT DATA_DIR")
    w.CTX["url"], w.CTX["ca"], port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    STATE["data"] = sys.argv[4]
    session = w.requests.Session()
    session.verify = w.CTX["ca"]
    session.trust_env = False
    w.CTX["session"] = session
    server = w.start_http01(port)
    try:
        resp = w.send("GET", w.CTX["url"])
        w.CTX["directory"] = resp.json()
        for name, func in CHECKS:
            w.run_check(name, func)
    finally:
        server.shutdown()
        server.server_close()
    print(f"rfc: {w.COUNTS['passed']} passed, {w.COUNTS['failed']} failed", flush=True)
    sys.exit(0 if w.COUNTS["failed"] == 0 and w.COUNTS["passed"] > 0 else 1)


if __name__ == "__main__":
    main()
