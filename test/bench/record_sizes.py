#!/usr/bin/env python3
"""Where the bytes of an LMDB store go: per table, entries, key and value
bytes (mdb_dump), pages (mdb_stat -a) and how full they are, and bytes per
certificate. Measures only.

    test/bench/record_sizes.py DATA_DIR/db

Run it on a store no process has open (KEEP_TMP=1 make bench keeps the
bench's: proxy-data-1/db). "fill" is (keys + values + 8 bytes of node
header and 2 of index per entry) over the table's pages. "per page" is
entries per leaf page, and "fit" how many entries of the table's average
size a page can hold (4096 - 16 bytes of page header over key + value + 10,
each node rounded up to an even size): a record a few bytes smaller can
let one more fit in every page."""
import re
import subprocess
import sys


def run(*args):
    return subprocess.run(args, capture_output=True, text=True,
                          check=True).stdout


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    db = sys.argv[1]
    pages, leaves, cur = {}, {}, None
    for line in run("mdb_stat", "-a", db).splitlines():
        m = re.match(r"Status of (\S+)", line)
        if m:
            cur = m.group(1)
            pages[cur] = 0
            leaves[cur] = 0
            continue
        m = re.match(r"\s+(Branch|Leaf|Overflow) pages: (\d+)", line)
        if m and cur:
            pages[cur] += int(m.group(2))
            if m.group(1) == "Leaf":
                leaves[cur] += int(m.group(2))
    env = run("mdb_stat", "-e", db)
    used = int(re.search(r"Number of pages used: (\d+)", env).group(1))
    psize = int(re.search(r"Page size: (\d+)", env).group(1))
    free = int(re.search(r"Free pages: (\d+)",
                         run("mdb_stat", "-f", db)).group(1))
    rows, certs = [], 0
    for t in sorted(pages):
        if t == "Main":
            continue
        dump = run("mdb_dump", "-s", t, db)
        body = dump.split("HEADER=END\n", 1)[1].split("DATA=END")[0]
        lines = body.splitlines()
        ks = [len(x.strip()) // 2 for x in lines[0::2]]
        vs = [len(x.strip()) // 2 for x in lines[1::2]]
        if t == "certs":
            certs = len(ks)
        rows.append((t, len(ks), sum(ks), sum(vs), pages[t], leaves[t]))
    per = max(certs, 1)
    print(f"{'table':15} {'entries':>8} {'key B':>9} {'value B':>10} "
          f"{'avg value':>9} {'pages':>6} {'fill':>5} {'B/cert':>7} "
          f"{'per page':>8} {'fit':>4}")
    for t, n, k, v, p, leaf in rows:
        fill = (k + v + 10 * n) / (p * psize) if p else 0
        node = (k + v) / max(n, 1) + 8
        node += node % 2
        fit = int((psize - 16) // (node + 2)) if n else 0
        print(f"{t:15} {n:8} {k:9} {v:10} {v / max(n, 1):9.0f} {p:6} "
              f"{fill:5.0%} {p * psize / per:7.0f} "
              f"{n / max(leaf, 1):8.1f} {fit:4}")
    print(f"free pages {free} ({free * psize / per:.0f} B/cert); "
          f"pages used {used} = {used * psize} bytes; "
          f"{certs} certificates: {used * psize / per:.0f} bytes per certificate")


if __name__ == "__main__":
    main()
