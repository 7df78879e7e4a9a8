#!/bin/bash
# Bad requests, sent the way Volman sends requests (tests/vm/volman-client call): malformed
# JSON, wrong types, unknown options, traversal names, oversized bodies, Opts null... each
# gets a clear Err and changes nothing (List, kernel objects, files under the mount root
# and state dir are as before). The CHAP secret of a CHAP-protected volume never appears
# in the agent's log, in any reply, or in any file that is not mode 0600.
# timeout: 420
set -eu -o pipefail
. "$REPO/tests/vm/lib.sh"

client=$REPO/tests/vm/volman-client
secret=Zq8-chap-s3cr3t-Vx41
iqn=iqn.2025-01.io.attachd.test:badreq
lio_target_create "$iqn" --lun 0:64M --chap carol "$secret" --acl
on_exit "lio_target_delete $iqn"
mkdir -p "$SCRATCH/etc"
echo "{\"file\": {\"dir\": \"$SCRATCH/files\"}}" >"$SCRATCH/etc/attachd.json"
start_attachd --config "$SCRATCH/etc/attachd.json"
on_exit stop_attachd

vc() { "$client" --driver-dir "${ATTACHD_DRIVER_FILE%/*}" --mount-root "$SCRATCH/mnt" "$@"; }
replies=$SCRATCH/replies.txt
: >"$replies"
call() { # CALL BODY -> reply (every reply is kept for the secret check)
	local out
	out=$(vc call "$1" "$2") || fail "request $1 failed at the HTTP level"
	printf '%s\n' "$out" >>"$replies"
	printf '%s' "$out"
}
# expect_err CALL BODY NEEDLE...: queue a request that must get a non-empty Err containing
# every NEEDLE; run_expected sends the queue in order on one client (one python start
# instead of one per request: that costs over a second under TCG) and checks each reply.
cases=$SCRATCH/cases.tsv needles=$SCRATCH/needles.txt
: >"$cases"
: >"$needles"
expect_err() {
	local IFS=$'\x1f'
	printf '%s\t%s\n' "$1" "$2" >>"$cases"
	shift 2
	printf '%s\n' "$*" >>"$needles"
}
run_expected() {
	local out i=0 c body reply nl n ns
	out=$(vc batch "$cases") || fail "batch of bad requests failed at the HTTP level"
	printf '%s\n' "$out" >>"$replies"
	[ "$(wc -l <<<"$out")" = "$(wc -l <"$cases")" ] || fail "$(wc -l <"$cases") requests, $(wc -l <<<"$out") replies"
	while IFS=$'\t' read -r c body <&3 && IFS= read -r nl <&4 && IFS= read -r reply <&5; do
		i=$((i + 1))
		assert_not_contains "$reply" '"Err":""' "#$i $c ${body:0:120}"
		IFS=$'\x1f' read -r -a ns <<<"$nl"
		for n in "${ns[@]}"; do assert_contains "$reply" "$n" "#$i $c ${body:0:120}"; done
		echo "#$i $c ${body:0:80}: ${reply:0:240}"
	done 3<"$cases" 4<"$needles" 5<<<"$out"
	assert_eq "$i" "$(wc -l <"$cases")" "bad requests checked"
	: >"$cases"
	: >"$needles"
}
snapshot() { # what a bad request must not change
	vm_objects | grep -v '^lio-'
	find "$SCRATCH/mnt" "$SCRATCH/state" "$SCRATCH/files" "$SCRATCH/drivers" 2>/dev/null | sort
	ls -A "$SCRATCH"
	call VolumeDriver.List ''
}

# A mounted volume, so "changes nothing" has something to change.
out=$(vc start base_vol '{"backend":"file","size":"32M"}' app_1) || fail "base volume: $(grep -m1 '^FAIL' <<<"$out")"
big=$SCRATCH/big.json
{ printf '{"Name":"big_a","Opts":{"backend":"file","size":"32M","pad":"'; head -c $((1024 * 1024 + 100)) /dev/zero | tr '\0' x; printf '"}}'; } >"$big"
before=$(snapshot)

long=$(printf 'v%.0s' $(seq 300))
# --- bodies
expect_err VolumeDriver.Create '{"Name":"x_a","Opts":{' "malformed JSON"
expect_err VolumeDriver.Mount '{"Name":' "malformed JSON"
expect_err VolumeDriver.Unmount 'not json' "malformed JSON"
expect_err VolumeDriver.Create '["x_a"]' "must be a JSON object"
expect_err VolumeDriver.Create '"x_a"' "must be a JSON object"
expect_err VolumeDriver.Create '' "empty request body"
expect_err VolumeDriver.Mount '' "empty request body"
expect_err VolumeDriver.Create '{}' "missing volume name"
expect_err VolumeDriver.Create '{"Name":"x_a","Name":"y_a"}' "duplicate"
# --- wrong types
expect_err VolumeDriver.Create '{"Name":5,"Opts":{}}' "'Name' must be a string"
expect_err VolumeDriver.Mount '{"Name":null}' "'Name' must be a string"
expect_err VolumeDriver.Unmount '{"Name":["base=vol_app=1"]}' "'Name' must be a string"
expect_err VolumeDriver.Create '{"Name":"x_a","Opts":"backend=file"}' "'Opts' must be a JSON object or null"
expect_err VolumeDriver.Create '{"Name":"x_a","Opts":[1]}' "'Opts' must be a JSON object or null"
expect_err VolumeDriver.Create '{"Name":"x_a","Opts":{"backend":"iscsi","portal":3260,"iqn":true,"lun":"zero"}}' portal iqn lun
expect_err VolumeDriver.Create '{"Name":"x_a","Opts":{"backend":"file","size":"32M","readonly":"maybe","fs":7}}' readonly fs
# --- Opts null / missing: no backend to use
expect_err VolumeDriver.Create '{"Name":"x_a","Opts":null}' "invalid options"
expect_err VolumeDriver.Create '{"Name":"x_a"}' "invalid options"
expect_err VolumeDriver.Create '{"Name":"x_a","Opts":{}}' "invalid options"
# --- unknown options and bad values, every problem named at once
expect_err VolumeDriver.Create '{"Name":"x_a","Opts":{"backend":"file","size":"32M","colour":"red","speed":3}}' colour speed
expect_err VolumeDriver.Create '{"Name":"x_a","Opts":{"backend":"tape"}}' tape
expect_err VolumeDriver.Create '{"Name":"x_a","Opts":{"backend":"file","size":"-1G","format":"always"}}' size format
# --- names that could escape a directory, or are not names
for n in '../x' 'a/b' '..' '.' '\\' '../../etc_a' 'x_../y' 'x_a/../../b' '.hidden_a' 'a_b_c' '' 'a b_c' "$long" 'x_'; do
	for c in VolumeDriver.Create VolumeDriver.Mount VolumeDriver.Unmount VolumeDriver.Get VolumeDriver.Path VolumeDriver.Remove; do
		expect_err "$c" "{\"Name\":\"$n\",\"Opts\":{\"backend\":\"file\",\"size\":\"32M\"}}" "volume name"
	done
done
expect_err VolumeDriver.Create '{"Name":"x\u0000y_a","Opts":{}}' "malformed JSON"
# --- oversized bodies (limit 1 MiB): declared by Content-Length, as Volman always sends it
expect_err VolumeDriver.Create "@$big" "too large"
expect_err VolumeDriver.Mount "@$big" "too large"
# --- wrong calls
expect_err VolumeDriver.Frobnicate '{"Name":"x_a"}' "unknown call"
# --- a valid name whose volume is mounted, with other options: refused, mount untouched
expect_err VolumeDriver.Create '{"Name":"base=vol_app=2","Opts":{"backend":"file","size":"64M"}}' "different options"
# --- names that are fine but unknown
expect_err VolumeDriver.Unmount '{"Name":"nosuch_app=1"}' "not found"
expect_err VolumeDriver.Mount '{"Name":"nosuch_app=1"}' "must be created"
run_expected
assert_contains "$(call Plugin.Activate '')" '"Err":""' "Activate after the bad requests"

after=$(snapshot)
if [ "$before" != "$after" ]; then
	diff <(echo "$before") <(echo "$after") >&2 || true
	fail "bad requests changed something (diff above)"
fi
test ! -e "$SCRATCH/x" && test ! -e "$SCRATCH/etc_a" && test ! -e /x && test ! -e /etc_a ||
	fail "a traversal name created something outside the mount root"
info "every bad request refused; nothing changed"
out=$(vc stop base_vol app_1) || fail "base volume stop: $(grep -m1 '^FAIL' <<<"$out")"
check_no_leftovers

# --- CHAP: the secret stays out of logs, replies and readable files
chap="\"backend\":\"iscsi\",\"portal\":\"127.0.0.1:3260\",\"iqn\":\"$iqn\",\"lun\":0,\"chap_user\":\"carol\",\"chap_secret\":\"$secret\""
assert_contains "$(call VolumeDriver.Create "{\"Name\":\"chap=vol_app=1\",\"Opts\":{$chap}}")" '"Err":""' "Create with CHAP"
out=$(call VolumeDriver.Mount '{"Name":"chap=vol_app=1"}')
assert_contains "$out" '"Err":""' "Mount with CHAP"
mp=$(sed -E 's/.*"Mountpoint":"([^"]*)".*/\1/' <<<"$out")
echo chap-data >"$mp/f"
printf '%s\t%s\n' VolumeDriver.List '' VolumeDriver.Get '{"Name":"chap=vol_app=1"}' \
	VolumeDriver.Path '{"Name":"chap=vol_app=1"}' VolumeDriver.Capabilities '' \
	Plugin.Activate '' >"$SCRATCH/reads.tsv"
out=$(vc batch "$SCRATCH/reads.tsv") || fail "List/Get/Path/Capabilities/Activate failed"
printf '%s\n' "$out" >>"$replies"
assert_eq "$(grep -c '"Err":""' <<<"$out")" 5 "List/Get/Path/Capabilities/Activate replies: $out"
# requests that carry the secret and fail: the error must not echo it
base="\"backend\":\"iscsi\",\"portal\":\"127.0.0.1:3260\",\"iqn\":\"$iqn\",\"chap_user\":\"carol\""
expect_err VolumeDriver.Create "{\"Name\":\"chap=vol_app=2\",\"Opts\":{$chap,\"colour\":1}}" colour
expect_err VolumeDriver.Create "{\"Name\":\"chap=vol_app=2\",\"Opts\":{$base,\"lun\":\"one\",\"chap_secret\":\"$secret\"}}" lun
expect_err VolumeDriver.Create "{\"Name\":\"chap=vol_app=2\",\"Opts\":{$base,\"lun\":0,\"chap_secret\":7}}" chap_secret
expect_err VolumeDriver.Create "{\"Name\":\"chap=vol_app=2\",\"Opts\":{$base,\"lun\":0}}" chap_secret
# malformed JSON around the secret: cut short inside it, a bad escape in it, junk after it
expect_err VolumeDriver.Create "{\"Name\":\"chap=vol_app=2\",\"Opts\":{$base,\"chap_secret\":\"$secret" "malformed JSON"
expect_err VolumeDriver.Create "{\"Name\":\"chap=vol_app=2\",\"Opts\":{$base,\"chap_secret\":\"$secret\\q\"}}" "malformed JSON"
expect_err VolumeDriver.Create "{\"Name\":\"chap=vol_app=2\",\"Opts\":{$base,\"chap_secret\":\"$secret\" x}}" "malformed JSON"
expect_err VolumeDriver.Create "{\"Name\":\"chap=vol_app=2\",\"Opts\":{$chap,\"chap_secret\":\"$secret\"}}" "malformed JSON"
# the mounted volume with another secret: refused, without echoing either
expect_err VolumeDriver.Create "{\"Name\":\"chap=vol_app=3\",\"Opts\":{$base,\"lun\":0,\"chap_secret\":\"other-$secret\"}}" "different options"
expect_err VolumeDriver.Create "{\"Name\":\"../chap_x\",\"Opts\":{$chap}}" "volume name"
run_expected
# state files holding the secret must be private (checked while the volume is mounted)
check_private() { # DIR: every file under DIR that holds the secret is mode 0600
	local f
	while IFS= read -r f; do
		[ -n "$f" ] || continue
		[ "$(stat -c %a "$f")" = 600 ] || fail "$f holds the CHAP secret and is mode $(stat -c %a "$f")"
		info "$f holds the CHAP secret (mode 0600)"
	done < <(grep -rlF -- "$secret" "$1" 2>/dev/null || true)
}
check_private "$SCRATCH/state"
check_private /etc/iscsi
assert_contains "$(call VolumeDriver.Unmount '{"Name":"chap=vol_app=1"}')" '"Err":""' "Unmount with CHAP"
check_private "$SCRATCH/state"
stop_attachd
check_no_leftovers
if grep -qF -- "$secret" "$ARTIFACTS/attachd.log"; then
	grep -F -- "$secret" "$ARTIFACTS/attachd.log" | head -3 >&2
	fail "the CHAP secret is in the agent log"
fi
if grep -qF -- "$secret" "$replies"; then
	grep -F -- "$secret" "$replies" | head -3 >&2
	fail "the CHAP secret is in a reply"
fi
info "$(wc -l <"$replies") replies and the agent log are free of the CHAP secret"
