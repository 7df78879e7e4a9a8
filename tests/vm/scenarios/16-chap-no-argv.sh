#!/bin/bash
# CHAP secrets never reach a process's argv or environment (issue 7 §4): while attachd
# attaches and detaches CHAP volumes, a sampler reads every /proc/*/cmdline and
# /proc/*/environ in a tight loop and fails on the secret. The logins do authenticate
# (LIO demands CHAP: a wrong secret is refused with a CHAP error), the secret sits only in
# attachd's 0600 node record while attached, and it is not in attachd's log.
# timeout: 600
set -eu -o pipefail
. "$REPO/tests/vm/lib.sh"

portal=127.0.0.1:3260
iqn=iqn.2025-01.io.attachd.test:chapargv
user=argvuser
secret="S3cr3t-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
wrong="Wr0ng-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
lio_target_create "$iqn" --lun 0:32M --lun 1:32M --portal "$portal" --chap "$user" "$secret"
on_exit "lio_target_delete $iqn"
on_exit stop_attachd

# Request bodies go to curl from files: the test's own client must not put the secret in
# its argv either (the sampler would rightly find it there).
umask 077
mkdir -p "$SCRATCH/req"
printf '%s' "$secret" >"$SCRATCH/secret"
printf '%s' "$wrong" >"$SCRATCH/wrong"
post() { # CALL FILE
	curl -sS --max-time 120 -X POST --data-binary "@$2" -H 'Content-Type:' \
		"http://$ATTACHD_LISTEN/$1"
}
create_req() { # NAME LUN SECRETFILE: write the Create body, print its path
	local f=$SCRATCH/req/$1.json
	jq -n --arg n "$1" --arg iqn "$iqn" --arg p "$portal" --argjson lun "$2" --arg u "$user" \
		--rawfile s "$3" \
		'{Name: $n, Opts: {backend: "iscsi", portal: $p, iqn: $iqn, lun: $lun, chap_user: $u, chap_secret: $s}}' \
		>"$f"
	echo "$f"
}
for n in 0 1; do create_req "cvol$n" "$n" "$SCRATCH/secret" >/dev/null; done
create_req wvol 0 "$SCRATCH/wrong" >/dev/null

# The sampler: one process (python3), secrets read from files, stops when told.
cat >"$SCRATCH/sampler.py" <<'PY'
import os, sys
secrets = [open(f, "rb").read() for f in sys.argv[1:3]]
stop, out = sys.argv[3], sys.argv[4]
sweeps = seen = iscsiadm = 0
hits = []
while not os.path.exists(stop):
    sweeps += 1
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        for what in ("cmdline", "environ"):
            try:
                with open("/proc/%s/%s" % (pid, what), "rb") as f:
                    data = f.read()
            except OSError:
                continue
            seen += 1
            if what == "cmdline" and b"iscsiadm" in data.split(b"\0")[0]:
                iscsiadm += 1
            for s in secrets:
                i = data.find(s)
                if i >= 0:
                    around = data[max(0, i - 120):i] + b"<SECRET>"
                    hits.append("%s %s: ...%r" % (pid, what, around))
with open(out, "w") as f:
    f.write("sweeps %d reads %d iscsiadm %d hits %d\n" % (sweeps, seen, iscsiadm, len(hits)))
    for h in hits:
        f.write(h + "\n")
PY
python3 "$SCRATCH/sampler.py" "$SCRATCH/secret" "$SCRATCH/wrong" "$SCRATCH/stop" "$SCRATCH/sampled" &
sampler=$!
on_exit "touch $SCRATCH/stop; wait $sampler 2>/dev/null || true"

start_attachd
for round in 1 2 3; do
	for n in 0 1; do
		out=$(post VolumeDriver.Create "$SCRATCH/req/cvol$n.json")
		assert_contains "$out" '"Err":""' "Create cvol$n"
		out=$(volman VolumeDriver.Mount "{\"Name\":\"cvol${n}_app-$round\"}")
		assert_contains "$out" '"Err":""' "Mount cvol$n (round $round)"
	done
	# while attached: which files under /etc/iscsi/nodes hold the secret (checked after
	# the sampler's verdict, which matters most)
	for f in $(grep -rlF -f "$SCRATCH/secret" /etc/iscsi/nodes || true); do
		echo "$round $(stat -c '%a %U' "$f") $f" >>"$SCRATCH/holders"
	done
	for n in 0 1; do
		assert_contains "$(volman VolumeDriver.Unmount "{\"Name\":\"cvol${n}_app-$round\"}")" \
			'"Err":""' "Unmount cvol$n (round $round)"
	done
	[ -z "$(ls /etc/iscsi/nodes)" ] || fail "node records left after round $round: $(find /etc/iscsi/nodes)"
done
# a wrong secret: refused by the target, with a CHAP error that does not quote it
out=$(post VolumeDriver.Create "$SCRATCH/req/wvol.json")
assert_contains "$out" '"Err":""' "Create wvol"
out=$(volman VolumeDriver.Mount '{"Name":"wvol_app-1"}')
assert_contains "$out" 'CHAP' "Mount with a wrong secret"
if grep -qF -f "$SCRATCH/wrong" <<<"$out"; then fail "the error quotes the secret"; fi
[ -z "$(ls /sys/class/iscsi_session/)" ] || fail "a session exists after the refused login"
volman VolumeDriver.Remove '{"Name":"wvol"}' >/dev/null
for n in 0 1; do volman VolumeDriver.Remove "{\"Name\":\"cvol$n\"}" >/dev/null; done
stop_attachd

touch "$SCRATCH/stop"
wait "$sampler"
info "sampler: $(head -1 "$SCRATCH/sampled")"
cp "$SCRATCH/sampled" "$ARTIFACTS/sampled.txt"
read -r _ sweeps _ reads _ n_iscsiadm _ hits <"$SCRATCH/sampled"
[ "$hits" = 0 ] || fail "a CHAP secret in a process's argv or environ: $(sed -n 2,5p "$SCRATCH/sampled")"
# The sampler must have looked while attachd's children ran, or it proves nothing.
[ "$n_iscsiadm" -gt 0 ] || fail "the sampler never saw an iscsiadm process ($sweeps sweeps, $reads reads)"
# While attached, the secret was in attachd's own record file, root-only, and no other.
for round in 1 2 3; do
	assert_eq "$(grep -c "^$round " "$SCRATCH/holders")" 1 "files holding the secret in round $round"
	assert_eq "$(grep "^$round " "$SCRATCH/holders")" \
		"$round 600 root /etc/iscsi/nodes/$iqn/127.0.0.1,3260,1/attachd" "the file holding the secret"
done
# Nor in attachd's log (its state records hold the Create options, secrets included, in
# the 0700 state directory: that is the agent's design, checked by other scenarios)
if grep -qF -f "$SCRATCH/secret" "$ARTIFACTS/attachd.log" ||
	grep -qF -f "$SCRATCH/wrong" "$ARTIFACTS/attachd.log"; then
	fail "a CHAP secret is in attachd's log"
fi
check_no_leftovers
