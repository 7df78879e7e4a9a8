#!/usr/bin/env bash
# Installs every Debian package attachd's build, tests and demo need (multipath-tools: the
# VM scenario 53 runs multipathd next to attachd; clang and
# libclang-rt-14-dev: the fuzz targets' compiler and libFuzzer/sanitizer runtimes, which
# clang-14 only recommends; llvm: llvm-symbolizer for readable crash stacks;
# ruby: ERB renders the BOSH job's templates in tests/host/t_bosh_release.sh; systemd:
# systemd-analyze verify of tools/systemd/attachd.service; prometheus: promtool checks the
# /metrics output in tests/host/test_metrics.c and t_metrics.sh), and unpacks Debian's stock
# kernel (for the VM test tier) into build/vmkernel.
# Idempotent; returns in well under a second when everything is present.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)

pkgs=(
	build-essential pkg-config
	libiscsi-dev libiscsi-bin libdevmapper-dev libudev-dev libblkid-dev
	libcurl4-openssl-dev libmicrohttpd-dev libgnutls28-dev libjansson-dev libcmocka-dev
	libsqlite3-dev sqlite3 libpq-dev postgresql
	qemu-system-x86 busybox-static cpio kmod udev dmsetup
	open-iscsi tgt nvme-cli e2fsprogs xfsprogs util-linux fdisk
	curl python3 openssl iproute2 jq
	multipath-tools
	clang libclang-rt-14-dev llvm
	ruby systemd
	prometheus
)

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null | grep -qx installed || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	[ "$(id -u)" = 0 ] || { echo "setup-deps: need root to install: ${missing[*]}" >&2; exit 1; }
	echo "setup-deps: installing ${missing[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# iscsid/tgt must not be started by the package scripts on a build host.
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Guest kernel: the version linux-image-amd64 depends on, unpacked, not installed.
kdir="$top/build/vmkernel"
if [ ! -f "$kdir/.done" ]; then
	[ "$(id -u)" = 0 ] || { echo "setup-deps: need root to fetch the guest kernel" >&2; exit 1; }
	apt-cache show linux-image-amd64 >/dev/null 2>&1 || apt-get update -qq
	dep=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
	[ -n "$dep" ] || { echo "setup-deps: cannot resolve linux-image-amd64's kernel package" >&2; exit 1; }
	rm -rf "$kdir" && mkdir -p "$kdir/dl"
	(cd "$kdir/dl" && apt-get download -qq "$dep")
	dpkg-deb -x "$kdir"/dl/*.deb "$kdir/root"
	rm -rf "$kdir/dl"
	kver=$(ls "$kdir/root/lib/modules")
	depmod -b "$kdir/root" "$kver"
	ln -sf "root/boot/vmlinuz-$kver" "$kdir/vmlinuz"
	echo "$kver" > "$kdir/version"
	touch "$kdir/.done"
fi
