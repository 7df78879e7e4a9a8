#!/usr/bin/env bash
# Dependencies point down only: tools/agent -> attach -> backends, dm -> lib; broker/ (the
# service broker) is a sibling of agent/ over backends/ and lib/ only.
# Fails listing every #include that points up or sideways.
set -euo pipefail
cd "$(dirname "$0")/.."
declare -A allowed=(
	[lib]="lib"
	[dm]="lib dm"
	[backends]="lib backends"
	[attach]="lib dm backends attach"
	[agent]="lib dm backends attach agent"
	[broker]="lib backends broker"
	[tools]="lib dm backends attach agent tools"
)
bad=0
for layer in "${!allowed[@]}"; do
	[ -d "$layer" ] || continue
	while IFS=: read -r file line inc; do
		target=$(sed -E 's/.*#include "([^/"]+)\/.*/\1/' <<<"$inc")
		[ "$target" = "$inc" ] && continue # same-folder include
		case " ${allowed[$layer]} " in
		*" $target "*) ;;
		*) echo "layers: $file:$line includes $target/ (a $layer/ file may include only: ${allowed[$layer]})"; bad=1 ;;
		esac
	done < <(grep -rn --include='*.[ch]' '^#include "' "$layer" || true)
done
exit $bad
