#!/usr/bin/env bash
# attachd-broker over HTTPS (Cloud Controller talks to brokers over TLS): with tls.cert_file
# and tls.key_file the catalog is served over HTTPS with that certificate and plain HTTP is
# refused; with tls.ca_file a client without a certificate, or with one from another CA,
# gets no connection while one signed by the CA is served; a key readable by others, a key
# that does not match the certificate, and a missing file are refused by --check-config
# (exit 2, naming the file and what to do) and at start.
source "$(dirname "$0")/lib/broker.sh"
command -v openssl >/dev/null || { echo "openssl is not installed"; exit 77; }
c=$tmp/certs
mkdir -p "$c"
ossl() { openssl "$@" 2>>"$tmp/openssl.log" || fail "openssl $*: $(tail -3 "$tmp/openssl.log")"; }
ca() { ossl req -x509 -newkey rsa:2048 -nodes -keyout "$c/$1.key" -out "$c/$1.crt" -subj "/CN=$1" -days 2; }
leaf() { # name ca ext
	ossl req -newkey rsa:2048 -nodes -keyout "$c/$1.key" -out "$c/$1.csr" -subj "/CN=$1"
	printf '%s\n' "$3" >"$c/$1.ext"
	ossl x509 -req -in "$c/$1.csr" -CA "$c/$2.crt" -CAkey "$c/$2.key" -CAcreateserial \
		-out "$c/$1.crt" -days 2 -extfile "$c/$1.ext"
}
ca ca
ca otherca
leaf server ca "subjectAltName=IP:127.0.0.1
extendedKeyUsage=serverAuth"
leaf client ca "extendedKeyUsage=clientAuth"
leaf stranger otherca "extendedKeyUsage=clientAuth"
chmod 600 "$c"/*.key
start_gw
write_config
BASE=$CONFIG
jq --arg c "$c" '.tls = {cert_file: "\($c)/server.crt", key_file: "\($c)/server.key"}' "$BASE" >"$tmp/tls.json"
jq --arg c "$c" '.tls = {cert_file: "\($c)/server.crt", key_file: "\($c)/server.key", ca_file: "\($c)/ca.crt"}' "$BASE" >"$tmp/mtls.json"

# ---- --check-config ----
"$BROKER_BIN" --check-config "$tmp/tls.json" >/dev/null || fail "check-config of a good TLS config"
ok
cp "$c/server.key" "$c/open.key"
chmod 644 "$c/open.key"
jq --arg c "$c" '.tls.key_file = "\($c)/open.key"' "$tmp/tls.json" >"$tmp/bad1.json"
out=$("$BROKER_BIN" --check-config "$tmp/bad1.json" 2>&1); rc=$?
[ $rc = 2 ] || fail "key readable by others: exit $rc: $out"
grep -q "chmod 600" <<<"$out" || fail "key mode message: $out"
ok
jq --arg c "$c" '.tls.key_file = "\($c)/client.key"' "$tmp/tls.json" >"$tmp/bad2.json"
out=$("$BROKER_BIN" --check-config "$tmp/bad2.json" 2>&1); rc=$?
[ $rc = 2 ] || fail "mismatched key: exit $rc: $out"
grep -q "does not belong to the certificate" <<<"$out" || fail "mismatch message: $out"
ok
jq '.tls.ca_file = "/nonexistent/ca.crt"' "$tmp/tls.json" >"$tmp/bad3.json"
out=$("$BROKER_BIN" --check-config "$tmp/bad3.json" 2>&1); rc=$?
[ $rc = 2 ] && grep -q "tls.ca_file: cannot read /nonexistent/ca.crt" <<<"$out" || fail "missing CA: exit $rc: $out"
ok
CONFIG=$tmp/bad2.json
"$BROKER_BIN" --listen 127.0.0.1:0 --config "$CONFIG" >"$tmp/bad.log" 2>&1 && fail "broker started with a mismatched key"
log_has "$tmp/bad.log" '.message == "attachd-broker.tls.failed"' || fail "start refusal not logged: $(cat "$tmp/bad.log")"
ok

# ---- HTTPS ----
CONFIG=$tmp/tls.json
start_broker "$tmp/tls.log"
PORT=${URL##*:}
URL=https://127.0.0.1:$PORT
CURL="curl -s --cacert $c/ca.crt -u cc:s3cr3t-broker -H X-Broker-API-Version:2.17"
code=$($CURL -o "$tmp/cat" -w '%{http_code}' "$URL/v2/catalog")
[ "$code" = 200 ] && jq -e '.services | length == 3' "$tmp/cat" >/dev/null || fail "catalog over HTTPS: $code $(cat "$tmp/cat")"
ok
code=$(curl -s -o /dev/null -w '%{http_code}' -u cc:s3cr3t-broker -H X-Broker-API-Version:2.17 "http://127.0.0.1:$PORT/v2/catalog")
[ "$code" != 200 ] || fail "plain HTTP served on the HTTPS port"
ok
stop_broker

# ---- client certificates ----
CONFIG=$tmp/mtls.json
start_broker "$tmp/mtls.log"
PORT=${URL##*:}
URL=https://127.0.0.1:$PORT
code=$($CURL -o /dev/null -w '%{http_code}' "$URL/v2/catalog")
[ "$code" = 000 ] || fail "no client certificate: HTTP $code"
code=$($CURL --cert "$c/stranger.crt" --key "$c/stranger.key" -o /dev/null -w '%{http_code}' "$URL/v2/catalog")
[ "$code" = 000 ] || fail "client certificate of another CA: HTTP $code"
code=$($CURL --cert "$c/client.crt" --key "$c/client.key" -o /dev/null -w '%{http_code}' "$URL/v2/catalog")
[ "$code" = 200 ] || fail "client certificate of the CA: HTTP $code"
ok
stop_broker
echo "PASS ($checks checks)"
