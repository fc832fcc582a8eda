#!/usr/bin/env bash
# Check the generated rule files with promtool and run the promtool unit tests
# in promtool-tests/.
#
# Usage: hack/test-rules.sh
#
# promtool is taken from the tool folder. When it is missing there, it is
# built by hack/tools.sh, or, in a checkout without that script, by go install
# at the Prometheus release that go.mod pins for rules/validate.go.
#
# Environment:
#   BATCHWATCH_BIN_DIR  tool folder (default: .cache/bin in the repository)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin_dir="${BATCHWATCH_BIN_DIR:-$root/.cache/bin}"
promtool="$bin_dir/promtool"
prometheus_module_version="v0.316.0"

if [[ ! -x "$promtool" ]]; then
	if [[ -x "$root/hack/tools.sh" ]]; then
		# tools.sh prints one "name path" line per binary it provides.
		promtool="$("$root/hack/tools.sh" promtool | awk '$1 == "promtool" { print $2 }')"
	else
		echo "building promtool $prometheus_module_version into $bin_dir" >&2
		mkdir -p "$bin_dir"
		GOBIN="$bin_dir" go install "github.com/prometheus/prometheus/cmd/promtool@$prometheus_module_version"
	fi
fi
if [[ ! -x "$promtool" ]]; then
	echo "hack/test-rules.sh: no promtool at $promtool after the build" >&2
	exit 1
fi

cd "$root"
"$promtool" check rules rules/generated/*.yaml
"$promtool" test rules promtool-tests/*.yaml
