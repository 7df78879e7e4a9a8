#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A Volman-like HTTPS client for tests/host/t_tls.sh.

tls_client.py PORT PATH... [--ca F] [--cert F --key F] [--tls-max 1.2|1.1] [--plain]

POSTs each PATH (empty body, Volman's headers) on one keep-alive connection to
127.0.0.1:PORT, verifying the server against --ca with its IP SAN the way Go does, and
prints each answer's body on a line. Exit 0 if every call got HTTP 200 with a JSON body;
exit 1 printing "REFUSED: <why>" if the server refused (TLS alert, reset, close, no
HTTP answer); exit 3 if the client itself could not even try (a test set-up error).
"""
import argparse
import json
import socket
import ssl
import sys


def refuse(why):
    print("REFUSED: %s" % why)
    sys.exit(1)


def read_response(f):
    status = f.readline()
    if not status:
        refuse("connection closed without an answer")
    parts = status.split()
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
        refuse("not an HTTP answer: %r" % status[:80])
    length = None
    while True:
        line = f.readline()
        if not line:
            refuse("connection closed in the answer's headers")
        if line in (b"\r\n", b"\n"):
            break
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            length = int(v.strip())
    body = f.read(length or 0)
    return int(parts[1]), body


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("port", type=int)
    ap.add_argument("paths", nargs="+")
    ap.add_argument("--ca")
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--tls-max")
    ap.add_argument("--plain", action="store_true")
    a = ap.parse_args()

    sock = socket.create_connection(("127.0.0.1", a.port), timeout=30)
    if not a.plain:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(a.ca)
        ctx.check_hostname = True
        if a.cert:
            ctx.load_cert_chain(a.cert, a.key)
        if a.tls_max == "1.2":
            # What Volman's Go client offers for TLS 1.2 (tlsconfig.WithInternalServiceDefaults).
            ctx.maximum_version = ssl.TLSVersion.TLSv1_2
            ctx.set_ciphers("ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384")
        if a.tls_max == "1.1":
            # OpenSSL 3 allows TLS 1.1 only at security level 0: this client offers it,
            # so a refusal comes from the server.
            ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
            ctx.minimum_version = ssl.TLSVersion.TLSv1
            ctx.maximum_version = ssl.TLSVersion.TLSv1_1
        try:
            sock = ctx.wrap_socket(sock, server_hostname="127.0.0.1")
        except ssl.SSLError as e:
            if "NO_PROTOCOLS_AVAILABLE" in str(e) or "NO_CIPHERS_AVAILABLE" in str(e):
                print("client cannot offer this protocol: %s" % e)
                sys.exit(3)
            refuse("handshake: %s" % e)
        except (ConnectionError, OSError) as e:
            refuse("handshake: %s" % e)
    f = sock.makefile("rb")
    for path in a.paths:
        req = ("POST %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUser-Agent: Go-http-client/1.1\r\n"
               "Content-Length: 0\r\nAccept-Encoding: gzip\r\n\r\n" % (path, a.port))
        try:
            sock.sendall(req.encode())
            status, body = read_response(f)
        except ssl.SSLError as e:
            refuse("%s: %s" % (path, e))
        except (ConnectionError, OSError) as e:
            refuse("%s: %s" % (path, e))
        if status != 200:
            refuse("%s: HTTP %d" % (path, status))
        try:
            json.loads(body)
        except ValueError:
            refuse("%s: body is not JSON: %r" % (path, body[:80]))
        print(body.decode())
    if not a.plain:
        print("PROTOCOL %s %s" % (sock.version(), sock.cipher()[0]), file=sys.stderr)
    sys.exit(0)


if __name__ == "__main__":
    main()
