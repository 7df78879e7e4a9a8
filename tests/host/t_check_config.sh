#!/usr/bin/env bash
# attachd --check-config FILE with the real binary (no root or kernel features needed): a
# valid file prints "config FILE: valid" and exits 0; an invalid one (unknown key, bad
# type, iscsi.iface "default", a relative state_dir) exits 2 naming every problem, one
# per line on stderr; neither creates the state dir, mount root, driver dir, spec file,
# admin socket or file.dir it names, nor writes any log line to stdout.
set -u
bin=${ATTACHD_BIN:-$PWD/bin/attachd}
[ -x "$bin" ] || { echo "FAIL: no binary $bin"; exit 1; }

tmp=$(mktemp -d /tmp/t_check_config.XXXXXX)
trap '[ -n "${KEEP:-}" ] || rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
r=$tmp/root

cat >"$tmp/good.json" <<JSON
{"listen": "127.0.0.1:0", "admin_socket": "$r/run/attachd.sock",
 "state_dir": "$r/state", "mount_root": "$r/mnt", "driver_dir": "$r/voldrivers",
 "driver_name": "attachd2", "iscsi": {"iface": "attachd2"}, "file": {"dir": "$r/files"},
 "limits": {"max_pipelines": 4}}
JSON
out=$("$bin" --check-config "$tmp/good.json" 2>"$tmp/err"); rc=$?
[ $rc -eq 0 ] || fail "valid config: exit $rc, stderr: $(cat "$tmp/err")"
[ "$out" = "config $tmp/good.json: valid" ] || fail "valid config: stdout '$out'"
[ -s "$tmp/err" ] && fail "valid config: stderr not empty: $(cat "$tmp/err")"
[ -e "$r" ] && fail "check of a valid config created $(find "$r")"

cat >"$tmp/bad.json" <<JSON
{"listen": 7610, "bogus": true, "state_dir": "state", "admin_socket": "$r/run/a.sock",
 "mount_root": "$r/mnt", "driver_dir": "$r/voldrivers", "iscsi": {"iface": "default"}}
JSON
out=$("$bin" --check-config "$tmp/bad.json" 2>"$tmp/err"); rc=$?
[ $rc -eq 2 ] || fail "invalid config: exit $rc (want 2)"
[ -z "$out" ] || fail "invalid config: stdout '$out'"
for want in "unknown key 'bogus'" "'listen' must be a string, not a number" \
	"state_dir: 'state' must be an absolute path" "iscsi.iface: 'default' is open-iscsi's own iface" \
	"config $tmp/bad.json: invalid (4 problems)"; do
	[ "$(grep -cF -- "$want" "$tmp/err")" -eq 1 ] || fail "stderr lacks one line with '$want': $(cat "$tmp/err")"
done
[ "$(wc -l <"$tmp/err")" -eq 5 ] || fail "want 4 problems and a summary, one per line: $(cat "$tmp/err")"
[ -e "$r" ] && fail "check of an invalid config created $(find "$r")"
[ -e "$tmp/state" ] && fail "check created the relative state dir"

# A file that is not JSON: exit 2, the position named.
echo '{"listen":' >"$tmp/broken.json"
"$bin" --check-config "$tmp/broken.json" >/dev/null 2>"$tmp/err"; rc=$?
[ $rc -eq 2 ] || fail "broken JSON: exit $rc (want 2)"
grep -q "invalid JSON at line" "$tmp/err" || fail "broken JSON: $(cat "$tmp/err")"
# A missing file: exit 2, named.
"$bin" --check-config "$tmp/none.json" >/dev/null 2>"$tmp/err"; rc=$?
[ $rc -eq 2 ] || fail "missing file: exit $rc (want 2)"
grep -q "config $tmp/none.json: cannot read" "$tmp/err" || fail "missing file: $(cat "$tmp/err")"
[ -e "$r" ] && fail "a failed check created $(find "$r")"
echo "PASS"
