#!/usr/bin/python3
"""A PKI behind the exec adapter, for the integration tests.

Usage (from the adapter config): command = .../exec_pki.py, args = STATE_DIR
STATE_DIR is the mock PKI's directory: the leaf is signed with its
intermediate (ca/ca-intermediate.pem and .key) by `openssl x509 -req`.

Reads the request JSON on stdin and answers JSON on stdout with the exit
codes of adapters/exec.c: 0 issued/done, 1 rejected, 2 pending, 3 retry,
4 (lookup) no record of the order.
Scenario by the first label of the first name, as the mock PKI does:
pending-N (N polls), reject, e503 (retry), slow-MS (answers after MS
milliseconds, and issues even when the proxy is gone meanwhile), anything
else: issued.
Every signature is appended to STATE_DIR/exec-issued.log (one name per
line), so a test can count issuances per order; the certificate of each
order is kept in STATE_DIR/exec-orders/ORDER_ID, which "lookup" reads.
"""
import json
import os
import subprocess
import sys
import tempfile
import time


def sign(state, csr_pem, name):
    ca = os.path.join(state, "ca")
    with tempfile.TemporaryDirectory() as tmp:
        req = os.path.join(tmp, "req.pem")
        with open(req, "w") as f:
            f.write(csr_pem)
        # What a TLS server template puts in (the proxy refuses a leaf
        # without serverAuth); the SANs come from the CSR.
        ext = os.path.join(tmp, "leaf.ext")
        with open(ext, "w") as f:
            f.write("basicConstraints = critical, CA:FALSE\n"
                    "keyUsage = critical, digitalSignature\n"
                    "extendedKeyUsage = serverAuth, clientAuth\n")
        out = subprocess.run(
            ["openssl", "x509", "-req", "-in", req, "-days", "30",
             "-CA", os.path.join(ca, "ca-intermediate.pem"),
             "-CAkey", os.path.join(ca, "ca-intermediate.key"),
             "-set_serial", str(int.from_bytes(os.urandom(15), "big")),
             "-extfile", ext, "-copy_extensions", "copyall"],
            capture_output=True, text=True, timeout=20)
    if out.returncode != 0:
        sys.stderr.write(out.stderr)
        return None
    with open(os.path.join(state, "exec-issued.log"), "a") as f:
        f.write(name + "\n")
    with open(os.path.join(ca, "ca-intermediate.pem")) as f:
        chain = f.read()
    return {"certificate": out.stdout, "chain": chain}


def order_file(state, order_id):
    safe = "".join(ch for ch in order_id if ch.isalnum() or ch in "-_")
    return os.path.join(state, "exec-orders", safe)


def keep(state, order_id, cert):
    os.makedirs(os.path.join(state, "exec-orders"), exist_ok=True)
    tmp = order_file(state, order_id) + ".tmp"
    with open(tmp, "w") as f:
        json.dump(cert, f)
    os.rename(tmp, order_file(state, order_id))


def answer(obj, code):
    sys.stdout.write(json.dumps(obj))
    sys.exit(code)


def main():
    state = sys.argv[1]
    req = json.load(sys.stdin)
    action = req.get("action")
    if os.environ.get("ACMEPROXY_ACTION") != action:
        answer({"detail": "ACMEPROXY_ACTION does not match"}, 3)
    if action == "health":
        answer({}, 0)
    if action == "revoke":
        with open(os.path.join(state, "exec-revoked.log"), "a") as f:
            f.write(req["serial"] + " " + str(req["reason"]) + "\n")
        answer({}, 0)
    if action == "poll":
        path = os.path.join(state, "exec-pending-" + req["ref"])
        with open(path) as f:
            pend = json.load(f)
        if pend["left"] > 0:
            pend["left"] -= 1
            with open(path, "w") as f:
                json.dump(pend, f)
            answer({"ref": req["ref"], "retry_after": 1,
                    "detail": "waiting for approval"}, 2)
        if "cert" not in pend:
            pend["cert"] = sign(state, pend["csr"], pend["name"])
            with open(path, "w") as f:
                json.dump(pend, f)
        answer(pend["cert"], 0)
    if action == "lookup":
        try:
            with open(order_file(state, req["order_id"])) as f:
                answer(json.load(f), 0)
        except FileNotFoundError:
            answer({"detail": "no certificate for this order"}, 4)
    names = req.get("dns_names") or req.get("ip_addrs") or ["-"]
    label = names[0].split(".")[0]
    if label.startswith("slow-"):
        time.sleep(int(label[5:]) / 1000.0)
    if label == "reject":
        answer({"problem": "rejectedIdentifier",
                "detail": "names under reject. are not allowed by policy"}, 1)
    if label == "hold" and os.path.exists(os.path.join(state, "hold")):
        answer({"detail": "held by the test"}, 3)
    if label in ("e503", "e500"):
        answer({"detail": "the CA is down for maintenance"}, 3)
    if label.startswith("pending-"):
        ref = req["order_id"]
        with open(os.path.join(state, "exec-pending-" + ref), "w") as f:
            json.dump({"left": int(label[8:]), "csr": req["csr_pem"],
                       "name": names[0]}, f)
        answer({"ref": ref, "retry_after": 1, "detail": "queued"}, 2)
    cert = sign(state, req["csr_pem"], names[0])
    if cert is None:
        answer({"detail": "openssl failed"}, 3)
    keep(state, req["order_id"], cert)
    answer(cert, 0)


if __name__ == "__main__":
    main()
