#!/usr/bin/env bash
# Check the generated rule files with promtool and run the promtool unit tests
# in promtool-tests/.
#
# Usage: hack/test-rules.sh
#
# promtool is taken from the tool folder. When it is missing there,
# hack/tools.sh builds it at the pinned Prometheus release.
#
# Environment:
#   BATCHWATCH_BIN_DIR  tool folder (default: .cache/bin in the repository)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin_dir="${BATCHWATCH_BIN_DIR:-$root/.cache/bin}"
promtool="$bin_dir/promtool"

if [[ ! -x "$promtool" ]]; then
	# tools.sh prints one "name path" line per binary it provides.
	promtool="$("$root/hack/tools.sh" promtool | awk '$1 == "promtool" { print $2 }')"
fi
if [[ ! -x "$promtool" ]]; then
	echo "hack/test-rules.sh: no promtool at $promtool after the build" >&2
	exit 1
fi

cd "$root"
"$promtool" check rules rules/generated/*.yaml
"$promtool" test rules promtool-tests/*.yaml
