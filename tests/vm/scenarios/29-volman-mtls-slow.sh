#!/bin/bash
# Mutual TLS and slow clients on the Volman listener, with real file volumes: attachd
# listens with tls (EC keys: RSA key generation is slow under TCG); the Volman stand-in
# reads the spec file's https Addr and TLSConfig and runs the conformance replay (purge,
# concurrent container starts on dm+ext4 file volumes, List, stops) while 300 other
# connections idle or trickle a TLS ClientHello a byte per second; every call is served
# and the slow connections are closed by attachd. A client without a certificate, with one
# from another CA, and plain HTTP are refused.
# timeout: 420
set -eu -o pipefail
. "$REPO/tests/vm/lib.sh"

client=$REPO/tests/vm/volman-client
c=$SCRATCH/drivers/certs # where CF's drivers keep the rep's certificates
mkdir -p "$c" "$SCRATCH/etc" "$SCRATCH/keys"
ossl() { openssl "$@" 2>>"$ARTIFACTS/openssl.log" || fail "openssl $*"; }
leaf() { # name ca ext keydir
	ossl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$4/$1.key" -out "$SCRATCH/$1.csr" -subj "/CN=$1"
	printf '%s\n' "$3" >"$SCRATCH/$1.ext"
	ossl x509 -req -in "$SCRATCH/$1.csr" -CA "$c/$2.crt" -CAkey "$SCRATCH/keys/$2.key" \
		-CAcreateserial -out "$c/$1.crt" -days 2 -extfile "$SCRATCH/$1.ext"
}
for ca in ca otherca; do
	ossl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$SCRATCH/keys/$ca.key" -out "$c/$ca.crt" \
		-subj "/CN=$ca" -days 2
done
leaf server ca "subjectAltName=IP:127.0.0.1" "$SCRATCH/keys"
leaf client ca "extendedKeyUsage=clientAuth" "$c"
leaf stranger otherca "extendedKeyUsage=clientAuth" "$c"
chmod 600 "$SCRATCH/keys"/*.key

cat >"$SCRATCH/etc/attachd.json" <<JSON
{"file": {"dir": "$SCRATCH/files"},
 "tls": {"ca_file": "$c/ca.crt", "cert_file": "$c/server.crt", "key_file": "$SCRATCH/keys/server.key",
         "client_cert_file": "$c/client.crt", "client_key_file": "$c/client.key"}}
JSON
start_attachd --config "$SCRATCH/etc/attachd.json"
on_exit stop_attachd
spec=$(cat "$ATTACHD_DRIVER_FILE")
assert_eq "$(jq -r .Addr <<<"$spec")" "https://127.0.0.1:7610" "spec Addr"
assert_eq "$(jq -c .TLSConfig <<<"$spec")" \
	"{\"InsecureSkipVerify\":false,\"CAFile\":\"$c/ca.crt\",\"CertFile\":\"$c/client.crt\",\"KeyFile\":\"$c/client.key\"}" \
	"spec TLSConfig"

# Refusals. The same curl with the spec's identity works, so each failure is the server's.
tcurl() { curl -sS --max-time 60 -X POST -H 'Content-Type:' --data-binary '' "$@"; }
out=$(tcurl --cacert "$c/ca.crt" --cert "$c/client.crt" --key "$c/client.key" \
	https://127.0.0.1:7610/Plugin.Activate) || fail "curl with the client certificate: $out"
assert_contains "$out" '"Implements":["VolumeDriver"]' "Activate over mTLS"
! out=$(tcurl --cacert "$c/ca.crt" https://127.0.0.1:7610/Plugin.Activate 2>&1) ||
	fail "no client certificate: served: $out"
info "no certificate: refused ($out)"
! out=$(tcurl --cacert "$c/ca.crt" --cert "$c/stranger.crt" --key "$c/stranger.key" \
	https://127.0.0.1:7610/Plugin.Activate 2>&1) || fail "foreign certificate: served: $out"
info "certificate from another CA: refused ($out)"
! out=$(tcurl http://127.0.0.1:7610/Plugin.Activate 2>&1) || fail "plain HTTP: served: $out"
info "plain HTTP: refused ($out)"
assert_contains "$(cat "$ARTIFACTS/attachd.log")" '"attachd.http.tls-refused"' "refusals logged"

# 300 slow connections: half idle, half trickling a TLS ClientHello a byte per second (the
# record header announces 512 bytes; a client without a certificate gets no further on a
# TLS listener), kept at 300
# (each one attachd closes is replaced) until $SCRATCH/stop appears; then the helper waits
# for attachd to close the rest and prints how many it closed.
python3 - "$SCRATCH/stop" >"$SCRATCH/slow.log" 2>&1 <<'PY' &
import os, socket, sys, time
def dial(slow):
    s = socket.create_connection(("127.0.0.1", 7610))
    if slow:
        s.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
    s.setblocking(False)
    return s
crowd = {dial(i % 2 == 1): i % 2 == 1 for i in range(300)}
print("READY", flush=True)
closed, stop_at = 0, None
while crowd:
    if stop_at is None and os.path.exists(sys.argv[1]):
        stop_at = time.time()
    if stop_at is not None and time.time() - stop_at > 120:
        break
    for s, slow in list(crowd.items()):
        try:
            if slow:
                s.send(b"x")
            gone = s.recv(100) == b""
        except BlockingIOError:
            gone = False
        except OSError:
            gone = True
        if gone:
            del crowd[s]
            s.close()
            closed += 1
            if stop_at is None:
                crowd[dial(slow)] = slow
    time.sleep(1)
print("CLOSED %d, STILL OPEN %d" % (closed, len(crowd)), flush=True)
PY
slow=$!
on_exit "kill $slow 2>/dev/null || true"
wait_until 60 "300 slow connections" grep -q READY "$SCRATCH/slow.log"

# Volman's calls on real volumes, with the crowd in place.
"$client" --driver-dir "${ATTACHD_DRIVER_FILE%/*}" --mount-root "$SCRATCH/mnt" --activate-every 1 \
	conformance --containers 2 --volume 'mtls_file_0={"backend":"file","size":"32M"}' \
	--volume 'mtls_file_1={"backend":"file","size":"32M"}' | tee "$ARTIFACTS/conformance.log"
rc=${PIPESTATUS[0]}
[ "$rc" = 0 ] || fail "conformance over mTLS: $(grep -m1 '^FAIL' "$ARTIFACTS/conformance.log" || echo "exit $rc")"
check_no_leftovers
kill -0 "$slow" 2>/dev/null || fail "the slow-connection helper died: $(cat "$SCRATCH/slow.log")"
info "conformance over mTLS served with 300 slow connections open throughout"

touch "$SCRATCH/stop"
wait "$slow" || true
cat "$SCRATCH/slow.log"
grep -q '^CLOSED [0-9]*, STILL OPEN 0$' "$SCRATCH/slow.log" || fail "slow connections: $(tail -1 "$SCRATCH/slow.log")"
[ "$(sed -nE 's/^CLOSED ([0-9]+),.*/\1/p' "$SCRATCH/slow.log")" -ge 300 ] || fail "fewer than 300 closed"
stop_attachd
check_no_leftovers
