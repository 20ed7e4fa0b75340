#!/usr/bin/python3
"""test/lint/sizes.py: no source file of proxy/, adapters/ or common/ is
over 1,200 lines (issue 13: a file that grows past it holds more than one
purpose and is split by purpose, as admin.c, rest.c, ca.c and crypto.c
were).

Prints one line per file over the limit, then "sizes: N passed, N failed"
(one per file). Exit status 0 when none is over."""

import os
import sys

LIMIT = 1200
DIRS = ("proxy", "adapters", "common")


def main():
    passed = failed = 0
    largest = (0, "")
    for d in DIRS:
        for name in sorted(os.listdir(d)):
            if os.path.splitext(name)[1] not in (".c", ".h"):
                continue
            path = d + "/" + name
            with open(path, encoding="utf-8", errors="replace") as fh:
                n = sum(1 for _ in fh)
            largest = max(largest, (n, path))
            if n > LIMIT:
                print("sizes: %s has %d lines (limit %d)" % (path, n, LIMIT))
                failed += 1
            else:
                passed += 1
    print("sizes: the largest is %s, %d lines" % (largest[1], largest[0]))
    print("sizes: %d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
