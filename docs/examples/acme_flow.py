#!/usr/bin/python3
"""One complete ACME flow against acmeproxy with Debian's python3-acme:
EAB account, order, http-01 served by this script, finalize, download,
then the certificate's renewal window (renewalInfo, RFC 9773).

    acme_flow.py DIRECTORY_URL ROOT_PEM EAB_KID EAB_HMAC NAME [HTTP_PORT] [OUT_DIR]

NAME must resolve, from the proxy, to this machine; the proxy fetches
http://NAME:HTTP_PORT/.well-known/acme-challenge/<token> (HTTP_PORT is
the proxy's [validation] http_port, 80 in production: run as root, or
give python3 CAP_NET_BIND_SERVICE). Writes OUT_DIR/NAME.key and
OUT_DIR/NAME.pem (leaf + chain). test/integration/enrol_lego.sh runs this
file, and checks that docs/acme-api.md quotes it unchanged.
"""
import base64
import datetime
import http.server
import sys
import threading

from acme import challenges, client, crypto_util, messages
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
import josepy

directory_url, root_pem, eab_kid, eab_hmac, name = sys.argv[1:6]
http_port = int(sys.argv[6]) if len(sys.argv) > 6 else 80
out_dir = sys.argv[7] if len(sys.argv) > 7 else "."

# 1. The account key: ES256 (P-256). The proxy also takes P-384 (ES384),
#    P-521 (ES512) and RSA 2048-8192 bits (RS256, PS256); not EdDSA.
account_key = josepy.JWKEC(key=ec.generate_private_key(ec.SECP256R1()))
net = client.ClientNetwork(account_key, alg=josepy.ES256,
                           user_agent="acme-flow-example", verify_ssl=root_pem)
net.session.trust_env = False  # straight to the proxy, trusting ROOT_PEM only

# 2. The directory: resource URLs and meta (externalAccountRequired,
#    profiles). ClientV2 fetches nonces from newNonce as it needs them.
directory_json = net.get(directory_url).json()
print("meta:", directory_json["meta"])
renewal_info_url = directory_json["renewalInfo"]
directory = messages.Directory.from_json(directory_json)
acme = client.ClientV2(directory, net)

# 3. newAccount with external account binding: the EAB key (kid + HMAC
#    from the PKI team) signs this account's public key (HS256).
eab = messages.ExternalAccountBinding.from_data(
    account_public_key=account_key.public_key(), kid=eab_kid,
    hmac_key=eab_hmac, directory=directory)
account = acme.new_account(messages.NewRegistration.from_data(
    email="flow@example.test", terms_of_service_agreed=True,
    external_account_binding=eab))
print("account:", account.uri)

# 4. A key of the certificate's own (never the account key) and a CSR
#    that names exactly the order's identifiers.
cert_key = ec.generate_private_key(ec.SECP256R1())
cert_key_pem = cert_key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption())
csr_pem = crypto_util.make_csr(cert_key_pem, [name])

# 5. newOrder: one authorization per identifier, each with its challenges.
order = acme.new_order(csr_pem)
print("order:", order.uri)

# 6. http-01: serve token -> key authorization at /.well-known/acme-challenge/.
answers = {}


class Http01(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = answers.get(self.path)
        self.send_response(200 if body else 404)
        self.end_headers()
        self.wfile.write((body or "").encode())

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("", http_port), Http01)
threading.Thread(target=server.serve_forever, daemon=True).start()
try:
    for authz in order.authorizations:
        chall = next(c for c in authz.body.challenges
                     if isinstance(c.chall, challenges.HTTP01))
        response, key_authz = chall.response_and_validation(account_key)
        answers[chall.chall.path] = key_authz
        # Tell the proxy to validate. It answers within [acme] wait_ms,
        # with the challenge "valid"/"invalid", or still "processing".
        acme.answer_challenge(chall, response)

    # 7. Wait for the authorizations, finalize with the CSR, wait for the
    #    order to be valid (polling with Retry-After), download the chain.
    deadline = datetime.datetime.now() + datetime.timedelta(seconds=60)
    order = acme.poll_and_finalize(order, deadline)
finally:
    server.shutdown()

with open(f"{out_dir}/{name}.key", "wb") as f:
    f.write(cert_key_pem)
with open(f"{out_dir}/{name}.pem", "w", encoding="ascii") as f:
    f.write(order.fullchain_pem)
print("certificate:", order.body.certificate)

# 8. When to renew: renewalInfo/<base64url(AKI)>.<base64url(serial)>, a
#    plain GET (RFC 9773). Ask again after the Retry-After it answers.
leaf = x509.load_pem_x509_certificate(order.fullchain_pem.encode())
aki = leaf.extensions.get_extension_for_class(
    x509.AuthorityKeyIdentifier).value.key_identifier
serial = leaf.serial_number.to_bytes(leaf.serial_number.bit_length() // 8 + 1, "big")


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


info = net.get(renewal_info_url + "/" +
               b64url(aki) + "." + b64url(serial), content_type="application/json")
print("renew between:", info.json()["suggestedWindow"],
      "ask again in", info.headers.get("Retry-After"), "s")
