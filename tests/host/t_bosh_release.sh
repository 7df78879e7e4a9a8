#!/usr/bin/env bash
# The BOSH release (tools/bosh-release): its templates rendered with Ruby's ERB the way the
# director renders them (tests/host/bosh_render.rb: p()/if_p() with the spec's defaults, a
# missing required property raises), for the sample manifests in tests/fixtures/bosh:
#  - the job spec documents every config key of agent/config.c (and only config keys,
#    file-content mappings or BOSH-only settings);
#  - every rendered config passes `attachd --check-config`; the full manifest renders
#    every config key the agent knows; keys the agent does not know yet appear only when
#    set; the rendered scripts pass `bash -n`, and secrets stay out of the JSON;
#  - bad manifests are refused with a message naming the property: by the template (partial
#    TLS, a gateway without password, a bad fencing key) or by --check-config in the
#    rendered pre-start (listen off loopback without TLS, iface "default");
#  - the attachd-broker job: its spec documents every key of broker/config.c, the sample
#    manifest (tests/fixtures/bosh/broker.yml) renders a config that passes
#    `attachd-broker --check-config`, a certificate without key is refused at render;
#  - the rendered pre-start, ctl start, drain and ctl stop run for real (root, in a private
#    mount namespace with a tmpfs over /var, so /var/vcap exists only there): directories
#    and modes, the driver spec file, drain's "0" on stdout, the spec file and socket gone.
set -u
cd "$(dirname "$0")/../.."
top=$PWD
bin=${ATTACHD_BIN:-$top/bin/attachd}
ctl=${ATTACHCTL_BIN:-$top/bin/attachctl}
job=$top/tools/bosh-release/jobs/attachd
fx=$top/tests/fixtures/bosh
render="ruby $top/tests/host/bosh_render.rb"
# DESIGN.md §2 keys the agent does not parse yet: the spec documents them, the config
# template writes them only when set.
future=(metrics_listen multipath.check_interval_s multipath.no_path_queue_s fencing.key)

[ -x "$bin" ] || { echo "FAIL: no binary $bin"; exit 1; }
command -v ruby >/dev/null || { echo "FAIL: ruby is missing (tools/setup-deps.sh installs it)"; exit 1; }
tmp=$(mktemp -d /tmp/t_bosh_release.XXXXXX)
trap '[ -n "${KEEP:-}" ] || rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
n=0
ok() { n=$((n + 1)); echo "ok $n: $*"; }

# --- the spec and agent/config.c agree
$render check-spec "$job" agent/config.c "${future[@]}" 2>"$tmp/spec.err" ||
	fail "job spec and agent/config.c disagree: $(cat "$tmp/spec.err")"
keys=$($render config-keys agent/config.c)
[ "$(wc -l <<<"$keys")" -ge 20 ] || fail "read only $(wc -l <<<"$keys") keys from agent/config.c: $keys"
# The check itself: a config key missing from the spec is reported by name.
sed '/^  nvme.hostnqn:/,/^  file.dir:/{/^  file.dir:/!d}' "$job/spec" >"$tmp/spec.nonvme"
mkdir -p "$tmp/job.nonvme" && cp "$tmp/spec.nonvme" "$tmp/job.nonvme/spec"
$render check-spec "$tmp/job.nonvme" agent/config.c "${future[@]}" 2>"$tmp/spec.err" &&
	fail "check-spec accepted a spec without nvme.hostnqn"
grep -q "config key nvme.hostnqn (agent/config.c) is not documented" "$tmp/spec.err" ||
	fail "check-spec without nvme.hostnqn said: $(cat "$tmp/spec.err")"
ok "job spec documents the $(wc -l <<<"$keys") config keys of agent/config.c; a missing one is named"

# --- good manifests: render, --check-config, bash -n
flat() { # the dotted keys of a JSON object
	ruby -rjson -e 'def f(h, p) h.flat_map { |k, v| v.is_a?(Hash) ? f(v, "#{p}#{k}.") : ["#{p}#{k}"] } end
		puts f(JSON.parse(File.read(ARGV[0])), "")' "$1"
}
for m in cell-minimal cell-full cell-file-only; do
	out=$tmp/r.$m
	$render render "$job" "$fx/$m.yml" "$out" 2>"$tmp/err" || fail "$m: render failed: $(cat "$tmp/err")"
	msg=$("$bin" --check-config "$out/config/attachd.json" 2>&1) ||
		fail "$m: rendered config refused: $msg"$'\n'"$(cat "$out/config/attachd.json")"
	[ "$msg" = "config $out/config/attachd.json: valid" ] || fail "$m: --check-config said: $msg"
	for s in bin/attachd_ctl bin/pre-start bin/drain; do
		[ -x "$out/$s" ] || fail "$m: $s not rendered executable"
		bash -n "$out/$s" 2>"$tmp/err" || fail "$m: $s: $(cat "$tmp/err")"
	done
	grep -q 'check process attachd' "$out/monit" || fail "$m: monit file"
	grep -q "^  with pidfile /var/vcap/sys/run/attachd/attachd.pid$" "$out/monit" ||
		fail "$m: monit pidfile is not the one attachd_ctl writes"
	for k in "${future[@]}"; do
		flat "$out/config/attachd.json" | grep -qx "$k" && fail "$m: renders $k though unset"
	done
done
for h in tools/bosh/*; do bash -n "$h" 2>"$tmp/err" || fail "$h: $(cat "$tmp/err")"; done
ok "cell-minimal, cell-full, cell-file-only render and pass attachd --check-config; scripts pass bash -n"

# cell-full sets every property: the config holds every key the agent knows, with the
# file-content properties as paths and the secrets only in their own files.
full=$tmp/r.cell-full
# (DESIGN.md's newer keys are checked with cell-future-keys below, as the agent learns them.)
missing=$(comm -23 <(sort <<<"$keys") <(printf '%s\n' "${future[@]}" | sort) |
	comm -23 - <(flat "$full/config/attachd.json" | sort))
[ -z "$missing" ] || fail "cell-full: keys not rendered: $missing"
jq -e '.scaleio.password_file == "/var/vcap/jobs/attachd/config/scaleio/password" and
	.tls.client_key_file == "/var/vcap/data/voldrivers/certs/blockdriver/client.key" and
	.tls.key_file == "/var/vcap/jobs/attachd/config/tls/server.key" and
	.limits.max_pipelines == 16 and .iscsi.iface == "attachd-block"' \
	"$full/config/attachd.json" >/dev/null || fail "cell-full: $(cat "$full/config/attachd.json")"
[ "$(cat "$full/config/scaleio/password")" = "((attachd_scaleio_password))" ] ||
	fail "cell-full: password file holds '$(cat "$full/config/scaleio/password")'"
grep -q "attachd_scaleio_password\|PRIVATE KEY" "$full/config/attachd.json" && fail "cell-full: a secret in the JSON config"
grep -q "placeholder-client-key" "$full/config/tls/client.key" || fail "cell-full: client.key not rendered"
# Defaults come from the spec: the minimal manifest gets the agent's own defaults.
jq -e '.listen == "127.0.0.1:7610" and .driver_name == "attachd" and .iscsi.iface == "attachd"
	and .file.dir == "/var/vcap/store/attachd/files" and .limits.lock_wait_s == 60
	and (has("tls") | not) and (.scaleio | has("gateway") | not)' \
	"$tmp/r.cell-minimal/config/attachd.json" >/dev/null ||
	fail "cell-minimal: $(cat "$tmp/r.cell-minimal/config/attachd.json")"
ok "cell-full renders all $(comm -23 <(sort <<<"$keys") <(printf '%s\n' "${future[@]}" | sort) | wc -l) keys (future ones below), secrets only in 0600-bound files; cell-minimal gets the defaults"

# Keys this attachd does not parse yet: rendered only when set.
fk=$tmp/r.future
$render render "$job" "$fx/cell-future-keys.yml" "$fk" 2>"$tmp/err" || fail "future keys: render failed: $(cat "$tmp/err")"
jq -e '.metrics_listen == "127.0.0.1:9610" and .multipath.check_interval_s == 5 and
	.multipath.no_path_queue_s == 30 and .fencing.key == "0a1b2c3d4e5f6789"' "$fk/config/attachd.json" >/dev/null ||
	fail "future keys: $(cat "$fk/config/attachd.json")"
# The agent accepts each of them it knows (agent/config.c) and refuses, by name, the others.
"$bin" --check-config "$fk/config/attachd.json" >/dev/null 2>"$tmp/err"; rc=$?
known=0
for k in "${future[@]}"; do
	if grep -qx "$k" <<<"$keys"; then
		known=$((known + 1))
		grep -q "$k\|'${k%%.*}'" "$tmp/err" && fail "future keys: $k is known to agent/config.c but refused: $(cat "$tmp/err")"
	else
		grep -q "unknown key '\($k\|${k%%.*}\)'" "$tmp/err" || fail "future keys: $k unknown to the agent but not refused by name: $(cat "$tmp/err")"
	fi
done
if [ $known -eq ${#future[@]} ]; then [ $rc = 0 ] || fail "future keys: all known, yet refused: $(cat "$tmp/err")"; fi
ok "metrics_listen, multipath.*, fencing.key are rendered when set (and only then, above); the agent knows $known of ${#future[@]}, refuses the others by name"

# --- bad manifests: the template refuses, naming the property
expect_render_error() { # manifest, message
	$render render "$job" "$fx/$1.yml" "$tmp/r.$1" 2>"$tmp/err" && fail "$1: rendered"
	grep -qF -- "$2" "$tmp/err" || fail "$1: want '$2', got: $(cat "$tmp/err")"
}
expect_render_error bad-tls-partial "render: attachd.json.erb: attachd: mutual TLS needs all of tls.ca_cert, tls.server_cert, tls.server_key, tls.client_cert, tls.client_key; set: tls.server_cert, tls.server_key; missing: tls.ca_cert, tls.client_cert, tls.client_key"
expect_render_error bad-scaleio-no-password "attachd: scaleio.gateway is set, so scaleio.password is required"
expect_render_error bad-fencing-key "attachd: property fencing.key must be 16 hex digits"
# A property the spec has no default for, asked for without one: bosh-template's message.
printf '<%%= p("tls.ca_cert") %%>\n' >"$tmp/req.erb"
mkdir -p "$tmp/job.req/templates" && cp "$tmp/req.erb" "$tmp/job.req/templates/req.erb" && cp "$job/monit" "$tmp/job.req/"
sed 's/^templates:$/templates:\n  req.erb: config\/req/' "$job/spec" >"$tmp/job.req/spec"
$render render "$tmp/job.req" "$fx/cell-minimal.yml" "$tmp/r.req" 2>"$tmp/err" && fail "p() of an unset property rendered"
grep -qF "render: req.erb: Can't find property 'tls.ca_cert'" "$tmp/err" || fail "p() of an unset property: $(cat "$tmp/err")"
ok "partial TLS, gateway without password, bad fencing key, unset required property: refused at render, property named"

# bad-listen renders (the template does not judge addresses); the agent's check refuses it
# and the rendered pre-start stops there with every problem listed.
bl=$tmp/r.bad-listen
$render render "$job" "$fx/bad-listen.yml" "$bl" 2>"$tmp/err" || fail "bad-listen: render failed: $(cat "$tmp/err")"
"$bin" --check-config "$bl/config/attachd.json" >/dev/null 2>"$tmp/err" && fail "bad-listen: --check-config accepted it"
grep -q "listen: 0.0.0.0:7610 is not a loopback address" "$tmp/err" || fail "bad-listen: $(cat "$tmp/err")"
grep -q "iscsi.iface: 'default' is open-iscsi's own iface" "$tmp/err" || fail "bad-listen: $(cat "$tmp/err")"
ok "bad-listen (0.0.0.0 without TLS, iface default) refused by attachd --check-config with both problems"

# --- the release's inputs: specs parse and point at what exists; scripts/prepare gives the
# package every source `make all` reads (a dry run finds no missing file) and maps every
# pkg-config name of the Makefile to a -dev package for the blobs.
rel=$top/tools/bosh-release
ruby -ryaml -e '
	rel = ARGV[0]
	%w[config/final.yml config/blobs.yml].each { |f| YAML.safe_load(File.read("#{rel}/#{f}")) }
	Dir["#{rel}/packages/*/spec"].each do |f|
		s = YAML.safe_load(File.read(f))
		abort "#{f}: name #{s["name"]} is not its folder" unless s["name"] == File.basename(File.dirname(f))
		abort "#{f}: no files" if (s["files"] || []).empty?
	end
	Dir["#{rel}/jobs/*/spec"].each do |f|
		s = YAML.safe_load(File.read(f)); d = File.dirname(f)
		abort "#{f}: name #{s["name"]} is not its folder" unless s["name"] == File.basename(d)
		abort "#{d}: no monit file" unless File.exist?("#{d}/monit")
		(s["templates"] || {}).each_key { |t| abort "#{f}: template #{t} missing" unless File.exist?("#{d}/templates/#{t}") }
		(s["packages"] || []).each { |p| abort "#{f}: package #{p} missing" unless File.exist?("#{rel}/packages/#{p}/spec") }
	end' "$rel" 2>"$tmp/err" || fail "release layout: $(cat "$tmp/err")"
for s in "$rel"/packages/*/packaging "$rel"/scripts/*; do bash -n "$s" 2>"$tmp/err" || fail "$s: $(cat "$tmp/err")"; done
"$rel/scripts/prepare" --no-blobs --src-dir "$tmp/src" --print-debs >"$tmp/prep.out" 2>&1 || fail "prepare: $(cat "$tmp/prep.out")"
grep -q "^build debs: pkgconf .*libiscsi-dev .*libjansson-dev" "$tmp/prep.out" || fail "prepare --print-debs: $(cat "$tmp/prep.out")"
make -n -C "$tmp/src" all >"$tmp/make.out" 2>&1 || fail "make -n all in the prepared source: $(tail -n 5 "$tmp/make.out")"
grep -q -- "-o bin/attachd " "$tmp/make.out" || fail "make -n all would not build bin/attachd: $(tail -n 5 "$tmp/make.out")"
rm "$tmp/src/agent/main.c"
make -n -C "$tmp/src" all >/dev/null 2>&1 && fail "make -n did not notice agent/main.c missing"
ok "release layout valid; scripts/prepare's source builds (make -n) and its PKGS map to -dev debs"

# --- attachd-broker: the job renders the broker's config, which passes
# `attachd-broker --check-config` (with the rendered secret and PEM files in place of the
# placeholders: real certificates made here); the spec documents every key of
# broker/config.c; bad manifests are refused naming the property.
broker_bin=${BROKER_BIN:-$top/bin/attachd-broker}
bjob=$top/tools/bosh-release/jobs/attachd-broker
[ -x "$broker_bin" ] || fail "no binary $broker_bin"
bkeys=$(ruby -e '
	src = File.read(ARGV[0])
	{ "broker_config_parse" => "", "parse_scaleio" => "scaleio.", "parse_tls" => "tls." }.each do |fn, pre|
		body = src[/^(?:static )?\w+ #{fn}\(.*?\n\}/m] or abort "no #{fn} in #{ARGV[0]}"
		arr = body[/keys\[\] = \{(.*?)\};/m, 1] or abort "no keys[] in #{fn}"
		arr.scan(/"([a-z_]+)"/).flatten.each { |k| puts "#{pre}#{k}" unless %w[scaleio tls].include?(k) && pre.empty? }
	end' broker/config.c) || fail "reading broker/config.c's keys: $bkeys"
[ "$(wc -l <<<"$bkeys")" -ge 18 ] || fail "read only $(wc -l <<<"$bkeys") keys from broker/config.c: $bkeys"
for k in $bkeys; do
	grep -qE "^  $k:|\(config: $k\)" "$bjob/spec" || fail "attachd-broker spec does not document config key $k"
done
ok "attachd-broker spec documents the $(wc -l <<<"$bkeys") config keys of broker/config.c"
bo=$tmp/r.broker
$render render "$bjob" "$fx/broker.yml" "$bo" 2>"$tmp/err" || fail "broker: render failed: $(cat "$tmp/err")"
for s in bin/attachd-broker_ctl bin/pre-start; do
	[ -x "$bo/$s" ] && bash -n "$bo/$s" 2>"$tmp/err" || fail "broker: $s: $(cat "$tmp/err")"
done
grep -q "^  with pidfile /var/vcap/sys/run/attachd-broker/attachd-broker.pid$" "$bo/monit" || fail "broker: monit pidfile"
grep -q 'PIDFILE=$RUN_DIR/attachd-broker.pid' "$bo/bin/attachd-broker_ctl" || fail "broker: ctl writes another pidfile"
grep -q -- '--check-config "$JOB_DIR/config/broker.json"' "$bo/bin/pre-start" || fail "broker: pre-start does not check the config"
grep -q "attachd_broker_password\|attachd_scaleio_password\|PRIVATE KEY" "$bo/config/broker.json" && fail "broker: a secret in the JSON config"
[ "$(cat "$bo/config/password")" = "((attachd_broker_password))" ] || fail "broker: password file: $(cat "$bo/config/password")"
jq -e '.tls.ca_file == "/var/vcap/jobs/attachd-broker/config/tls/ca.crt" and
	.scaleio.password_file == "/var/vcap/jobs/attachd-broker/config/scaleio/password" and
	.services[0].plans[0].fencing == "required" and .services[0].plans[0].takeover == true and
	(has("database_password_file") | not) and .database == "sqlite:/var/vcap/store/attachd-broker/broker.db"' \
	"$bo/config/broker.json" >/dev/null || fail "broker: $(cat "$bo/config/broker.json")"
# The PEM placeholders replaced by real ones; paths moved into the rendered tree.
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$bo/config/tls/server.key" -out "$bo/config/tls/server.crt" \
	-subj /CN=broker -days 2 2>"$tmp/err" || fail "openssl: $(cat "$tmp/err")"
cp "$bo/config/tls/server.crt" "$bo/config/tls/ca.crt"
chmod 600 "$bo/config/tls/server.key"
sed -i "s#/var/vcap/jobs/attachd-broker#$bo#g" "$bo/config/broker.json"
msg=$("$broker_bin" --check-config "$bo/config/broker.json" 2>&1) || fail "broker: rendered config refused: $msg"
[ "$msg" = "config $bo/config/broker.json: valid" ] || fail "broker: --check-config said: $msg"
jq '.services[0].plans[0].fencing = "sometimes"' "$bo/config/broker.json" >"$tmp/broker-bad.json"
"$broker_bin" --check-config "$tmp/broker-bad.json" >/dev/null 2>"$tmp/err"; rc=$?
[ $rc = 2 ] && grep -q "plans\[0\].fencing: 'sometimes'" "$tmp/err" || fail "broker: bad fencing: exit $rc: $(cat "$tmp/err")"
$render render "$bjob" "$fx/broker-bad-tls.yml" "$tmp/r.bbt" 2>"$tmp/err" && fail "broker-bad-tls: rendered"
grep -qF "attachd-broker: HTTPS needs both tls.cert and tls.key" "$tmp/err" || fail "broker-bad-tls: $(cat "$tmp/err")"
ok "attachd-broker renders (HTTPS, scaleio, iSCSI pool with CHAP, file) and passes attachd-broker --check-config (exit 2 on a bad plan); a certificate without key is refused at render"

# --- the rendered hooks, run for real
if [ "$(id -u)" != 0 ] || ! unshare -m --propagation private true 2>/dev/null; then
	echo "hooks not run: need root and unshare -m"; exit 77
fi
pkg=$tmp/pkg
mkdir -p "$pkg/bin"
ln -s "$bin" "$pkg/bin/attachd" && ln -s "$ctl" "$pkg/bin/attachctl" && ln -s "$top/tools/bosh" "$pkg/bosh"
chmod 0644 "$tmp/r.cell-file-only/config/scaleio/password" "$bl/config/scaleio/password"
cat >"$tmp/lifecycle.sh" <<'EOF'
set -u
fail() { echo "FAIL: $*"; exit 1; }
mount -t tmpfs tmpfs /var || fail "tmpfs on /var"
# What the BOSH agent lays out: the job's rendered files and the package, by their paths.
mkdir -p /var/vcap/jobs /var/vcap/packages
ln -s "$PKG" /var/vcap/packages/attachd
# pre-start of a bad config: exit 2, the agent's problems and what to do, nothing started.
ln -sfn "$BAD" /var/vcap/jobs/attachd
bash /var/vcap/jobs/attachd/bin/pre-start >/dev/null 2>"$TMP/bad.err"; rc=$?
[ $rc = 2 ] || fail "pre-start of bad-listen: exit $rc: $(cat "$TMP/bad.err")"
grep -q "listen: 0.0.0.0:7610 is not a loopback address" "$TMP/bad.err" || fail "pre-start of bad-listen: $(cat "$TMP/bad.err")"
grep -q "pre-start: /var/vcap/jobs/attachd/config/attachd.json is not a valid attachd config (above); fix the job's properties" "$TMP/bad.err" ||
	fail "pre-start of bad-listen: $(cat "$TMP/bad.err")"
[ -e /var/vcap/data/attachd/state ] && fail "pre-start of a bad config made the state dir"
echo "ok: pre-start of bad-listen exits 2 naming the problems"
ln -sfn "$JOB" /var/vcap/jobs/attachd
JOB=/var/vcap/jobs/attachd

bash "$JOB/bin/pre-start" >"$TMP/pre.out" 2>"$TMP/pre.err" || fail "pre-start: exit $?: $(cat "$TMP/pre.err")"
grep -qx "config /var/vcap/jobs/attachd/config/attachd.json: valid" "$TMP/pre.out" || fail "pre-start did not check the config: $(cat "$TMP/pre.out")"
for d in 700:/var/vcap/data/attachd/state 700:/var/vcap/store/attachd/files 700:/var/vcap/sys/run/attachd \
	755:/var/vcap/data/volumes/attachd 755:/var/vcap/data/voldrivers 755:/var/vcap/sys/log/attachd; do
	[ "$(stat -c %a "${d#*:}" 2>/dev/null)" = "${d%%:*}" ] || fail "pre-start: ${d#*:} mode $(stat -c %a "${d#*:}" 2>&1), want ${d%%:*}"
done
[ "$(stat -c '%a %U' "$JOB/config/scaleio/password")" = "600 root" ] || fail "password file: $(stat -c '%a %U' "$JOB/config/scaleio/password")"
[ -e /var/vcap/data/voldrivers/certs ] && fail "pre-start without TLS made a certs dir"
echo "ok: pre-start made the directories (private ones 0700) and the secret files 0600 root"

bash "$JOB/bin/attachd_ctl" start & ctlpid=$!
spec=/var/vcap/data/voldrivers/attachd.json sock=/var/vcap/sys/run/attachd/attachd.sock
for _ in $(seq 100); do [ -s "$spec" ] && [ -S "$sock" ] && break; sleep 0.1; done
[ -s "$spec" ] && [ -S "$sock" ] || fail "ctl start: no spec file or socket: $(tail -n 5 /var/vcap/sys/log/attachd/attachd.stdout.log /var/vcap/sys/log/attachd/attachd.stderr.log 2>&1)"
[ "$(cat /var/vcap/sys/run/attachd/attachd.pid)" = "$ctlpid" ] || fail "pidfile $(cat /var/vcap/sys/run/attachd/attachd.pid), attachd is $ctlpid"
[ "$(readlink /proc/$ctlpid/exe)" = "$(readlink -f "$PKG/bin/attachd")" ] || fail "pid $ctlpid is $(readlink /proc/$ctlpid/exe)"
jq -e '.Name == "attachd" and (.Addr | startswith("http://127.0.0.1:")) and .UniqueVolumeIds' "$spec" >/dev/null || fail "spec file: $(cat "$spec")"
echo "ok: ctl start runs attachd (pidfile = its pid) with the rendered config; spec file $(cat "$spec")"

out=$(bash "$JOB/bin/drain" job_unchanged hash_unchanged 2>&1); rc=$?
[ $rc = 0 ] && [ "$out" = 0 ] || fail "drain: exit $rc, stdout '$out', log: $(cat /var/vcap/sys/log/attachd/drain.log)"
[ -e "$spec" ] && fail "drain left the spec file"
grep -q "attachctl drain exited 0" /var/vcap/sys/log/attachd/drain.log || fail "drain.log: $(cat /var/vcap/sys/log/attachd/drain.log)"
echo "ok: drain prints 0, removes the spec file"

bash "$JOB/bin/attachd_ctl" stop || fail "ctl stop: exit $?"
wait $ctlpid; rc=$?
[ $rc = 0 ] || fail "attachd exited $rc after ctl stop"
[ -e /var/vcap/sys/run/attachd/attachd.pid ] && fail "ctl stop left the pidfile"
[ -e "$sock" ] && fail "ctl stop left the admin socket"
out=$(bash "$JOB/bin/drain" 2>&1); [ "$out" = 0 ] || fail "drain of a stopped agent: '$out'"
echo "ok: ctl stop: attachd exits 0, pidfile and socket gone; drain then prints 0"
EOF
PKG=$pkg JOB=$tmp/r.cell-file-only BAD=$bl TMP=$tmp unshare -m --propagation private bash "$tmp/lifecycle.sh" || fail "lifecycle"
ok "rendered pre-start / ctl start / drain / ctl stop work end to end (private mount namespace)"
echo "PASS ($n checks)"
