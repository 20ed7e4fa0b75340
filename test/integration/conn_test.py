#!/usr/bin/env python3
"""Raw HTTP/1.1 over TLS against the proxy's connection gate.

Usage: conn_test.py HOST PORT CA_FILE MODE
  MODE framing  strict framing (400/413/414/431), pipelining,
                Expect: 100-continue, head and keep-alive deadlines;
                the proxy runs with max_head 8192, max_body 65536,
                head_timeout_ms and idle_timeout_ms 2000.
  MODE cap      max_conns_per_ip = 8: of 20 silent connections from
                127.0.0.1, 12 are closed at once; 127.0.0.2 is served.
  MODE load     24 keep-alive clients send GET /directory for 3 s (the
                proxy is stopped meanwhile): some requests are answered.
Prints "ok - NAME" / "not ok - NAME: WHY" and "conn_wire: N passed, N failed".
"""
import socket
import ssl
import sys
import threading
import time

HOST, PORT, CA, MODE = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
PASSED = FAILED = 0


def ok(name):
    global PASSED
    PASSED += 1
    print(f"ok - {name}", flush=True)


def not_ok(name, why):
    global FAILED
    FAILED += 1
    print(f"not ok - {name}: {why}", flush=True)


def check(name, cond, why):
    if cond:
        ok(name)
    else:
        not_ok(name, why)


CTX = ssl.create_default_context(cafile=CA)


def tls(source="127.0.0.1", timeout=10):
    raw = socket.create_connection((HOST, PORT), timeout=timeout,
                                   source_address=(source, 0))
    return CTX.wrap_socket(raw, server_hostname="localhost")


def read_response(s, deadline=10.0):
    """One response: (status, headers dict (lower-case, last wins), body)."""
    buf = b""
    end = time.monotonic() + deadline
    while b"\r\n\r\n" not in buf:
        s.settimeout(max(0.1, end - time.monotonic()))
        chunk = s.recv(65536)
        if not chunk:
            raise EOFError("closed before a response head")
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    hdrs = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    n = int(hdrs.get("content-length", "0"))
    while len(rest) < n:
        s.settimeout(max(0.1, end - time.monotonic()))
        chunk = s.recv(65536)
        if not chunk:
            break
        rest += chunk
    return status, hdrs, rest[:n], rest[n:]


def closed_by_server(s, within):
    """True when the server closes s (EOF or reset) within `within` s."""
    end = time.monotonic() + within
    try:
        while time.monotonic() < end:
            s.settimeout(max(0.05, end - time.monotonic()))
            if not s.recv(65536):
                return True
    except (socket.timeout, TimeoutError):
        return False
    except (ConnectionError, ssl.SSLError, OSError):
        return True
    return False


def exchange(name, raw, want, detail=None):
    """Sends raw, expects status want (and detail in the body), then close."""
    try:
        s = tls()
        s.sendall(raw)
        status, hdrs, body, _ = read_response(s)
    except Exception as e:  # noqa: BLE001 - any failure is the test's
        not_ok(name, f"no response: {e!r}")
        return None
    if status != want or (detail is not None and detail.encode() not in body):
        not_ok(name, f"got {status} {body[:160]!r}, want {want} {detail or ''}")
        s.close()
        return None
    ok(name)
    return s, hdrs, body


POST = (b"POST /acme/new-account HTTP/1.1\r\nHost: localhost\r\n"
        b"Content-Type: application/jose+json\r\n")


def framing():
    r = exchange("duplicate_content_length_is_400",
                 POST + b"Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}x", 400,
                 "Content-Length")
    if r is not None:
        s, hdrs, body = r
        check("gate_error_has_replay_nonce_and_link",
              "replay-nonce" in hdrs and 'rel="index"' in hdrs.get("link", ""),
              f"headers {hdrs}")
        check("gate_error_is_problem_document",
              hdrs.get("content-type") == "application/problem+json" and
              b"urn:ietf:params:acme:error:malformed" in body, f"{hdrs} {body!r}")
        check("gate_error_closes_connection", closed_by_server(s, 3),
              "still open 3 s after a framing error")
    exchange("equal_duplicate_content_length_is_400",
             POST + b"Content-Length: 2\r\nContent-Length: 2\r\n\r\n{}", 400)
    exchange("content_length_with_transfer_encoding_is_400",
             POST + b"Content-Length: 7\r\nTransfer-Encoding: chunked\r\n\r\n"
             b"2\r\n{}\r\n0\r\n\r\n", 400)
    exchange("transfer_encoding_then_content_length_is_400",
             POST + b"Transfer-Encoding: chunked\r\nContent-Length: 7\r\n\r\n"
             b"2\r\n{}\r\n0\r\n\r\n", 400)
    exchange("two_transfer_encodings_is_400",
             POST + b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"
             b"2\r\n{}\r\n0\r\n\r\n", 400)
    exchange("unknown_transfer_coding_is_400",
             POST + b"Transfer-Encoding: gzip\r\n\r\n", 400)
    exchange("space_before_colon_is_400",
             POST + b"Content-Length : 2\r\n\r\n{}", 400)
    exchange("obs_fold_is_400",
             b"GET /directory HTTP/1.1\r\nHost: localhost\r\nX-A: a\r\n  b\r\n\r\n", 400)
    exchange("long_request_target_is_414",
             b"GET /" + b"a" * 3000 + b" HTTP/1.1\r\nHost: localhost\r\n\r\n", 414)
    exchange("large_head_is_431",
             b"GET /directory HTTP/1.1\r\nHost: localhost\r\nX-Big: " + b"b" * 9000 +
             b"\r\n\r\n", 431)
    exchange("too_many_fields_is_431",
             b"GET /directory HTTP/1.1\r\nHost: localhost\r\n" +
             b"".join(b"X-F%d: v\r\n" % i for i in range(70)) + b"\r\n", 431)
    exchange("declared_body_over_max_body_is_413_at_once",
             POST + b"Content-Length: 65537\r\n\r\n", 413)
    chunk = b"%x\r\n" % 4096 + b"a" * 4096 + b"\r\n"
    exchange("chunked_body_over_max_body_is_413",
             POST + b"Transfer-Encoding: chunked\r\n\r\n" + chunk * 17 + b"0\r\n\r\n", 413)
    # A well-framed chunked body reaches the ACME handler, which reads it.
    exchange("chunked_body_reaches_the_handler",
             POST + b"Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n", 400,
             "JWS")
    # Two requests in one write: two answers, in order, on one connection.
    try:
        s = tls()
        s.sendall(b"GET /directory HTTP/1.1\r\nHost: localhost\r\n\r\n"
                  b"HEAD /acme/new-nonce HTTP/1.1\r\nHost: localhost\r\n\r\n")
        a, _, _, rest = read_response(s)
        if rest:
            raise RuntimeError("bytes after the first response")
        b, hb, _, _ = read_response(s)
        check("pipelined_requests_answered_in_order", a == 200 and b == 200 and
              "replay-nonce" in hb, f"got {a} then {b}")
        s.close()
    except Exception as e:  # noqa: BLE001
        not_ok("pipelined_requests_answered_in_order", repr(e))
    # Two requests in two TLS records sent back to back: the second record
    # can reach the proxy with the first (its TLS read-ahead holds it) and
    # must be answered without the client sending anything more.
    try:
        s = tls()
        # corked: the two records leave in one TCP segment
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)
        s.sendall(b"GET /directory HTTP/1.1\r\nHost: localhost\r\n\r\n")
        s.sendall(b"HEAD /acme/new-nonce HTTP/1.1\r\nHost: localhost\r\n\r\n")
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 0)
        s.settimeout(5)
        a, _, _, rest = read_response(s)
        if rest:
            raise RuntimeError("bytes after the first response")
        b, hb, _, _ = read_response(s)
        check("pipelined_records_answered_in_order", a == 200 and b == 200 and
              "replay-nonce" in hb, f"got {a} then {b}")
        s.close()
    except Exception as e:  # noqa: BLE001
        not_ok("pipelined_records_answered_in_order", repr(e))
    # Expect: 100-continue is answered before the body is sent.
    try:
        s = tls()
        s.sendall(POST + b"Content-Length: 2\r\nExpect: 100-continue\r\n\r\n")
        s.settimeout(3)
        interim = s.recv(4096)
        s.sendall(b"{}")
        final, _, body, _ = read_response(s)
        check("expect_100_continue_answered",
              interim.startswith(b"HTTP/1.1 100 Continue\r\n\r\n") and final == 400 and
              b"JWS" in body, f"interim {interim[:40]!r}, final {final}")
        s.close()
    except Exception as e:  # noqa: BLE001
        not_ok("expect_100_continue_answered", repr(e))
    # Deadlines (2 s in this configuration): a head that never ends, and a
    # keep-alive connection left idle, are closed on time.
    try:
        s = tls()
        s.sendall(b"GET /directory HTTP/1.1\r\nHost: loc")
        t0 = time.monotonic()
        closed = closed_by_server(s, 5)
        dt = time.monotonic() - t0
        check("unfinished_head_closed_at_its_deadline", closed and 1.5 < dt < 3.5,
              f"closed={closed} after {dt:.2f} s (head_timeout_ms 2000)")
    except Exception as e:  # noqa: BLE001
        not_ok("unfinished_head_closed_at_its_deadline", repr(e))
    try:
        s = tls()
        s.sendall(b"GET /directory HTTP/1.1\r\nHost: localhost\r\n\r\n")
        status, _, _, _ = read_response(s)
        t0 = time.monotonic()
        closed = closed_by_server(s, 5)
        dt = time.monotonic() - t0
        check("idle_keep_alive_closed_at_its_deadline",
              status == 200 and closed and 1.5 < dt < 3.5,
              f"status {status}, closed={closed} after {dt:.2f} s (idle_timeout_ms 2000)")
    except Exception as e:  # noqa: BLE001
        not_ok("idle_keep_alive_closed_at_its_deadline", repr(e))


def queued(conns=16, rounds=8, bound=4.0):
    """More kept-alive requests at once than the proxy has workers (4):
    the ones the gate holds back must go to a worker as soon as one is
    free. A worker that gave its connection back without waking the gate's
    thread left them waiting up to a second each (~1 s per wave of 4)."""
    name = "requests_over_max_inflight_served_without_delay"
    try:
        socks = [tls() for _ in range(conns)]
        req = b"GET /directory HTTP/1.1\r\nHost: localhost\r\n\r\n"
        answered = 0
        t0 = time.monotonic()
        for _ in range(rounds):
            for s in socks:
                s.sendall(req)
            for s in socks:
                status, _, _, _ = read_response(s, deadline=10)
                answered += status == 200
        dt = time.monotonic() - t0
        check(name, answered == conns * rounds and dt < bound,
              f"{answered} of {conns * rounds} answered in {dt:.2f} s "
              f"(bound {bound} s)")
        for s in socks:
            s.close()
    except Exception as e:  # noqa: BLE001
        not_ok(name, repr(e))


def cap():
    socks = []
    for _ in range(20):
        socks.append(socket.create_connection((HOST, PORT), timeout=5,
                                              source_address=("127.0.0.1", 0)))
    time.sleep(1.0)
    closed = 0
    for s in socks:
        s.setblocking(False)
        try:
            if s.recv(1) == b"":
                closed += 1
        except BlockingIOError:
            pass
        except OSError:
            closed += 1
    check("per_address_cap_closes_the_rest_at_once", closed == 12,
          f"{closed} of 20 closed within 1 s, want 12 (max_conns_per_ip 8)")
    try:
        s = tls(source="127.0.0.2")
        s.sendall(b"GET /directory HTTP/1.1\r\nHost: localhost\r\n\r\n")
        status, _, _, _ = read_response(s)
        check("other_address_served_while_one_is_at_its_cap", status == 200,
              f"got {status}")
        s.close()
    except Exception as e:  # noqa: BLE001
        not_ok("other_address_served_while_one_is_at_its_cap", repr(e))
    for s in socks:
        s.close()


def load(seconds=3.0, clients=24):
    end = time.monotonic() + seconds
    answered = [0] * clients

    def client(i):
        while time.monotonic() < end:
            try:
                s = tls(timeout=3)
                while time.monotonic() < end:
                    s.sendall(b"GET /directory HTTP/1.1\r\nHost: localhost\r\n\r\n")
                    status, _, _, _ = read_response(s, deadline=3)
                    if status == 200:
                        answered[i] += 1
            except Exception:  # noqa: BLE001 (the proxy stops under us)
                time.sleep(0.05)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    check("load_requests_answered", sum(answered) > 0,
          "no GET /directory was answered")


if MODE == "framing":
    framing()
    queued()
elif MODE == "cap":
    cap()
elif MODE == "load":
    load()
else:
    not_ok("mode", f"unknown mode {MODE}")
print(f"conn_wire: {PASSED} passed, {FAILED} failed")
sys.exit(1 if FAILED else 0)
