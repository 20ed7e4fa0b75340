#!/usr/bin/python3
"""Cross-instance checks of test/integration/ha.sh: two proxy instances on
one PostgreSQL store, each request sent to the instance the check names.

Usage: /usr/bin/python3 ha_test.py DIRECTORY_URL CA_FILE HTTP01_PORT
                                   ORIGIN_A ORIGIN_B EAB_JSON ORDER_LIMIT

DIRECTORY_URL is the balancer's (every URL the server hands out, and every
JWS "url", names the balancer); ORIGIN_A / ORIGIN_B ("https://host:port")
are the instances themselves: a request "at A" goes to the URL with its
origin replaced by ORIGIN_A, so the check decides which instance answers.
EAB_JSON: {"kid": ..., "hmac": ...} of a key minted for this run (the
proxies run with eab_single_use = yes). ORDER_LIMIT: the proxies'
[ratelimit] orders_per_account_hour.

Prints "ok - name" / "not ok - name: reason" per check, then
"ha: N passed, N failed". Exit status 0 only if all passed.
"""
import json
import os
import sys
import threading
import time
from urllib.parse import urlsplit, urlunsplit

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wire_rfc as r  # noqa: E402
import wire_test as w  # noqa: E402
from wire_test import Failure, expect, expect_problem, expect_status  # noqa: E402

ORIGINS = {}
EAB = {}
LIMIT = [0]


def at(inst, url):
    """url with the balancer's origin replaced by instance inst's."""
    o = urlsplit(ORIGINS[inst])
    u = urlsplit(url)
    return urlunsplit((o.scheme, o.netloc, u.path, u.query, u.fragment))


def nonce_at(inst):
    resp = w.CTX["session"].request("HEAD", at(inst, w.directory("newNonce")),
                                    timeout=w.TIMEOUT, verify=w.CTX["ca"])
    nonce = resp.headers.get("Replay-Nonce")
    expect(nonce, f"no Replay-Nonce from newNonce at {inst}")
    return nonce


def post_at(inst, acct, url, payload, **kwargs):
    """A JWS signed for url (the balancer's), sent to instance inst."""
    body = w.make_jws(acct, url, payload, **kwargs)
    return w.CTX["session"].request(
        "POST", at(inst, url), data=body.encode(),
        headers={"Content-Type": w.JOSE}, timeout=w.TIMEOUT,
        verify=w.CTX["ca"])


# ------------------------------------------------------------------ nonces

def check_nonce_minted_a_redeemed_b():
    acct = w.registered()
    nonce = nonce_at("a")
    expect_status(post_at("b", acct, acct.kid, None, nonce=nonce), 200,
                  "POST-as-GET at b with a's nonce")
    expect_problem(post_at("b", acct, acct.kid, None, nonce=nonce), 400,
                   "badNonce")
    expect_problem(post_at("a", acct, acct.kid, None, nonce=nonce), 400,
                   "badNonce")


def check_nonce_redeemed_a_replayed_b():
    acct = w.registered()
    nonce = nonce_at("a")
    expect_status(post_at("a", acct, acct.kid, None, nonce=nonce), 200,
                  "POST-as-GET at a with its own nonce")
    expect_problem(post_at("b", acct, acct.kid, None, nonce=nonce), 400,
                   "badNonce")


def check_nonce_race():
    """One nonce sent to both instances at the same moment, 10 times: one
    answer 200, the other badNonce, every time."""
    acct = w.registered()
    for rnd in range(10):
        nonce = nonce_at("a" if rnd % 2 else "b")
        results = {}

        def send(inst):
            results[inst] = post_at(inst, acct, acct.kid, None, nonce=nonce)

        threads = [threading.Thread(target=send, args=(i,)) for i in ("a", "b")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        codes = sorted(resp.status_code for resp in results.values())
        expect(codes == [200, 400], f"round {rnd}: answers {codes}")
        bad = [resp for resp in results.values() if resp.status_code == 400][0]
        expect_problem(bad, 400, "badNonce")


# ------------------------------------------------------------------ EAB

def check_eab_single_use_across():
    import teams  # noqa: E402  (its binding() builds the EAB JWS)
    first = w.Account("ES256")
    body = {"termsOfServiceAgreed": True,
            "externalAccountBinding": teams.binding(first, EAB)}
    resp = post_at("a", first, w.directory("newAccount"), body, use_jwk=True)
    expect_status(resp, 201, "EAB newAccount at a")
    other = w.Account("ES256")
    body = {"termsOfServiceAgreed": True,
            "externalAccountBinding": teams.binding(other, EAB)}
    resp = post_at("b", other, w.directory("newAccount"), body, use_jwk=True)
    expect_problem(resp, 403, "unauthorized")


# ------------------------------------------------------------------ finalize

def ready_order(acct, host):
    resp = w.new_order(acct, r.dns(host))
    expect_status(resp, 201, "newOrder")
    order, url = resp.json(), resp.headers["Location"]
    r.validate_all(acct, order)
    resp = w.poll(acct, url, ("ready",))
    expect(resp.json().get("status") == "ready", f"order {resp.text[:200]}")
    return order, url


def check_finalize_twice_across():
    """The same ready order finalized at a and at b at the same moment:
    one is taken, the other is orderNotReady; one certificate."""
    acct = w.registered()
    host = f"fin-{os.getpid()}.a.test"
    order, url = ready_order(acct, host)
    csr = r.csr_for([host])[0]
    results = {}
    # Both nonces first, so the two requests leave together.
    nonces = {"a": nonce_at("a"), "b": nonce_at("b")}
    go = threading.Barrier(2)

    def fin(inst):
        body = w.make_jws(acct, order["finalize"], {"csr": csr}, nonce=nonces[inst])
        go.wait()
        results[inst] = w.CTX["session"].request(
            "POST", at(inst, order["finalize"]), data=body.encode(),
            headers={"Content-Type": w.JOSE}, timeout=w.TIMEOUT,
            verify=w.CTX["ca"])

    threads = [threading.Thread(target=fin, args=(i,)) for i in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    codes = sorted(resp.status_code for resp in results.values())
    expect(codes == [200, 403], f"finalize answers {codes}: "
           + "; ".join(w.short(x) for x in results.values()))
    loser = [x for x in results.values() if x.status_code == 403][0]
    expect_problem(loser, 403, "orderNotReady")
    resp = w.poll(acct, url, ("valid",))
    doc = resp.json()
    expect(doc.get("status") == "valid" and doc.get("certificate"),
           f"order ended {resp.text[:200]}")


# ------------------------------------------------------------------ rate limits

def check_order_limit_across():
    """orders_per_account_hour counts the orders of both instances."""
    acct = w.registered()
    accepted = 0
    for i in range(LIMIT[0] + 3):
        inst = "a" if i % 2 == 0 else "b"
        resp = post_at(inst, acct, w.directory("newOrder"),
                       {"identifiers": r.dns(f"rl{i}-{os.getpid()}.a.test")})
        if resp.status_code == 201:
            accepted += 1
            continue
        expect_problem(resp, 429, "rateLimited")
    expect(accepted == LIMIT[0], f"{accepted} orders accepted, limit {LIMIT[0]}")
    for inst in ("a", "b"):
        resp = post_at(inst, acct, w.directory("newOrder"),
                       {"identifiers": r.dns(f"rlx-{inst}-{os.getpid()}.a.test")})
        expect_problem(resp, 429, "rateLimited")


CHECKS = [
    ("nonce_minted_at_a_redeemed_once_at_b", check_nonce_minted_a_redeemed_b),
    ("nonce_redeemed_at_a_replayed_at_b_bad_nonce", check_nonce_redeemed_a_replayed_b),
    ("nonce_sent_to_both_at_once_one_wins", check_nonce_race),
    ("eab_single_use_across_instances", check_eab_single_use_across),
    ("finalize_twice_across_instances_one_wins", check_finalize_twice_across),
    ("order_rate_limit_counts_both_instances", check_order_limit_across),
]


def main():
    if len(sys.argv) != 8:
        sys.exit(__doc__)
    url, ca, port, ORIGINS["a"], ORIGINS["b"], eab, limit = sys.argv[1:]
    EAB.update(json.loads(eab))
    LIMIT[0] = int(limit)
    w.CTX["url"], w.CTX["ca"] = url, ca
    session = w.requests.Session()
    session.verify = ca
    session.trust_env = False
    session.headers["User-Agent"] = "acmeproxy-ha-test"
    w.CTX["session"] = session
    server = w.start_http01(int(port))
    try:
        resp = w.send("GET", url)
        expect_status(resp, 200, "directory")
        w.CTX["directory"] = resp.json()
        for name, func in CHECKS:
            w.run_check(name, func)
    except Failure as exc:
        print(f"not ok - directory: {exc}", flush=True)
        w.COUNTS["failed"] += 1
    finally:
        server.shutdown()
        server.server_close()
    print(f"ha: {w.COUNTS['passed']} passed, {w.COUNTS['failed']} failed", flush=True)
    time.sleep(0)
    sys.exit(0 if w.COUNTS["failed"] == 0 and w.COUNTS["passed"] > 0 else 1)


if __name__ == "__main__":
    main()
