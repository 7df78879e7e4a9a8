#!/bin/bash
# scaleio edge cases against the gateway emulator: a readonly attach may share a volume that
# another SDC has mapped (mapped ReadOnly with allowMultipleMappings, the data readable, the
# other SDC's mapping kept on detach) while a read-write one is still refused; a map whose
# device never shows up on this host's SDC fails within the device deadline and is rolled
# back (unmapped, nothing left).
# timeout: 300
set -eu -o pipefail
. "$REPO/tests/vm/lib.sh"

command -v python3 >/dev/null || skip "python3 not installed"
command -v openssl >/dev/null || skip "openssl not installed"

SYS=14dbbf5617523654
VOL1=c36a59ef00000011
GUID=9E56672F-2F4B-4A42-BFF4-88B6846FBFDA
OWN=d0f055a700000000
OTHER=a1b2c3d400000009
emu_dir=$SCRATCH/pfgw
mkdir -p "$emu_dir"
printf 'Shared-Passw0rd-99\n' >"$emu_dir/password"

python3 "$REPO/tests/emulator/pfgw.py" --state-dir "$emu_dir/state" --tls \
	--password-file "$emu_dir/password" --port-file "$emu_dir/port" \
	--local-sdc-guid "$GUID" --sdc loop --device-delay 0.3 --verbose >>"$ARTIFACTS/pfgw.log" 2>&1 &
EMU_PID=$!
on_exit "kill $EMU_PID 2>/dev/null || true"
wait_for_path "$emu_dir/port" 30 || fail "the gateway emulator did not start"
EMU_PORT=$(cat "$emu_dir/port")
emu() { # PATH [JSON]
	if [ $# -gt 1 ]; then
		curl -sS --max-time 20 --cacert "$emu_dir/state/gw.crt" -X POST --data-binary "$2" "https://127.0.0.1:$EMU_PORT$1"
	else
		curl -sS --max-time 20 --cacert "$emu_dir/state/gw.crt" "https://127.0.0.1:$EMU_PORT$1"
	fi
}
mappings() {
	emu /emu/state | python3 -c 'import json,sys; print(",".join(m["sdcId"] + ":" + m["accessMode"] for m in json.load(sys.stdin)["volumes"][sys.argv[1]]["mappings"]))' "$1"
}

mkdir -p /run/udev/rules.d
cp "$REPO/tests/emulator/99-fake-scini.rules" /run/udev/rules.d/99-fake-scini.rules
udevadm control --reload
on_exit "rm -f /run/udev/rules.d/99-fake-scini.rules; udevadm control --reload"

emu /emu/volume "{\"id\":\"$VOL1\",\"name\":\"shared\",\"sizeInKb\":65536}" >/dev/null
emu /emu/sdc "{\"id\":\"$OTHER\",\"guid\":\"11111111-2222-3333-4444-555555555555\",\"ip\":\"10.0.0.6\",\"name\":\"host2\"}" >/dev/null

cat >"$SCRATCH/attachd.json" <<EOF
{"scaleio": {"gateway": "https://127.0.0.1:$EMU_PORT", "username": "admin",
             "password_file": "$emu_dir/password", "ca_file": "$emu_dir/state/gw.crt",
             "sdc_guid": "$GUID"}}
EOF
start_attachd --config "$SCRATCH/attachd.json"
on_exit stop_attachd

opts() { echo "{\"backend\":\"scaleio\",\"system_id\":\"$SYS\",\"volume_id\":\"$VOL1\"$1}"; }
call() { # CALL NAME [OPTS]
	if [ $# -gt 2 ]; then
		volman "VolumeDriver.$1" "{\"Name\":\"$2\",\"Opts\":$3}"
	else
		volman "VolumeDriver.$1" "{\"Name\":\"$2\"}"
	fi
}

# A filesystem with data, written through a normal read-write attach.
assert_contains "$(call Create rw_a "$(opts '')")" '"Err":""' "Create rw"
out=$(call Mount rw_a)
assert_contains "$out" '"Err":""' "Mount rw"
mp=$(sed -E 's/.*"Mountpoint":"([^"]*)".*/\1/' <<<"$out")
echo "shared payload" >"$mp/data.txt"
assert_contains "$(call Unmount rw_a)" '"Err":""' "Unmount rw"
volman VolumeDriver.Remove '{"Name":"rw_a"}' >/dev/null
assert_eq "$(mappings $VOL1)" "" "mappings after the first detach"

# Another host maps it.
emu /emu/map "{\"volumeId\":\"$VOL1\",\"sdcId\":\"$OTHER\"}" >/dev/null

# Read-write: refused, naming host2.
out=$(call Create rw_b "$(opts '')")
[[ $out == *'"Err":""'* ]] && out=$(call Mount rw_b)
info "read-write while mapped to host2: $out"
assert_contains "$out" host2 "read-write refusal"
assert_eq "$(mappings $VOL1)" "$OTHER:ReadWrite" "mappings after the refusal"
volman VolumeDriver.Remove '{"Name":"rw_b"}' >/dev/null || true
check_no_leftovers

# Read-only: shares it.
assert_contains "$(call Create ro_a "$(opts ',"readonly":true')")" '"Err":""' "Create ro"
out=$(call Mount ro_a)
info "read-only while mapped to host2: $out"
assert_contains "$out" '"Err":""' "Mount ro"
mp=$(sed -E 's/.*"Mountpoint":"([^"]*)".*/\1/' <<<"$out")
assert_eq "$(cat "$mp/data.txt")" "shared payload" "data read through the shared read-only mapping"
assert_eq "$(mappings $VOL1)" "$OTHER:ReadWrite,$OWN:ReadOnly" "mappings while shared"
if touch "$mp/new" 2>/dev/null; then fail "a readonly volume was writable"; fi
assert_contains "$(call Unmount ro_a)" '"Err":""' "Unmount ro"
assert_eq "$(mappings $VOL1)" "$OTHER:ReadWrite" "the other SDC's mapping is kept"
volman VolumeDriver.Remove '{"Name":"ro_a"}' >/dev/null
check_no_leftovers

# The device never appears on this host: bounded failure, mapping rolled back.
emu /emu/fault '{"nodevice": true}' >/dev/null
VOL2=c36a59ef00000012
emu /emu/volume "{\"id\":\"$VOL2\",\"name\":\"ghost\",\"sizeInKb\":32768}" >/dev/null
t0=$(date +%s%N)
out=$(volman VolumeDriver.Create "{\"Name\":\"ghost_a\",\"Opts\":{\"backend\":\"scaleio\",\"system_id\":\"$SYS\",\"volume_id\":\"$VOL2\"}}")
[[ $out == *'"Err":""'* ]] && out=$(call Mount ghost_a)
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
info "device never appears: ${ms} ms: $out"
assert_not_contains "$out" '"Err":""' "Mount without a device"
assert_contains "$out" "scaleio device" "no-device error"
[ "$ms" -lt 60000 ] || fail "no-device failure took ${ms} ms"
assert_eq "$(mappings $VOL2)" "" "the mapping was rolled back"
emu /emu/fault '{}' >/dev/null
check_no_leftovers

stop_attachd
check_no_leftovers
