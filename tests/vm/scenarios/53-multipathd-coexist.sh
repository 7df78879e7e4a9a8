#!/bin/bash
# Coexistence with multipathd (issue 8 §5): multipathd runs with find_multipaths greedy and
# attachd's drop-in (tools/multipath/attachd.conf). An admin's iSCSI disk (iface default)
# gets an mpath- map from multipathd, which shows it would take any path; attachd's volume
# over two portals gets attachd's own map, and multipathd leaves its two paths alone: udev
# marks them ATTACHD_PATH=attachd, multipathd does not list them, multipath reports them
# blacklisted by that property, no mpath- map appears, not even after `multipathd reconfigure`, change
# uevents or a `multipath` run. Data written through attachd's map reads back; the detach
# leaves nothing.
# timeout: 600
set -eu -o pipefail
# shellcheck source=SCRIPTDIR/../lib.sh
. "$REPO/tests/vm/lib.sh"

command -v multipathd >/dev/null || fail "multipathd is not installed (tools/setup-deps.sh installs multipath-tools)"
A=iqn.2025-01.io.attachd.test:coexist-a
X=iqn.2025-01.io.attachd.test:coexist-admin
P1=127.0.0.1:3260 P2=127.0.0.2:3260

lio_target_create "$A" --lun 0:64M --portal "$P1" --portal "$P2"
on_exit "lio_target_delete $A"
lio_target_create "$X" --lun 0:16M --portal "$P1"
on_exit "lio_target_delete $X"

# multipathd as greedy as it gets, plus attachd's drop-in
# Whatever multipath config the VM already has (multipath-tools' udev helpers may have left
# /etc/multipath behind in an earlier scenario) is moved aside and put back afterwards.
saved=$SCRATCH/etc-multipath-saved
mkdir -p "$saved"
for f in /etc/multipath /etc/multipath.conf; do
	if [ -e "$f" ]; then
		info "moving aside $f: $(find "$f" | xargs)"
		mv "$f" "$saved/"
	fi
done
restore_etc_multipath() {
	rm -rf /etc/multipath /etc/multipath.conf
	for f in "$saved"/* "$saved"/.[!.]*; do
		[ -e "$f" ] && mv "$f" /etc/
	done
	true
}
on_exit restore_etc_multipath
cat >/etc/multipath.conf <<'CONF'
defaults {
	find_multipaths greedy
	user_friendly_names yes
}
CONF
mkdir -p /etc/multipath/conf.d
cp "$REPO/tools/multipath/attachd.conf" /etc/multipath/conf.d/attachd.conf
multipathd -d -s -v3 >"$ARTIFACTS/multipathd.log" 2>&1 &
mpd=$!
on_exit "multipathd shutdown >/dev/null 2>&1 || kill $mpd; wait $mpd 2>/dev/null; true"
wait_until 30 "multipathd to answer" multipathd show daemon >/dev/null 2>&1
info "multipathd running: $(multipathd show config | grep -E '^\s*find_multipaths|ATTACHD_PATH' | xargs)"
assert_contains "$(multipathd show config)" '"^ATTACHD_PATH$"' "multipathd's blacklist"

mpath_maps() { dmsetup info -c --noheadings -o name,uuid --separator ' ' 2>/dev/null | awk '$2 ~ /^mpath-/ {print $1}'; }
has_mpath_map() { [ -n "$(mpath_maps)" ]; }

# --- control: an admin's disk (default iface) becomes an mpath- map: multipathd is greedy
iscsiadm -m node -T "$X" -p "$P1" -o new >/dev/null
iscsiadm -m node -T "$X" -p "$P1" -o update -n node.startup -v manual
on_exit "iscsiadm -m node -T $X -p $P1 --logout >/dev/null 2>&1; iscsiadm -m node -T $X -o delete; true"
iscsiadm -m node -T "$X" -p "$P1" --login >/dev/null
xdev=$(iscsi_wait_disk "$P1" "$X" 0)
wait_until 60 "multipathd to map the admin's disk $xdev" has_mpath_map
xmap=$(mpath_maps)
info "admin disk $xdev: multipathd made map $xmap"
assert_eq "$(ls "/sys/block/${xdev#/dev/}/holders")" "$(dmsetup info -c --noheadings -o blkdevname "$xmap")" "holder of $xdev"
multipath -f "$xmap"
iscsiadm -m node -T "$X" -p "$P1" --logout >/dev/null
iscsiadm -m node -T "$X" -o delete
wait_until 30 "$xdev to go" test ! -e "$xdev"
assert_eq "$(mpath_maps)" "" "mpath- maps after the admin's logout"

# --- attachd's volume over two portals
start_attachd
on_exit stop_attachd
opts="{\"backend\":\"iscsi\",\"portals\":[\"$P1\",\"$P2\"],\"iqn\":\"$A\",\"lun\":0}"
out=$(volman VolumeDriver.Create "{\"Name\":\"co\",\"Opts\":$opts}")
assert_contains "$out" '"Err":""' "Create co"
out=$(volman VolumeDriver.Mount '{"Name":"co"}')
assert_contains "$out" '"Err":""' "Mount co"
mp=$(sed -E 's/.*"Mountpoint":"([^"]*)".*/\1/' <<<"$out")
rule=/run/udev/rules.d/59-attachd-paths-attachd.rules
[ -f "$rule" ] || fail "attachd did not install $rule"

dmdev=$(dmsetup info -c --noheadings -o blkdevname attachd-co)
table=$(dmsetup table attachd-co)
assert_contains "$table" " multipath " "attachd-co is a multipath map"
assert_contains "$(cat "/sys/block/$dmdev/dm/uuid")" "ATTACHD-" "attachd-co's uuid"
paths=$(cd "/sys/block/$dmdev/slaves" && echo *)
assert_eq "$(wc -w <<<"$paths")" 2 "paths under attachd-co"
info "attachd-co ($dmdev) over: $paths"

# whatever multipathd is poked with, it keeps off attachd's paths
check_untouched() { # WHEN
	local s
	assert_eq "$(mpath_maps)" "" "mpath- maps $1"
	for s in $paths; do
		assert_contains "$(udevadm info -q property "/dev/$s")" "ATTACHD_PATH=attachd" "udev properties of $s $1"
		assert_eq "$(ls "/sys/block/$s/holders")" "$dmdev" "holders of $s $1"
		assert_not_contains "$(multipathd show paths raw format '%d')" "$s" "multipathd's paths $1"
	done
	assert_contains "$(dmsetup status attachd-co)" " A " "attachd-co's paths $1"
}
udevadm settle
check_untouched "after the attach"

multipathd reconfigure >/dev/null
wait_until 30 "multipathd to answer after reconfigure" multipathd show daemon >/dev/null 2>&1
for s in $paths; do udevadm trigger --action=change "/sys/block/$s"; done
udevadm settle
# a `multipath` run (what an admin types) maps every path it may use: none of ours, and
# its dry run (-d) says why (multipathd and multipath share the filter)
multipath >"$ARTIFACTS/multipath.log" 2>&1 || true
mout=$(multipath -d -v4 2>&1) || true
printf '%s\n' "$mout" >"$ARTIFACTS/multipath-d-v4.log"
for s in $paths; do
	assert_contains "$mout" "$s: udev property ATTACHD_PATH blacklisted" "multipath -d -v4 on $s"
done
check_untouched "after reconfigure, change uevents and a multipath run"
info "multipathd leaves $paths alone"

# attachd's map works
dd if=/dev/urandom of="$SCRATCH/payload" bs=1M count=8 status=none
cp "$SCRATCH/payload" "$mp/payload"
sync
echo 3 >/proc/sys/vm/drop_caches
cmp "$SCRATCH/payload" "$mp/payload" || fail "data read back through attachd-co differs"

assert_contains "$(volman VolumeDriver.Unmount '{"Name":"co"}')" '"Err":""' "Unmount co"
assert_contains "$(volman VolumeDriver.Remove '{"Name":"co"}')" '"Err":""' "Remove co"
stop_attachd
check_no_leftovers
assert_eq "$(mpath_maps)" "" "mpath- maps at the end"
info "clean"
