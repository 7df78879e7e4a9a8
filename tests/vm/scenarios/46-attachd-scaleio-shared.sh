#!/bin/bash
# scaleio edge cases against the gateway emulator: a readonly attach may share a volume that
# another SDC has mapped (mapped ReadOnly with allowMultipleMappings, the data readable, the
# other SDC's mapping kept on detach) while a read-write one is still refused; a map whose
# device never shows up on this host's SDC fails within the device deadline and is rolled
# back (unmapped, nothing left). One writer across two hosts (a second attachd with its own
# SDC GUID plays host B): B's read-write Mount of a volume A holds is refused naming A's SDC
# and how to take over; B's Create with takeover: true unmaps A's SDC, maps B's, mounts
# read-write and reads A's data; the takeover is an error-level log event on B.
# timeout: 600
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
wait_for_path "$emu_dir/port" 120 || fail "the gateway emulator did not start"
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

# ---- One writer across two hosts: takeover (issue 9) ----
# Host B: a second agent with its own SDC (GUID, id, name), port, state and mount root.
GUID_B=B0B0B0B0-2F4B-4A42-BFF4-88B6846FBFDB
SDC_B=b0b0b0b000000002
VOL3=c36a59ef00000013
emu /emu/sdc "{\"id\":\"$SDC_B\",\"guid\":\"$GUID_B\",\"ip\":\"10.0.0.8\",\"name\":\"cell-b\",\"local\":true}" >/dev/null
emu /emu/volume "{\"id\":\"$VOL3\",\"name\":\"contested\",\"sizeInKb\":65536}" >/dev/null
printf '{"scaleio": {"gateway": "https://127.0.0.1:%s", "username": "admin", "password_file": "%s", "ca_file": "%s", "sdc_guid": "%s"}}\n' \
	"$EMU_PORT" "$emu_dir/password" "$emu_dir/state/gw.crt" "$GUID_B" >"$SCRATCH/attachd-b.json"
mkdir -p "$SCRATCH/drivers-b"
"$REPO/bin/attachd" --config "$SCRATCH/attachd-b.json" --listen 127.0.0.1:7611 \
	--admin-socket "$SCRATCH/attachd-b.sock" --state-dir "$SCRATCH/state-b" \
	--mount-root "$SCRATCH/mnt-b" --driver-dir "$SCRATCH/drivers-b" >>"$ARTIFACTS/attachd-b.log" 2>&1 &
B_PID=$!
on_exit "kill $B_PID 2>/dev/null || true"
wait_for_path "$SCRATCH/drivers-b/attachd.json" 60 || fail "agent B did not start: $(tail -5 "$ARTIFACTS/attachd-b.log")"
volman_b() { curl -sS --max-time 120 -X POST --data-binary "${2-}" -H 'Content-Type:' "http://127.0.0.1:7611/$1"; }
opts3() { echo "{\"backend\":\"scaleio\",\"system_id\":\"$SYS\",\"volume_id\":\"$VOL3\"$1}"; }

# A holds it read-write, with data.
assert_contains "$(call Create hold_a "$(opts3 '')")" '"Err":""' "A: Create"
out=$(call Mount hold_a)
assert_contains "$out" '"Err":""' "A: Mount"
mp_a=$(sed -E 's/.*"Mountpoint":"([^"]*)".*/\1/' <<<"$out")
echo "written by A" >"$mp_a/a.txt"
sync
assert_eq "$(mappings $VOL3)" "$OWN:ReadWrite" "mappings while A holds it"

# B read-write: refused, naming A's SDC and how to take over; nothing changed.
out=$(volman_b VolumeDriver.Create "{\"Name\":\"take_b\",\"Opts\":$(opts3 '')}")
[[ $out == *'"Err":""'* ]] && out=$(volman_b VolumeDriver.Mount '{"Name":"take_b"}')
info "B read-write while A holds it: $out"
assert_contains "$out" "SDC $OWN (name 'this-host'" "B's refusal names A's SDC"
assert_contains "$out" "attachctl takeover" "B's refusal says how to take over"
assert_contains "$out" "takeover: true" "B's refusal says how to take over"
assert_eq "$(mappings $VOL3)" "$OWN:ReadWrite" "mappings after B's refusal"
volman_b VolumeDriver.Remove '{"Name":"take_b"}' >/dev/null || true

# B with takeover: A's SDC unmapped, B's mapped, B mounts read-write and reads A's data.
out=$(volman_b VolumeDriver.Create "{\"Name\":\"take_b\",\"Opts\":$(opts3 ',"takeover":true')}")
assert_contains "$out" '"Err":""' "B: Create with takeover"
out=$(volman_b VolumeDriver.Mount '{"Name":"take_b"}')
info "B takeover: $out"
assert_contains "$out" '"Err":""' "B: Mount with takeover"
mp_b=$(sed -E 's/.*"Mountpoint":"([^"]*)".*/\1/' <<<"$out")
assert_eq "$(mappings $VOL3)" "$SDC_B:ReadWrite" "mappings after B's takeover: B only"
assert_eq "$(cat "$mp_b/a.txt")" "written by A" "B reads A's data"
echo "written by B" >"$mp_b/b.txt" || fail "B cannot write after the takeover"
dev_b=$(basename "$(readlink -f "/dev/disk/by-id/emc-vol-$SYS-$VOL3")")
assert_contains "$(cat "/sys/block/$dev_b/loop/backing_file")" "sdc-$SDC_B/" "the by-id disk is B's SDC's"
assert_eq "$(ls "/sys/block/$(basename "$(readlink -f /dev/mapper/attachd-take)")/slaves")" "$dev_b" \
	"B's map sits on the disk B's SDC got"
ev=$(grep '"attachd.fence.takeover"' "$ARTIFACTS/attachd-b.log" || true)
info "B's takeover event: $ev"
assert_contains "$ev" '"log_level":"error"' "takeover event level"
assert_contains "$ev" '"how":"Create option takeover"' "takeover event says how"
assert_contains "$ev" "\"previous_holder\":\"SDC $OWN (name 'this-host'" "takeover event names A's SDC"
[ "$(grep -c '"attachd.fence.takeover"' "$ARTIFACTS/attachd-b.log")" = 1 ] || fail "one takeover event, not $(grep -c '"attachd.fence.takeover"' "$ARTIFACTS/attachd-b.log")"

# Both detach: B first (its mapping goes), then A (nothing of A's is left to unmap).
assert_contains "$(volman_b VolumeDriver.Unmount '{"Name":"take_b"}')" '"Err":""' "B: Unmount"
volman_b VolumeDriver.Remove '{"Name":"take_b"}' >/dev/null
assert_contains "$(call Unmount hold_a)" '"Err":""' "A: Unmount after losing the volume"
volman VolumeDriver.Remove '{"Name":"hold_a"}' >/dev/null
assert_eq "$(mappings $VOL3)" "" "mappings after both detached"
kill -TERM "$B_PID"
wait "$B_PID" || true

stop_attachd
check_no_leftovers
