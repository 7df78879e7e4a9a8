#!/bin/bash
# attachd's scaleio backend end to end against the PowerFlex gateway emulator (HTTPS,
# self-signed CA) with SDC emulation (a loop device per mapped volume, whose backing file is
# named like the volume, and a test-only udev rule making /dev/disk/by-id/emc-vol-<sys>-<vol>):
# map, mount, write, unmount -> unmapped and the SDC device gone; re-attach keeps the data,
# also after the gateway's tokens expired (one re-login); a volume mapped to another SDC is
# refused naming that SDC, its mappings untouched; gateway down or slow -> a clear error
# within 60 s and nothing left; after a kill -9 of attachd the restarted agent adopts the
# mounted volume and its Unmount unmaps; a mounted volume resized through the gateway's API
# (setVolumeSize: the emulated SDC's device grows, as the real one learns it from the MDM) is
# grown at the next Mount (a second container): df shows the new size, the data is intact;
# the gateway password never appears in the agent's log.
# timeout: 540
set -eu -o pipefail
. "$REPO/tests/vm/lib.sh"

command -v python3 >/dev/null || skip "python3 not installed"
command -v openssl >/dev/null || skip "openssl not installed"

SYS=14dbbf5617523654
VOL1=c36a59ef00000001
VOL2=c36a59ef00000002
VOL3=c36a59ef00000003
GUID=9E56672F-2F4B-4A42-BFF4-88B6846FBFDA
OTHER=a1b2c3d400000009
PASSWORD='Gw-Secret-Passw0rd-4242'
emu_dir=$SCRATCH/pfgw
mkdir -p "$emu_dir"
printf '%s\n' "$PASSWORD" >"$emu_dir/password"
chmod 600 "$emu_dir/password"

EMU_PID=
emu_start() {
	rm -f "$emu_dir/port"
	python3 "$REPO/tests/emulator/pfgw.py" --state-dir "$emu_dir/state" --tls \
		--password-file "$emu_dir/password" --port-file "$emu_dir/port" ${EMU_PORT:+--listen 127.0.0.1:$EMU_PORT} \
		--local-sdc-guid "$GUID" --sdc loop --device-delay 0.3 --verbose \
		>>"$ARTIFACTS/pfgw.log" 2>&1 &
	EMU_PID=$!
	wait_for_path "$emu_dir/port" 120 || fail "the gateway emulator did not start: $(tail -5 "$ARTIFACTS/pfgw.log")"
	EMU_PORT=$(cat "$emu_dir/port")
}
emu_stop() {
	[ -n "$EMU_PID" ] || return 0
	kill "$EMU_PID" 2>/dev/null || true
	wait "$EMU_PID" 2>/dev/null || true
	EMU_PID=
}
emu() { # PATH [JSON]: control call
	if [ $# -gt 1 ]; then
		curl -sS --max-time 20 --cacert "$emu_dir/state/gw.crt" -X POST --data-binary "$2" "https://127.0.0.1:$EMU_PORT$1"
	else
		curl -sS --max-time 20 --cacert "$emu_dir/state/gw.crt" "https://127.0.0.1:$EMU_PORT$1"
	fi
}
mappings() { # VOL: the SDC ids it is mapped to, comma-separated
	emu /emu/state | python3 -c 'import json,sys; print(",".join(m["sdcId"] for m in json.load(sys.stdin)["volumes"][sys.argv[1]]["mappings"]))' "$1"
}
counter() { emu /emu/state | python3 -c 'import json,sys; print(json.load(sys.stdin)["counters"][sys.argv[1]])' "$1"; }

emu_start
on_exit emu_stop

# The SDC's udev rule, test-only, for this scenario.
mkdir -p /run/udev/rules.d
cp "$REPO/tests/emulator/99-fake-scini.rules" /run/udev/rules.d/99-fake-scini.rules
udevadm control --reload
on_exit "rm -f /run/udev/rules.d/99-fake-scini.rules; udevadm control --reload"

emu /emu/volume "{\"id\":\"$VOL1\",\"name\":\"vol1\",\"sizeInKb\":65536}" >/dev/null
emu /emu/volume "{\"id\":\"$VOL2\",\"name\":\"vol2\",\"sizeInKb\":32768}" >/dev/null
emu /emu/volume "{\"id\":\"$VOL3\",\"name\":\"vol3\",\"sizeInKb\":1048576}" >/dev/null
emu /emu/sdc "{\"id\":\"$OTHER\",\"guid\":\"11111111-2222-3333-4444-555555555555\",\"ip\":\"10.0.0.6\",\"name\":\"host2\"}" >/dev/null
emu /emu/map "{\"volumeId\":\"$VOL2\",\"sdcId\":\"$OTHER\"}" >/dev/null

cat >"$SCRATCH/attachd.json" <<EOF
{"scaleio": {"gateway": "https://127.0.0.1:$EMU_PORT", "username": "admin",
             "password_file": "$emu_dir/password", "ca_file": "$emu_dir/state/gw.crt",
             "sdc_guid": "$GUID"}}
EOF
start_attachd --config "$SCRATCH/attachd.json"
on_exit stop_attachd

link=/dev/disk/by-id/emc-vol-$SYS-$VOL1
opts() { echo "{\"backend\":\"scaleio\",\"system_id\":\"$SYS\",\"volume_id\":\"$1\"}"; }
mount_vol() { # NAME VOL -> mountpoint
	local out
	out=$(volman VolumeDriver.Create "{\"Name\":\"$1\",\"Opts\":$(opts "$2")}")
	assert_contains "$out" '"Err":""' "Create $1"
	out=$(volman VolumeDriver.Mount "{\"Name\":\"$1\"}")
	assert_contains "$out" '"Err":""' "Mount $1"
	sed -E 's/.*"Mountpoint":"([^"]*)".*/\1/' <<<"$out"
}
# attempt NAME VOL LIMIT_S EXPECT...: Create+Mount must fail naming EXPECT within LIMIT_S
attempt() {
	local name=$1 vol=$2 limit=$3 out t0 ms e
	shift 3
	t0=$(date +%s%N)
	out=$(volman VolumeDriver.Create "{\"Name\":\"$name\",\"Opts\":$(opts "$vol")}")
	if [[ $out == *'"Err":""'* ]]; then
		out=$(volman VolumeDriver.Mount "{\"Name\":\"$name\"}")
	fi
	ms=$(( ($(date +%s%N) - t0) / 1000000 ))
	info "$name: ${ms} ms: $out"
	assert_not_contains "$out" '"Err":""' "$name must fail"
	for e in "$@"; do assert_contains "$out" "$e" "$name error"; done
	assert_not_contains "$out" "$PASSWORD" "$name reply"
	[ "$ms" -lt $((limit * 1000)) ] || fail "$name took ${ms} ms (limit $limit s)"
	volman VolumeDriver.Remove "{\"Name\":\"$name\"}" >/dev/null || true
}

# --- map, mount, write, unmount ---
t0=$(date +%s%N)
mp=$(mount_vol sio1_app-1 "$VOL1")
info "mapped and mounted at $mp in $(( ($(date +%s%N) - t0) / 1000000 )) ms"
mountpoint -q "$mp" || fail "$mp is not a mountpoint"
assert_eq "$(findmnt -n -o SOURCE --mountpoint "$mp")" /dev/mapper/attachd-sio1 "mount source"
assert_eq "$(mappings $VOL1)" d0f055a700000000 "VOL1 mappings while attached"
test -L "$link" || fail "$link missing while attached"
sdcdev=$(basename "$(readlink -f "$link")")
slave=$(ls /sys/block/"$(basename "$(readlink -f /dev/mapper/attachd-sio1)")"/slaves)
assert_eq "$slave" "$sdcdev" "dm device sits on the SDC device"
assert_contains "$(cat /sys/block/"$sdcdev"/loop/backing_file)" "emc-vol-$SYS-$VOL1" "SDC device backing file"
echo "scaleio payload" >"$mp/data.txt"
sync
assert_contains "$(volman VolumeDriver.Unmount '{"Name":"sio1_app-1"}')" '"Err":""' "Unmount"
assert_eq "$(mappings $VOL1)" "" "VOL1 mappings after the last Unmount"
test ! -e "$link" && test ! -L "$link" || fail "$link still there after the last Unmount"
test ! -e "/sys/block/$sdcdev/loop/backing_file" || fail "SDC device $sdcdev still bound"
check_no_leftovers
info "unmapped, SDC device gone, nothing left"

# --- re-attach keeps the data, also after the gateway's tokens expired ---
logins=$(counter logins)
emu /emu/expire-tokens '{}' >/dev/null
mp=$(mount_vol sio1_app-2 "$VOL1")
assert_eq "$(cat "$mp/data.txt")" "scaleio payload" "data after re-attach with expired tokens"
assert_eq "$(counter logins)" $((logins + 1)) "logins after the tokens expired (one re-login)"
n=$(grep -c '"formatted":true' "$ARTIFACTS/attachd.log" || true)
assert_eq "$n" 1 "attaches that ran mkfs"
assert_contains "$(volman VolumeDriver.Unmount '{"Name":"sio1_app-2"}')" '"Err":""' "second Unmount"
assert_eq "$(mappings $VOL1)" "" "VOL1 mappings after the second Unmount"
check_no_leftovers

# --- attachd killed while the volume is mounted: the restarted agent adopts it (its record
# says the mapping is ours) and the last Unmount still unmaps, with a fresh login ---
mp=$(mount_vol sio1_app-6 "$VOL1")
kill -KILL "$ATTACHD_PID"
wait "$ATTACHD_PID" 2>/dev/null || true
ATTACHD_PID=
rm -f "$ATTACHD_DRIVER_FILE"
emu /emu/expire-tokens '{}' >/dev/null
start_attachd --config "$SCRATCH/attachd.json"
mountpoint -q "$mp" || fail "the mount is gone after the restart"
assert_eq "$(cat "$mp/data.txt")" "scaleio payload" "data after the restart"
assert_eq "$(mappings $VOL1)" d0f055a700000000 "VOL1 mappings after the restart"
assert_contains "$(volman VolumeDriver.Unmount '{"Name":"sio1_app-6"}')" '"Err":""' "Unmount after the restart"
assert_eq "$(mappings $VOL1)" "" "VOL1 mappings after the Unmount that followed the restart"
test ! -e "$link" && test ! -L "$link" || fail "$link still there after the Unmount that followed the restart"
check_no_leftovers

# --- a volume mapped to another SDC is refused, its mappings untouched ---
attempt sio2_app-1 "$VOL2" 30 "$OTHER" host2 10.0.0.6 "another SDC"
assert_eq "$(mappings $VOL2)" "$OTHER" "VOL2 mappings after the refusal"
check_no_leftovers

# --- gateway unavailable: connection refused, then too slow ---
emu_stop
attempt sio1_app-3 "$VOL1" 60 "127.0.0.1:$EMU_PORT" unreachable
check_no_leftovers
emu_start
emu /emu/fault '{"slow": 70}' >/dev/null
attempt sio1_app-4 "$VOL1" 60 "did not answer"
emu /emu/fault '{"slow": 0}' >/dev/null
assert_eq "$(mappings $VOL1)" "" "VOL1 mappings after the failed attaches"
check_no_leftovers

# --- and it works again once the gateway is back ---
mp=$(mount_vol sio1_app-5 "$VOL1")
assert_eq "$(cat "$mp/data.txt")" "scaleio payload" "data after the gateway came back"
assert_contains "$(volman VolumeDriver.Unmount '{"Name":"sio1_app-5"}')" '"Err":""' "last Unmount"
assert_eq "$(mappings $VOL1)" "" "VOL1 mappings at the end"

# --- resized on the array while mounted: the next Mount grows it before the bind ---
# (1 GiB -> 8 GiB, PowerFlex' granularity; sparse, and ext4's default inode ratio keeps the
# new inode tables small on the tmpfs.)
gib() { echo $(($1 * 1024 * 1024 * 1024)); }
df_size() { df -B1 --output=size "$1" | tail -1 | tr -d ' '; }
mp1=$(mount_vol sio3_app-1 "$VOL3")
dd if=/dev/urandom of="$mp1/blob" bs=1M count=4 status=none
sum=$(md5sum <"$mp1/blob")
sync
before=$(df_size "$mp1")
[ "$before" -lt "$(gib 1)" ] || fail "df of a 1 GiB volume says $before"
link3=/dev/disk/by-id/emc-vol-$SYS-$VOL3
assert_eq "$(blockdev --getsize64 "$link3")" "$(gib 1)" "SDC device size before the resize"
# The gateway's REST API, as an array admin (or the broker) would: login, setVolumeSize.
gw() { curl -sS --max-time 20 --cacert "$emu_dir/state/gw.crt" "$@"; }
token=$(gw -u "admin:$PASSWORD" "https://127.0.0.1:$EMU_PORT/api/login" | tr -d '"')
[ -n "$token" ] || fail "no token from the gateway's login"
out=$(gw -u "admin:$token" -H 'Content-Type: application/json' -w '%{http_code}' \
	--data-binary '{"sizeInGB":"8"}' "https://127.0.0.1:$EMU_PORT/api/instances/Volume::$VOL3/action/setVolumeSize")
assert_eq "$out" 200 "setVolumeSize answer"
assert_eq "$(blockdev --getsize64 "$link3")" "$(gib 8)" "SDC device size after the resize"
assert_eq "$(df_size "$mp1")" "$before" "df before the next Mount (nothing grows by itself)"
mp2=$(mount_vol sio3_app-2 "$VOL3")
after=$(df_size "$mp2")
info "scaleio df: $before -> $after bytes (second container's mount)"
[ "$after" -gt "$(gib 7)" ] || fail "df in the second container's mount says $after bytes after the volume grew to 8 GiB"
assert_eq "$(df_size "$mp1")" "$after" "first container sees the grown filesystem too"
assert_eq "$(blockdev --getsize64 /dev/mapper/attachd-sio3)" "$(gib 8)" "dm device size"
assert_eq "$(md5sum <"$mp2/blob")" "$sum" "data in the grown filesystem"
ev=$(grep '"attachd.expand.done"' "$ARTIFACTS/attachd.log" | grep '"volume":"sio3"' || true)
assert_contains "$ev" '"trigger":"mount"' "expand event at Mount"
assert_contains "$ev" "\"map_after\":$(gib 8)" "expand event sizes"
assert_contains "$(volman VolumeDriver.Unmount '{"Name":"sio3_app-2"}')" '"Err":""' "Unmount sio3_app-2"
assert_contains "$(volman VolumeDriver.Unmount '{"Name":"sio3_app-1"}')" '"Err":""' "Unmount sio3_app-1"
assert_eq "$(mappings $VOL3)" "" "VOL3 mappings after the last Unmount"
check_no_leftovers
info "scaleio volume resized 1 -> 8 GiB on the gateway: grown at the next Mount"

stop_attachd
if grep -qF -- "$PASSWORD" "$ARTIFACTS/attachd.log"; then
	fail "the gateway password appears in the agent log"
fi
check_no_leftovers
