#!/usr/bin/python3
"""Orders that end at a stand-in PKI, driven with python3-acme.

Usage: acme_orders.py DIRECTORY_URL CA_FILE HTTP01_PORT STATE_DIR TIMEOUT NAME...

A NAME may be written NAME@PROFILE: its order asks for that ACME profile
(draft-ietf-acme-profiles; python3-acme 2.1 has no option for it, so the
newOrder object carries the member itself).

For each NAME (one identifier per order): new order, http-01 answered by
this script on HTTP01_PORT, finalize without waiting. Then STATE_DIR/finalized
is written and every order is polled (POST-as-GET) until it is valid or
invalid or TIMEOUT seconds pass; connection errors are retried, so the server
may be killed and restarted meanwhile (the crash tests do exactly that).

Prints one tab-separated line per order:
  name  final_status  finalize_status  finalize_retry_after  error_type  error_detail
where finalize_* describe the answer to the finalize POST ("processing" and
its Retry-After header for a PKI that is slow or pending).  Exit status 0
when every order reached a final state. The certificate of each valid
order is saved as STATE_DIR/NAME.pem (leaf first, then its chain). With
EAB_KID and EAB_HMAC in the environment the account is bound to that EAB
key (RFC 8555 §7.3.4), so it gets the key's team policy.
"""
import datetime
import http.server
import os
import sys
import threading
import time

import josepy as jose
import OpenSSL
from acme import challenges, client, errors, messages
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


def csr_pem(name):
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
           .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
           .sign(key, hashes.SHA256()))
    return csr.public_bytes(serialization.Encoding.PEM)


class ProfiledOrder(messages.NewOrder):
    """newOrder with the profile member (draft-ietf-acme-profiles)."""
    profile: str = jose.field("profile", omitempty=True)


def new_order(acme, pem, name, profile):
    """ClientV2.new_order, with a profile when one is asked for."""
    if not profile:
        return acme.new_order(pem)
    order = ProfiledOrder(identifiers=[messages.Identifier(
        typ=messages.IDENTIFIER_FQDN, value=name)], profile=profile)
    response = acme._post(acme.directory["newOrder"], order)
    body = messages.Order.from_json(response.json())
    authzrs = [acme._authzr_from_response(acme._post_as_get(url), uri=url)
               for url in body.authorizations]
    return messages.OrderResource(body=body, uri=response.headers.get("Location"),
                                  authorizations=authzrs, csr_pem=pem)


def retrying(fn, deadline):
    """Calls fn until it does not raise a network-ish error or time is up."""
    while True:
        try:
            return fn()
        except (errors.Error, OSError, ValueError, Exception) as exc:  # noqa: B902
            if time.time() > deadline:
                raise
            last = exc
            del last
            time.sleep(0.5)


def main():
    dir_url, ca, port, state_dir, timeout = sys.argv[1:6]
    names = sys.argv[6:]
    deadline = time.time() + float(timeout)
    os.makedirs(state_dir, exist_ok=True)
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", int(port)), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()

    key = jose.JWKEC(key=ec.generate_private_key(ec.SECP256R1()))
    net = client.ClientNetwork(key, alg=jose.ES256, user_agent="acmeproxy-adapters-test",
                             verify_ssl=ca)
    directory = messages.Directory.from_json(net.get(dir_url).json())
    acme = client.ClientV2(directory, net)
    eab = None
    if os.environ.get("EAB_KID"):
        eab = messages.ExternalAccountBinding.from_data(
            account_public_key=key.public_key(), kid=os.environ["EAB_KID"],
            hmac_key=os.environ["EAB_HMAC"], directory=directory)
    acme.new_account(messages.NewRegistration.from_data(
        email="adapters@example.test", terms_of_service_agreed=True,
        external_account_binding=eab))

    orders = []
    for spec in names:
        name, _, profile = spec.partition("@")
        pem = csr_pem(name)
        orderr = new_order(acme, pem, name, profile)
        for authzr in orderr.authorizations:
            for chall in authzr.body.challenges:
                if isinstance(chall.chall, challenges.HTTP01):
                    response, validation = chall.response_and_validation(key)
                    TOKENS[chall.chall.encode("token")] = validation
                    acme.answer_challenge(chall, response)
        orderr = acme.poll_authorizations(
            orderr, datetime.datetime.now() + datetime.timedelta(seconds=30))
        csr = OpenSSL.crypto.load_certificate_request(OpenSSL.crypto.FILETYPE_PEM, pem)
        resp = acme._post(orderr.body.finalize,
                          messages.CertificateRequest(csr=jose.ComparableX509(csr)))
        body = resp.json()
        orders.append({"name": name, "url": orderr.uri,
                       "fin_status": body.get("status", "-"),
                       "fin_retry": resp.headers.get("Retry-After", "-")})
    with open(os.path.join(state_dir, "finalized"), "w") as f:
        f.write("\n".join(o["url"] for o in orders) + "\n")

    pending = list(orders)
    while pending and time.time() < deadline:
        for o in list(pending):
            try:
                body = acme._post_as_get(o["url"]).json()
            except Exception:  # the server may be down (crash tests)
                time.sleep(0.5)
                continue
            o["status"] = body.get("status", "-")
            o["error"] = body.get("error") or {}
            if o["status"] == "valid" and body.get("certificate"):
                try:
                    pem = acme._post_as_get(body["certificate"]).text
                    with open(os.path.join(state_dir, o["name"] + ".pem"), "w") as f:
                        f.write(pem)
                except Exception:  # noqa: B902 (reported by the caller)
                    pass
            if o["status"] in ("valid", "invalid"):
                pending.remove(o)
        time.sleep(0.3)
    ok = True
    for o in orders:
        err = o.get("error") or {}
        etype = err.get("type", "-").replace("urn:ietf:params:acme:error:", "")
        detail = (err.get("detail") or "-").replace("\t", " ").replace("\n", " ")
        status = o.get("status", "unknown")
        ok = ok and status in ("valid", "invalid")
        print(f"{o['name']}\t{status}\t{o['fin_status']}\t{o['fin_retry']}\t{etype}\t{detail}")
    srv.shutdown()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
