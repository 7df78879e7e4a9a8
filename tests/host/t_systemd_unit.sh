#!/usr/bin/env bash
# tools/systemd/attachd.service (hosts without BOSH):
#  - `systemd-analyze verify` (package systemd, from tools/setup-deps.sh) accepts it without a warning (binary paths pointed at the
#    build); the same check flags a misspelt key, so it would catch one in the unit;
#  - a parse check (no systemd needed): [Unit]/[Service]/[Install] only, KEY=VALUE lines,
#    and the policy: no setting that gives the service its own mount namespace (its mounts
#    would not reach the host, containers would see empty mount points), Restart=on-failure,
#    KillMode=mixed, no restart on exit 2, ExecStartPre checks the very file ExecStart uses;
#  - the example tools/systemd/attachd.json passes that ExecStartPre, and the ExecStart
#    line runs attachd with it (root, in a private mount namespace with tmpfs over /run and
#    /var): spec file written, SIGTERM exits 0 and removes it.
set -u
cd "$(dirname "$0")/../.."
top=$PWD
bin=${ATTACHD_BIN:-$top/bin/attachd}
unit=tools/systemd/attachd.service
[ -x "$bin" ] || { echo "FAIL: no binary $bin"; exit 1; }
tmp=$(mktemp -d /tmp/t_systemd_unit.XXXXXX)
trap '[ -n "${KEEP:-}" ] || rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
n=0
ok() { n=$((n + 1)); echo "ok $n: $*"; }

# --- parse check
section=
declare -A val
while IFS= read -r line; do
	case $line in
	'' | '#'*) continue ;;
	'['*']') section=${line:1:-1}
		case $section in Unit | Service | Install) ;; *) fail "unknown section [$section]" ;; esac ;;
	*=*) [ -n "$section" ] || fail "key outside a section: $line"
		k=${line%%=*}
		[[ $k =~ ^[A-Z][A-Za-z]+$ ]] || fail "bad key '$k'"
		val[$section.$k]="${val[$section.$k]:+${val[$section.$k]}$'\n'}${line#*=}" ;;
	*) fail "not KEY=VALUE: $line" ;;
	esac
done <"$unit"
for k in PrivateMounts MountFlags ProtectSystem ProtectHome PrivateTmp PrivateDevices \
	ProtectKernelTunables ProtectKernelModules ProtectControlGroups ProtectKernelLogs ProtectProc \
	ProcSubset ReadOnlyPaths ReadWritePaths InaccessiblePaths TemporaryFileSystem BindPaths \
	BindReadOnlyPaths RootDirectory RootImage PrivateNetwork PrivateUsers DynamicUser \
	NetworkNamespacePath PrivateIPC ProtectHostname ProtectClock; do
	[ -z "${val[Service.$k]:-}" ] || fail "Service has $k=${val[Service.$k]}: it would run attachd in its own namespace"
done
[ "${val[Service.Restart]:-}" = on-failure ] || fail "Restart=${val[Service.Restart]:-}"
[ "${val[Service.KillMode]:-}" = mixed ] || fail "KillMode=${val[Service.KillMode]:-}"
[ "${val[Service.RestartPreventExitStatus]:-}" = 2 ] || fail "RestartPreventExitStatus=${val[Service.RestartPreventExitStatus]:-}"
[ "${val[Service.NoNewPrivileges]:-}" = yes ] || fail "NoNewPrivileges=${val[Service.NoNewPrivileges]:-}"
pre=${val[Service.ExecStartPre]:-} start=${val[Service.ExecStart]:-}
[[ $pre =~ ^(/[^ ]+/attachd)\ --check-config\ (/[^ ]+)$ ]] || fail "ExecStartPre=$pre"
pre_bin=${BASH_REMATCH[1]} pre_cfg=${BASH_REMATCH[2]}
[[ $start =~ ^(/[^ ]+/attachd)\ --config\ (/[^ ]+)$ ]] || fail "ExecStart=$start"
[ "${BASH_REMATCH[1]}" = "$pre_bin" ] && [ "${BASH_REMATCH[2]}" = "$pre_cfg" ] ||
	fail "ExecStartPre checks $pre_bin $pre_cfg, ExecStart runs ${BASH_REMATCH[1]} ${BASH_REMATCH[2]}"
[ "${val[Install.WantedBy]:-}" = multi-user.target ] || fail "WantedBy=${val[Install.WantedBy]:-}"
ok "parse check: no mount-namespace setting, Restart=on-failure, KillMode=mixed, ExecStartPre checks $pre_cfg"

# --- systemd-analyze verify (the binary paths pointed at the build: verify checks them)
if command -v systemd-analyze >/dev/null; then
	sed "s#$pre_bin#$bin#g" "$unit" >"$tmp/attachd.service"
	systemd-analyze verify "$tmp/attachd.service" >"$tmp/v.out" 2>&1 ||
		fail "systemd-analyze verify: exit $?: $(cat "$tmp/v.out")"
	[ -s "$tmp/v.out" ] && fail "systemd-analyze verify warned: $(cat "$tmp/v.out")"
	sed 's/^KillMode=/KilMode=/' "$tmp/attachd.service" >"$tmp/typo.service"
	systemd-analyze verify "$tmp/typo.service" >"$tmp/v.out" 2>&1
	grep -q "Unknown key 'KilMode'" "$tmp/v.out" || fail "verify did not flag a misspelt key: $(cat "$tmp/v.out")"
	ok "systemd-analyze verify ($(systemctl --version | head -1)): no warning; flags a misspelt key"
else
	fail "systemd-analyze is missing (tools/setup-deps.sh installs the systemd package)"
fi

# --- the example config passes ExecStartPre; ExecStart runs with it
out=$("$bin" --check-config tools/systemd/attachd.json 2>&1) || fail "example config refused: $out"
ok "tools/systemd/attachd.json passes attachd --check-config"
if [ "$(id -u)" != 0 ] || ! unshare -m --propagation private true 2>/dev/null; then
	echo "ExecStart not run: need root and unshare -m"; exit 77
fi
cat >"$tmp/run.sh" <<'EOF'
set -u
fail() { echo "FAIL: $*"; exit 1; }
mount -t tmpfs tmpfs /run && mount -t tmpfs tmpfs /var || fail "tmpfs"
# The config where the unit expects it, written through an overlay: the host's /etc stays as is.
mkdir -p "$TMP/etc.up" "$TMP/etc.work"
mount -t overlay overlay -o "lowerdir=/etc,upperdir=$TMP/etc.up,workdir=$TMP/etc.work" /etc || fail "overlay on /etc"
mkdir -p "$(dirname "$CFG")" && cp "$EXAMPLE" "$CFG"
# What RuntimeDirectory= and StateDirectory= make before ExecStartPre.
install -d -m 0700 /run/attachd && install -d -m 0755 /var/lib/attachd
$PRE || fail "ExecStartPre: exit $?"
$START >/run/out 2>&1 & pid=$!
spec=$(jq -r '.driver_dir + "/" + .driver_name + ".json"' "$CFG")
for _ in $(seq 100); do [ -s "$spec" ] && [ -S /run/attachd/attachd.sock ] && break; sleep 0.1; done
[ -s "$spec" ] || fail "no spec file $spec: $(tail -n 5 /run/out)"
[ "$(stat -c %a /var/lib/attachd/state)" = 700 ] || fail "state dir mode $(stat -c %a /var/lib/attachd/state)"
kill -TERM $pid; wait $pid; rc=$?
[ $rc = 0 ] || fail "attachd exited $rc on SIGTERM: $(tail -n 5 /run/out)"
[ -e "$spec" ] && fail "spec file left after SIGTERM"
echo "ok: ExecStart ran attachd, spec $spec written, SIGTERM: exit 0, spec removed"
EOF
# The unit's own command lines, only the binary path pointed at the build.
PRE=${pre//$pre_bin/$bin} START=${start//$pre_bin/$bin} CFG=$pre_cfg TMP=$tmp \
	EXAMPLE=$top/tools/systemd/attachd.json unshare -m --propagation private bash "$tmp/run.sh" ||
	fail "ExecStart run"
ok "the unit's ExecStartPre and ExecStart lines run attachd with the example config; SIGTERM exits 0"
echo "PASS ($n checks)"
