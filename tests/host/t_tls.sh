#!/usr/bin/env bash
# Mutual TLS on the Volman listener with the real binary (no kernel features needed):
# a client with a certificate from the configured CA gets Plugin.Activate and List; no
# certificate, a certificate from another CA, an expired certificate, plain HTTP and TLS 1.1
# are refused (and the refusals are logged with the reason); the spec file carries the
# https Addr and TLSConfig; an off-loopback listen without tls exits 2 naming the fix, and
# starts with tls; bad key files are refused at start naming the file, and the key never
# appears in the log.
set -u
export PYTHONWARNINGS=ignore::DeprecationWarning
bin=${ATTACHD_BIN:-$PWD/bin/attachd}
here=$(cd "$(dirname "$0")" && pwd)
[ -x "$bin" ] || { echo "FAIL: no binary $bin"; exit 1; }
command -v openssl >/dev/null || { echo "openssl is not installed"; exit 77; }
command -v jq >/dev/null || { echo "jq is not installed"; exit 77; }
command -v python3 >/dev/null || { echo "python3 is not installed"; exit 77; }

tmp=$(mktemp -d /tmp/t_tls.XXXXXX)
pid=
cleanup() {
	[ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
	[ -n "${KEEP:-}" ] || rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }
c=$tmp/certs
mkdir -p "$c"

# ---- certificates ----
ossl() { openssl "$@" 2>>"$tmp/openssl.log" || fail "openssl $*: $(tail -3 "$tmp/openssl.log")"; }
ca() { # name
	ossl req -x509 -newkey rsa:2048 -nodes -keyout "$c/$1.key" -out "$c/$1.crt" -subj "/CN=$1" -days 2
}
leaf() { # name ca days ext
	ossl req -newkey rsa:2048 -nodes -keyout "$c/$1.key" -out "$c/$1.csr" -subj "/CN=$1"
	printf '%s\n' "$4" >"$c/$1.ext"
	ossl x509 -req -in "$c/$1.csr" -CA "$c/$2.crt" -CAkey "$c/$2.key" -CAcreateserial \
		-out "$c/$1.crt" -days "$3" -extfile "$c/$1.ext"
}
ca ca
ca otherca
leaf server ca 2 "subjectAltName=IP:127.0.0.1
extendedKeyUsage=serverAuth"
leaf client ca 2 "extendedKeyUsage=clientAuth"
leaf stranger otherca 2 "extendedKeyUsage=clientAuth"
# -days -1: valid until yesterday.
leaf expired ca -1 "extendedKeyUsage=clientAuth"
chmod 600 "$c"/*.key
echo "ok: certificates"

cat >"$tmp/tls.json" <<EOF
{"tls":{"ca_file":"$c/ca.crt","cert_file":"$c/server.crt","key_file":"$c/server.key",
        "client_cert_file":"$c/client.crt","client_key_file":"$c/client.key"}}
EOF
spec=$tmp/drivers/attachd.json

run() { # config listen: start attachd in the background
	"$bin" --config "$1" --listen "$2" --driver-dir "$tmp/drivers" --mount-root "$tmp/mnt" \
		--state-dir "$tmp/state" --admin-socket "$tmp/run/admin.sock" >>"$tmp/attachd.out" 2>&1 &
	pid=$!
	for _ in $(seq 200); do
		[ -s "$spec" ] && return 0
		kill -0 "$pid" 2>/dev/null || fail "attachd exited: $(tail -5 "$tmp/attachd.out")"
		sleep 0.1
	done
	fail "attachd did not start: $(tail -5 "$tmp/attachd.out")"
}
stop() {
	kill -TERM "$pid"
	wait "$pid"
	local rc=$?
	pid=
	[ $rc = 0 ] || fail "attachd exited $rc on SIGTERM"
	rm -f "$spec"
}
client() { python3 "$here/tls_client.py" "$port" "$@"; }
refused() { # what... client args: expect a refusal by the server
	local what=$1 out rc
	shift
	out=$(client "$@" 2>&1); rc=$?
	[ $rc = 1 ] || fail "$what: expected a refusal (exit 1), got exit $rc: $out"
	echo "ok: $what refused ($out)"
}

# ---- serving with mutual TLS ----
run "$tmp/tls.json" 127.0.0.1:0
port=$(jq -r .Addr "$spec" | sed -E 's/.*:([0-9]+)$/\1/')
want=$(jq -nc --arg addr "https://127.0.0.1:$port" --arg ca "$c/ca.crt" \
	--arg cert "$c/client.crt" --arg key "$c/client.key" \
	'{Name:"attachd",Addr:$addr,TLSConfig:{InsecureSkipVerify:false,CAFile:$ca,CertFile:$cert,KeyFile:$key},UniqueVolumeIds:true}')
[ "$(jq -cS . "$spec")" = "$(jq -cS . <<<"$want")" ] || fail "spec file: $(cat "$spec"), want $want"
grep -q '"message":"attachd.driver-server.started".*"mutual_tls":true' "$tmp/attachd.out" ||
	fail "no started line with mutual_tls: $(grep started "$tmp/attachd.out")"
echo "ok: spec file has the https Addr and TLSConfig"

# The identity the spec file gives Volman works, on one keep-alive connection.
out=$(client /Plugin.Activate /VolumeDriver.List /VolumeDriver.Capabilities \
	--ca "$(jq -r .TLSConfig.CAFile "$spec")" --cert "$(jq -r .TLSConfig.CertFile "$spec")" \
	--key "$(jq -r .TLSConfig.KeyFile "$spec")") || fail "good client: $out"
[ "$(sed -n 1p <<<"$out" | jq -c .Implements)" = '["VolumeDriver"]' ] || fail "Activate: $out"
[ "$(sed -n 2p <<<"$out" | jq -c .)" = '{"Volumes":[],"Err":""}' ] || fail "List: $out"
echo "ok: client with a certificate from ca_file: Activate, List, Capabilities"
out=$(client /Plugin.Activate --ca "$c/ca.crt" --cert "$c/client.crt" --key "$c/client.key" 2>&1 >/dev/null) ||
	fail "TLS 1.3: $out"
grep -q '^PROTOCOL TLSv1.3 ' <<<"$out" || fail "default protocol: $out"
out=$(client /Plugin.Activate --ca "$c/ca.crt" --cert "$c/client.crt" --key "$c/client.key" \
	--tls-max 1.2 2>&1 >/dev/null) || fail "TLS 1.2 with Volman's ciphers: $out"
grep -q '^PROTOCOL TLSv1.2 ECDHE-RSA-AES' <<<"$out" || fail "TLS 1.2: $out"
echo "ok: TLS 1.3, and TLS 1.2 with Volman's ECDHE-RSA-AES-GCM suites ($out)"

refused "no client certificate" /Plugin.Activate --ca "$c/ca.crt"
refused "certificate from another CA" /Plugin.Activate --ca "$c/ca.crt" --cert "$c/stranger.crt" \
	--key "$c/stranger.key"
refused "expired certificate" /Plugin.Activate --ca "$c/ca.crt" --cert "$c/expired.crt" \
	--key "$c/expired.key"
refused "plain HTTP" /Plugin.Activate --plain
out=$(client /Plugin.Activate --ca "$c/ca.crt" --cert "$c/client.crt" --key "$c/client.key" \
	--tls-max 1.1 2>&1); rc=$?
case $rc in
1) grep -q "REFUSED: handshake" <<<"$out" || fail "TLS 1.1: not refused in the handshake: $out"
   echo "ok: TLS 1.1 refused ($out)" ;;
3) echo "note: this OpenSSL cannot offer TLS 1.1 at all, so TLS 1.1 is not tested: $out" ;;
*) fail "TLS 1.1: expected a refusal, got exit $rc: $out" ;;
esac
grep -q '"message":"attachd.http.tls-refused".*expired' "$tmp/attachd.out" ||
	fail "no tls-refused line naming the expired certificate: $(grep tls-refused "$tmp/attachd.out")"
grep -q '"message":"attachd.http.tls-refused".*issuer is unknown' "$tmp/attachd.out" ||
	fail "no tls-refused line for the unknown issuer: $(grep tls-refused "$tmp/attachd.out")"
[ "$(grep -c '"message":"attachd.http.tls-refused"' "$tmp/attachd.out")" -ge 5 ] ||
	fail "not every refusal logged: $(grep tls-refused "$tmp/attachd.out")"
grep -q '"message":"attachd.http.error"' "$tmp/attachd.out" && fail "refusals logged as errors too"
echo "ok: refusals logged with the reason"

# Still serving after all that.
client /VolumeDriver.List --ca "$c/ca.crt" --cert "$c/client.crt" --key "$c/client.key" >/dev/null ||
	fail "good client after the refusals"
stop
echo "ok: served after the refusals, clean stop"

# ---- the key never reaches the log ----
keyline=$(sed -n 2p "$c/server.key")
! grep -qF "$keyline" "$tmp/attachd.out" || fail "the server key is in attachd's output"

# ---- off loopback ----
out=$("$bin" --listen 0.0.0.0:0 --driver-dir "$tmp/drivers" --mount-root "$tmp/mnt" \
	--state-dir "$tmp/state" --admin-socket "$tmp/run/admin.sock" 2>&1); rc=$?
[ $rc = 2 ] || fail "off-loopback listen without tls: exit $rc: $out"
grep -q "listen: 0.0.0.0:0 is not a loopback address: off loopback the Volman API needs mutual TLS" <<<"$out" ||
	fail "off-loopback message: $out"
[ ! -e "$spec" ] || fail "a spec file was written"
echo "ok: off-loopback listen without tls: exit 2 ($(head -1 <<<"$out"))"
run "$tmp/tls.json" 0.0.0.0:0
[ "$(jq -r .Addr "$spec" | sed -E 's/:[0-9]+$//')" = "https://127.0.0.1" ] || fail "spec Addr: $(cat "$spec")"
port=$(jq -r .Addr "$spec" | sed -E 's/.*:([0-9]+)$/\1/')
client /Plugin.Activate --ca "$c/ca.crt" --cert "$c/client.crt" --key "$c/client.key" >/dev/null ||
	fail "good client on 0.0.0.0"
stop
echo "ok: off-loopback listen with tls serves"

# ---- bad TLS files are refused at start, naming the file and the fix ----
bad_start() { # what needle config
	local out rc
	out=$("$bin" --config "$3" --listen 127.0.0.1:0 --driver-dir "$tmp/drivers" \
		--mount-root "$tmp/mnt" --state-dir "$tmp/state" --admin-socket "$tmp/run/admin.sock" 2>&1); rc=$?
	[ $rc = 1 ] || fail "$1: exit $rc (want 1): $out"
	grep -qF "$2" <<<"$out" || fail "$1: '$2' not in: $out"
	[ ! -e "$spec" ] || fail "$1: a spec file was written"
	echo "ok: $1 refused at start (exit $rc)"
}
with() { # key value: tls.json with one tls key changed
	jq --arg v "$2" ".tls.$1 = \$v" "$tmp/tls.json" >"$tmp/bad.json"
	echo "$tmp/bad.json"
}
cp "$c/server.key" "$c/open.key"
chmod 644 "$c/open.key"
bad_start "group/world-readable key" "has mode 0644: a private key must not be accessible by group or others; run chmod 600" \
	"$(with key_file "$c/open.key")"
bad_start "key of another certificate" "does not belong to the certificate in tls.cert_file" \
	"$(with key_file "$c/client.key")"
bad_start "missing CA file" "tls.ca_file: cannot open $c/nothere.crt: No such file" \
	"$(with ca_file "$c/nothere.crt")"
bad_start "CA file without a certificate" "tls.ca_file: $c/ca.key holds no usable PEM certificate" \
	"$(with ca_file "$c/ca.key")"
bad_start "client certificate from another CA" "tls.client_cert_file: $c/stranger.crt would be refused: it does not verify against tls.ca_file" \
	"$(jq --arg c "$c/stranger.crt" --arg k "$c/stranger.key" '.tls.client_cert_file = $c | .tls.client_key_file = $k' "$tmp/tls.json" >"$tmp/bad.json"; echo "$tmp/bad.json")"
bad_start "client key of another certificate" "does not belong to the certificate in tls.client_cert_file" \
	"$(with client_key_file "$c/stranger.key")"
bad_start "missing client certificate" "tls.client_cert_file: cannot read $c/nothere.crt" \
	"$(with client_cert_file "$c/nothere.crt")"
# An expired client certificate (it happens to running deployments) is logged loudly, but
# attachd still starts: its admin API (drain) and recovery must not depend on Volman's cert.
jq --arg c "$c/expired.crt" --arg k "$c/expired.key" \
	'.tls.client_cert_file = $c | .tls.client_key_file = $k' "$tmp/tls.json" >"$tmp/expired.json"
run "$tmp/expired.json" 127.0.0.1:0
grep -q '"message":"attachd.tls.client-cert-invalid".*expired' "$tmp/attachd.out" ||
	fail "no client-cert-invalid line: $(tail -3 "$tmp/attachd.out")"
stop
echo "ok: expired client certificate: started, logged attachd.tls.client-cert-invalid"
! grep -qF "$keyline" "$tmp/attachd.out" || fail "the server key is in attachd's output"
echo "PASS"
