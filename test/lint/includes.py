#!/usr/bin/python3
"""test/lint/includes.py: the modules of proxy/, adapters/ and common/
include each other without a circle, and every call between them is
visible in their #include lines.

A module is X.c + X.h (either may be missing) and X_int.h, the header
X shares with its own other files (curl's vtls_int.h convention): when
X_int.h exists, every X_*.c and X_*.h of the folder belongs to module X
too (proxy/admin.c and admin_accounts.c, admin_certs.c ... behind
admin_int.h). Module
A depends on module B when one of A's files has `#include "B.h"` (B in a
checked folder). Two checks:

  1. circles: the graph of those #include pairs, over proxy/, adapters/
     and common/, has no cycle;
  2. honest headers (with --objs BUILD), between the modules of proxy/:
     each call from A.o to a function or object that B.o defines (read
     with nm) must follow a path of #include pairs from A to B. A header
     that declares what another file defines (the old proxy/resource.h
     declared handlers of order.c, authz.c, challenge.c ...) hides a
     dependency, and a circle behind it; this check finds it. common/
     and adapters/ are libraries whose one header may be implemented by
     several files (common/store.h: store.c and store_jobs.c;
     common/x509.h: x509.c and x509_check.c; adapters/adapter.h:
     support.c, result.c, registry.c), so only their circles are checked.

Prints one line per failure, `--list` prints every #include pair, and
the last line is "includes: N passed, N failed" (one per check).
Exit status 0 when both pass."""

import argparse
import os
import re
import subprocess
import sys

INCLUDE = re.compile(r'^\s*#\s*include\s+"([a-z_]+/[A-Za-z0-9_]+)\.h"')


# Modules that have an X_int.h ("proxy/admin"), filled by modules().
FAMILIES = set()


def module_of(path):
    """"proxy/order" for proxy/order.c, proxy/order.h; "common/x509" for
    common/x509_int.h too, and "proxy/admin" for proxy/admin_certs.c
    (proxy/admin_int.h exists)."""
    base = os.path.splitext(path)[0]
    if base.endswith("_int"):
        return base[:-4]
    owners = [f for f in FAMILIES if base.startswith(f + "_")]
    return max(owners, key=len) if owners else base


def modules(dirs):
    """module name -> list of its files."""
    mods = {}
    for d in dirs:
        for name in os.listdir(d):
            if name.endswith("_int.h"):
                FAMILIES.add(d + "/" + name[:-len("_int.h")])
    for d in dirs:
        for name in sorted(os.listdir(d)):
            if os.path.splitext(name)[1] in (".c", ".h"):
                path = d + "/" + name
                mods.setdefault(module_of(path), []).append(path)
    return mods


def include_graph(mods):
    edges = {m: set() for m in mods}
    for m, files in mods.items():
        for f in files:
            with open(f, encoding="utf-8", errors="replace") as fh:
                for line in fh:
                    hit = INCLUDE.match(line)
                    target = module_of(hit.group(1)) if hit else None
                    if target in mods and target != m:
                        edges[m].add(target)
    return edges


def find_cycle(edges):
    """A list of modules that form a cycle, or None."""
    color = {m: 0 for m in edges}       # 0 new, 1 on the stack, 2 done
    stack = []

    def visit(m):
        color[m] = 1
        stack.append(m)
        for n in sorted(edges[m]):
            if color[n] == 1:
                return stack[stack.index(n):] + [n]
            if color[n] == 0:
                found = visit(n)
                if found:
                    return found
        stack.pop()
        color[m] = 2
        return None

    for m in sorted(edges):
        if color[m] == 0:
            found = visit(m)
            if found:
                return found
    return None


def reachable(edges, start):
    seen = set()
    todo = [start]
    while todo:
        m = todo.pop()
        for n in edges[m]:
            if n not in seen:
                seen.add(n)
                todo.append(n)
    return seen


def nm(path, undefined):
    args = ["nm", "-P", "--undefined-only" if undefined else "--defined-only",
            path]
    out = subprocess.run(args, check=True, capture_output=True,
                         text=True).stdout
    syms = set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 2 and (undefined or parts[1] in "TDRBG"):
            syms.add(parts[0])
    return syms


def hidden_calls(mods, edges, objdir, dirs):
    """(caller, callee, symbol) for each call between modules of dirs not
    visible in the includes."""
    defined_by = {}
    used = {}
    for m in mods:
        if m.split("/")[0] not in dirs:
            continue
        for f in mods[m]:
            if not f.endswith(".c"):
                continue
            obj = os.path.join(objdir, f[:-2] + ".o")
            if not os.path.exists(obj):
                continue
            for s in nm(obj, False):
                defined_by[s] = m
            used.setdefault(m, set()).update(nm(obj, True))
    if not used:
        raise SystemExit("includes: no objects under %s (build first)"
                         % objdir)
    bad = []
    for m, syms in sorted(used.items()):
        reach = reachable(edges, m)
        for s in sorted(syms):
            owner = defined_by.get(s)
            if owner is not None and owner != m and owner not in reach:
                bad.append((m, owner, s))
    return bad


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--objs", help="build folder with the objects "
                    "(e.g. build)")
    ap.add_argument("--calls", default="proxy",
                    help="folders whose calls are checked (comma list)")
    ap.add_argument("--list", action="store_true",
                    help="print every #include pair")
    ap.add_argument("dirs", nargs="*",
                    default=["proxy", "adapters", "common"])
    args = ap.parse_args()

    mods = modules(args.dirs)
    edges = include_graph(mods)
    passed = failed = 0
    if args.list:
        for m in sorted(edges):
            for n in sorted(edges[m]):
                print("%s -> %s" % (m, n))
    pairs = sum(len(v) for v in edges.values())
    cycle = find_cycle(edges)
    if cycle:
        print("includes: circle: " + " -> ".join(cycle))
        failed += 1
    else:
        print("includes: %d modules, %d #include pairs, no circle"
              % (len(mods), pairs))
        passed += 1
    if args.objs:
        bad = hidden_calls(mods, edges, args.objs, args.calls.split(","))
        for caller, callee, sym in bad:
            print("includes: %s uses %s of %s but does not include %s.h"
                  % (caller, sym, callee, callee))
        if bad:
            failed += 1
        else:
            print("includes: every call between modules follows the "
                  "#include pairs")
            passed += 1
    print("includes: %d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
