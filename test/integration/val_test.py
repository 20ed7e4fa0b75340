#!/usr/bin/python3
"""Challenge validation checks against a running acmeproxy (python3-acme).

Usage: /usr/bin/python3 val_test.py DIRECTORY_URL CA_FILE HTTP_PORT TLS_PORT DNS_PORT

Drives acme.client.ClientV2 (Debian's python3-acme) and answers the
challenges itself:
  - an HTTP server on 127.0.0.1 and [::1] at HTTP_PORT whose answer per
    token is chosen by the check (key authorization, redirect, huge body,
    slow answer);
  - a TLS server on 127.0.0.1 at TLS_PORT that picks, by SNI, a certificate
    and ALPN list per check (ssl + cryptography), for tls-alpn-01;
  - TXT records through RFC 2136 updates (knsupdate, TSIG from the
    environment: TSIG_NAME, TSIG_ALG, TSIG_SECRET) to knotd at DNS_PORT.
The DNS zone (written by validation.sh) has *.test and *.a.test ->
127.0.0.1, nx.test (so _acme-challenge.nx.test is NXDOMAIN), denied.test ->
127.0.0.2 (in the proxy's [validation] deny) and
_acme-challenge.cname.test CNAME dns-target.test.

VAL_AUDIT_LOG and VAL_PROXY_LOG name the proxy's audit log and its log
(the check that a redirected body is never quoted reads them).

Each check prints "ok - name" or "not ok - name: reason"; the last line is
"valtest: N passed, N failed".  Exit status 0 only when all passed.
"""
import datetime
import hashlib
import http.server
import ipaddress
import json
import os
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID, ObjectIdentifier
import josepy

from acme import challenges, client, crypto_util, messages

PROBLEM = "urn:ietf:params:acme:error:"
POLL_LIMIT = 20          # seconds any wait for a challenge may take
ACME_ID_OID = ObjectIdentifier("1.3.6.1.5.5.7.1.31")
COUNTS = {"passed": 0, "failed": 0}
HTTP_ACTIONS = {}        # token -> (kind, value)
TLS_CASES = {}           # SNI -> ssl.SSLContext
CFG = {}


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
    except Exception as exc:  # a crash in a check fails that check
        COUNTS["failed"] += 1
        print(f"not ok - {name}: {type(exc).__name__}: {exc}", flush=True)
        return
    COUNTS["passed"] += 1
    print(f"ok - {name}", flush=True)


# ------------------------------------------------------------ responders

class Http01Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        token = self.path.rsplit("/", 1)[-1]
        kind, value = HTTP_ACTIONS.get(token, ("status", 404))
        if kind == "body":
            self._send(200, value.encode())
        elif kind == "redirect":
            self.send_response(302)
            self.send_header("Location", value)
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif kind == "loop":
            # endless chain of redirects to fresh paths on this server
            n = int(self.path.split("hop", 1)[-1].split("/", 1)[0] or 0) \
                if "/hop" in self.path else 0
            self.send_response(302)
            self.send_header("Location", f"{value}/hop{n + 1}/{token}")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif kind == "big":
            self._send(200, b"x" * value)
        elif kind == "slow":
            time.sleep(value)
            self._send(200, b"too late")
        else:
            self._send(value, b"not here")

    def _send(self, status, body):
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except OSError:
            pass

    def log_message(self, fmt, *args):
        pass


class Http6Server(http.server.ThreadingHTTPServer):
    address_family = socket.AF_INET6


def start_http(port):
    servers = [http.server.ThreadingHTTPServer(("127.0.0.1", port), Http01Handler),
               Http6Server(("::1", port), Http01Handler)]
    for srv in servers:
        srv.daemon_threads = True
        threading.Thread(target=srv.serve_forever, daemon=True).start()


def self_signed(san, ext=None, sign_key=None):
    """PEM cert and key: self-signed, one SAN (x509.GeneralName), optional
    extension (ext_value_der, critical); sign_key signs instead (not
    self-signed then)."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.utcnow()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "acme tls-alpn-01")])
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5))
               .not_valid_after(now + datetime.timedelta(days=1))
               .add_extension(x509.SubjectAlternativeName([san]), critical=False))
    if ext is not None:
        value, critical = ext
        builder = builder.add_extension(x509.UnrecognizedExtension(ACME_ID_OID, value),
                                        critical=critical)
    cert = builder.sign(sign_key or key, hashes.SHA256())
    return (cert.public_bytes(serialization.Encoding.PEM),
            key.private_bytes(serialization.Encoding.PEM,
                              serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()))


def tls_context(cert_pem, key_pem, alpn):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with tempfile.NamedTemporaryFile("wb", delete=False) as f:
        f.write(cert_pem + key_pem)
        path = f.name
    ctx.load_cert_chain(path)
    os.unlink(path)
    ctx.set_alpn_protocols(alpn)
    return ctx


def add_tls_case(sni, san, ext, alpn=("acme-tls/1",)):
    cert, key = self_signed(san, ext)
    TLS_CASES[sni] = tls_context(cert, key, list(alpn))


def start_tls(port):
    cert, key = self_signed(x509.DNSName("default.invalid"))
    base = tls_context(cert, key, ["acme-tls/1"])

    def on_sni(sock, server_name, _ctx):
        case = TLS_CASES.get(server_name or "")
        if case is not None:
            sock.context = case

    base.sni_callback = on_sni
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("127.0.0.1", port))
    lsock.listen(16)

    def serve_one(conn):
        conn.settimeout(5)
        try:
            with base.wrap_socket(conn, server_side=True) as tls:
                tls.recv(1)
        except (OSError, ssl.SSLError):
            pass
        finally:
            conn.close()

    def loop():
        while True:
            conn, _ = lsock.accept()
            threading.Thread(target=serve_one, args=(conn,), daemon=True).start()

    threading.Thread(target=loop, daemon=True).start()


def acme_digest_ext(keyauth):
    """DER of OCTET STRING(SHA-256(keyauth)), the acmeIdentifier value."""
    return b"\x04\x20" + hashlib.sha256(keyauth.encode()).digest()


def nsupdate(lines):
    script = f"server 127.0.0.1 {CFG['dns_port']}\nzone test.\n" + \
        "\n".join(lines) + "\nsend\n"
    key = f"{os.environ['TSIG_ALG']}:{os.environ['TSIG_NAME']}:{os.environ['TSIG_SECRET']}"
    out = subprocess.run(["knsupdate", "-y", key], input=script.encode(),
                         capture_output=True, timeout=20, check=False)
    expect(out.returncode == 0, f"knsupdate failed: {out.stderr.decode()[:200]}")


# ------------------------------------------------------------ ACME client

def make_client():
    key = josepy.JWKEC(key=ec.generate_private_key(ec.SECP256R1()))
    net = client.ClientNetwork(key, alg=josepy.ES256, user_agent="acmeproxy-val-test",
                               verify_ssl=CFG["ca"])
    net.session.trust_env = False     # no http_proxy, no REQUESTS_CA_BUNDLE
    directory = client.ClientV2.get_directory(CFG["directory"], net)
    acme = client.ClientV2(directory, net)
    acme.new_account(messages.NewRegistration.from_data(
        email="val@example.test", terms_of_service_agreed=True))
    return acme, key


def csr_for(dns=(), ips=()):
    key = ec.generate_private_key(ec.SECP256R1())
    key_pem = key.private_bytes(serialization.Encoding.PEM,
                                serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return crypto_util.make_csr(key_pem, list(dns) or None,
                                ipaddrs=[ipaddress.ip_address(i) for i in ips] or None)


def get_json(acme, url):
    return acme._post_as_get(url).json()  # pylint: disable=protected-access


def pick(orderr, typ, index=0):
    authzr = orderr.authorizations[index]
    for challb in authzr.body.challenges:
        if challb.chall.typ == typ:
            return authzr, challb
    raise Failure(f"authorization offers no {typ}: "
                  f"{[c.chall.typ for c in authzr.body.challenges]}")


def answer_and_wait(acme, challb):
    acme.answer_challenge(challb, challb.chall.response(acme.net.key))
    deadline = time.time() + POLL_LIMIT
    while time.time() < deadline:
        chall = get_json(acme, challb.uri)
        if chall.get("status") in ("valid", "invalid"):
            return chall
        time.sleep(0.3)
    raise Failure(f"challenge still {chall.get('status')} after {POLL_LIMIT} s")


def keyauth(acme, challb):
    return challb.chall.key_authorization(acme.net.key)


def expect_failure(acme, orderr, authzr, chall, ptype, words):
    """The challenge, its authorization and the order are invalid; the
    challenge's error has type ptype and a detail with every word."""
    expect(chall.get("status") == "invalid",
           f"challenge is {chall.get('status')}, want invalid ({chall.get('error')})")
    err = chall.get("error") or {}
    expect(err.get("type") == PROBLEM + ptype,
           f"error type {err.get('type')}, want {ptype} (detail: {err.get('detail')})")
    for word in words:
        expect(word in err.get("detail", ""),
               f"detail {err.get('detail')!r} does not mention {word!r}")
    authz = get_json(acme, authzr.uri)
    expect(authz.get("status") == "invalid", f"authorization is {authz.get('status')}")
    order = get_json(acme, orderr.uri)
    expect(order.get("status") == "invalid", f"order is {order.get('status')}")


def finalize_and_check(acme, orderr, want_ips=(), want_dns=()):
    done = acme.finalize_order(orderr, datetime.datetime.now() + datetime.timedelta(seconds=30))
    pem = done.fullchain_pem.encode()
    leaf = x509.load_pem_x509_certificate(pem)
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    ips = sorted(str(i) for i in san.get_values_for_type(x509.IPAddress))
    dns = sorted(san.get_values_for_type(x509.DNSName))
    expect(ips == sorted(want_ips), f"certificate IP SANs {ips}, want {sorted(want_ips)}")
    expect(dns == sorted(want_dns), f"certificate DNS SANs {dns}, want {sorted(want_dns)}")


def http_case(acme, name, action, ptype=None, words=()):
    """An http-01 check on dns name `name` (resolves to 127.0.0.1); action
    builds the responder's answer from (token, keyauth)."""
    orderr = acme.new_order(csr_for([name]))
    authzr, challb = pick(orderr, "http-01")
    token = challb.chall.encode("token")
    HTTP_ACTIONS[token] = action(token, keyauth(acme, challb))
    chall = answer_and_wait(acme, challb)
    if ptype is None:
        expect(chall.get("status") == "valid",
               f"challenge is {chall.get('status')}: {chall.get('error')}")
        return
    expect_failure(acme, orderr, authzr, chall, ptype, words)


# ------------------------------------------------------------ checks

def check_ip_issue(ip, typ):
    acme, _ = make_client()
    orderr = acme.new_order(csr_for(ips=[ip]))
    authzr = orderr.authorizations[0]
    expect(authzr.body.identifier.typ.name == "ip" and authzr.body.identifier.value == ip,
           f"authorization identifier {authzr.body.identifier}")
    types = sorted(c.chall.typ for c in authzr.body.challenges)
    expect(types == ["http-01", "tls-alpn-01"], f"challenges offered for an IP: {types}")
    authzr, challb = pick(orderr, typ)
    if typ == "http-01":
        HTTP_ACTIONS[challb.chall.encode("token")] = ("body", keyauth(acme, challb))
    else:
        rev = ipaddress.ip_address(ip).reverse_pointer
        add_tls_case(rev, x509.IPAddress(ipaddress.ip_address(ip)),
                     (acme_digest_ext(keyauth(acme, challb)), True))
    chall = answer_and_wait(acme, challb)
    expect(chall.get("status") == "valid", f"challenge is {chall.get('status')}: {chall.get('error')}")
    finalize_and_check(acme, orderr, want_ips=[ip])


def check_wildcard_authz():
    acme, _ = make_client()
    orderr = acme.new_order(csr_for(["*.wc.test"]))
    order = get_json(acme, orderr.uri)
    expect(order["identifiers"] == [{"type": "dns", "value": "*.wc.test"}],
           f"order identifiers {order['identifiers']}")
    authz = get_json(acme, orderr.body.authorizations[0])
    expect(authz.get("identifier") == {"type": "dns", "value": "wc.test"},
           f"authz identifier {authz.get('identifier')}")
    expect(authz.get("wildcard") is True, "authz lacks wildcard: true")
    types = [c["type"] for c in authz["challenges"]]
    expect(types == ["dns-01"], f"wildcard challenges {types}, want only dns-01")


def check_dns_name_offers_three():
    acme, _ = make_client()
    orderr = acme.new_order(csr_for(["three.a.test"]))
    types = sorted(c.chall.typ for c in orderr.authorizations[0].body.challenges)
    expect(types == ["dns-01", "http-01", "tls-alpn-01"], f"challenges {types}")
    expect(get_json(acme, orderr.body.authorizations[0]).get("wildcard") is None,
           "a plain name's authz says wildcard")


def check_bad_identifiers():
    acme, _ = make_client()
    for ident in ({"type": "ip", "value": "1.2.3"}, {"type": "ip", "value": "[::1]"},
                  {"type": "ip", "value": "::ffff:127.0.0.1"},
                  {"type": "ip", "value": "224.0.0.1"},
                  {"type": "dns", "value": "*.*.x.test"}, {"type": "dns", "value": "a.*.test"},
                  {"type": "dns", "value": "*.test"}, {"type": "dns", "value": "*x.a.test"}):
        try:
            acme._post(acme.directory["newOrder"],  # pylint: disable=protected-access
                       messages.NewOrder(identifiers=[messages.Identifier(
                           typ=messages.IdentifierType(ident["type"]), value=ident["value"])]))
        except messages.Error as err:
            expect(err.typ == PROBLEM + "rejectedIdentifier",
                   f"{ident}: {err.typ}, want rejectedIdentifier")
            continue
        raise Failure(f"{ident} was accepted")


def check_dns01_cname():
    acme, _ = make_client()
    orderr = acme.new_order(csr_for(["cname.test"]))
    _, challb = pick(orderr, "dns-01")
    value = challb.chall.validation(acme.net.key)
    nsupdate(["update add dns-target.test. 60 TXT \"not-this-one\"",
              f"update add dns-target.test. 60 TXT \"{value}\""])
    chall = answer_and_wait(acme, challb)
    expect(chall.get("status") == "valid", f"challenge is {chall.get('status')}: {chall.get('error')}")


def dns_neg(name, txt, ptype, words):
    acme, _ = make_client()
    orderr = acme.new_order(csr_for([name]))
    authzr, challb = pick(orderr, "dns-01")
    if txt is not None:
        nsupdate([f"update add _acme-challenge.{name}. 60 TXT \"{txt}\""])
    chall = answer_and_wait(acme, challb)
    expect_failure(acme, orderr, authzr, chall, ptype, words)


def check_dns01_wrong_txt():
    """A wrong TXT record fails with incorrectResponse; its text reaches
    neither the problem nor the validation record (a CNAME could point
    the lookup at any internal name)."""
    secret = "INTERNAL-TXT-s3cr3t"
    acme, _ = make_client()
    orderr = acme.new_order(csr_for(["wrongtxt.test"]))
    authzr, challb = pick(orderr, "dns-01")
    nsupdate([f"update add _acme-challenge.wrongtxt.test. 60 TXT \"{secret}\""])
    chall = answer_and_wait(acme, challb)
    expect_failure(acme, orderr, authzr, chall, "incorrectResponse",
                   ["_acme-challenge.wrongtxt.test", "1 TXT"])
    expect(secret not in json.dumps(chall), f"the TXT text was reflected: {chall}")
    authz_id = authzr.uri.rsplit("/", 1)[-1]
    audit_path = os.environ.get("VAL_AUDIT_LOG", "")
    expect(audit_path, "VAL_AUDIT_LOG not set")
    lines = []
    deadline = time.time() + 5
    while not lines and time.time() < deadline:
        with open(audit_path, encoding="utf-8", errors="replace") as f:
            lines = [line for line in f if '"validation"' in line and authz_id in line]
        time.sleep(0.2)
    expect(lines, f"no validation event for authz {authz_id}")
    expect(secret not in lines[-1], "the audit line quotes the TXT record")
    expect(f'"txtLengths":[{len(secret)}]' in lines[-1],
           f"the audit evidence lacks the record's length: {lines[-1][:300]}")


def tls_neg(name, ext_kind, alpn, ptype, words):
    acme, _ = make_client()
    orderr = acme.new_order(csr_for([name]))
    authzr, challb = pick(orderr, "tls-alpn-01")
    digest = acme_digest_ext(keyauth(acme, challb))
    ext = {"none": None, "noncritical": (digest, False), "good": (digest, True),
           "wrong": (acme_digest_ext("something else"), True)}[ext_kind]
    add_tls_case(name, x509.DNSName(name), ext, alpn)
    chall = answer_and_wait(acme, challb)
    expect_failure(acme, orderr, authzr, chall, ptype, words)


def check_redirect_ok(acme):
    """A redirect to another name on the http-01 port is followed; the key
    authorization answers at the target's path (token + "x")."""
    hp = CFG["http_port"]
    orderr = acme.new_order(csr_for(["redir-ok.a.test"]))
    _, challb = pick(orderr, "http-01")
    token = challb.chall.encode("token")
    HTTP_ACTIONS[token] = ("redirect",
                           f"http://other.a.test:{hp}/.well-known/acme-challenge/{token}x")
    HTTP_ACTIONS[token + "x"] = ("body", keyauth(acme, challb))
    chall = answer_and_wait(acme, challb)
    expect(chall.get("status") == "valid",
           f"challenge is {chall.get('status')}: {chall.get('error')}")


def check_redirect_body_not_quoted(acme):
    """Issue 10, finding 2: the responder redirects to another path of the
    same host and port, whose body is an internal service's secret. The
    validation fails with incorrectResponse, and no byte of that body is
    in the problem detail, the audit log or the proxy's log (paths from
    VAL_AUDIT_LOG and VAL_PROXY_LOG); the detail gives its length."""
    hp = CFG["http_port"]
    secret = "s3cr3t-" + os.urandom(8).hex()
    body = f"INTERNAL-ONLY: db_password={secret}"
    orderr = acme.new_order(csr_for(["leak.a.test"]))
    authzr, challb = pick(orderr, "http-01")
    token = challb.chall.encode("token")
    HTTP_ACTIONS[token] = ("redirect", f"http://leak.a.test:{hp}/internal/metadata")
    HTTP_ACTIONS["metadata"] = ("body", body)
    chall = answer_and_wait(acme, challb)
    expect_failure(acme, orderr, authzr, chall, "incorrectResponse",
                   ["/internal/metadata", f"({len(body)} bytes)",
                    "not the key authorization"])
    pieces = ("INTERNAL-ONLY", "db_password", secret)
    detail = (chall.get("error") or {}).get("detail", "")
    for piece in pieces:
        expect(piece not in detail, f"the detail quotes the body: {detail!r}")
        expect(piece not in json.dumps(chall), "the challenge quotes the body")
    authz_id = authzr.uri.rsplit("/", 1)[-1]
    audit_path = os.environ.get("VAL_AUDIT_LOG", "")
    proxy_log = os.environ.get("VAL_PROXY_LOG", "")
    expect(audit_path and proxy_log, "VAL_AUDIT_LOG or VAL_PROXY_LOG not set")
    deadline = time.time() + 5
    audit = ""
    while time.time() < deadline:
        with open(audit_path, encoding="utf-8", errors="replace") as f:
            audit = f.read()
        if any('"validation"' in line and authz_id in line
               for line in audit.splitlines()):
            break
        time.sleep(0.2)
    lines = [line for line in audit.splitlines()
             if '"validation"' in line and authz_id in line]
    expect(lines, f"no validation event for authz {authz_id} in {audit_path}")
    expect("/internal/metadata" in lines[-1],
           "the audit line lacks the redirect URL")
    with open(proxy_log, encoding="utf-8", errors="replace") as f:
        log = f.read()
    for piece in pieces:
        expect(piece not in audit, f"the audit log quotes the body ({piece})")
        expect(piece not in log, f"the proxy log quotes the body ({piece})")


def main():
    if len(sys.argv) != 6:
        print(__doc__)
        sys.exit(2)
    CFG.update(directory=sys.argv[1], ca=sys.argv[2], http_port=int(sys.argv[3]),
               tls_port=int(sys.argv[4]), dns_port=int(sys.argv[5]))
    hp = CFG["http_port"]
    start_http(hp)
    start_tls(CFG["tls_port"])
    acme, _ = make_client()

    checks = [
        ("ip_v4_http01_issued", lambda: check_ip_issue("127.0.0.1", "http-01")),
        ("ip_v6_http01_issued", lambda: check_ip_issue("::1", "http-01")),
        ("ip_v4_tlsalpn01_reverse_sni_issued",
         lambda: check_ip_issue("127.0.0.1", "tls-alpn-01")),
        ("wildcard_authz_base_name_dns01_only", check_wildcard_authz),
        ("dns_name_offers_three_challenges", check_dns_name_offers_three),
        ("bad_ip_and_wildcard_identifiers_rejected", check_bad_identifiers),
        ("dns01_cname_followed_any_of_two_txt", check_dns01_cname),
        ("dns01_wrong_txt_incorrect_response_not_quoted", check_dns01_wrong_txt),
        ("dns01_missing_txt_unauthorized",
         lambda: dns_neg("missing.test", None, "unauthorized",
                         ["no TXT record", "_acme-challenge.missing.test"])),
        ("dns01_nxdomain_dns",
         lambda: dns_neg("nx.test", None, "dns", ["NXDOMAIN", "_acme-challenge.nx.test"])),
        ("http01_redirect_followed", lambda: check_redirect_ok(acme)),
        ("http01_redirected_body_never_quoted",
         lambda: check_redirect_body_not_quoted(acme)),
        ("http01_redirect_forbidden_port_connection",
         lambda: http_case(acme, "redir-port.a.test",
                           lambda t, ka: ("redirect", f"http://127.0.0.1:1/{t}"),
                           "connection", ["refused", "port 1"])),
        ("http01_redirect_forbidden_scheme_connection",
         lambda: http_case(acme, "redir-scheme.a.test",
                           lambda t, ka: ("redirect", f"ftp://127.0.0.1/{t}"),
                           "connection", ["scheme ftp"])),
        ("http01_redirect_denied_address_unauthorized",
         lambda: http_case(acme, "redir-deny.a.test",
                           lambda t, ka: ("redirect",
                                          f"http://denied.test:{hp}/.well-known/acme-challenge/{t}"),
                           "unauthorized", ["127.0.0.2", "deny"])),
        ("http01_redirect_loop_connection",
         lambda: http_case(acme, "redir-loop.a.test",
                           lambda t, ka: ("loop", f"http://127.0.0.1:{hp}"),
                           "connection", ["more than 10 redirects"])),
        ("http01_oversized_body_incorrect_response",
         lambda: http_case(acme, "big.a.test", lambda t, ka: ("big", 100000),
                           "incorrectResponse", ["larger than"])),
        ("http01_slow_server_connection",
         lambda: http_case(acme, "slow.a.test", lambda t, ka: ("slow", 6),
                           "connection", ["deadline"])),
        ("http01_wrong_body_incorrect_response",
         lambda: http_case(acme, "wrongbody.a.test", lambda t, ka: ("body", "nope"),
                           "incorrectResponse", ["not the key authorization"])),
        ("http01_address_in_deny_unauthorized",
         lambda: http_case(acme, "denied.test", lambda t, ka: ("body", ka),
                           "unauthorized", ["127.0.0.2", "[validation] deny"])),
        ("tlsalpn01_wrong_alpn_tls",
         lambda: tls_neg("alpn-wrong.a.test", "good", ("http/1.1",), "tls",
                         ["did not negotiate", "acme-tls/1"])),
        ("tlsalpn01_missing_extension_incorrect_response",
         lambda: tls_neg("alpn-noext.a.test", "none", ("acme-tls/1",), "incorrectResponse",
                         ["no acmeIdentifier"])),
        ("tlsalpn01_noncritical_extension_incorrect_response",
         lambda: tls_neg("alpn-noncrit.a.test", "noncritical", ("acme-tls/1",),
                         "incorrectResponse", ["not marked critical"])),
        ("tlsalpn01_wrong_digest_incorrect_response",
         lambda: tls_neg("alpn-digest.a.test", "wrong", ("acme-tls/1",),
                         "incorrectResponse", ["SHA-256 of the key authorization"])),
    ]
    for name, func in checks:
        run_check(name, func)
    print(f"valtest: {COUNTS['passed']} passed, {COUNTS['failed']} failed", flush=True)
    sys.exit(0 if COUNTS["failed"] == 0 and COUNTS["passed"] > 0 else 1)


if __name__ == "__main__":
    main()
