#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Hostile HTTP against one of attachd's listeners, for tests/host/t_hostile_http.sh.

hostile_http.py (--port PORT | --unix PATH) --ok-path PATH

Throws truncated requests, huge headers, pipelining, invalid chunked encoding, half-closed
and reset sockets, absurd lengths and random bytes at the listener, then 10,000 requests on
one keep-alive connection. Checks what a client can see: every well-formed request gets
HTTP 200 with a JSON body carrying "Err" (pipelined answers in order, none lost), and a
malformed one gets an HTTP error or a closed connection, never a hang (the server must
close within its request deadline) and never a 200. Prints one line per case; exit 0 if
all hold, 1 otherwise.
"""
import argparse
import json
import os
import random
import socket
import sys
import time

# The server's request deadline is 10 s; a case that hangs longer than this is a failure.
TIMEOUT = 40
failures = []


def connect(a):
    if a.unix:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        for _ in range(100):  # a full backlog: EAGAIN, like a busy server; retry
            try:
                s.connect(a.unix)
                break
            except BlockingIOError:
                time.sleep(0.05)
        s.settimeout(TIMEOUT)
    else:
        s = socket.create_connection(("127.0.0.1", a.port), timeout=TIMEOUT)
    return s


def request(path, body=b"", extra=b""):
    return (b"POST " + path.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"User-Agent: Go-http-client/1.1\r\n" + extra +
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)


class Reader:
    def __init__(self, s):
        self.s = s
        self.buf = b""

    def fill(self):
        d = self.s.recv(65536)
        if not d:
            raise EOFError("closed")
        self.buf += d

    def response(self):
        """One response: (status, body). EOFError if the server closed first."""
        while b"\r\n\r\n" not in self.buf:
            self.fill()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.split(b"\r\n")
        status = int(lines[0].split()[1])
        length, chunked = 0, False
        for l in lines[1:]:
            k, _, v = l.partition(b":")
            k = k.strip().lower()
            if k == b"content-length":
                length = int(v.strip())
            elif k == b"transfer-encoding" and b"chunked" in v.lower():
                chunked = True
        if chunked:
            body = b""
            while True:
                while b"\r\n" not in self.buf:
                    self.fill()
                size_line, self.buf = self.buf.split(b"\r\n", 1)
                size = int(size_line.split(b";")[0], 16)
                while len(self.buf) < size + 2:
                    self.fill()
                body += self.buf[:size]
                self.buf = self.buf[size + 2:]
                if size == 0:
                    return status, body
        while len(self.buf) < length:
            self.fill()
        body, self.buf = self.buf[:length], self.buf[length:]
        return status, body


def check_ok(name, status, body):
    if status != 200:
        raise AssertionError("%s: HTTP %d %r" % (name, status, body[:100]))
    j = json.loads(body)
    if not isinstance(j, dict) or "Err" not in j:
        raise AssertionError("%s: no Err in %r" % (name, body[:100]))
    return j


def case(fn):
    def run(a):
        t = time.monotonic()
        try:
            detail = fn(a) or ""
            print("ok: %s %s(%.1f s)" % (fn.__name__, detail + " " if detail else "",
                                         time.monotonic() - t))
        except Exception as e:  # noqa: BLE001 - any failure of the case is reported
            failures.append(fn.__name__)
            print("FAIL: %s: %s: %s" % (fn.__name__, type(e).__name__, e))
    run.__name__ = fn.__name__
    return run


def verdict(s, name, tolerated=False):
    """Read what the server says to a malformed request on s: an HTTP error, 200 with a
    non-empty Err, or a close; never a hang and (unless tolerated: requests libmicrohttpd
    reads as well-formed) never a call that succeeded."""
    try:
        status, body = Reader(s).response()
    except (EOFError, ConnectionResetError, BrokenPipeError):
        return "closed"
    except socket.timeout:
        raise AssertionError("%s: no answer and not closed within %d s" % (name, TIMEOUT))
    finally:
        s.close()
    if status != 200:
        return "HTTP %d" % status
    try:
        err = json.loads(body).get("Err")
    except ValueError:
        raise AssertionError("%s: 200 without a JSON body: %r" % (name, body[:100]))
    if err:
        return "Err"
    if tolerated:
        return "served"
    raise AssertionError("%s: malformed request was served: %r" % (name, body[:100]))


def send(a, data, shut=False, reset=False):
    s = connect(a)
    try:
        s.sendall(data)
        if shut:
            s.shutdown(socket.SHUT_WR)
    except (ConnectionResetError, BrokenPipeError):
        pass  # the server already refused: verdict() reads what it said
    if reset:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        s.close()
        return None
    return s


def all_refused(a, items, batch=90):
    """items: (name, data, shut, tolerated). Sent batch by batch, all of a batch at once
    (some are only closed by the server's deadline), then each verdict read."""
    seen = set()
    for i in range(0, len(items), batch):
        socks = [(name, send(a, data, shut), tol) for name, data, shut, tol in items[i:i + batch]]
        for name, sk, tol in socks:
            seen.add(verdict(sk, name, tol))
    return "answers: %s" % ", ".join(sorted(seen))


def refused_or_error(a, data, name, shut=False):
    return verdict(send(a, data, shut), name)


@case
def truncated(a):
    whole = request(a.ok_path, b'{"Name":"x"}')
    # Cut everywhere in the request line and headers, and inside the body, then EOF.
    cuts = list(range(1, 40)) + list(range(40, len(whole) - 1, 7))
    return all_refused(a, [("cut at %d" % c, whole[:c], True, False) for c in cuts])


@case
def truncated_then_abandoned(a):
    # Cut requests left open (no EOF): the server's deadline must close them.
    whole = request(a.ok_path, b'{"Name":"x"}')
    return all_refused(a, [("open cut at %d" % c, whole[:c], False, False)
                           for c in (5, 20, len(whole) - 3)])


@case
def huge_headers(a):
    out = []
    out.append(refused_or_error(a, b"POST " + a.ok_path.encode() + b" HTTP/1.1\r\nX-Big: " +
                                b"a" * 200000 + b"\r\n\r\n", "one 200 KB header"))
    many = b"".join(b"X-H%d: v\r\n" % i for i in range(20000))
    out.append(refused_or_error(a, b"POST " + a.ok_path.encode() + b" HTTP/1.1\r\n" + many +
                                b"\r\n", "20,000 headers"))
    out.append(refused_or_error(a, b"POST /" + b"a" * 100000 + b" HTTP/1.1\r\n\r\n",
                                "100 KB URL"))
    return ", ".join(out)


@case
def pipelining(a):
    s = connect(a)
    n = 200
    s.sendall(b"".join(request(a.ok_path) for _ in range(n)))
    r = Reader(s)
    for i in range(n):
        check_ok("pipelined %d" % i, *r.response())
    # A malformed request in the middle of a pipeline: the ones before it are answered.
    s2 = connect(a)
    s2.sendall(request(a.ok_path) * 3 + b"GARBAGE\r\n\r\n" + request(a.ok_path))
    r2 = Reader(s2)
    for i in range(3):
        check_ok("before garbage %d" % i, *r2.response())
    try:
        status, _ = r2.response()
        if status == 200:
            raise AssertionError("garbage in a pipeline got 200")
    except (EOFError, ConnectionResetError):
        pass
    s.close()
    s2.close()
    return "%d in order" % n


@case
def bad_chunked(a):
    p = a.ok_path.encode()
    head = b"POST " + p + b" HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    bodies = [
        b"ZZZ\r\nabc\r\n0\r\n\r\n",                    # not hex
        b"ffffffffffffffffffffffff\r\nabc\r\n",        # size overflow
        b"-5\r\nabc\r\n0\r\n\r\n",                     # negative
        b"3\r\nabcdef\r\n0\r\n\r\n",                   # longer than declared
        b"3\r\nab",                                   # truncated chunk, then EOF
        b"5;" + b"x" * 70000 + b"\r\nabcde\r\n0\r\n\r\n",  # huge chunk extension
        b"2\r\n{}" + b"0\r\n\r\n",                     # missing CRLF after data
        b"7fffffff\r\n" + b"a" * 1000,                # announces 2 GiB, sends 1 KB, EOF
    ]
    items = [("chunked %r" % b[:20], head + b, True, False) for b in bodies]
    # Ambiguous framing (request smuggling's tools): two different Content-Lengths, and
    # Content-Length with chunked.
    items.append(("two lengths", b"POST " + p + b" HTTP/1.1\r\nContent-Length: 5\r\n"
                  b"Content-Length: 7\r\n\r\n{}{}{}{", True, False))
    items.append(("length and chunked", b"POST " + p + b" HTTP/1.1\r\nContent-Length: 4\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n", True, False))
    out = [all_refused(a, items)]
    # A valid chunked body over the size limit (1 MiB Volman, 64 KiB admin): an error Err.
    s = connect(a)
    s.sendall(head)
    chunk = b"{" + b" " * 65534 + b"}"
    for _ in range(40):
        s.sendall(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
    s.sendall(b"0\r\n\r\n")
    status, body = Reader(s).response()
    j = json.loads(body)
    if status != 200 or "too large" not in j.get("Err", ""):
        raise AssertionError("oversized chunked body: HTTP %d %r" % (status, body[:100]))
    s.close()
    return ", ".join(out)


@case
def absurd_lengths(a):
    p = a.ok_path.encode()
    items = [("Content-Length %r" % cl, b"POST " + p + b" HTTP/1.1\r\nContent-Length: " + cl +
              b"\r\n\r\n{}", True, False)
             for cl in (b"99999999999999999999999", b"-1", b"abc", b"1e3", b"18446744073709551615")]
    items.append(("100-continue with 100 MB", b"POST " + p + b" HTTP/1.1\r\n"
                  b"Content-Length: 100000000\r\nExpect: 100-continue\r\n\r\n", False, False))
    return all_refused(a, items)


@case
def half_closed(a):
    # A whole request then EOF: answered (or closed), the server must not spin or crash.
    got = []
    for _ in range(20):
        s = connect(a)
        s.sendall(request(a.ok_path))
        s.shutdown(socket.SHUT_WR)
        try:
            status, body = Reader(s).response()
            check_ok("half-closed", status, body)
            got.append("200")
        except (EOFError, ConnectionResetError):
            got.append("closed")
        s.close()
    # Reset right after the request: the answer has nowhere to go.
    for _ in range(20):
        send(a, request(a.ok_path), reset=True)
    # Closed before reading a large pipelined batch of answers.
    s = connect(a)
    s.sendall(request(a.ok_path) * 100)
    s.close()
    return "answers: %s" % sorted(set(got))


@case
def odd_requests(a):
    bad = [b"\r\n\r\n", b"GET\r\n\r\n", b"POST\r\n\r\n", b"POST / HTTP/9.9\r\n\r\n",
           b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
           b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + os.urandom(200),
           b"POST /Plugin.Activate HTTP/1.1\r\nNoColon\r\n\r\n"]
    # libmicrohttpd reads these as well-formed (a duplicate Host; a URL cut at a NUL; a
    # folded line taken as a header): any answer, as long as nothing breaks.
    tolerated = [b"POST /Plugin.Activate HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n",
                 b"POST /Plugin.Activate\x00/x HTTP/1.1\r\n\r\n",
                 b"POST /Plugin.Activate HTTP/1.1\r\n folded: x\r\n\r\n"]
    return all_refused(a, [("odd %r" % d[:20], d, True, False) for d in bad] +
                       [("tolerated %r" % d[:20], d, True, True) for d in tolerated])


@case
def random_bytes(a):
    rnd = random.Random(7)
    items = []
    for i in range(200):
        data = bytes(rnd.getrandbits(8) for _ in range(rnd.randint(1, 3000)))
        if rnd.random() < 0.5:
            data = b"POST /" + data  # past the method
        items.append(("random %d" % i, data, True, False))
    return all_refused(a, items)


@case
def keepalive_10000(a):
    s = connect(a)
    r = Reader(s)
    n, batch = 10000, 50
    for i in range(0, n, batch):
        s.sendall(request(a.ok_path) * batch)
        for k in range(batch):
            check_ok("request %d" % (i + k), *r.response())
    s.close()
    return "%d requests" % n


def main():
    ap = argparse.ArgumentParser()
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--port", type=int)
    g.add_argument("--unix")
    ap.add_argument("--ok-path", required=True, help="a call that answers Err \"\"")
    a = ap.parse_args()
    for c in (truncated, truncated_then_abandoned, huge_headers, pipelining, bad_chunked,
              absurd_lengths, half_closed, odd_requests, random_bytes, keepalive_10000):
        c(a)
    # Served afterwards.
    s = connect(a)
    s.sendall(request(a.ok_path))
    j = check_ok("after", *Reader(s).response())
    if j.get("Err"):
        failures.append("after")
        print("FAIL: the request after the storm: Err %r" % j["Err"])
    else:
        print("ok: served after the storm")
    if failures:
        print("failed: %s" % ", ".join(failures))
        sys.exit(1)


if __name__ == "__main__":
    main()
