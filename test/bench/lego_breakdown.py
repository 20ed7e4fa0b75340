#!/usr/bin/env python3
"""Where a `lego run` spends its time: reads the strace files of traced
lego runs and the proxy's debug log lines of each run (made by
test/bench/lego_breakdown.sh) and prints one table of medians.

    lego_breakdown.py ACME_PORT HTTP01_PORT RUN_DIR...

Each RUN_DIR holds lego.strace (strace -f -ttt of execve, connect, accept4,
read, write, close, exit_group) and proxy.log (the proxy's log lines
written during that run, at debug level).

On lego's connection to the ACME port, the client's writes and reads form
rounds: a run of writes, then the reads of the answer. The first two
rounds are the TLS handshake (Go sends its ClientHello, then its
Finished); every later round is one HTTP request, matched in order with
the proxy's "http: METHOD PATH STATUS Nms" lines. For each request:
"client" is the time from the request's last write to the answer's last
read, "server" the proxy's own time for it (whole ms), and "before" the
client's time between the previous answer and this request (for
finalize: key generation and the CSR). Measures only.
"""
import re
import statistics
import sys

LINE = re.compile(r'^(\d+)\s+(\d+\.\d+)\s+(.*)$')
CALL = re.compile(r'^(\w+)\((\d+)?')
RET = re.compile(r'=\s+(-?\d+)')
HTTP = re.compile(r'DEBUG http: (\S+) (\S+) (\d+) (\d+)ms')
VALID = re.compile(r'INFO validate: .* result=(\S+) .* ms=(\d+)')


def events(path, acme_port, http_port):
    """(t_exec, t_exit, [(kind, t)], accept times) of one traced run."""
    pending = {}            # pid -> (call, fd, t) of an unfinished call
    acme_fd = None
    t_exec = t_exit = t_connect = None
    io = []                 # ('W' | 'R', t) on the ACME connection
    accepts = []
    for raw in open(path, encoding='utf-8', errors='replace'):
        m = LINE.match(raw.rstrip('\n'))
        if not m:
            continue
        pid, t, rest = m.group(1), float(m.group(2)), m.group(3)
        if rest.startswith('<...'):
            call_fd = pending.pop(pid, None)
            if call_fd is None:
                continue
            name, fd, t0 = call_fd
            rm = RET.search(rest)
            ret = int(rm.group(1)) if rm else -1
            t = t0
        else:
            cm = CALL.match(rest)
            if not cm:
                continue
            name = cm.group(1)
            fd = int(cm.group(2)) if cm.group(2) else None
            if rest.endswith('<unfinished ...>'):
                pending[pid] = (name, fd, t)
                if name not in ('connect', 'execve'):
                    continue
                ret = None
            else:
                rm = RET.search(rest.rsplit(')', 1)[-1] if ')' in rest else rest)
                ret = int(rm.group(1)) if rm else None
        if name == 'execve' and t_exec is None:
            t_exec = t
        elif name == 'exit_group':
            t_exit = t
        elif name == 'connect' and 'htons(%d)' % acme_port in rest:
            if acme_fd is None:
                acme_fd, t_connect = fd, t
        elif name == 'accept4' and ret is not None and ret >= 0:
            accepts.append(t)
        elif fd is not None and fd == acme_fd:
            if name == 'write' and ret is not None and ret > 0:
                io.append(('W', t))
            elif name == 'read' and ret is not None and ret > 0:
                io.append(('R', t))
            elif name == 'close':
                acme_fd = -1        # later connections are not followed
    return t_exec, t_connect, t_exit, io, accepts


def rounds(io):
    """[(first write, last write, first read, last read)]"""
    out = []
    i = 0
    while i < len(io):
        if io[i][0] != 'W':
            i += 1
            continue
        w0 = io[i][1]
        while i < len(io) and io[i][0] == 'W':
            w1 = io[i][1]
            i += 1
        if i >= len(io):
            break
        r0 = io[i][1]
        while i < len(io) and io[i][0] == 'R':
            r1 = io[i][1]
            i += 1
        out.append((w0, w1, r0, r1))
    return out


def one_run(run_dir, acme_port, http_port):
    t_exec, t_conn, t_exit, io, accepts = events(
        run_dir + '/lego.strace', acme_port, http_port)
    reqs = []
    validation = None
    for line in open(run_dir + '/proxy.log', encoding='utf-8', errors='replace'):
        m = HTTP.search(line)
        if m:
            reqs.append((m.group(1), m.group(2), int(m.group(4))))
        v = VALID.search(line)
        if v:
            validation = int(v.group(2))
    rs = rounds(io)
    if t_exec is None or t_conn is None or len(rs) < 3:
        return None
    rows = [('process start to connect (Go start-up, account read)', None,
             (t_conn - t_exec) * 1e3, None)]
    hs_end = rs[1][3]
    rows.append(('TLS handshake (connect to Finished)', None,
                 (hs_end - t_conn) * 1e3, None))
    prev_end = hs_end
    ids = {}
    for k, r in enumerate(rs[2:]):
        if k < len(reqs):
            meth, path, srv = reqs[k]
            kind = re.sub(r'/[A-Za-z0-9_-]{16,}', '/ID', path)
            label = '%s %s' % (meth, kind)
        else:
            label, srv = 'request %d (not in the log)' % (k + 1), None
        n = ids.get(label, 0) + 1
        ids[label] = n
        if n > 1:
            label += ' #%d' % n
        rows.append((label, (r[0] - prev_end) * 1e3, (r[3] - r[1]) * 1e3, srv))
        prev_end = r[3]
    rows.append(('last answer to exit (files written)', None,
                 ((t_exit or prev_end) - prev_end) * 1e3, None))
    total = ((t_exit or prev_end) - t_exec) * 1e3
    return rows, total, validation, len(accepts)


def main():
    acme_port, http_port = int(sys.argv[1]), int(sys.argv[2])
    runs = [r for r in (one_run(d, acme_port, http_port) for d in sys.argv[3:]) if r]
    if not runs:
        print('lego_breakdown: no run could be read')
        return 1
    # Rows by label, in the order of the first run; medians over runs.
    labels = [row[0] for row in runs[0][0]]
    table = {lab: ([], [], []) for lab in labels}
    for rows, _, _, _ in runs:
        for lab, before, client, srv in rows:
            if lab in table:
                for col, v in zip(table[lab], (before, client, srv)):
                    if v is not None:
                        col.append(v)

    def med(vals, fmt):
        return fmt % statistics.median(vals) if vals else '-'

    print('  %-56s %9s %9s %9s' % ('step (medians of %d traced runs)' % len(runs),
                                   'before', 'client', 'server'))
    for lab in labels:
        b, c, s = table[lab]
        print('  %-56s %9s %9s %9s' % (lab, med(b, '%.1f'), med(c, '%.1f'), med(s, '%d')))
    vals = [r[2] for r in runs if r[2] is not None]
    print('  %-56s %9s %9s %9s' % ('  of which the proxy\'s http-01 fetch (validate ms=)',
                                   '', '', med(vals, '%d')))
    print('  %-56s %9s %9.1f' % ('total under strace (execve to exit_group)', '',
                                 statistics.median(r[1] for r in runs)))
    return 0


if __name__ == '__main__':
    sys.exit(main())
