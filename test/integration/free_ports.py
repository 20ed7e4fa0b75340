#!/usr/bin/python3
"""Print N loopback port numbers (one per line) that are free for both TCP
and UDP on 127.0.0.1 right now.  Used by run.sh; the DNS server needs the
same number on both protocols, the others only TCP.

With FREE_PORTS_LEDGER set (test/run.sh sets it), the ports handed out
are appended to that file under a lock and never handed out again in the
same run, so suites running at once never get the same port while one of
them is still starting its server.

Usage: free_ports.py [N]
"""
import fcntl
import os
import socket
import sys


def free_port(taken):
    for _ in range(200):
        tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        tcp.bind(("127.0.0.1", 0))
        port = tcp.getsockname()[1]
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            udp.bind(("127.0.0.1", port))
        except OSError:
            tcp.close()
            udp.close()
            continue
        tcp.close()
        udp.close()
        if port not in taken:
            return port
    raise SystemExit("free_ports.py: no free port found")


def main():
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    ledger_path = os.environ.get("FREE_PORTS_LEDGER")
    if not ledger_path:
        taken = set()
        for _ in range(count):
            port = free_port(taken)
            taken.add(port)
            print(port)
        return
    with open(ledger_path, "a+", encoding="ascii") as ledger:
        fcntl.flock(ledger, fcntl.LOCK_EX)
        ledger.seek(0)
        taken = {int(line) for line in ledger.read().split() if line.isdigit()}
        ports = []
        for _ in range(count):
            port = free_port(taken)
            taken.add(port)
            ports.append(port)
        ledger.write("".join("%d\n" % p for p in ports))
        ledger.flush()
    for port in ports:
        print(port)


if __name__ == "__main__":
    main()
