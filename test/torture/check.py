#!/usr/bin/python3
"""The torture test's verdict: the client's journal, the stand-in PKI's
own record, the store (admin subcommands) and the audit log, compared.

Usage: check.py LABEL ADAPTER JOURNAL ORDERS_JSON CERTS_JSON ACCOUNTS_JSON
                MOCK_STATE_JSON AUDIT_LOG KILLS TERMS

Counts (printed on one line, "torture(LABEL): ..."):
  finalized   orders the server took the finalize of (journal)
  valid       of those, valid in the store
  pki_issued  certificates the stand-in signed for the orders' keys
  lost        finalized orders that are not valid in the store, or whose
              certificate the PKI never signed
  duplicate   certificates beyond the first the PKI signed for one order
              (one key per order)
  undeclared  duplicates without their pki.possible_duplicate event
  stuck       orders still processing, or that the client gave up on
  audit_mismatch  audit log checks that failed: seq 1..N gap-free and
              strictly increasing; exactly one order.created per stored
              order and none for an order not stored; exactly one
              order.finalized per finalized stored order; exactly one
              issuing pki.answer per valid order, with its serial; one
              account.created per stored account
Exit status 0 when lost, duplicate (EJBCA: any; others: undeclared),
stuck and audit_mismatch are all 0. Details of each failure on stderr.
"""
import collections
import json
import sys


def load_lines(path):
    out = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if line:
                try:
                    out.append(json.loads(line))
                except ValueError:
                    out.append({"_bad": n})
    return out


def main():
    (label, adapter, journal_p, orders_p, certs_p, accounts_p, mock_p, audit_p,
     kills, terms) = sys.argv[1:11]
    journal = load_lines(journal_p)
    orders = {o["id"]: o for o in json.load(open(orders_p))}
    certs = {c["id"]: c for c in json.load(open(certs_p))}
    accounts = json.load(open(accounts_p))
    mock = json.load(open(mock_p))
    audit = load_lines(audit_p)
    why = []

    key_of = {}          # order id -> key hash
    finalized = set()
    unfinished = set()
    for e in journal:
        if e.get("ev") == "created":
            key_of[e["order"]] = e["key"]
        elif e.get("ev") == "finalized":
            finalized.add(e["order"])
        elif e.get("ev") == "unfinished":
            unfinished.add(e["order"])

    # The PKI's own record: certificates per key.
    pki_by_key = collections.defaultdict(list)
    for c in mock.get("certs", []):
        pki_by_key[c["key"]].append(c["serial"].lower().lstrip("0"))
    our_keys = set(key_of.values())
    pki_issued = sum(len(pki_by_key[k]) for k in our_keys)

    serial_of = {}       # order id -> serial in the store
    for c in certs.values():
        if c.get("status") in ("valid", "revoked", "expired"):
            serial_of[c["order"]] = c["serial"].lower().lstrip("0")

    # lost / stuck
    lost = 0
    valid = 0
    for oid in sorted(finalized):
        o = orders.get(oid)
        if o is None:
            lost += 1
            why.append(f"lost: finalized order {oid} is not in the store")
            continue
        if o["status"] == "valid":
            valid += 1
            s = serial_of.get(oid)
            if s is None or s not in pki_by_key.get(key_of.get(oid), []):
                lost += 1
                why.append(f"lost: order {oid} is valid with serial {s}, which "
                           f"the PKI did not sign for its key")
        elif o["status"] != "processing":
            lost += 1
            err = (o.get("error") or {}).get("detail")
            why.append(f"lost: finalized order {oid} ended {o['status']}: {err}")
    stuck = 0
    for oid, o in orders.items():
        if o["status"] == "processing":
            stuck += 1
            why.append(f"stuck: order {oid} is still processing")
    for oid in unfinished:
        if oid not in orders or orders[oid]["status"] != "processing":
            stuck += 1
            why.append(f"stuck: the client gave up waiting for order {oid}")

    # duplicates
    dup_events = {e.get("order") for e in audit if e.get("event") == "pki.possible_duplicate"}
    duplicate = 0
    undeclared = 0
    order_of_key = {k: o for o, k in key_of.items()}
    for k in our_keys:
        n = len(pki_by_key.get(k, []))
        if n > 1:
            duplicate += n - 1
            oid = order_of_key.get(k)
            if oid not in dup_events:
                undeclared += n - 1
                why.append(f"duplicate: {n} certificates for order {oid} and no "
                           f"pki.possible_duplicate event")

    # audit log against the store
    mismatch = 0
    seqs = [e.get("seq") for e in audit]
    if any("_bad" in e for e in audit):
        mismatch += 1
        why.append("audit: a line is not one JSON object")
    if seqs != list(range(1, len(seqs) + 1)):
        mismatch += 1
        gaps = [i + 1 for i, s in enumerate(seqs) if s != i + 1][:5]
        why.append(f"audit: seq is not 1..{len(seqs)} without gaps (first bad "
                   f"positions {gaps})")
    by_event = collections.defaultdict(collections.Counter)
    issued_lines = collections.defaultdict(list)
    for e in audit:
        ev = e.get("event")
        if ev in ("order.created", "order.finalized"):
            by_event[ev][e.get("order")] += 1
        elif ev == "pki.answer" and e.get("outcome") == "issued":
            issued_lines[e.get("order")].append((e.get("serial") or "").lower().lstrip("0"))
    created = by_event["order.created"]
    for oid in orders:
        if created[oid] != 1:
            mismatch += 1
            why.append(f"audit: order {oid} has {created[oid]} order.created lines")
    for oid in created:
        if oid not in orders:
            mismatch += 1
            why.append(f"audit: order.created for order {oid}, which is not stored")
    fin = by_event["order.finalized"]
    for oid, o in orders.items():
        want = 1 if o["status"] in ("processing", "valid") or oid in finalized else None
        if want is not None and fin[oid] != 1:
            mismatch += 1
            why.append(f"audit: finalized order {oid} has {fin[oid]} order.finalized lines")
        if fin[oid] > 1:
            mismatch += 1
            why.append(f"audit: order {oid} has {fin[oid]} order.finalized lines")
    for oid in fin:
        if oid not in orders:
            mismatch += 1
            why.append(f"audit: order.finalized for order {oid}, which is not stored")
    for oid, o in orders.items():
        if o["status"] != "valid":
            continue
        lines = issued_lines.get(oid, [])
        s = serial_of.get(oid)
        if lines.count(s) != 1:
            mismatch += 1
            why.append(f"audit: valid order {oid} (serial {s}) has "
                       f"{lines.count(s)} pki.answer lines issuing it ({len(lines)} issuing lines)")
    acc_lines = sum(1 for e in audit if e.get("event") == "account.created")
    if acc_lines != len(accounts):
        mismatch += 1
        why.append(f"audit: {acc_lines} account.created lines for {len(accounts)} accounts")

    print(f"torture({label}): adapter={adapter} kills={kills} terms={terms} "
          f"orders={len(key_of)} finalized={len(finalized)} valid={valid} "
          f"pki_issued={pki_issued} lost={lost} duplicate={duplicate} "
          f"undeclared={undeclared} possible_duplicate_events={len(dup_events)} "
          f"stuck={stuck} audit_lines={len(audit)} audit_mismatch={mismatch}")
    for w in why[:40]:
        sys.stderr.write(f"# {w}\n")
    bad_dup = duplicate if adapter == "ejbca" else undeclared
    return 0 if lost == 0 and bad_dup == 0 and stuck == 0 and mismatch == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
