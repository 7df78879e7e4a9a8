#!/bin/bash
# Ownership of dm devices and NVMe controllers, and no process-wide lock across a stuck
# device ioctl (issue 7 §1, §6):
#  - dm/ against the real kernel (tests/unit/test_dmap_kernel.c): a device named attachd-*
#    without the ATTACHD- uuid is never removed nor error-swapped; a resume stuck on one
#    device (the device below it suspended, a write in flight) does not hold up another
#    device's create and remove.
# timeout: 900
set -eu -o pipefail
. "$REPO/tests/vm/lib.sh"

export CMOCKA_MESSAGE_OUTPUT=stdout
bin=$REPO/build/rel/tests/unit/test_dmap_kernel
[ -x "$bin" ] || fail "$bin not built (make tests)"
stdbuf -oL "$bin" 2>&1 | tee "$ARTIFACTS/dmap-kernel.log" || true
grep -q 'PASSED  \] 10 test' "$ARTIFACTS/dmap-kernel.log" ||
	fail "dm kernel tests failed (see dmap-kernel.log)"
info "dm kernel tests passed"

check_no_leftovers
