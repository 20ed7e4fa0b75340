#!/usr/bin/python3
"""External account binding, team policy, rate limits and the audit log on
the wire (issue 6), against a proxy configured by teams.sh.

Usage: /usr/bin/python3 teams.py PHASE DIRECTORY_URL CA_FILE HTTP01_PORT DATA_DIR KEYS_JSON
PHASE: "policy" (eab_required, team keys) or "limits" / "pending" (the
[ratelimit] settings of teams.sh). KEYS_JSON: {"a": {"kid","hmac"}, "b": ...,
"revoked": {...}} minted by `acmeproxy eab add`.
Prints "ok - name" / "not ok - name: reason" and "teams: N passed, N failed".
"""
import hashlib
import hmac as hmac_mod
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wire_rfc as r  # noqa: E402
import wire_test as w  # noqa: E402
from wire_test import Failure, expect, expect_problem, expect_status  # noqa: E402

KEYS = {}
COUNT = [0]


def name(team, prefix="h"):
    COUNT[0] += 1
    return f"{prefix}{COUNT[0]}-{os.getpid()}.team-{team}.test"


def binding(acct, key, alg="HS256", url=None, kid=None, nonce=None, jwk=None,
            mac_key=None):
    """An externalAccountBinding JWS (RFC 8555 §7.3.4) for acct."""
    prot = {"alg": alg, "kid": kid or key["kid"], "url": url or w.directory("newAccount")}
    if nonce:
        prot["nonce"] = nonce
    prot_b64 = w.json_b64(prot)
    payload_b64 = w.json_b64(jwk or acct.public_jwk())
    secret = mac_key or w.b64.b64decode(key["hmac"])
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384,
              "HS512": hashlib.sha512}.get(alg, hashlib.sha256)
    sig = hmac_mod.new(secret, (prot_b64 + "." + payload_b64).encode(), digest).digest()
    return {"protected": prot_b64, "payload": payload_b64, "signature": w.enc(sig)}


def eab_account(team, **kw):
    acct = w.Account("ES256")
    resp = w.new_account(acct, externalAccountBinding=binding(acct, KEYS[team], **kw))
    expect(resp.status_code == 201 and acct.kid, f"EAB newAccount: {w.short(resp)}")
    return acct


# ------------------------------------------------------------------ phase policy

def check_eab_required():
    acct = w.Account("ES256")
    r.refused_unchanged(lambda: w.new_account(acct), 400, "externalAccountRequired")
    expect(w.CTX["directory"]["meta"].get("externalAccountRequired") is True,
           "directory meta.externalAccountRequired is not true")


def check_eab_hs384_hs512():
    for alg in ("HS384", "HS512"):
        eab_account("a", alg=alg)


def check_eab_negatives():
    cases = [
        ("wrong MAC", dict(mac_key=b"\x00" * 32), 403, "unauthorized"),
        ("unknown kid", dict(kid="AAAAAAAAAAAAAAAAAAAAAA"), 403, "unauthorized"),
        ("url", dict(url=w.directory("newOrder")), 400, "malformed"),
        ("alg RS256", dict(alg="RS256"), 400, "malformed"),
        ("nonce", dict(nonce="abc"), 400, "malformed"),
        ("other jwk", dict(jwk=w.Account("ES256").public_jwk()), 403, "unauthorized"),
        ("revoked key", dict(), 403, "unauthorized"),
    ]
    for label, kw, status, ptype in cases:
        acct = w.Account("ES256")
        key = KEYS["revoked"] if label == "revoked key" else KEYS["a"]
        eab = binding(acct, key, **kw)
        try:
            r.refused_unchanged(lambda: w.new_account(acct, externalAccountBinding=eab),
                                status, ptype)
        except Failure as exc:
            raise Failure(f"{label}: {exc}")


def check_team_names():
    acct = eab_account("a")
    resp = w.new_order(acct, r.dns(name("a")))
    expect_status(resp, 201, "order inside team a's names")
    resp, doc = r.refused_unchanged(
        lambda: w.new_order(acct, r.dns(name("a"), name("b"), "other.test")),
        400, "rejectedIdentifier")
    subs = doc.get("subproblems", [])
    expect(len(subs) == 2, f"subproblems {subs}")
    expect(all(s["identifier"]["value"].endswith((".team-b.test", "other.test")) for s in subs),
           f"subproblem identifiers {subs}")
    r.refused_unchanged(lambda: w.new_order(acct, r.dns("*.team-a.test")),
                        400, "rejectedIdentifier")


def check_preauthorized():
    """eab add --preauthorized: the key's names are valid at once, with no
    challenge; other team names and the suffix itself are not; a key
    without rules pre-authorises nothing; wildcards stay refused while the
    global policy refuses them."""
    acct = eab_account("p")
    host = f"h{os.getpid()}.pre.team-p.test"
    resp = w.new_order(acct, r.dns(host, "exact.team-p.test"))
    expect_status(resp, 201, "order of pre-authorised names")
    order = resp.json()
    expect(order.get("status") == "ready", f"order {order.get('status')}, want ready")
    for url in order["authorizations"]:
        authz = w.post_as_get(acct, url).json()
        expect(authz.get("status") == "valid" and authz.get("challenges") == [],
               f"authz {authz.get('identifier')} {authz.get('status')} "
               f"challenges {len(authz.get('challenges', []))}")
    for other in (name("p"), "pre.team-p.test"):
        resp = w.new_order(acct, r.dns(other))
        expect_status(resp, 201, f"order for {other}")
        expect(resp.json().get("status") == "pending", f"{other}: {resp.json().get('status')}")
        authz = w.post_as_get(acct, resp.json()["authorizations"][0]).json()
        expect(authz.get("status") == "pending" and authz.get("challenges"),
               f"{other}: authz {authz.get('status')}")
    r.refused_unchanged(lambda: w.new_order(acct, r.dns("*.pre.team-p.test")),
                        400, "rejectedIdentifier")
    # The certificate: finalize with no challenge answered.
    res = r.issue(acct, [f"i{os.getpid()}.pre.team-p.test"])
    expect(res["order"].get("status") == "valid", "issuance of a pre-authorised name")
    # Another team's key: nothing pre-authorised.
    a = eab_account("a")
    resp = w.new_order(a, r.dns(name("a")))
    expect(resp.json().get("status") == "pending", "team a's order is not pending")


def check_team_profiles():
    a = eab_account("a")
    resp = w.new_order(a, r.dns(name("a")))
    expect(resp.json().get("profile") == "server", f"team a default {resp.json().get('profile')}")
    b = eab_account("b")
    resp = w.new_order(b, r.dns(name("b")))
    expect(resp.json().get("profile") == "short", f"team b default {resp.json().get('profile')}")
    r.refused_unchanged(lambda: w.signed_post(b, w.directory("newOrder"),
                                              {"identifiers": r.dns(name("b")),
                                               "profile": "server"}),
                        400, "invalidProfile")


def check_key_policy():
    acct = eab_account("a")
    host = name("a")
    resp = w.new_order(acct, r.dns(host))
    order, url = resp.json(), resp.headers["Location"]
    r.validate_all(acct, order)
    w.poll(acct, url, ("ready",))
    rsa2048 = r.rsa.generate_private_key(65537, 2048)
    r.refused_unchanged(lambda: w.signed_post(acct, order["finalize"],
                                              {"csr": r.csr_for([host], key=rsa2048)[0]}),
                        400, "badCSR")


def check_single_use():
    # With eab_single_use, team c's key bound one account already.
    other = w.Account("ES256")
    r.refused_unchanged(lambda: w.new_account(other, externalAccountBinding=binding(other, KEYS["c"])),
                        403, "unauthorized")


STATE = {}


def check_revoked_team_orders():
    acct = STATE.get("revoked_acct")
    expect(acct, "no account of the revoked key")
    r.refused_unchanged(lambda: w.new_order(acct, r.dns(name("a"))), 403, "unauthorized")


# ------------------------------------------------------------------ phase limits

def check_orders_limit():
    acct = eab_account("a")
    for _ in range(2):
        expect_status(w.new_order(acct, r.dns(name("a"))), 201, "order under the limit")
    resp, doc = r.refused_unchanged(lambda: w.new_order(acct, r.dns(name("a"))),
                                    429, "rateLimited")
    expect("orders_per_account_hour" in doc.get("detail", ""), f"detail {doc.get('detail')}")
    expect(resp.headers.get("Retry-After", "").isdigit(), "rateLimited without Retry-After")


def check_failed_validations_limit():
    acct = eab_account("a")
    host = name("a", "fail")
    resp = w.new_order(acct, r.dns(host))
    order = resp.json()
    authz = w.post_as_get(acct, order["authorizations"][0]).json()
    chall = [c for c in authz["challenges"] if c["type"] == "http-01"][0]
    w.TOKENS[chall["token"]] = "wrong"
    w.signed_post(acct, chall["url"], {})
    resp = w.poll(acct, order["authorizations"][0], ("valid",))
    expect(resp.json().get("status") == "invalid", f"authz {resp.text[:200]}")
    other = eab_account("a")
    resp, doc = r.refused_unchanged(lambda: w.new_order(other, r.dns(host)), 429, "rateLimited")
    expect("failed_validations_per_identifier_hour" in doc.get("detail", ""), doc.get("detail"))


def check_accounts_limit():
    # Three accounts were made in this phase already: the fourth is refused.
    acct = w.Account("ES256")
    resp, doc = r.refused_unchanged(
        lambda: w.new_account(acct, externalAccountBinding=binding(acct, KEYS["a"])),
        429, "rateLimited")
    expect("accounts_per_ip_hour" in doc.get("detail", ""), doc.get("detail"))


# ------------------------------------------------------------------ phase pending

def check_pending_limit():
    acct = eab_account("c")
    expect_status(w.new_order(acct, r.dns(name("a"), name("a"))), 201, "two pending")
    resp, doc = r.refused_unchanged(lambda: w.new_order(acct, r.dns(name("a"), name("a"))),
                                    429, "rateLimited")
    expect("pending_authz_per_account" in doc.get("detail", ""), doc.get("detail"))


PHASES = {
    "policy": [
        ("eab_required", check_eab_required),
        ("eab_hs384_hs512", check_eab_hs384_hs512),
        ("eab_negatives", check_eab_negatives),
        ("team_names", check_team_names),
        ("team_profiles", check_team_profiles),
        ("preauthorized", check_preauthorized),
        ("key_policy", check_key_policy),
    ],
    "revoked": [
        ("revoked_team_orders", check_revoked_team_orders),
    ],
    "limits": [
        ("orders_per_account_hour", check_orders_limit),
        ("failed_validations_per_identifier_hour", check_failed_validations_limit),
        ("accounts_per_ip_hour", check_accounts_limit),
    ],
    "pending": [
        ("pending_authz_per_account", check_pending_limit),
        ("eab_single_use", check_single_use),
    ],
}


def main():
    if len(sys.argv) != 7:
        sys.exit("usage: teams.py PHASE DIRECTORY_URL CA_FILE HTTP01_PORT DATA_DIR KEYS_JSON")
    phase = sys.argv[1]
    w.CTX["url"], w.CTX["ca"], port = sys.argv[2], sys.argv[3], int(sys.argv[4])
    r.STATE["data"] = sys.argv[5]
    KEYS.update(json.load(open(sys.argv[6])))
    session = w.requests.Session()
    session.verify = w.CTX["ca"]
    session.trust_env = False
    w.CTX["session"] = session
    server = w.start_http01(port)
    try:
        w.CTX["directory"] = w.send("GET", w.CTX["url"]).json()
        checks = PHASES[phase]
        if phase == "policy":
            acct = eab_account("r")
            with open(os.path.join(os.path.dirname(sys.argv[6]), "revoked_acct.json"), "w") as f:
                json.dump({"kid": acct.kid, "key": acct.key.to_json()}, f)
        if phase == "revoked":
            saved = json.load(open(os.path.join(os.path.dirname(sys.argv[6]), "revoked_acct.json")))
            acct = w.Account("ES256")
            acct.key = w.jwk.JWK.from_json(saved["key"])
            acct.kid = saved["kid"]
            STATE["revoked_acct"] = acct
        for cname, func in checks:
            w.run_check(cname, func)
    finally:
        server.shutdown()
        server.server_close()
    print(f"teams: {w.COUNTS['passed']} passed, {w.COUNTS['failed']} failed", flush=True)
    sys.exit(0 if w.COUNTS["failed"] == 0 and w.COUNTS["passed"] > 0 else 1)


if __name__ == "__main__":
    main()
